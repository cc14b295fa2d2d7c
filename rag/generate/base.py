"""The generation stage's protocol and factory: a ``Generator`` turns chat messages into a stream of text
pieces; ``make_generator`` picks one from the settings."""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence

from rag.errors import ConfigError
from rag.settings import Settings

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class Generator(Protocol):
    """Streams a reply to chat ``messages``; ``count_tokens`` sizes prompts for the context budget."""

    name: str

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...


def make_generator(settings: Settings, kind: str | None = None,
                   warm_prefix: Sequence[Message] = ()) -> Generator | None:
    """The generator ``kind`` (default: RAG_GENERATOR); None for ``extractive`` (no LLM)."""
    kind = kind or settings.generator
    if kind == "local":
        from rag.generate.local import LlamaCppGenerator

        return LlamaCppGenerator(settings.llm_path, settings.llm_context, settings.threads, warm_prefix)
    if kind == "openai":
        from rag.generate.server import OpenAIGenerator

        return OpenAIGenerator(settings.llm_url, settings.llm_name, settings.llm_api_key, settings.llm_timeout)
    if kind == "extractive":
        return None
    raise ConfigError(f"RAG_GENERATOR must be one of local, openai, extractive, got {kind!r}")
