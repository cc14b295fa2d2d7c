"""HTML of a comparison of sources in the chat (pure): each source's header and own answer (or "silent"),
then the points where the sources agree and differ.

Within one source's answer or one point, the comparison's markers [1], [2] are local to that item; the
sources panel holds one numbered entry per cited span of the whole comparison (``number``), and each item's
markers are rewritten to those panel numbers, so every link opens an entry of the panel. A marker that
resolves to nothing is not shown. Everything from an article, a question or a model is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rag.ui.render import cite_link, linked, markers_in

if TYPE_CHECKING:
    from rag.answer import Citation
    from rag.answer.compare import Comparison, Point, SourceAnswer

NO_SOURCES = "No article bears on this question: there is nothing to compare."
SILENT = "silent: this source says nothing on the question"


@dataclass(frozen=True)
class Numbered:
    """A comparison's panel entries (``citations``, markers 1..n) and, per source and per point, the
    map from that item's local markers to the panel's."""

    citations: tuple[Citation, ...]
    sources: tuple[dict[int, int], ...]
    agree: tuple[dict[int, int], ...]
    differ: tuple[dict[int, int], ...]


def number(comparison: Comparison) -> Numbered:
    """Turn-unique panel numbers for every cited span of ``comparison`` (one entry per span, in order of
    first citation: sources, then agreements, then differences)."""
    panel: dict[tuple[str, int, int], Citation] = {}

    def renumber(cited: Sequence[Citation]) -> dict[int, int]:
        local = {}
        for c in cited:
            key = (c.source, c.start, c.end)
            known = panel.get(key)
            if known is None:
                known = panel[key] = replace(c, marker=len(panel) + 1)
            elif c.gloss and not known.gloss:
                known = panel[key] = replace(known, gloss=c.gloss)
            local[c.marker] = known.marker
        return local

    sources = tuple(renumber(v.citations) for v in comparison.sources)
    agree = tuple(renumber(p.citations) for p in comparison.agree)
    differ = tuple(renumber(p.citations) for p in comparison.differ)
    return Numbered(tuple(panel.values()), sources, agree, differ)


def comparison_html(comparison: Comparison, turn: int) -> str:
    """The comparison as the assistant's chat message of ``turn`` (one line: no blank line may break the
    HTML block the chat's Markdown passes through)."""
    if not comparison.sources:
        return f'<div class="refusal">{NO_SOURCES}</div>'
    numbered = number(comparison)
    cards = "".join(
        source_html(v, markers, turn) for v, markers in zip(comparison.sources, numbered.sources, strict=True)
    )
    agree = points_html("Agree", comparison.agree, numbered.agree, turn)
    differ = points_html("Differ", comparison.differ, numbered.differ, turn)
    return f'<div class="compare"><div class="cmp-sources">{cards}</div>{agree}{differ}</div>'


def source_html(view: SourceAnswer, markers: Mapping[int, int], turn: int) -> str:
    """One source: title, file, outlet, date, the other files of its story, and its answer or silence."""
    about = [f'<span class="cmp-file">{_text(view.source)}</span>']
    if view.outlet:
        about.append(f'<span class="outlet">{_text(view.outlet)}</span>')
    if view.published:
        about.append(f'<span class="published">{_text(view.published)}</span>')
    about.append(f"language {_text(view.language)}")
    also = f'<div class="cmp-also">also in: {_text(", ".join(view.also_in))}</div>' if view.also_in else ""
    head = (
        f'<div class="cmp-head"><b>{_text(view.title or view.source)}</b>'
        f'<div class="cmp-meta">{" · ".join(about)}</div>{also}</div>'
    )
    if view.silent or not view.citations:
        body = f'<div class="cmp-silent">{SILENT}</div>'
        cls = "cmp-source silent"
    else:
        body = f'<div class="cmp-answer">{linked(_text(_one_line(view.answer)), markers, turn)}</div>'
        cls = "cmp-source"
    return f'<div class="{cls}">{head}{body}</div>'


def points_html(label: str, found: Sequence[Point], markers: Sequence[Mapping[int, int]], turn: int) -> str:
    """A section of points, each with links to both its citations (appended when its text lacks one)."""
    if not found:
        items = f'<p class="empty-note">No points found where the sources {label.lower()}.</p>'
    else:
        rows = []
        for point, local in zip(found, markers, strict=True):
            text = _one_line(point.text)
            shown = {local[m] for m in markers_in(text) if m in local}
            missing = dict.fromkeys(local[m] for m in sorted(local) if local[m] not in shown)
            links = "".join(" " + cite_link(turn, m) for m in missing)
            rows.append(f"<li>{linked(_text(text), local, turn)}{links}</li>")
        items = f"<ul>{''.join(rows)}</ul>"
    return f'<div class="cmp-points cmp-{label.lower()}"><h4>{_text(label)}</h4>{items}</div>'


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _text(value: str) -> str:
    return html.escape(value, quote=False)
