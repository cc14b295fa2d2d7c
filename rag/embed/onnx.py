"""The ONNX Runtime backends (``onnx``, ``onnx-int8``) over a model exported at set-up time
(``python -m rag.setup``): a missing or stale export is an error naming that command, never a run-time
export."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.embed.base import (
    ONNX_RECIPES,
    export_files,
    export_is_current,
    model_prompts,
    onnx_dir,
    require_model,
)
from rag.errors import ConfigError, ModelError

log = logging.getLogger(__name__)


def current_export(model_dir: Path, recipe: str) -> Path:
    """The ONNX file of ``recipe`` exported from ``model_dir``; ``ModelError`` when it is missing or was
    exported from other weights."""
    folder = onnx_dir(model_dir)
    target, meta = export_files(folder, recipe)
    if not target.exists() or not meta.exists():
        raise ModelError(
            f"no ONNX export of {Path(model_dir).name} ({recipe}) in {folder}: run "
            "`python -m rag.setup` (or `make models`)"
        )
    if not export_is_current(Path(model_dir), folder, recipe):
        raise ModelError(
            f"the ONNX export in {folder} was made from other weights than {model_dir}: run "
            "`python -m rag.setup` (or `make models`) to export it again"
        )
    return target


class OnnxEncoder:
    """Batch/query encoder over an exported ONNX file; rows are float32 and L2-normalised."""

    def __init__(
        self, onnx_path: Path, tokenizer_dir: Path, threads: int = 2, max_length: int = 2048
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        started = time.perf_counter()
        self.tokenizer = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-waiting between calls: the LLM runs right after a query embedding on the same cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.dimension = int(self.session.get_outputs()[0].shape[1])  # fixed by the last Dense head
        self.name = Path(onnx_path).stem
        log.info("loaded %s in %.1fs", onnx_path, time.perf_counter() - started)

    def encode(self, texts: list[str], batch_size: int = 8, workers: int = 1) -> np.ndarray:
        """Embed ``texts`` (prompt already applied); batches hold texts of similar token length. With
        ``workers`` > 1, that many batches run at once on the one session (ONNX Runtime's ``run`` is
        thread-safe and releases the GIL): measured on 2 cores with batch 1, 2 workers encode ~1.3x the
        chunks per second of one (the intra-op threads alone leave the cores idle between small ops)."""
        return self.encode_with_tokens(texts, batch_size, workers)[0]

    def encode_with_tokens(
        self, texts: list[str], batch_size: int = 8, workers: int = 1, skip_chars: int | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``encode``, and with ``skip_chars`` (the prompt's length) each text's token states too: the
        encoder's last hidden states (float16, tokens x width) of the tokens that start at or after
        ``skip_chars`` (the text's own tokens: no prompt, no end marker)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        states: list[np.ndarray] = [np.zeros((0, 0), np.float16)] * len(texts)
        if not texts:
            return out, states
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        keep = (
            [_content_tokens(e.offsets, e.ids, skip_chars) for e in encodings]
            if skip_chars is not None
            else None
        )
        order = np.argsort([-len(i) for i in ids], kind="stable")
        batches = [
            order[start : start + max(1, batch_size)] for start in range(0, len(order), max(1, batch_size))
        ]

        def run(rows: np.ndarray) -> None:
            width = len(ids[rows[0]])
            input_ids = np.zeros((len(rows), width), dtype=np.int64)  # pad id 0, masked out
            mask = np.zeros_like(input_ids)
            for row, i in enumerate(rows):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            wanted = (
                ["sentence_embedding", "token_embeddings"] if keep is not None else ["sentence_embedding"]
            )
            result = self.session.run(wanted, {"input_ids": input_ids, "attention_mask": mask})
            out[rows] = result[0]
            if keep is not None:
                for row, i in enumerate(rows):
                    states[i] = result[1][row, keep[i]].astype(np.float16)

        if workers > 1 and len(batches) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(workers, len(batches)), thread_name_prefix="encode") as pool:
                list(pool.map(run, batches))
        else:
            for rows in batches:
                run(rows)
        return out, states


def _content_tokens(offsets: Sequence[tuple[int, int]], ids: Sequence[int], skip_chars: int) -> np.ndarray:
    """Positions of the tokens of the text itself: starting at or after ``skip_chars`` and not empty (the
    begin and end markers have empty offsets); the last token when there is none (an empty text)."""
    kept = [k for k, (a, b) in enumerate(offsets) if a >= skip_chars and b > a]
    return np.asarray(kept or [len(ids) - 1], dtype=np.int64)


class OnnxEmbedder:
    """The model through ONNX Runtime (``backend`` ``onnx`` or ``onnx-int8``), from its set-up-time export."""

    def __init__(
        self, path: Path, backend: str = "onnx-int8", batch_size: int = 1, threads: int = 0, workers: int = 2
    ) -> None:
        self.path = Path(path)
        require_model(self.path)
        if backend not in ONNX_RECIPES:
            raise ConfigError(f"RAG_EMBEDDING_BACKEND={backend!r} is not an ONNX backend")
        self.batch_size = batch_size
        self.workers = workers
        self.name = f"{self.path.name}:{backend}"
        self.query_prompt, self.document_prompt, self.similarity_prompt = model_prompts(self.path)
        try:
            onnx_file = current_export(self.path, ONNX_RECIPES[backend])
            self._encoder = OnnxEncoder(onnx_file, self.path, threads)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot prepare the ONNX model for {self.path}: {exc}") from exc
        self.dimension = self._encoder.dimension

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder.encode([self.document_prompt + t for t in texts], self.batch_size, self.workers)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encoder.encode([self.query_prompt + text], 1)[0]

    def embed_similar(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder.encode(
            [self.similarity_prompt + t for t in texts], self.batch_size, self.workers
        )

    def document_states(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """``embed_documents`` and each text's token states (``TokenStates``)."""
        prompt = self.document_prompt
        return self._encoder.encode_with_tokens(
            [prompt + t for t in texts], self.batch_size, self.workers, len(prompt)
        )

    def query_states(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """``embed_query`` and the question's token states (``TokenStates``)."""
        vectors, states = self._encoder.encode_with_tokens(
            [self.query_prompt + text], 1, 1, len(self.query_prompt)
        )
        return vectors[0], states[0]
