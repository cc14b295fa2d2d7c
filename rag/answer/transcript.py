"""A chat as a file: its questions, answers and comparisons with every citation (file, span, quote, date,
outlet, gloss), as Markdown to read and JSON to reload (answer stage values; ``Assistant.export`` and
``Assistant.load_chat``, the page's Export and Load buttons).

The JSON is ``{"format": "rag-chat", "version": 1, "exported_at", "turns": [{"question", "answer"} or
{"question", "comparison"}]}`` with answers and comparisons as their ``to_dict()``. Loading checks the
shape and says what is wrong, never half-loads a file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from rag.answer.compare import Comparison, Point, SourceAnswer
from rag.answer.values import Answer, Citation, Nearest
from rag.errors import QueryError

FORMAT, VERSION = "rag-chat", 1
MAX_TURNS = 1000


@dataclass(frozen=True)
class Turn:
    """One exchange: a question and its answer, or its comparison of sources."""

    question: str
    answer: Answer | None = None
    comparison: Comparison | None = None


def to_json(turns: Sequence[Turn]) -> str:
    items = []
    for t in turns:
        item: dict[str, Any] = {"question": t.question}
        if t.answer is not None:
            item["answer"] = t.answer.to_dict()
        if t.comparison is not None:
            item["comparison"] = t.comparison.to_dict()
        items.append(item)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record = {"format": FORMAT, "version": VERSION, "exported_at": stamp, "turns": items}
    return json.dumps(record, ensure_ascii=False, indent=1) + "\n"


def to_markdown(turns: Sequence[Turn]) -> str:
    lines = ["# Chat with the articles", ""]
    for n, t in enumerate(turns, start=1):
        lines += [f"## {n}. {_one_line(t.question)}", ""]
        if t.answer is not None:
            lines += [_quoted(t.answer.text), "", *_citation_lines(t.answer.citations), ""]
            lines += _nearest_lines(t.answer)
        if t.comparison is not None:
            lines += _comparison_lines(t.comparison)
    return "\n".join(lines).rstrip() + "\n"


def from_json(text: str) -> list[Turn]:
    """The turns of an exported chat; a ``QueryError`` saying what is wrong with any other text."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise QueryError(f"not a chat export: the file is not JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise QueryError(f'not a chat export: expected "format": "{FORMAT}"')
    if record.get("version") != VERSION:
        raise QueryError(
            f"chat export version {record.get('version')!r} is not supported (expected {VERSION})"
        )
    items = record.get("turns")
    if not isinstance(items, list) or len(items) > MAX_TURNS:
        raise QueryError(f'chat export: "turns" must be a list of at most {MAX_TURNS}')
    try:
        return [_turn(item) for item in items]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise QueryError(f"chat export: a turn is malformed ({type(exc).__name__}: {exc})") from None


def _turn(item: dict[str, Any]) -> Turn:
    question = str(item["question"])
    answer = _answer(item["answer"]) if item.get("answer") is not None else None
    comparison = _comparison(item["comparison"]) if item.get("comparison") is not None else None
    if answer is None and comparison is None:
        raise ValueError("a turn needs an answer or a comparison")
    return Turn(question, answer, comparison)


def _citation(data: dict[str, Any]) -> Citation:
    values = {f.name: data[f.name] for f in fields(Citation) if f.name in data}
    values["also_in"] = tuple(data.get("also_in", ()))
    citation = Citation(**values)
    if (
        not isinstance(citation.start, int)
        or not isinstance(citation.end, int)
        or citation.start > citation.end
    ):
        raise ValueError(f"citation span {citation.start}:{citation.end}")
    return citation


def _answer(data: dict[str, Any]) -> Answer:
    values = {f.name: data[f.name] for f in fields(Answer) if f.name in data}
    values["citations"] = tuple(_citation(c) for c in data.get("citations", []))
    values["dropped"] = tuple(data.get("dropped", []))
    values["nearest"] = tuple(
        Nearest(**{f.name: n[f.name] for f in fields(Nearest)}) for n in data.get("nearest", [])
    )
    return Answer(**values)


def _comparison(data: dict[str, Any]) -> Comparison:
    def view(v: dict[str, Any]) -> SourceAnswer:
        values = {f.name: v[f.name] for f in fields(SourceAnswer) if f.name in v}
        values["citations"] = tuple(_citation(c) for c in v.get("citations", []))
        values["also_in"] = tuple(v.get("also_in", []))
        return SourceAnswer(**values)

    def point(p: dict[str, Any]) -> Point:
        return Point(str(p["text"]), tuple(_citation(c) for c in p.get("citations", [])))

    return Comparison(
        str(data["question"]),
        str(data.get("language", "und")),
        tuple(view(v) for v in data.get("sources", [])),
        tuple(point(p) for p in data.get("agree", [])),
        tuple(point(p) for p in data.get("differ", [])),
        dict(data.get("timings", {})),
    )


def _comparison_lines(c: Comparison) -> list[str]:
    lines = []
    for view in c.sources:
        about = ", ".join(v for v in (view.language, view.outlet, view.published) if v)
        also = f" (also in: {', '.join(view.also_in)})" if view.also_in else ""
        lines += [f"### {view.source} ({about}){also}", ""]
        lines += [
            _quoted(("(silent) " if view.silent else "") + view.answer),
            "",
            *_citation_lines(view.citations),
            "",
        ]
    for label, found in (("Agree", c.agree), ("Differ", c.differ)):
        for p in found:
            lines += [f"**{label}:** {_one_line(p.text)}", "", *_citation_lines(p.citations), ""]
    return lines


def _citation_lines(citations: Sequence[Citation]) -> list[str]:
    lines = []
    for c in citations:
        about = ", ".join(v for v in (c.language, c.outlet, c.published) if v)
        lines.append(f"[{c.marker}] “{_one_line(c.quote)}” — {c.source} [{c.start}:{c.end}] ({about})")
        if c.gloss:
            lines.append(f"    machine translation: {_one_line(c.gloss)}")
    return lines


def _nearest_lines(answer: Answer) -> list[str]:
    if not answer.nearest:
        return []
    lines = ["Closest passages; none of them states the answer:", ""]
    lines += [f"- “{_one_line(n.quote)}” — {n.source} [{n.start}:{n.end}]" for n in answer.nearest]
    return [*lines, ""]


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.splitlines() or [""])


def _one_line(text: str) -> str:
    return " ".join(text.split())
