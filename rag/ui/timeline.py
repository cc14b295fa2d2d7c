"""The events timeline of the Articles tab: one row per event (newest first), a dot per report at its
publication date, coloured by outlet, its title and outlet on hover; inline SVG, every text escaped,
nothing loaded from outside. Undated reports are counted at the row's end."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

WIDTH, ROW, LABEL, PAD = 900, 26, 300, 12
MAX_EVENTS = 30
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")


def timeline_html(events: Sequence[Any], records: Sequence[Any]) -> str:
    """The timeline of ``events`` (``rag.index.events.Event``, newest first) over ``records``
    (``ArticleRecord``)."""
    if not events:
        return '<div class="timeline empty">No articles yet.</div>'
    shown = list(events)[:MAX_EVENTS]
    by_source = {r.source: r for r in records}
    days = [_day(by_source[s].published) for e in shown for s in e.sources if s in by_source]
    dated = [d for d in days if d is not None]
    low, high = (min(dated), max(dated)) if dated else (None, None)
    outlets = sorted({by_source[s].outlet or "" for e in shown for s in e.sources if s in by_source})
    colour = {o: PALETTE[i % len(PALETTE)] for i, o in enumerate(outlets)}
    height = ROW * len(shown) + 2 * PAD + 16
    parts = [
        f'<svg class="timeline" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>Events by date and outlet</title>'
    ]
    for row, event in enumerate(shown):
        y = PAD + row * ROW + ROW // 2
        parts.append(_label(event, y))
        undated = 0
        for source in event.sources:
            record = by_source.get(source)
            day = _day(record.published) if record else None
            if record is None or day is None or low is None or high is None:
                undated += 1
                continue
            x = LABEL + PAD + (WIDTH - LABEL - 3 * PAD) * ((day - low).days / max((high - low).days, 1))
            parts.append(_dot(record, x, y, colour[record.outlet or ""]))
        if undated:
            parts.append(
                f'<text x="{WIDTH - PAD}" y="{y + 4}" font-size="11" text-anchor="end" fill="#666">'
                f"{undated} undated</text>"
            )
    if low is not None and high is not None:
        axis_y = height - 6
        parts.append(
            f'<text x="{LABEL + PAD}" y="{axis_y}" font-size="11" fill="#444">{low.isoformat()}</text>'
        )
        parts.append(
            f'<text x="{WIDTH - 2 * PAD}" y="{axis_y}" font-size="11" text-anchor="end" fill="#444">'
            f"{high}</text>"
        )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="outlet"><span class="dot" style="background:{colour[o]}"></span>'
        f"{html.escape(o or 'outlet unknown')}</span> "
        for o in outlets
    )
    more = f" (the newest {MAX_EVENTS} of {len(events)} events)" if len(events) > MAX_EVENTS else ""
    legend_html = f'<div class="legend">{legend}{more}</div>'
    return f'<div class="timeline" id="timeline-plot">{"".join(parts)}{legend_html}</div>'


def _dot(record: Any, x: float, y: int, colour: str) -> str:
    tip = f"{record.title} — {record.outlet or 'outlet unknown'}, {record.published} ({record.language})"
    return (
        f'<circle cx="{x:.1f}" cy="{y}" r="6" fill="{colour}" fill-opacity="0.8">'
        f"<title>{html.escape(tip)}</title></circle>"
    )


def _label(event: Any, y: int) -> str:
    text = event.label if len(event.label) <= 44 else event.label[:43] + "…"
    detail = f"{len(event.sources)} reports, {len(event.languages)} languages, {len(event.outlets)} outlets"
    return (
        f'<text x="{PAD}" y="{y + 4}" font-size="12" fill="#222"><title>{html.escape(event.label)} — '
        f"{html.escape(detail)}</title>{html.escape(text)} ({len(event.sources)})</text>"
    )


def _day(published: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(published)[:10]) if published else None
    except ValueError:
        return None
