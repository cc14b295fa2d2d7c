"""Follow-up questions (answer stage): a question asked after earlier turns is rewritten by the LLM into
one that needs no history (the ``condense`` prompt); without an LLM, or when the rewrite is implausible,
retrieval uses the question followed by the previous one."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.answer import prompts
from rag.answer.language import question_language
from rag.answer.text import _WORDS, _strip_markers
from rag.generate import Generator, Message

log = logging.getLogger(__name__)

HISTORY_TURNS = 3


def standalone(
    question: str,
    history: Sequence[tuple[str, str]],
    generator: Generator | None,
    system: Message,
    templates: Path | None = None,
) -> tuple[str, str]:
    """(question to retrieve with, question to put to the LLM); ``templates``: the prompt folder."""
    turns = [(q, a) for q, a in history if (q or "").strip()][-HISTORY_TURNS:]
    if not turns:
        return question, question
    fallback = (f"{question} {turns[-1][0].strip()}", f"{question} (after: {turns[-1][0].strip()})")
    if generator is None:
        return fallback
    lines = "\n".join(f"User: {_clip(q, 300)}\nAssistant: {_clip(_strip_markers(a), 300)}" for q, a in turns)
    prompt = prompts.render("condense", folder=templates, history=lines, question=question)
    reply = _until_line_break(generator.stream([system, {"role": "user", "content": prompt}], 60))
    rewritten = _first_line(reply)
    if not _plausible_rewrite(question, rewritten):
        log.info("condensing failed (%r); retrieving with the previous question appended", reply)
        return fallback
    log.info("follow-up %r rewritten as %r", question, rewritten)
    return rewritten, rewritten


def _plausible_rewrite(question: str, rewritten: str) -> bool:
    """A rewrite is kept when it is a question in the same language that keeps most of the original's
    words (small models sometimes answer instead, switch language, or echo an earlier question)."""
    if not rewritten.endswith(("?", "？")) or len(rewritten) > 3 * len(question) + 200:
        return False
    if question_language(rewritten) != question_language(question):
        return False
    words = set(_WORDS.findall(question.lower()))
    kept = words & set(_WORDS.findall(rewritten.lower()))
    return not words or len(kept) >= 0.5 * len(words)


def _until_line_break(pieces: Iterator[str]) -> str:
    """The text of ``pieces`` up to the first line break after some text; the rest is never generated
    (small models follow the rewritten question with an answer, which costs seconds on a CPU)."""
    text = ""
    try:
        for piece in pieces:
            text += piece
            if "\n" in text.lstrip():
                break
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    return text


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        line = line.strip().strip('"“”«»').strip()
        for prefix in ("Standalone question:", "Question:"):
            if line.lower().startswith(prefix.lower()):
                line = line[len(prefix) :].strip()
        if line:
            return line
    return ""


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
