"""The generation stage's protocol: a ``Generator`` turns chat messages into a stream of text pieces."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class Generator(Protocol):
    """Streams a reply to chat ``messages``; ``count_tokens`` sizes prompts for the context budget."""

    name: str

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...
