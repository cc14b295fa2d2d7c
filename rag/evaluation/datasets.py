"""Evaluation data sets and retrieval metrics (evaluation stage).

A data set is JSON Lines, one question per line::

    {"id": "q1", "question": "...", "lang": "en", "answer_any": ["Zakharova"],
     "evidence": [{"source": "000_1b03c4f4f3f24ebf.txt", "quote": "exact substring of that file"}],
     "answerable": true, "history": [["earlier question", "earlier answer"]], "needs_all_sources": false}

Unknown fields are ignored; a malformed line is reported with its line number and skipped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.errors import CorpusError
from rag.index.retrieve import Hit

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
    return EvalQuestion(str(row.get("id") or f"line{number}"), question, str(row.get("lang") or "und"),
                        tuple(str(a) for a in row.get("answer_any") or []), evidence,
                        bool(row.get("answerable", True)), history, bool(row.get("needs_all_sources", False)))


def retrieval_questions(questions: Sequence[EvalQuestion]) -> list[EvalQuestion]:
    """The questions a retriever alone can be scored on: answerable, with evidence, no history."""
    return [q for q in questions if q.answerable and q.evidence and not q.history]


def evidence_spans(question: EvalQuestion, text_of: Callable[[str], str | None]
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


def overlap(source: str, start: int, end: int, span: tuple[str, int, int]) -> int:
    """Characters that [start, end) of ``source`` shares with an evidence span (<= 0: none)."""
    name, s, e = span
    return min(end, e) - max(start, s) if Path(source).name == name else 0


def covers(hit: Hit, span: tuple[str, int, int]) -> bool:
    """A hit covers an evidence span when it overlaps at least half of it."""
    name, start, end = span
    return Path(hit.source).name == name and overlap(hit.source, hit.start, hit.end, span) >= (end - start) / 2


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

    return {"recall@1": mean([r == 1 for r in ranks]), "recall@5": mean([r is not None and r <= 5 for r in ranks]),
            "mrr@10": mean([1 / r if r and r <= 10 else 0.0 for r in ranks])}


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


def score_answer(question: EvalQuestion, answer: Any, text_of: Callable[[str], str | None]) -> AnswerResult:
    """Score an ``Answer`` (see ``rag.answer``); ``text_of(file name)`` gives an article's text."""
    spans = evidence_spans(question, text_of)
    on_evidence = [c for c in answer.citations if any(overlap(c.source, c.start, c.end, s) > 0 for s in spans)]
    mentions = any(a.lower() in answer.text.lower() for a in question.answer_any) if question.answer_any else True
    exact = all((text_of(Path(c.source).name) or "")[c.start:c.end] == c.quote for c in answer.citations)
    cites = bool(on_evidence) or not spans
    correct = (not answer.refused and mentions and cites) if question.answerable else answer.refused
    return AnswerResult(question.id, question.lang, question.answerable, answer.refused, correct, mentions, cites,
                        len(answer.citations), len(on_evidence), exact, answer.timings.get("first_token"),
                        answer.timings.get("total", 0.0), answer.text,
                        sum(any(overlap(c.source, c.start, c.end, s) > 0 for c in answer.citations) for s in spans))


# ---------------------------------------------------------------- running a data set --

METRICS = ("hit@1", "hit@5", "mrr@10", "evidence_recall@5", "citation_precision", "citation_recall",
           "answer_accuracy", "refusal_accuracy", "false_refusal_rate", "in_question_language")
RETRIEVAL_DEPTH = 10


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
    answer_language: str = ""  # detected language of the answer, quotes and names aside
    scores: dict = field(default_factory=dict)  # what the answer-or-refuse decision read (Answer.scores)
    retrieval_s: float | None = None
    generation_s: float | None = None
    first_token_s: float | None = None
    total_s: float | None = None


def evaluate_question(assistant: Any, q: EvalQuestion, text_of: Callable[[str], str | None],
                      language_of: Callable[[str], str], retrieval_only: bool = False,
                      generator: str | None = None) -> QuestionRow:
    """Run one question through retrieval (and ``ask`` unless ``retrieval_only``) and score it."""
    import time

    spans = evidence_spans(q, text_of)
    langs = sorted({language_of(name) for name, _, _ in spans})
    pair = f"{q.lang}-{'+'.join(langs) if langs else 'none'}"
    answer = None
    if not retrieval_only:
        answer = assistant.ask(q.question, list(q.history), generator=generator)
        query = answer.standalone_question or q.question
    else:
        query = f"{q.question} {q.history[-1][0]}" if q.history else q.question
    started = time.perf_counter()
    hits = assistant.search(query, k=RETRIEVAL_DEPTH)
    search_s = time.perf_counter() - started
    row = QuestionRow(q.id, q.lang, pair, q.answerable, query, needs_all_sources=q.needs_all_sources,
                      evidence_items=len(spans), retrieval_s=search_s)
    if spans:
        rank = first_hit_rank(hits, spans)
        found = all(any(covers(h, span) for h in hits[:5]) for span in spans)
        row = replace(row, rank=rank, evidence_found_at5=found)
    if answer is None:
        return row
    scored = score_answer(q, answer, text_of)
    from rag.answer import answer_language

    t = answer.timings
    return replace(row, refused=answer.refused, correct=scored.correct, citations=scored.citations,
                   citations_on_evidence=scored.citations_on_evidence, evidence_cited=scored.evidence_cited,
                   exact_quotes=scored.exact_quotes, answer=answer.text,
                   answer_language=answer_language(answer.text, q.lang), scores=dict(answer.scores), retrieval_s=t.get("retrieval"),
                   generation_s=t.get("generation"), first_token_s=t.get("first_token"), total_s=t.get("total"))


