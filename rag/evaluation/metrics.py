"""Evaluation metrics (evaluation stage): retrieval ranks and their summaries, an answer's score against
its evidence, one ``QuestionRow`` a question and the report that sums the rows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.evaluation.datasets import EvalQuestion, evidence_spans
from rag.settings import AnswerPolicy

if TYPE_CHECKING:  # `rag --help` reaches this module: no numpy at start-up
    from rag.index.retrieve import Hit

log = logging.getLogger(__name__)


def overlap(source: str, start: int, end: int, span: tuple[str, int, int]) -> int:
    """Characters that [start, end) of ``source`` shares with an evidence span (<= 0: none)."""
    name, s, e = span
    return min(end, e) - max(start, s) if Path(source).name == name else 0


def covers(hit: Hit, span: tuple[str, int, int]) -> bool:
    """A hit covers an evidence span when it overlaps at least half of it."""
    name, start, end = span
    return (
        Path(hit.source).name == name and overlap(hit.source, hit.start, hit.end, span) >= (end - start) / 2
    )


def first_hit_rank(hits: Sequence[Hit], spans: Sequence[tuple[str, int, int]]) -> int | None:
    """1-based rank of the first hit that covers any evidence span."""
    for rank, hit in enumerate(hits, start=1):
        if any(covers(hit, span) for span in spans):
            return rank
    return None


def rank_metrics(ranks: Sequence[int | None]) -> dict[str, float | None]:
    """recall@1, recall@5 and MRR@10 of first-hit ranks (None: not found); None each when there are none."""

    def mean(values: Sequence[float]) -> float | None:
        return sum(values) / len(values) if values else None

    return {
        "recall@1": mean([r == 1 for r in ranks]),
        "recall@5": mean([r is not None and r <= 5 for r in ranks]),
        "mrr@10": mean([1 / r if r and r <= 10 else 0.0 for r in ranks]),
    }


@dataclass(frozen=True)
class AnswerResult:
    """How one answer scored against its question."""

    id: str
    lang: str
    answerable: bool
    refused: bool
    correct: bool  # answerable: not refused, mentions an accepted answer, a citation overlaps the evidence
    mentions_answer: bool
    cites_evidence: bool
    citations: int
    citations_on_evidence: int
    exact_quotes: bool  # every citation's quote equals the article text at its span
    first_token_s: float | None
    total_s: float
    text: str
    evidence_cited: int = 0  # evidence spans overlapped by at least one citation


def says(question: EvalQuestion, text: str) -> bool | None:
    """Whether ``text`` states the gold answer (a reference, else an accepted answer) outside its
    quotations, case and spacing aside; None when the question has none."""
    from rag.answer.mixing import unquoted

    golds = question.references or question.answer_any
    if not golds:
        return None
    said = " ".join(unquoted(text).lower().split())
    return any(" ".join(g.lower().split()) in said for g in golds if g.strip())


def score_answer(question: EvalQuestion, answer: Any, text_of: Callable[[str], str | None]) -> AnswerResult:
    """Score an ``Answer`` (see ``rag.answer``); ``text_of(file name)`` gives an article's text."""
    spans = evidence_spans(question, text_of)
    on_evidence = [
        c for c in answer.citations if any(overlap(c.source, c.start, c.end, s) > 0 for s in spans)
    ]
    mentions = (
        any(a.lower() in answer.text.lower() for a in question.answer_any) if question.answer_any else True
    )
    exact = all((text_of(Path(c.source).name) or "")[c.start : c.end] == c.quote for c in answer.citations)
    cites = bool(on_evidence) or not spans
    correct = (not answer.refused and mentions and cites) if question.answerable else answer.refused
    return AnswerResult(
        question.id,
        question.lang,
        question.answerable,
        answer.refused,
        correct,
        mentions,
        cites,
        len(answer.citations),
        len(on_evidence),
        exact,
        answer.timings.get("first_token"),
        answer.timings.get("total", 0.0),
        answer.text,
        sum(any(overlap(c.source, c.start, c.end, s) > 0 for c in answer.citations) for s in spans),
    )


# ---------------------------------------------------------------- running a data set --

METRICS = (
    "hit@1",
    "hit@5",
    "mrr@10",
    "evidence_recall@5",
    "citation_precision",
    "citation_recall",
    "answer_accuracy",
    "says",
    "refusal_accuracy",
    "false_refusal_rate",
    "in_question_language",
)
RETRIEVAL_DEPTH = 10
# an answer counts as in the question's language at the answer stage's own bar (AnswerPolicy)
_LANGUAGE_BAR = AnswerPolicy.min_language_share


