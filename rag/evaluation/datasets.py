"""Evaluation data sets (evaluation stage): loading and checking them, the evidence spans of a question.

A data set is JSON Lines, one question per line::

    {"id": "q1", "question": "...", "lang": "en", "answer_any": ["Zakharova"],
     "evidence": [{"source": "000_1b03c4f4f3f24ebf.txt", "quote": "exact substring of that file"}],
     "answerable": true, "history": [["earlier question", "earlier answer"]], "needs_all_sources": false,
     "references": ["the gold answer as written, in each language it may be given in"]}

Unknown fields are ignored; a malformed line is reported with its line number and skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rag.errors import CorpusError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evidence:
    source: str  # file name (or path) of an ingested article
    quote: str  # exact substring of that article's text


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    lang: str = "und"
    answer_any: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    answerable: bool = True
    history: tuple[tuple[str, str], ...] = ()
    needs_all_sources: bool = False
    references: tuple[str, ...] = ()  # the gold answer as written (in any of its languages), for ``says``


@dataclass(frozen=True)
class DatasetProblem:
    line: int
    message: str


@dataclass(frozen=True)
class Dataset:
    questions: tuple[EvalQuestion, ...]
    problems: tuple[DatasetProblem, ...] = field(default=())


def builtin_dataset(name: str = "seeds") -> Path:
    """Path of an evaluation set shipped in the package (``seeds``: questions on the seed articles)."""
    return Path(str(resources.files("rag.evaluation") / "evalsets" / f"{name}.jsonl"))


def load_dataset(path: str | Path) -> Dataset:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read data set {path}: {exc}") from None
    questions, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            questions.append(_parse(json.loads(line), number))
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(DatasetProblem(number, str(exc)))
            log.warning("%s:%d: skipped malformed line: %s", path, number, exc)
    return Dataset(tuple(questions), tuple(problems))


def _parse(row: dict, number: int) -> EvalQuestion:
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    question = row["question"]
    if not isinstance(question, str) or not question.strip():
        raise ValueError("'question' must be a non-empty string")
    evidence = tuple(Evidence(str(e["source"]), str(e["quote"])) for e in row.get("evidence") or [])
    history = tuple((str(q), str(a)) for q, a in row.get("history") or [])
    return EvalQuestion(
        str(row.get("id") or f"line{number}"),
        question,
        str(row.get("lang") or "und"),
        tuple(str(a) for a in row.get("answer_any") or []),
        evidence,
        bool(row.get("answerable", True)),
        history,
        bool(row.get("needs_all_sources", False)),
        tuple(str(r) for r in row.get("references") or ([row["reference"]] if row.get("reference") else [])),
    )


def retrieval_questions(questions: Sequence[EvalQuestion]) -> list[EvalQuestion]:
    """The questions a retriever alone can be scored on: answerable, with evidence, no history."""
    return [q for q in questions if q.answerable and q.evidence and not q.history]


def evidence_spans(
    question: EvalQuestion, text_of: Callable[[str], str | None]
) -> list[tuple[str, int, int]]:
    """(file name, start, end) of each evidence quote located in its article (``text_of(name)``)."""
    spans = []
    for item in question.evidence:
        name = Path(item.source).name
        text = text_of(name)
        start = text.find(item.quote) if text else -1
        if start < 0:
            log.warning("%s: evidence quote not found in %s", question.id, item.source)
            continue
        spans.append((name, start, start + len(item.quote)))
    return spans