def summarize(rows: Sequence[QuestionRow]) -> dict[str, float | None]:
    """The metrics of ``METRICS`` over ``rows`` (None where nothing could be computed), plus counts."""
    with_evidence = [r for r in rows if r.answerable and r.evidence_items]
    answered = [r for r in rows if r.refused is not None]
    answerable = [r for r in answered if r.answerable]
    unanswerable = [r for r in answered if not r.answerable]
    cited = [r for r in answerable if not r.refused]
    citations = sum(r.citations for r in cited)
    recall_items = [(min(r.evidence_cited, r.evidence_items if r.needs_all_sources else 1),
                     r.evidence_items if r.needs_all_sources else 1) for r in answerable if r.evidence_items]

    def mean(values: Sequence[float]) -> float | None:
        return sum(values) / len(values) if values else None

    ranked = rank_metrics([r.rank for r in with_evidence])
    return {
        "hit@1": ranked["recall@1"],
        "hit@5": ranked["recall@5"],
        "mrr@10": ranked["mrr@10"],
        "evidence_recall@5": mean([bool(r.evidence_found_at5) for r in with_evidence]),
        "citation_precision": sum(r.citations_on_evidence for r in cited) / citations if citations else None,
        "citation_recall": (sum(a for a, _ in recall_items) / sum(b for _, b in recall_items)
                            if recall_items else None),
        "answer_accuracy": mean([bool(r.correct) for r in answerable]),
        "refusal_accuracy": mean([bool(r.refused) for r in unanswerable]),
        "false_refusal_rate": mean([bool(r.refused) for r in answerable]),
        "in_question_language": mean([r.answer_language == r.lang for r in answered if r.answer_language]),
        "questions": len(rows),
        "retrieval_questions": len(with_evidence),
    }


def latency(rows: Sequence[QuestionRow]) -> dict[str, dict[str, float | None]]:
    """p50/p95 seconds for retrieval, generation and total."""
    import numpy as np

    out = {}
    for name in ("retrieval_s", "first_token_s", "generation_s", "total_s"):
        values = [getattr(r, name) for r in rows if getattr(r, name) is not None]
        out[name[:-2]] = ({"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
                           "n": len(values)} if values else {"p50": None, "p95": None, "n": 0})
    return out