@dataclass(frozen=True)
class QuestionRow:
    """One question's outcome: retrieval figures (answerable questions with evidence), answer figures
    (unless retrieval only), latencies in seconds."""

    id: str
    lang: str
    pair: str  # question language - evidence language(s), e.g. "en-id", "ru-en+id"; "en-none" if unanswerable
    answerable: bool
    query: str  # what retrieval ran on (the standalone question for follow-ups)
    rank: int | None = None  # first hit covering evidence, 1-based, within RETRIEVAL_DEPTH
    evidence_found_at5: bool | None = None  # every evidence item covered in the top 5
    refused: bool | None = None
    correct: bool | None = None
    citations: int = 0
    citations_on_evidence: int = 0
    evidence_items: int = 0
    evidence_cited: int = 0
    needs_all_sources: bool = False
    exact_quotes: bool | None = None
    answer: str = ""
    answer_language: str = ""  # detected language of the whole answer, quotes and names aside
    language_share: float | None = None  # share of its words in the question's language (rag.answer.mixing)
    other_script: bool = False  # a word (not a quote or name) in a script the question's language lacks
    says: bool | None = None  # the gold answer is written in the answer, outside quotations (None: no gold)
    scores: dict = field(default_factory=dict)  # what the answer-or-refuse decision read (Answer.scores)
    retrieval_s: float | None = None
    generation_s: float | None = None
    first_token_s: float | None = None
    total_s: float | None = None


def summarize(rows: Sequence[QuestionRow]) -> dict[str, float | None]:
    """The metrics of ``METRICS`` over ``rows`` (None where nothing could be computed), plus counts."""
    with_evidence = [r for r in rows if r.answerable and r.evidence_items]
    answered = [r for r in rows if r.refused is not None]
    answerable = [r for r in answered if r.answerable]
    unanswerable = [r for r in answered if not r.answerable]
    cited = [r for r in answerable if not r.refused]
    citations = sum(r.citations for r in cited)
    recall_items = [
        (
            min(r.evidence_cited, r.evidence_items if r.needs_all_sources else 1),
            r.evidence_items if r.needs_all_sources else 1,
        )
        for r in answerable
        if r.evidence_items
    ]

    def mean(values: Sequence[float]) -> float | None:
        return sum(values) / len(values) if values else None

    ranked = rank_metrics([r.rank for r in with_evidence])
    return {
        "hit@1": ranked["recall@1"],
        "hit@5": ranked["recall@5"],
        "mrr@10": ranked["mrr@10"],
        "evidence_recall@5": mean([bool(r.evidence_found_at5) for r in with_evidence]),
        "citation_precision": sum(r.citations_on_evidence for r in cited) / citations if citations else None,
        "citation_recall": (
            sum(a for a, _ in recall_items) / sum(b for _, b in recall_items) if recall_items else None
        ),
        "answer_accuracy": mean([bool(r.correct) for r in answerable]),
        "refusal_accuracy": mean([bool(r.refused) for r in unanswerable]),
        "false_refusal_rate": mean([bool(r.refused) for r in answerable]),
        "in_question_language": mean(
            [r.language_share is None or r.language_share >= _LANGUAGE_BAR for r in answered if r.answer]
        ),
        "mixed_script_answers": sum(r.other_script for r in answered),
        "says": mean([bool(r.says) for r in answerable if not r.refused and r.says is not None]),
        "questions": len(rows),
        "retrieval_questions": len(with_evidence),
    }


def latency(rows: Sequence[QuestionRow]) -> dict[str, dict[str, float | None]]:
    """p50/p95 seconds for retrieval, generation and total."""
    import numpy as np

    out: dict[str, dict[str, float | None]] = {}
    for name in ("retrieval_s", "first_token_s", "generation_s", "total_s"):
        values = [getattr(r, name) for r in rows if getattr(r, name) is not None]
        out[name[:-2]] = (
            {
                "p50": float(np.percentile(values, 50)),
                "p95": float(np.percentile(values, 95)),
                "n": len(values),
            }
            if values
            else {"p50": None, "p95": None, "n": 0}
        )
    return out


def grouped(
    rows: Sequence[QuestionRow], key: Callable[[QuestionRow], str]
) -> dict[str, dict[str, float | None]]:
    groups: dict[str, list[QuestionRow]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return {name: summarize(group) for name, group in sorted(groups.items())}


def report(rows: Sequence[QuestionRow], config: dict[str, Any]) -> dict[str, Any]:
    """The whole report: ``metrics`` overall, by question language, by language pair, latency, rows."""
    return {
        "config": config,
        "metrics": summarize(rows),
        "by_language": grouped(rows, lambda r: r.lang),
        "by_pair": grouped(rows, lambda r: r.pair),
        "by_document_language": grouped(rows, lambda r: r.pair.split("-", 1)[-1]),
        "latency": latency(rows),
        "questions": [asdict(r) for r in rows],
    }
