"""20 simultaneous chat sessions against one real chat page (Gradio's own client over HTTP, one session
each, two turns each): no errors, and every session sees only its own questions, answers and sources.
Latency under load is a benchmark (`rag bench load`), not asserted here."""

from __future__ import annotations

import html
import re

from rag.evaluation.bench import chat_sessions
from rag.evaluation.datasets import builtin_dataset, load_dataset, retrieval_questions

from .test_server_mode import free_port

USERS = 20


def text_of(message: dict) -> str:
    """A chat message's text (Gradio sends content as a list of typed parts)."""
    content = message["content"]
    parts = content if isinstance(content, list) else [content]
    return html.unescape("".join(p["text"] if isinstance(p, dict) else str(p) for p in parts))


def test_twenty_simultaneous_sessions_stay_separate(seed_index, embedder):
    from rag import Assistant
    from rag.ui import serve

    questions = [q.question for q in retrieval_questions(load_dataset(builtin_dataset("seeds")).questions)][
        :7
    ]
    assistant = Assistant.open(seed_index, embedder=embedder, progress=False, generator="extractive")
    port = free_port()
    app = serve(assistant, "127.0.0.1", port)
    try:
        sessions = chat_sessions(
            f"http://127.0.0.1:{port}/", questions, USERS, turns=2, generator="extractive"
        )
    finally:
        app.close()
    assert len(sessions) == USERS
    for s in sessions:
        chat = s["chat"]
        assert [m["role"] for m in chat] == ["user", "assistant"] * 2, chat
        assert [text_of(m) for m in chat[::2]] == s["asked"]  # its own questions, nobody else's
        assert not any("error-msg" in text_of(m) for m in chat), chat
        assert all("cite" in text_of(m) or "refusal" in text_of(m) for m in chat[1::2]), chat
        # the sources panel holds this session's two answers only (shared state would number them up to 40)
        assert re.findall(r'data-turn="(\d+)"', s["sources"]) == ["1", "2"], s["sources"][:300]