def grouped(rows: Sequence[QuestionRow], key: Callable[[QuestionRow], str]) -> dict[str, dict[str, float | None]]:
    groups: dict[str, list[QuestionRow]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return {name: summarize(group) for name, group in sorted(groups.items())}


def report(rows: Sequence[QuestionRow], config: dict[str, Any]) -> dict[str, Any]:
    """The whole report: ``metrics`` overall, by question language, by language pair, latency, rows."""
    return {"config": config, "metrics": summarize(rows), "by_language": grouped(rows, lambda r: r.lang),
            "by_pair": grouped(rows, lambda r: r.pair),
            "by_document_language": grouped(rows, lambda r: r.pair.split("-", 1)[-1]), "latency": latency(rows),
            "questions": [asdict(r) for r in rows]}


def run_dataset(assistant: Any, dataset: Dataset, retrieval_only: bool = False, generator: str | None = None,
                config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate every question of ``dataset`` against ``assistant``'s index; returns ``report(...)``."""
    records = assistant.sources()
    texts = {Path(r.source).name: r.source for r in records}
    languages = {Path(r.source).name: r.language for r in records}
    cache: dict[str, str] = {}

    def text_of(name: str) -> str | None:
        if name not in texts:
            return None
        if name not in cache:
            cache[name] = assistant.article_text(texts[name])
        return cache[name]

    if not retrieval_only:  # load and warm the model first: the chat page keeps it loaded
        assistant.warm(generator)
    rows = []
    for number, q in enumerate(dataset.questions, start=1):
        rows.append(evaluate_question(assistant, q, text_of, lambda n: languages.get(n, "und"), retrieval_only,
                                      generator))
        log.info("%d/%d %s", number, len(dataset.questions), q.id)
    config = {**(config or {}), "retrieval_only": retrieval_only,
              "generator": None if retrieval_only else (generator or assistant.settings.generator),
              "problems": [asdict(p) for p in dataset.problems]}
    return report(rows, config)


# ---------------------------------------------------------------- `rag eval` --

INDEX_KEYS = ("chunk_chars", "chunk_overlap_chars", "embedding_model", "embedding_backend", "models_dir",
              "embedding_url", "embedding_name")


def parse_config(spec: str) -> tuple[str, dict[str, str]]:
    """``NAME:key=value,key=value`` (keys are settings fields, e.g. ``retrieval=bm25``) -> (name, overrides)."""
    import dataclasses

    from rag.errors import ConfigError
    from rag.settings import Settings

    name, _, body = spec.partition(":")
    if not name.strip() or "/" in name:
        raise ConfigError(f"--compare {spec!r}: expected NAME:key=value,... (NAME without '/')")
    from rag.settings import AnswerPolicy

    fields = {f.name for f in dataclasses.fields(Settings)} | {f.name for f in dataclasses.fields(AnswerPolicy)}
    overrides = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in fields:
            raise ConfigError(f"--compare {spec!r}: {item!r} is not key=value with a settings field "
                              f"(e.g. retrieval=bm25, chunk_chars=400, generator=extractive)")
        overrides[key] = value.strip()
    return name.strip(), overrides


def evaluate(dataset: str | Path, corpus: str | Path | None = None, index: str | Path | None = None,
             retrieval_only: bool = False, generator: str | None = None, out: str | Path | None = None,
             compare: Sequence[str] = ()) -> dict[str, Any]:
    """Run ``dataset`` (a JSONL path or a built-in name such as ``seeds``) and write reports to ``out``.

    Without ``index`` the corpus (default: the seed articles) is indexed into a temporary folder. With
    ``compare`` (``NAME:key=value,...`` specs) every configuration runs on the same data; configurations
    that change chunking or the embedding model get their own temporary index. Returns the report (or
    ``{name: report}`` when comparing)."""
    import dataclasses
    import os
    import tempfile

    from rag.api import Assistant
    from rag.evaluation.report import write_comparison, write_report
    from rag.settings import Settings

    path = Path(dataset) if Path(dataset).is_file() else builtin_dataset(str(dataset))
    if not path.is_file():
        raise CorpusError(f"no data set {dataset!r}: give a JSONL file or a built-in name (seeds)")
    data = load_dataset(path)
    if not data.questions:
        raise CorpusError(f"{path}: no usable questions")
    corpus = Path(corpus) if corpus else Path("seeds")
    configs = [parse_config(spec) for spec in compare] or [("default", {})]
    shared: dict[str, Any] = {}
    reports = {}
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        for name, overrides in configs:
            env = {**os.environ, **{f"RAG_{k.upper()}": v for k, v in overrides.items()}}
            chosen = None if "generator" in overrides else generator
            settings = Settings.from_env(env, progress=False, generator=chosen)
            own_index = index is None or any(k in overrides for k in INDEX_KEYS)
            settings = dataclasses.replace(settings, index_dir=Path(tmp) / _index_key(settings) if own_index
                                           else Path(index))
            embedder_key = (settings.embedding_path, settings.embedding_backend, settings.embedding_url,
                            settings.embedding_name)
            llm_key = (settings.generator, settings.llm_path, settings.llm_url, settings.llm_name)
            assistant = Assistant.open(settings=settings, embedder=shared.get(embedder_key), llm=shared.get(llm_key))
            if own_index and not assistant.store.count():
                log.info("indexing %s for %s", corpus, name)
                assistant.ingest([corpus])
            log.info("config %s: %s", name, overrides or "defaults")
            reports[name] = run_dataset(assistant, data, retrieval_only, settings.generator, {
                "name": name, "dataset": str(path), "corpus": str(corpus) if own_index else str(index),
                "settings": overrides})
            shared[embedder_key] = assistant.embedder
            if not retrieval_only:
                shared[llm_key] = assistant.generator_for(settings.generator)
    if out:
        out = Path(out)
        written = write_comparison(reports, out) if compare else write_report(reports["default"], out)
        log.info("wrote %s", ", ".join(str(p) for p in written))
    return reports if compare else reports["default"]


def _index_key(settings: Any) -> str:
    import zlib

    where = f"remote{zlib.crc32(settings.embedding_url.encode())}" if settings.embedding_url \
        else settings.embedding_backend
    return f"index-{settings.chunk_chars}-{settings.chunk_overlap_chars}-{where}"
