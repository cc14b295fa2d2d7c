"""Turn text into vectors (embedding stage); the only module that imports sentence-transformers.

``Embedder`` is the small protocol the rest of the package depends on. ``SentenceTransformerEmbedder``
loads the multilingual model from the local models folder (never from a hub) and applies the model's
own query and document prompts. ``as_llama_index`` wraps any embedder once for llama-index.
"""

from __future__ import annotations

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


def _offline_env() -> None:
    """Never reach for a hub; keep library chatter (progress bars, info logs) off the user's terminal."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


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
        if not (self.path / "modules.json").exists() and not (self.path / "config.json").exists():
            raise ConfigError(f"embedding model not found at {self.path}: run `make setup` (or "
                              "`python -m rag.models embedding`), or set RAG_EMBEDDING_MODEL / RAG_MODELS_DIR")
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

    @property
    def dimension(self) -> int:
        return int(self._model.get_embedding_dimension())


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
