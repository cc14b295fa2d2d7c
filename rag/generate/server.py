"""Any OpenAI-compatible chat server (Ollama, vLLM, llama.cpp server...) as the generator, streamed from
``POST {base_url}/chat/completions`` over server-sent events; httpx errors become ``ModelError``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from rag.errors import ConfigError, ModelError
from rag.generate.base import Message


class OpenAIGenerator:
    """Any server speaking the OpenAI chat-completions API, streamed over server-sent events."""

    def __init__(
        self, base_url: str, model: str = "default", api_key: str = "", timeout: float = 120.0
    ) -> None:
        if not base_url:
            raise ConfigError("RAG_GENERATOR=openai needs RAG_LLM_URL, e.g. http://127.0.0.1:11434/v1")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"RAG_LLM_URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}@{self.base_url}"
        self._api_key = api_key
        self._timeout = timeout

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 3)  # no tokenizer here: about 3 characters a token, on the safe side

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        body = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": True,
        }
        url = f"{self.base_url}/chat/completions"
        try:
            with httpx.stream("POST", url, json=body, headers=headers, timeout=self._timeout) as response:
                if response.status_code >= 400:
                    detail = response.read().decode("utf-8", "replace")[:300]
                    raise ModelError(
                        f"the LLM server at {url} answered HTTP {response.status_code}: {detail} "
                        "(RAG_LLM_URL, RAG_LLM_NAME, RAG_LLM_API_KEY)"
                    )
                yield from _sse_text(response.iter_lines())
        except httpx.TimeoutException:
            raise ModelError(
                f"the LLM server at {self.base_url} did not answer within {self._timeout:g}s "
                "(RAG_LLM_TIMEOUT)"
            ) from None
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
