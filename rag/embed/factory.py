"""Choosing the embedder a configuration asks for: a remote server when ``RAG_EMBEDDING_URL`` is set, else the
local model through the ``RAG_EMBEDDING_BACKEND`` backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.embed.base import ONNX_RECIPES, Embedder


def embedder_from(settings: Any) -> Embedder:
    """The embedder a ``Settings`` asks for: the remote endpoint when ``RAG_EMBEDDING_URL`` is set, else the
    local model with ``RAG_EMBEDDING_BACKEND``."""
    if settings.embedding_url:
        from rag.embed.remote import RemoteEmbedder

        return RemoteEmbedder(
            settings.embedding_url,
            settings.embedding_name,
            settings.embedding_api_key,
            settings.llm_timeout,
            workers=settings.embed_workers,
        )
    return make_embedder(
        settings.embedding_path,
        settings.embedding_backend,
        settings.embed_batch_size,
        settings.threads,
        settings.embed_workers,
    )


def make_embedder(
    path: Path, backend: str, batch_size: int = 1, threads: int = 0, workers: int = 2
) -> Embedder:
    """The embedder for a ``RAG_EMBEDDING_BACKEND`` value (``workers`` applies to the ONNX backends)."""
    if backend in ONNX_RECIPES:
        from rag.embed.onnx import OnnxEmbedder

        return OnnxEmbedder(path, backend, batch_size, threads, workers)
    from rag.embed.sentence_transformer import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(path, backend, batch_size, threads)
