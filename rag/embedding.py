"""Turn text into vectors (embedding stage); the only module that imports sentence-transformers,
torch or onnxruntime.

``Embedder`` is the small protocol the rest of the package depends on; ``make_embedder`` picks a backend:

- ``onnx-int8`` (default): the whole sentence-transformers pipeline exported to ONNX, int8 on every
  weight MatMul except the MLP ``down_proj`` (whose activation outliers carry nearly all the int8 error)
  and the Dense heads. 2.8x the torch fp32 throughput, cosine 0.995 to fp32, same retrieval scores.
- ``onnx``: the same graph in fp32 (identical vectors to torch, 1.9x faster).
- ``torch``: sentence-transformers fp32; ``torch-int8``: dynamic int8 on every Linear (lossy).

Models load from the local models folder only (never a hub), with the model's own query and document
prompts. ONNX files are exported once next to the model folder (``<model>-onnx/``).
``as_llama_index`` wraps any embedder once for llama-index.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from rag.errors import ConfigError, ModelError

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Maps documents and queries into one vector space (rows L2-normalised, float32)."""

    name: str

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def embed_similar(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Vectors for telling whether short texts mean the same thing, with the model's sentence-similarity
    prompt (EmbeddingGemma: ``task: sentence similarity``; it tells a translation, White ~ Putih 0.95,
    from an association, Putin ~ Russia 0.81, where document vectors score both 0.84). An embedder
    without ``embed_similar`` gives document vectors."""
    method = getattr(embedder, "embed_similar", None)
    return method(texts) if method is not None else embedder.embed_documents(texts)


def _offline_env() -> None:
    """Never reach for a hub; keep library chatter (progress bars, info logs) off the user's terminal."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _require_model(path: Path) -> None:
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ConfigError(f"embedding model not found at {path}: run `make setup` (or "
                          "`python -m rag.models embedding`), or set RAG_EMBEDDING_MODEL / RAG_MODELS_DIR")


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
        _require_model(self.path)
        _offline_env()
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
        vectors = self._model.encode_document(list(texts), batch_size=self.batch_size,
                                              show_progress_bar=False, convert_to_numpy=True,
                                              normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self._model.encode_query([text], convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vector[0], dtype=np.float32)

    def embed_similar(self, texts: Sequence[str]) -> np.ndarray:
        name = SIMILARITY_PROMPT if SIMILARITY_PROMPT in (self._model.prompts or {}) else "document"
        vectors = self._model.encode(list(texts), prompt_name=name, batch_size=self.batch_size,
                                     show_progress_bar=False, convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)

    @property
    def dimension(self) -> int:
        return int(self._model.get_embedding_dimension())


# --- ONNX Runtime ----------------------------------------------------------------------------------

ONNX_RECIPES = {"onnx": "fp32", "onnx-int8": "int8-nodown"}
QUANTIZE_RECIPES = ("fp32", "int8-nodown", "int8-all")
_MASK_VALUE = -1e9  # additive attention mask; finite so a fully masked row cannot produce NaN


def _stamp(model_dir: Path) -> dict[str, Any]:
    """What the export depends on: the source weights (size + mtime) and the recipe format."""
    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    return {"source": str(model_dir.resolve()), "size": stat.st_size, "mtime": int(stat.st_mtime), "format": 2}


def _halve_token_table(path: Path) -> None:
    """Store the token-embedding table (262k x 768, two thirds of the file) in fp16 with a Cast after
    the lookup: half the bytes to read at start-up, vectors unchanged to within fp16 rounding."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Gather" and node.input[0] in inits and inits[node.input[0]].data_type == TensorProto.FLOAT:
            table = inits[node.input[0]]
            half = numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), table.name)
            table.CopyFrom(half)
            looked_up, widened = node.output[0], node.output[0] + "_fp32"
            for consumer in graph.node:
                consumer.input[:] = [widened if i == looked_up else i for i in consumer.input]
            graph.node.append(helper.make_node("Cast", [looked_up], [widened], to=TensorProto.FLOAT,
                                               name=node.name + "_to_fp32"))
            break
    onnx.save(model, str(path))


def _export_fp32(model_dir: Path, target: Path) -> None:
    """Trace the full sentence-transformers pipeline into one ONNX file (TorchScript exporter)."""
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True,
                             model_kwargs={"attn_implementation": "eager"})
    modules = [type(m).__name__ for m in st]
    if modules != ["Transformer", "Pooling", "Dense", "Dense", "Normalize"]:
        raise ValueError(f"unexpected sentence-transformers pipeline {modules}")

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = st[0].auto_model
            self.d1, self.d2 = st[2].linear, st[3].linear
            self.types = list(self.model.config.layer_types)
            self.window = int(self.model.config.sliding_window)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            m = self.model
            x = m.embed_tokens(input_ids)
            pos = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
            keep = attention_mask.to(torch.bool)[:, None, None, :]
            zero, neg = torch.tensor(0.0, dtype=x.dtype), torch.tensor(_MASK_VALUE, dtype=x.dtype)
            near = (pos[0][:, None] - pos[0][None, :]).abs() < self.window  # transformers: |q-k| < window
            masks = {"full_attention": torch.where(keep, zero, neg),
                     "sliding_attention": torch.where(keep & near[None, None], zero, neg)}
            rope = {t: m.rotary_emb(x, pos, t) for t in set(self.types)}
            for layer, kind in zip(m.layers, self.types):
                x = layer(x, attention_mask=masks[kind], position_embeddings=rope[kind], position_ids=pos)
            x = m.norm(x)
            w = attention_mask.to(x.dtype).unsqueeze(-1)
            pooled = (x * w).sum(1) / w.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(self.d2(self.d1(pooled)), p=2, dim=1)

    ids = torch.tensor([[2, 8071, 236787, 3927, 1354, 1109, 1], [2, 8071, 236787, 3927, 1, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        torch.onnx.export(Pipeline().eval(), (ids, mask), str(target), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                        "attention_mask": {0: "batch", 1: "seq"},
                                        "sentence_embedding": {0: "batch"}})


def _quantize(source: Path, target: Path, recipe: str) -> None:
    """Dynamic int8 (per-channel, 7-bit weights: AVX2 without VNNI saturates u8s8 otherwise) on the
    MatMuls with constant weights; ``int8-nodown`` leaves ``down_proj`` and the Dense heads in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    consts = {i.name for i in graph.initializer}
    weights = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in consts]
    if recipe == "int8-nodown":
        kept = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj")
        weights = [n for n in weights if any(f"/{k}/" in n for k in kept)]
    quantize_dynamic(str(source), str(target), per_channel=True, reduce_range=True,
                     op_types_to_quantize=["MatMul"], nodes_to_quantize=weights, weight_type=QuantType.QInt8)


class OnnxEncoder:
    """Batch/query encoder over an exported ONNX file; rows are float32 and L2-normalised."""

    def __init__(self, onnx_path: Path, tokenizer_dir: Path, threads: int = 2, max_length: int = 2048) -> None:
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

    @staticmethod
    def export(model_dir: Path, out_dir: Path, quantize: str = "int8-nodown") -> Path:
        """Create ``out_dir/<quantize>.onnx`` from a sentence-transformers folder; no-op when up to date."""
        if quantize not in QUANTIZE_RECIPES:
            raise ValueError(f"quantize must be one of {QUANTIZE_RECIPES}, not {quantize!r}")
        _offline_env()
        model_dir, out_dir = Path(model_dir), Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        target, meta = out_dir / f"{quantize}.onnx", out_dir / f"{quantize}.json"
        stamp = _stamp(model_dir)
        if target.exists() and meta.exists() and json.loads(meta.read_text()) == stamp:
            return target
        fp32 = OnnxEncoder.export(model_dir, out_dir, "fp32") if quantize != "fp32" else None
        log.info("exporting %s to %s (once; about a minute)", model_dir.name, target)
        started = time.perf_counter()
        partial = out_dir / f".{quantize}.partial.onnx"
        if fp32 is None:
            _export_fp32(model_dir, partial)
            _halve_token_table(partial)
        else:
            _quantize(fp32, partial, quantize)
        partial.replace(target)
        meta.write_text(json.dumps(stamp))
        log.info("exported %s (%.0f MiB) in %.1fs", target, target.stat().st_size / 2**20,
                 time.perf_counter() - started)
        return target

    def encode(self, texts: list[str], batch_size: int = 8, workers: int = 1) -> np.ndarray:
        """Embed ``texts`` (prompt already applied); batches hold texts of similar token length. With
        ``workers`` > 1, that many batches run at once on the one session (ONNX Runtime's ``run`` is
        thread-safe and releases the GIL): measured on 2 cores with batch 1, 2 workers encode ~1.3x the
        chunks per second of one (the intra-op threads alone leave the cores idle between small ops)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = np.argsort([-len(i) for i in ids], kind="stable")
        batches = [order[start:start + max(1, batch_size)] for start in range(0, len(order), max(1, batch_size))]

        def run(rows: np.ndarray) -> None:
            width = len(ids[rows[0]])
            input_ids = np.zeros((len(rows), width), dtype=np.int64)  # pad id 0, masked out
            mask = np.zeros_like(input_ids)
            for row, i in enumerate(rows):
                input_ids[row, :len(ids[i])] = ids[i]
                mask[row, :len(ids[i])] = 1
            out[rows] = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]

        if workers > 1 and len(batches) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(workers, len(batches)), thread_name_prefix="encode") as pool:
                list(pool.map(run, batches))
        else:
            for rows in batches:
                run(rows)
        return out


def onnx_dir(model_dir: Path) -> Path:
    """Where a model's ONNX exports live: a sibling folder ``<model>-onnx``."""
    return Path(model_dir).parent / f"{Path(model_dir).name}-onnx"


SIMILARITY_PROMPT = "STS"  # the sentence-transformers prompt name for sentence similarity


def _prompts(model_dir: Path) -> tuple[str, str, str]:
    """The model's own (query, document, similarity) prompts from its sentence-transformers config."""
    config = Path(model_dir) / "config_sentence_transformers.json"
    prompts = json.loads(config.read_text()).get("prompts", {}) if config.exists() else {}
    document = prompts.get("document", "")
    return prompts.get("query", ""), document, prompts.get(SIMILARITY_PROMPT, document)


class OnnxEmbedder:
    """The model through ONNX Runtime (``backend`` ``onnx`` or ``onnx-int8``), exported on first use."""

    def __init__(self, path: Path, backend: str = "onnx-int8", batch_size: int = 1, threads: int = 0,
                 workers: int = 2) -> None:
        self.path = Path(path)
        _require_model(self.path)
        if backend not in ONNX_RECIPES:
            raise ConfigError(f"RAG_EMBEDDING_BACKEND={backend!r} is not an ONNX backend")
        self.batch_size = batch_size
        self.workers = workers
        self.name = f"{self.path.name}:{backend}"
        self.query_prompt, self.document_prompt, self.similarity_prompt = _prompts(self.path)
        try:
            onnx_file = OnnxEncoder.export(self.path, onnx_dir(self.path), ONNX_RECIPES[backend])
            self._encoder = OnnxEncoder(onnx_file, self.path, threads)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot prepare the ONNX model for {self.path}: {exc}") from exc
        self.dimension = self._encoder.dimension

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder.encode([self.document_prompt + t for t in texts], self.batch_size, self.workers)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encoder.encode([self.query_prompt + text], 1)[0]

    def embed_similar(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder.encode([self.similarity_prompt + t for t in texts], self.batch_size, self.workers)


# --- a remote OpenAI-compatible embeddings endpoint ------------------------------------------------

GEMMA_PROMPTS = ("task: search result | query: ", "title: none | text: ", "task: sentence similarity | query: ")


class RemoteEmbedder:
    """An OpenAI-compatible ``POST {base_url}/embeddings`` endpoint (a GPU box running a text-embeddings
    server with the same model). The model's query and document prompts are prepended here, as the local
    backends do, so a server with EmbeddingGemma produces the local model's vector space."""

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 60.0,
                 prompts: tuple[str, ...] = GEMMA_PROMPTS, batch_size: int = 32, workers: int = 2) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"RAG_EMBEDDING_URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"remote:{model}@{self.base_url}"
        self.query_prompt, self.document_prompt = prompts[:2]
        self.similarity_prompt = prompts[2] if len(prompts) > 2 else self.document_prompt  # (query, document[, similarity])
        self.batch_size = max(1, batch_size)
        self.workers = max(1, workers)  # requests in flight at once
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY", "")
        self._timeout = timeout

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, self.document_prompt)

    def embed_similar(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, self.similarity_prompt)

    def _embed(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        batches = [[prompt + t for t in texts[i:i + self.batch_size]]
                   for i in range(0, len(texts), self.batch_size)]
        if self.workers > 1 and len(batches) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(self.workers, len(batches)), thread_name_prefix="embed-post") as pool:
                rows = list(pool.map(self._post, batches))
        else:
            rows = [self._post(batch) for batch in batches]
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._post([self.query_prompt + text])[0]

    def _post(self, inputs: list[str]) -> np.ndarray:
        import httpx

        url = f"{self.base_url}/embeddings"
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            response = httpx.post(url, json={"model": self.model, "input": inputs}, headers=headers,
                                  timeout=self._timeout)
        except httpx.TimeoutException:
            raise ModelError(f"the embeddings server at {url} did not answer within {self._timeout:g}s "
                             "(RAG_EMBEDDING_URL)") from None
        except httpx.HTTPError as exc:
            raise ModelError(f"cannot reach the embeddings server at {url}: {exc} (RAG_EMBEDDING_URL)") from None
        if response.status_code >= 400:
            raise ModelError(f"the embeddings server at {url} answered HTTP {response.status_code}: "
                             f"{response.text[:300]} (RAG_EMBEDDING_URL, RAG_EMBEDDING_NAME, RAG_EMBEDDING_API_KEY)")
        try:
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            vectors = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"the embeddings server at {url} sent no OpenAI-style 'data' list: {exc!r} "
                             "(RAG_EMBEDDING_URL)") from None
        if vectors.ndim != 2 or len(vectors) != len(inputs):
            raise ModelError(f"the embeddings server at {url} returned {len(vectors)} vectors for "
                             f"{len(inputs)} texts (RAG_EMBEDDING_URL)")
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def embedder_from(settings: Any) -> Embedder:
    """The embedder a ``Settings`` asks for: the remote endpoint when ``RAG_EMBEDDING_URL`` is set, else the
    local model with ``RAG_EMBEDDING_BACKEND``."""
    if settings.embedding_url:
        return RemoteEmbedder(settings.embedding_url, settings.embedding_name, settings.embedding_api_key,
                              settings.llm_timeout, workers=settings.embed_workers)
    return make_embedder(settings.embedding_path, settings.embedding_backend, settings.embed_batch_size,
                         settings.threads, settings.embed_workers)


