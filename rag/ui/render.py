"""HTML of the chat page (pure): answers, streaming text, errors, the sources panel and the articles table.

Everything that comes from an article, a question or a model is HTML-escaped here, before Gradio sees it;
citation markers become links only where they resolve to a citation. A citation shows its outlet and date
when known, and a machine translation (gloss), labelled as one, under the quote, never instead of it.
(Comparisons of sources: ``rag.ui.compare_render``.)
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.answer import Answer, Citation

CONTEXT_CHARS = 360  # article text shown on each side of a cited sentence
ARTICLE_HEADERS = [
    "File",
    "Title",
    "Language",
    "Chunks",
    "Ingested (UTC)",
    "Published",
    "Outlet",
    "Story",
    "Event",
]
GLOSS_LABEL = "Machine translation (not the article's words):"
_MARKER = re.compile(r"\[(\d{1,3})\]")


def question_html(question: str) -> str:
    """The user's question as the chat shows it: escaped."""
    return _text(question)


def answer_html(answer: Answer, turn: int) -> str:
    """The answer text, escaped, with each marker that resolves to a citation as a link to it."""
    if answer.refused:
        return f'<div class="refusal">{_text(answer.text)}</div>' + nearest_html(answer)
    return linked(_text(answer.text), {c.marker: c.marker for c in answer.citations}, turn)


def nearest_html(answer: Answer) -> str:
    """A refusal's closest sentences, under a label in the answer's language: not citations (no marker),
    so a reader can judge the refusal."""
    if not answer.nearest:
        return ""
    from rag.answer.phrases import Phrases

    label = Phrases(None).render("nearest", answer.language)
    items = "".join(
        f'<li>“{_text(" ".join(n.quote.split()))}” <span class="where">{_text(n.source)} '
        f"[{n.start}:{n.end}]</span></li>"
        for n in answer.nearest
    )
    return f'<div class="nearest"><div class="nearest-label">{_text(label)}</div><ul>{items}</ul></div>'


def linked(escaped: str, markers: Mapping[int, int], turn: int) -> str:
    """``escaped`` text whose markers [n] become links to the panel's entry ``markers[n]`` of ``turn``;
    a marker not in ``markers`` is dropped (never a marker that resolves to nothing)."""

    def link(match: re.Match[str]) -> str:
        marker = markers.get(int(match.group(1)))
        return "" if marker is None else cite_link(turn, marker)

    return _MARKER.sub(link, escaped)


def cite_link(turn: int, marker: int) -> str:
    return f'<a class="cite" href="#src-{turn}-{marker}" title="show source {marker}">[{marker}]</a>'


def markers_in(text: str) -> set[int]:
    """The marker numbers written in ``text``."""
    return {int(m) for m in _MARKER.findall(text)}


def streaming_html(partial: str) -> str:
    """Raw model output while it streams: escaped, markers shown as plain text until verified."""
    return _text(partial) + " …"


def error_html(message: str) -> str:
    return f'<div class="error-msg">⚠ {_text(message)}</div>'


def sources_html(
    turns: Sequence[tuple[int, Sequence[Citation]]],
    texts: dict[str, str],
    shown: int | None = None,
    labels: Mapping[int, str] | None = None,
) -> str:
    """The sources panel: one section per answered turn (only ``shown``, default the last, visible),
    headed ``labels[turn]`` (default "Answer")."""
    if not turns:
        return '<p class="empty-note">Sources of an answer appear here; click a marker such as [1].</p>'
    shown = turns[-1][0] if shown is None else shown
    parts = []
    for turn, citations in turns:
        cls = "turn shown" if turn == shown else "turn"
        body = "".join(citation_html(turn, c, texts.get(c.source, "")) for c in citations)
        if not citations:
            body = '<p class="empty-note">No sources: the articles do not answer this question.</p>'
        label = _text((labels or {}).get(turn, "Answer"))
        parts.append(f'<section class="{cls}" data-turn="{turn}"><h4>{label} {turn}</h4>{body}</section>')
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
    return (
        f'<div class="src" id="src-{turn}-{c.marker}" tabindex="0" data-source="{_attr(c.source)}" '
        f'data-start="{c.start}" data-end="{c.end}">'
        f'<div class="meta">{_meta(c)}</div><div class="context">{lead}{_text(before)}'
        f"<mark>{_text(c.quote)}</mark>{_text(after)}{tail}</div>{gloss_html(c.gloss)}</div>"
    )


def _meta(c: Citation) -> str:
    parts = [f"[{c.marker}] <b>{_text(c.title)}</b>", f"{_text(c.source)} [{c.start}:{c.end}]"]
    if c.outlet:
        parts.append(f'<span class="outlet">{_text(c.outlet)}</span>')
    if c.published:
        parts.append(f'<span class="published">published {_text(c.published)}</span>')
    parts += [f"language {_text(c.language)}", f"score {c.score:.2f}"]
    if c.also_in:
        parts.append(f'<span class="also">also in: {_text(", ".join(c.also_in))}</span>')
    return " · ".join(parts)


def gloss_html(gloss: str | None) -> str:
    """A machine translation of a quote, labelled as one (empty when there is none)."""
    if not gloss:
        return ""
    return f'<div class="gloss"><span class="gloss-label">{GLOSS_LABEL}</span> {_text(gloss)}</div>'


def article_rows(records: Sequence[Any], events: Sequence[Any] = ()) -> list[list[Any]]:
    """The articles table (``ARTICLE_HEADERS``), grouped by event (``events``, newest first; the label
    of each article's event in the last column) and within it by story, each article naming the other
    files of its story ("also: b.txt"; empty for a story of one)."""
    label = {s: _short(e.label, 60) for e in events for s in e.sources}
    rank = {s: i for i, e in enumerate(events) for s in e.sources}

    stories: dict[str, list[Any]] = {}
    for r in sorted(records, key=lambda r: r.source):
        stories.setdefault(getattr(r, "story", "") or r.article_id, []).append(r)
    rows = []
    for members in sorted(stories.values(), key=lambda ms: (rank.get(ms[0].source, len(rank)), ms[0].source)):
        for r in members:
            others = [PurePath(m.source).name for m in members if m is not r]
            rows.append(
                [
                    r.source,
                    r.title,
                    r.language,
                    r.chunk_count,
                    r.ingested_at[:19].replace("T", " "),
                    getattr(r, "published", None) or "",
                    getattr(r, "outlet", None) or "",
                    f"also: {', '.join(others)}" if others else "",
                    label.get(r.source, ""),
                ]
            )
    return rows


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


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
