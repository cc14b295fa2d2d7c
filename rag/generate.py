"""Text generators behind one small protocol (generation stage): llama.cpp in process, or any
OpenAI-compatible chat server.

A ``Generator`` turns chat messages into a stream of text pieces. ``LlamaCppGenerator`` runs a GGUF model
in this process with the model's own chat template; its fixed system prompt is evaluated once at load
and stays in llama.cpp's KV cache, so each question only pays for its own tokens. ``OpenAIGenerator``
streams from ``POST {base_url}/chat/completions`` (Ollama, vLLM, llama.cpp server...). llama_cpp and
httpx are imported here only; their errors become ``ModelError`` naming the setting to fix.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from rag.errors import ConfigError, ModelError
from rag.settings import Settings

log = logging.getLogger(__name__)

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class Generator(Protocol):
    """Streams a reply to chat ``messages``; ``count_tokens`` sizes prompts for the context budget."""

    name: str

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...


class LlamaCppGenerator:
    """A GGUF chat model run by llama.cpp in this process (loaded on first use, then kept)."""

    def __init__(self, path: Path, context: int = 2048, threads: int = 0,
                 warm_prefix: Sequence[Message] = ()) -> None:
        self.path = Path(path)
        self.name = f"local:{self.path.name}"
        self._context = context
        self._threads = threads or max(1, os.cpu_count() or 1)
        self._warm_prefix = list(warm_prefix)
        self._llm: Any = None
        self._lock = threading.Lock()  # one llama.cpp context: one generation at a time

    def _load(self) -> Any:
        if self._llm is not None:
            return self._llm
        if not self.path.is_file():
            raise ModelError(f"no local LLM at {self.path}: run `make models` (or `python -m rag.models llm`), "
                             "or set RAG_LLM_MODEL to a GGUF file, or RAG_GENERATOR=openai / extractive")
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelError(f"llama-cpp-python is not installed ({exc}): run `make setup`, or set "
                             "RAG_GENERATOR=openai / extractive") from None
        _route_llama_logs()
        started = time.perf_counter()
        try:
            self._llm = Llama(str(self.path), n_ctx=self._context, n_threads=self._threads,
                              n_threads_batch=self._threads, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load the GGUF model {self.path} (RAG_LLM_MODEL): {exc}") from None
        log.info("loaded %s in %.1fs", self.path.name, time.perf_counter() - started)
        if self._warm_prefix:  # evaluate the fixed system prompt once; later prompts reuse its KV cache
            self._llm.create_chat_completion(self._warm_prefix + [{"role": "user", "content": "."}],
                                             max_tokens=1, temperature=0)
        return self._llm

    def load(self) -> None:
        with self._lock:
            self._load()

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._load().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        with self._lock:
            llm = self._load()
            try:
                pieces = llm.create_chat_completion(list(messages), max_tokens=max_tokens, temperature=0.0,
                                                    top_k=1, repeat_penalty=1.05, stream=True)
                for piece in pieces:
                    text = piece["choices"][0]["delta"].get("content")
                    if text:
                        yield text
            except ValueError as exc:  # e.g. prompt longer than the context window
                raise ModelError(f"the local LLM failed: {exc} (RAG_LLM_CONTEXT, RAG_CONTEXT_TOKENS)") from None


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


class OpenAIGenerator:
    """Any server speaking the OpenAI chat-completions API, streamed over server-sent events."""

    def __init__(self, base_url: str, model: str = "default", api_key: str = "", timeout: float = 120.0) -> None:
        if not base_url:
            raise ConfigError("RAG_GENERATOR=openai needs RAG_LLM_URL, e.g. http://127.0.0.1:11434/v1")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"RAG_LLM_URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}@{self.base_url}"
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY", "")
        self._timeout = timeout

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 3)  # no tokenizer here: about 3 characters a token, on the safe side

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        body = {"model": self.model, "messages": list(messages), "max_tokens": max_tokens, "temperature": 0,
                "stream": True}
        url = f"{self.base_url}/chat/completions"
        try:
            with httpx.stream("POST", url, json=body, headers=headers, timeout=self._timeout) as response:
                if response.status_code >= 400:
                    detail = response.read().decode("utf-8", "replace")[:300]
                    raise ModelError(f"the LLM server at {url} answered HTTP {response.status_code}: {detail} "
                                     "(RAG_LLM_URL, RAG_LLM_NAME, RAG_LLM_API_KEY)")
                yield from _sse_text(response.iter_lines())
        except httpx.TimeoutException:
            raise ModelError(f"the LLM server at {self.base_url} did not answer within {self._timeout:g}s "
                             "(RAG_LLM_TIMEOUT)") from None
        except httpx.HTTPError as exc:
            raise ModelError(f"cannot reach the LLM server at {self.base_url}: {exc} (RAG_LLM_URL)") from None


def _sse_text(lines: Iterator[str]) -> Iterator[str]:
    """Content pieces of an OpenAI streaming response (``data: {...}`` lines, ended by ``data: [DONE]``)."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except json.JSONDecodeError:
            raise ModelError(f"the LLM server sent a malformed event: {data[:200]!r}") from None
        if event.get("error"):
            raise ModelError(f"the LLM server reported an error: {event['error']}")
        for choice in event.get("choices") or []:
            text = (choice.get("delta") or {}).get("content") or (choice.get("text") or "")
            if text:
                yield text


def make_generator(settings: Settings, kind: str | None = None,
                   warm_prefix: Sequence[Message] = ()) -> Generator | None:
    """The generator ``kind`` (default: RAG_GENERATOR); None for ``extractive`` (no LLM)."""
    kind = kind or settings.generator
    if kind == "local":
        return LlamaCppGenerator(settings.llm_path, settings.llm_context, settings.threads, warm_prefix)
    if kind == "openai":
        return OpenAIGenerator(settings.llm_url, settings.llm_name, settings.llm_api_key, settings.llm_timeout)
    if kind == "extractive":
        return None
    raise ConfigError(f"RAG_GENERATOR must be one of local, openai, extractive, got {kind!r}")