def space_from(settings: Any) -> str:
    """The vector space of ``embedder_from(settings)``: a remote model is named by ``RAG_EMBEDDING_NAME``,
    so a server running the local model (same name) shares the local space."""
    if settings.embedding_url:
        return f"{settings.embedding_name}/fp32"
    return embedding_space(settings.embedding_path, settings.embedding_backend)


def make_embedder(path: Path, backend: str, batch_size: int = 1, threads: int = 0, workers: int = 2) -> Embedder:
    """The embedder for a ``RAG_EMBEDDING_BACKEND`` value (``workers`` applies to the ONNX backends)."""
    if backend in ONNX_RECIPES:
        return OnnxEmbedder(path, backend, batch_size, threads, workers)
    return SentenceTransformerEmbedder(path, backend, batch_size, threads)


def embedding_space(model_path: Path, backend: str) -> str:
    """Name of the vector space a configuration produces; documents and queries must share one.

    torch fp32, ONNX fp32 and ONNX int8-nodown are one space (measured: mixed document/query variants
    give the same retrieval scores); torch dynamic int8 drifts too far (cosine 0.88) and is its own.
    """
    return f"{Path(model_path).name}/{'torch-int8' if backend == 'torch-int8' else 'fp32'}"


def as_llama_index(embedder: Embedder) -> Any:
    """A llama-index ``BaseEmbedding`` that delegates to ``embedder`` (so llama-index never picks its own)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class _Wrapped(BaseEmbedding):
        _inner: Any = PrivateAttr()

        def __init__(self, inner: Embedder) -> None:
            super().__init__(model_name=inner.name, embed_batch_size=64)
            self._inner = inner

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._inner.embed_query(query).tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._inner.embed_documents([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._inner.embed_documents(texts).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        async def _aget_text_embedding(self, text: str) -> list[float]:
            return self._get_text_embedding(text)

    return _Wrapped(embedder)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rag.embedding``: prepare the configured backend (export the ONNX file when missing)."""
    import argparse

    from rag.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m rag.embedding", description=main.__doc__)
    parser.add_argument("--backend", help="default: RAG_EMBEDDING_BACKEND")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = Settings.from_env(embedding_backend=args.backend)
    path, backend = settings.embedding_path, settings.embedding_backend
    try:
        _require_model(path)
        if backend in ONNX_RECIPES:
            target = OnnxEncoder.export(path, onnx_dir(path), ONNX_RECIPES[backend])
            log.info("[%s] ONNX model ready at %s", backend, target)
    except (ConfigError, OSError, ValueError, RuntimeError) as exc:
        log.error("embedding set-up failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
