"""Choosing the generator a configuration asks for (``RAG_GENERATOR``): llama.cpp in process, an
OpenAI-compatible server, or none (extractive answers)."""

from __future__ import annotations

from collections.abc import Sequence

from rag.errors import ConfigError
from rag.generate.base import Generator, Message
from rag.settings import Settings


def make_generator(
    settings: Settings, kind: str | None = None, warm_prefix: Sequence[Message] = ()
) -> Generator | None:
    """The generator ``kind`` (default: RAG_GENERATOR); None for ``extractive`` (no LLM)."""
    kind = kind or settings.generator
    if kind == "local":
        from rag.generate.local import LlamaCppGenerator

        return LlamaCppGenerator(settings.llm_path, settings.llm_context, settings.threads, warm_prefix)
    if kind == "openai":
        from rag.generate.server import OpenAIGenerator

        return OpenAIGenerator(
            settings.llm_url, settings.llm_name, settings.llm_api_key, settings.llm_timeout
        )
    if kind == "extractive":
        return None
    raise ConfigError(f"RAG_GENERATOR must be one of local, openai, extractive, got {kind!r}")
