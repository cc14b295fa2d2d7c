"""Pure builders of the OpenAI-shaped values the HTTP API returns (no FastAPI here): ``chat.completion``,
``chat.completion.chunk``, ``model``, the model list and ``{"error": ...}``, plus reading a chat request's
messages into the assistant's question and follow-up history.

The assistant's extras ride at the top level of the OpenAI shapes: ``citations`` (each as
``rag.answer.values.Citation``'s fields: marker, source, start, end, quote, title, language, score,
published, outlet, gloss, also_in) and ``refused``, on the completion and on the last streamed chunk.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

MODEL_ID = "rag"
OWNER = "rag"

History = list[tuple[str, str]]


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def model_card(model: str = MODEL_ID, created: int = 0) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": created, "owned_by": OWNER}


def model_list(created: int = 0, models: Sequence[str] = (MODEL_ID,)) -> dict[str, Any]:
    return {"object": "list", "data": [model_card(m, created) for m in models]}


def answer_extras(answer: Any) -> dict[str, Any]:
    """``citations``, ``refused`` and ``nearest`` (a refusal's closest sentences, not citations) of a
    ``rag.answer.Answer`` (its ``to_dict`` field names)."""
    data = answer.to_dict()
    return {"citations": data["citations"], "refused": bool(data["refused"]), "nearest": data["nearest"]}


def chat_completion(
    answer: Any, model: str = MODEL_ID, cid: str | None = None, created: int | None = None
) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` carrying the verified answer text (with its ``[n]`` markers)."""
    return {
        "id": cid or completion_id(),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        **answer_extras(answer),
    }


def chunk(
    cid: str,
    created: int,
    model: str = MODEL_ID,
    *,
    role: bool = False,
    content: str | None = None,
    finish_reason: str | None = None,
    extras: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``: a delta with the role and/or content, or the last one (``finish_reason``
    set, empty delta) with ``extras`` (the citations and ``refused``)."""
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        **(extras or {}),
    }


def answer_chunks(
    answer: Any, cid: str, created: int, model: str = MODEL_ID, piece_words: int = 8
) -> list[dict]:
    """The content chunks of a verified answer (a few words each), then the last chunk with its citations."""
    words = answer.text.split(" ")
    pieces = [" ".join(words[i : i + piece_words]) for i in range(0, len(words), piece_words)]
    out = [
        chunk(cid, created, model, content=p if i == 0 else " " + p)
        for i, p in enumerate(pieces)
        if p or i == 0
    ]
    out.append(chunk(cid, created, model, finish_reason="stop", extras=answer_extras(answer)))
    return out


def error_body(message: str, type_: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """The OpenAI error shape: ``{"error": {"message", "type", "code", "param"}}``."""
    return {"error": {"message": message, "type": type_, "code": code, "param": None}}


def sse(data: Mapping[str, Any] | str) -> str:
    """One server-sent event: ``data: {...}`` and a blank line (``data: [DONE]`` for the string)."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n"


SSE_DONE = sse("[DONE]")
SSE_KEEPALIVE = ": keep-alive\n\n"  # an SSE comment: clients skip it; it keeps proxies from timing out


def message_text(content: Any) -> str:
    """The text of a message's ``content``: a string, or a list of parts whose ``text`` parts are joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type", "text") == "text":
                parts.append(str(part.get("text") or ""))
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(p for p in parts if p)
    return str(content)


def question_and_history(messages: Sequence[Mapping[str, Any]]) -> tuple[str, History]:
    """The last user message (the question) and the earlier turns as (question, answer) pairs: each user
    message with the assistant reply that follows it (system and tool messages are not part of it)."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    if last < 0:
        return "", []
    history: History = []
    pending: str | None = None
    for m in messages[:last]:
        role, text = m.get("role"), message_text(m.get("content")).strip()
        if role == "user":
            if pending is not None and pending:
                history.append((pending, ""))
            pending = text
        elif role == "assistant" and pending is not None:
            history.append((pending, text))
            pending = None
    if pending:
        history.append((pending, ""))
    return message_text(messages[last].get("content")).strip(), [(q, a) for q, a in history if q]
