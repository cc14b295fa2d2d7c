"""A GGUF chat model run by llama.cpp in this process, with the model's own chat template; its fixed system
prompt is evaluated once at load and stays in llama.cpp's KV cache, so each question only pays for its own
tokens. llama_cpp is imported here only; its errors become ``ModelError`` naming the setting to fix."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.errors import ModelError
from rag.generate.base import Message

log = logging.getLogger(__name__)


class LlamaCppGenerator:
    """A GGUF chat model run by llama.cpp in this process (loaded on first use, then kept)."""

    def __init__(
        self, path: Path, context: int = 2048, threads: int = 0, warm_prefix: Sequence[Message] = ()
    ) -> None:
        self.path = Path(path)
        self.name = f"local:{self.path.name}"
        self._context = context
        self._threads = threads or max(1, os.cpu_count() or 1)
        self._warm_prefix = list(warm_prefix)
        self._llm: Any = None
        self._lock = threading.Lock()  # one llama.cpp context: one generation at a time
        self._scripts: list[frozenset[str]] | None = None  # per token: the scripts of its letters

    def _load(self) -> Any:
        if self._llm is not None:
            return self._llm
        if not self.path.is_file():
            raise ModelError(
                f"no local LLM at {self.path}: run `make models` (or `python -m rag.setup.models llm`), "
                "or set RAG_LLM_MODEL to a GGUF file, or RAG_GENERATOR=openai / extractive"
            )
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelError(
                f"llama-cpp-python is not installed ({exc}): run `make setup`, or set "
                "RAG_GENERATOR=openai / extractive"
            ) from None
        _route_llama_logs()
        started = time.perf_counter()
        try:
            self._llm = Llama(
                str(self.path),
                n_ctx=self._context,
                n_threads=self._threads,
                n_threads_batch=self._threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load the GGUF model {self.path} (RAG_LLM_MODEL): {exc}") from None
        log.info("loaded %s in %.1fs", self.path.name, time.perf_counter() - started)
        if self._warm_prefix:  # evaluate the fixed system prompt once; later prompts reuse its KV cache
            self._llm.create_chat_completion(
                self._warm_prefix + [{"role": "user", "content": "."}], max_tokens=1, temperature=0
            )
        return self._llm

    def load(self) -> None:
        with self._lock:
            self._load()

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._load().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        return self.stream_in_scripts(messages, max_tokens, None)

    def stream_in_scripts(
        self, messages: Sequence[Message], max_tokens: int, scripts: frozenset[str] | None
    ) -> Iterator[str]:
        """``stream``, with every token that holds a letter of a script outside ``scripts`` (first words
        of Unicode names: CYRILLIC, CJK...) masked while the model writes; None: no mask."""
        with self._lock:
            llm = self._load()
            processors = None
            if scripts:
                from llama_cpp import LogitsProcessorList

                processors = LogitsProcessorList([_ScriptMask(self._token_scripts(llm), scripts)])
            try:
                pieces = llm.create_chat_completion(
                    list(messages),
                    max_tokens=max_tokens,
                    temperature=0.0,
                    top_k=1,
                    repeat_penalty=1.05,
                    stream=True,
                    logits_processor=processors,
                )
                for piece in pieces:
                    text = piece["choices"][0]["delta"].get("content")
                    if text:
                        yield text
            except ValueError as exc:  # e.g. prompt longer than the context window
                raise ModelError(
                    f"the local LLM failed: {exc} (RAG_LLM_CONTEXT, RAG_CONTEXT_TOKENS)"
                ) from None

    def _token_scripts(self, llm: Any) -> list[frozenset[str]]:
        """The scripts of the letters of each vocabulary token (read once per model, then kept)."""
        if self._scripts is None:
            started = time.perf_counter()
            self._scripts = token_scripts(llm.detokenize, llm.n_vocab())
            log.info(
                "read the scripts of %d tokens in %.1fs", len(self._scripts), time.perf_counter() - started
            )
        return self._scripts


def token_scripts(detokenize: Any, size: int) -> list[frozenset[str]]:
    """Per token id, the scripts of its letters (empty: none, or bytes that are not whole characters)."""
    import unicodedata

    scripts: list[frozenset[str]] = []
    for token in range(size):
        try:
            text = detokenize([token]).decode("utf-8")
        except (UnicodeDecodeError, ValueError):
            scripts.append(frozenset())
            continue
        scripts.append(frozenset(unicodedata.name(ch, " ").split(" ", 1)[0] for ch in text if ch.isalpha()))
    return scripts


class _ScriptMask:
    """A llama.cpp logits processor: tokens with letters outside the allowed scripts get -inf."""

    def __init__(self, scripts: Sequence[frozenset[str]], allowed: frozenset[str]) -> None:
        import numpy as np

        self.blocked = np.array([bool(s - allowed) for s in scripts], dtype=bool)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        n = min(len(scores), len(self.blocked))
        scores[:n][self.blocked[:n]] = -float("inf")
        return scores


_LOG_CALLBACK: Any = None


def _route_llama_logs() -> None:
    """Send llama.cpp's own stderr chatter (context-size notes...) to ``logging`` at debug level."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return
    import ctypes

    import llama_cpp

    def forward(level: int, text: bytes, user_data: Any) -> None:
        log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

    _LOG_CALLBACK = llama_cpp.llama_log_callback(forward)  # kept referenced: C holds the pointer
    llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
