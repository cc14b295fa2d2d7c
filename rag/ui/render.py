"""HTML of the chat page (pure): answers, streaming text, errors, the sources panel and the articles table.

Everything that comes from an article, a question or a model is HTML-escaped here, before Gradio sees it;
citation markers become links only where they resolve to a citation.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.answer import Answer, Citation

CONTEXT_CHARS = 360  # article text shown on each side of a cited sentence
_MARKER = re.compile(r"\[(\d{1,3})\]")


def question_html(question: str) -> str:
    """The user's question as the chat shows it: escaped."""
    return _text(question)


def answer_html(answer: Answer, turn: int) -> str:
    """The answer text, escaped, with each marker that resolves to a citation as a link to it."""
    if answer.refused:
        return f'<div class="refusal">{_text(answer.text)}</div>'
    known = {c.marker for c in answer.citations}

    def link(match: re.Match[str]) -> str:
        marker = int(match.group(1))
        if marker not in known:
            return ""  # never a marker that resolves to nothing
        return f'<a class="cite" href="#src-{turn}-{marker}" title="show source {marker}">[{marker}]</a>'

    return _MARKER.sub(link, _text(answer.text))


def streaming_html(partial: str) -> str:
    """Raw model output while it streams: escaped, markers shown as plain text until verified."""
    return _text(partial) + " …"


def error_html(message: str) -> str:
    return f'<div class="error-msg">⚠ {_text(message)}</div>'


def sources_html(
    turns: Sequence[tuple[int, Sequence[Citation]]], texts: dict[str, str], shown: int | None = None
) -> str:
    """The sources panel: one section per answered turn (only ``shown``, default the last, visible)."""
    if not turns:
        return '<p class="empty-note">Sources of an answer appear here; click a marker such as [1].</p>'
    shown = turns[-1][0] if shown is None else shown
    parts = []
    for turn, citations in turns:
        cls = "turn shown" if turn == shown else "turn"
        body = "".join(citation_html(turn, c, texts.get(c.source, "")) for c in citations)
        if not citations:
            body = '<p class="empty-note">No sources: the articles do not answer this question.</p>'
        parts.append(f'<section class="{cls}" data-turn="{turn}"><h4>Answer {turn}</h4>{body}</section>')
    return "".join(parts)


def citation_html(turn: int, c: Citation, article: str) -> str:
    """One cited sentence highlighted inside its article context (everything escaped)."""
    if article[c.start : c.end] == c.quote:
        lo = _boundary(article, max(0, c.start - CONTEXT_CHARS), backward=True)
        hi = _boundary(article, min(len(article), c.end + CONTEXT_CHARS), backward=False)
        before, after = article[lo : c.start], article[c.end : hi]
        lead, tail = ("… " if lo > 0 else ""), (" …" if hi < len(article) else "")
    else:  # the article changed since the answer: show the quote alone
        before = after = lead = tail = ""
    meta = (
        f"[{c.marker}] <b>{_text(c.title)}</b> · {_text(c.source)} [{c.start}:{c.end}] · "
        f"language {_text(c.language)} · score {c.score:.2f}"
    )
    return (
        f'<div class="src" id="src-{turn}-{c.marker}" tabindex="0" data-source="{_attr(c.source)}" '
        f'data-start="{c.start}" data-end="{c.end}">'
        f'<div class="meta">{meta}</div><div class="context">{lead}{_text(before)}'
        f"<mark>{_text(c.quote)}</mark>{_text(after)}{tail}</div></div>"
    )


def article_rows(records: Sequence[Any]) -> list[list[Any]]:
    return [
        [r.source, r.title, r.language, r.chunk_count, r.ingested_at[:19].replace("T", " ")] for r in records
    ]


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _boundary(text: str, index: int, backward: bool) -> int:
    """Move ``index`` to a nearby whitespace so the context does not cut a word."""
    window = text[max(0, index - 40) : index] if backward else text[index : index + 40]
    spaces = [m.start() for m in re.finditer(r"\s", window)]
    if not spaces or index in (0, len(text)):
        return index
    return index - len(window) + spaces[-1] + 1 if backward else index + spaces[0]
