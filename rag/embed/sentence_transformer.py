"""The sentence-transformers backends (``torch`` fp32, ``torch-int8``); the only module that imports
sentence-transformers and torch at run time."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.base import SIMILARITY_PROMPT, offline_env, require_model
from rag.errors import ConfigError, ModelError

log = logging.getLogger(__name__)


class SentenceTransformerEmbedder:
    """A sentence-transformers model folder on disk, run on the CPU.

    ``backend``: ``torch`` (fp32), ``torch-int8`` (dynamic int8 on Linear layers).
    """

    def __init__(self, path: Path, backend: str = "torch", batch_size: int = 16, threads: int = 0) -> None:
        self.path = Path(path)
        self.backend = backend
        self.batch_size = batch_size
        self.name = f"{self.path.name}:{backend}"
        self._model = self._load(threads)

    def _load(self, threads: int) -> Any:
        require_model(self.path)
        offline_env()
        started = time.perf_counter()
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if threads > 0:
            torch.set_num_threads(threads)
        try:
            model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as exc:  # any loader failure means a broken model folder
            raise ModelError(f"cannot load embedding model from {self.path}: {exc}") from exc
        if self.backend == "torch-int8":
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        elif self.backend != "torch":
            raise ConfigError(f"RAG_EMBEDDING_BACKEND={self.backend!r} is not supported by this embedder")
        model.eval()
        log.info("loaded %s in %.1fs", self.name, time.perf_counter() - started)
        return model

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode_document(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self._model.encode_query([text], convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vector[0], dtype=np.float32)

    def embed_similar(self, texts: Sequence[str]) -> np.ndarray:
        name = SIMILARITY_PROMPT if SIMILARITY_PROMPT in (self._model.prompts or {}) else "document"
        vectors = self._model.encode(
            list(texts),
            prompt_name=name,
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def document_states(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """``embed_documents`` and each text's token states (``TokenStates``)."""
        return self._states(list(texts), "document")

    def query_states(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """``embed_query`` and the question's token states (``TokenStates``)."""
        vectors, states = self._states([text], "query")
        return vectors[0], states[0]

    def _states(self, texts: list[str], prompt_name: str) -> tuple[np.ndarray, list[np.ndarray]]:
        """Pooled vectors and, per text, the last hidden states of its own tokens (no prompt, no end
        marker), float16; the positions come from the tokenizer's character offsets."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        prompt = (self._model.prompts or {}).get(prompt_name, "")
        outputs = self._model.encode(
            texts,
            prompt_name=prompt_name if prompt else None,
            batch_size=self.batch_size,
            show_progress_bar=False,
            output_value=None,
        )
        vectors = np.stack([o["sentence_embedding"].float().numpy() for o in outputs])
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        states = []
        for text, out in zip(texts, outputs):
            offsets = self._model.tokenizer(
                prompt + text,
                return_offsets_mapping=True,
                truncation=True,
                max_length=self._model.max_seq_length,
            )["offset_mapping"]
            keep = [k for k, (a, b) in enumerate(offsets) if a >= len(prompt) and b > a] or [len(offsets) - 1]
            tokens = out["token_embeddings"].float().numpy()
            states.append(tokens[keep].astype(np.float16))
        return vectors.astype(np.float32), states

    @property
    def dimension(self) -> int:
        return int(self._model.get_embedding_dimension())
