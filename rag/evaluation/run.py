"""Running an evaluation (``rag eval``): each question through retrieval and ``ask``, scored with
``rag.evaluation.metrics``, written by ``rag.evaluation.report``; ``--compare`` runs several
configurations."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rag.errors import CorpusError
from rag.evaluation.datasets import (
    Dataset,
    EvalQuestion,
    builtin_dataset,
    evidence_spans,
    load_dataset,
)
from rag.evaluation.metrics import (
    RETRIEVAL_DEPTH,
    QuestionRow,
    covers,
    first_hit_rank,
    report,
    says,
    score_answer,
)

log = logging.getLogger(__name__)


def evaluate_question(
    assistant: Any,
    q: EvalQuestion,
    text_of: Callable[[str], str | None],
    language_of: Callable[[str], str],
    retrieval_only: bool = False,
    generator: str | None = None,
) -> QuestionRow:
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
    row = QuestionRow(
        q.id,
        q.lang,
        pair,
        q.answerable,
        query,
        needs_all_sources=q.needs_all_sources,
        evidence_items=len(spans),
        retrieval_s=search_s,
    )
    if spans:
        rank = first_hit_rank(hits, spans)
        found = all(any(covers(h, span) for h in hits[:5]) for span in spans)
        row = replace(row, rank=rank, evidence_found_at5=found)
    return row if answer is None else _with_answer(row, q, answer, text_of)


def _with_answer(
    row: QuestionRow, q: EvalQuestion, answer: Any, text_of: Callable[[str], str | None]
) -> QuestionRow:
    """``row`` with ``answer`` scored: refusal, correctness, citations, language and timings."""
    from rag.answer import answer_language
    from rag.answer.mixing import mixing

    words = mixing(answer.text, q.lang, [c.language for c in answer.citations])
    scored = score_answer(q, answer, text_of)
    t = answer.timings
    return replace(
        row,
        refused=answer.refused,
        correct=scored.correct,
        citations=scored.citations,
        citations_on_evidence=scored.citations_on_evidence,
        evidence_cited=scored.evidence_cited,
        exact_quotes=scored.exact_quotes,
        answer=answer.text,
        answer_language=answer_language(answer.text, q.lang),
        language_share=None if words.share is None else round(words.share, 3),
        other_script=words.other_script > 0,
        says=says(q, answer.text),
        scores=dict(answer.scores),
        retrieval_s=t.get("retrieval"),
        generation_s=t.get("generation"),
        first_token_s=t.get("first_token"),
        total_s=t.get("total"),
    )


def run_dataset(
    assistant: Any,
    dataset: Dataset,
    retrieval_only: bool = False,
    generator: str | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
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
        rows.append(
            evaluate_question(
                assistant, q, text_of, lambda n: languages.get(n, "und"), retrieval_only, generator
            )
        )
        log.info("%d/%d %s", number, len(dataset.questions), q.id)
    config = {
        **(config or {}),
        "retrieval_only": retrieval_only,
        "generator": None if retrieval_only else (generator or assistant.settings.generator),
        "problems": [asdict(p) for p in dataset.problems],
    }
    return report(rows, config)


# ---------------------------------------------------------------- `rag eval` --

INDEX_KEYS = (
    "chunk_chars",
    "chunk_overlap_chars",
    "embedding_model",
    "embedding_backend",
    "models_dir",
    "embedding_url",
    "embedding_name",
)


def parse_config(spec: str) -> tuple[str, dict[str, str]]:
    """``NAME:key=value,key=value`` (keys are settings fields, e.g. ``retrieval=bm25``) ->
    (name, overrides)."""
    import dataclasses

    from rag.errors import ConfigError
    from rag.settings import Settings

    name, _, body = spec.partition(":")
    if not name.strip() or "/" in name:
        raise ConfigError(f"--compare {spec!r}: expected NAME:key=value,... (NAME without '/')")
    from rag.settings import AnswerPolicy

    fields = {f.name for f in dataclasses.fields(Settings)} | {
        f.name for f in dataclasses.fields(AnswerPolicy)
    }
    overrides = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in fields:
            raise ConfigError(
                f"--compare {spec!r}: {item!r} is not key=value with a settings field "
                f"(e.g. retrieval=bm25, chunk_chars=400, generator=extractive)"
            )
        overrides[key] = value.strip()
    return name.strip(), overrides


def evaluate(
    dataset: str | Path,
    corpus: str | Path | None = None,
    index: str | Path | None = None,
    retrieval_only: bool = False,
    generator: str | None = None,
    out: str | Path | None = None,
    compare: Sequence[str] = (),
) -> dict[str, Any]:
    """Run ``dataset`` (a JSONL path or a built-in name such as ``seeds``) and write reports to ``out``.

    Without ``index`` the corpus (default: the seed articles) is indexed into a temporary folder. With
    ``compare`` (``NAME:key=value,...`` specs) every configuration runs on the same data; configurations
    that change chunking or the embedding model get their own temporary index. Returns the report (or
    ``{name: report}`` when comparing)."""
    import tempfile

    path, data = _load(dataset)
    corpus = Path(corpus) if corpus else Path("seeds")
    configs = [parse_config(spec) for spec in compare] or [("default", {})]
    shared: dict[Any, Any] = {}
    reports = {}
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        for name, overrides in configs:
            assistant, settings, own_index = _open_config(overrides, generator, index, Path(tmp), shared)
            if own_index and not assistant.store.count():
                log.info("indexing %s for %s", corpus, name)
                assistant.ingest([corpus])
            log.info("config %s: %s", name, overrides or "defaults")
            reports[name] = run_dataset(
                assistant,
                data,
                retrieval_only,
                settings.generator,
                {
                    "name": name,
                    "dataset": str(path),
                    "corpus": str(corpus) if own_index else str(index),
                    "settings": overrides,
                },
            )
            shared[_embedder_key(settings)] = assistant.embedder
            if not retrieval_only:
                shared[_llm_key(settings)] = assistant.generator_for(settings.generator)
    if out:
        _write(reports, Path(out), bool(compare))
    return reports if compare else reports["default"]


def _write(reports: dict[str, dict[str, Any]], out: Path, compare: bool) -> None:
    from rag.evaluation.report import write_comparison, write_report

    written = write_comparison(reports, out) if compare else write_report(reports["default"], out)
    log.info("wrote %s", ", ".join(str(p) for p in written))


def _load(dataset: str | Path) -> tuple[Path, Dataset]:
    """The data set at a JSONL path or by built-in name, with at least one usable question."""
    path = Path(dataset) if Path(dataset).is_file() else builtin_dataset(str(dataset))
    if not path.is_file():
        raise CorpusError(f"no data set {dataset!r}: give a JSONL file or a built-in name (seeds)")
    data = load_dataset(path)
    if not data.questions:
        raise CorpusError(f"{path}: no usable questions")
    return path, data


def _open_config(
    overrides: dict[str, str],
    generator: str | None,
    index: str | Path | None,
    tmp: Path,
    shared: dict[Any, Any],
) -> tuple[Any, Any, bool]:
    """(assistant, settings, whether it has its own index) for one configuration; models already loaded
    for an earlier configuration with the same keys (``shared``) are reused."""
    import dataclasses
    import os

    from rag.api import Assistant
    from rag.settings import Settings

    env = {**os.environ, **{f"RAG_{k.upper()}": v for k, v in overrides.items()}}
    chosen = None if "generator" in overrides else generator
    settings = Settings.from_env(env, progress=False, generator=chosen)
    own_index = index is None or any(k in overrides for k in INDEX_KEYS)
    settings = dataclasses.replace(
        settings, index_dir=Path(index) if not own_index and index is not None else tmp / _index_key(settings)
    )
    assistant = Assistant.open(
        settings=settings,
        embedder=shared.get(_embedder_key(settings)),
        llm=shared.get(_llm_key(settings)),
    )
    return assistant, settings, own_index


def _embedder_key(settings: Any) -> tuple:
    return (
        settings.embedding_path,
        settings.embedding_backend,
        settings.embedding_url,
        settings.embedding_name,
    )


def _llm_key(settings: Any) -> tuple:
    return (settings.generator, settings.llm_path, settings.llm_url, settings.llm_name)


def _index_key(settings: Any) -> str:
    import zlib

    where = (
        f"remote{zlib.crc32(settings.embedding_url.encode())}"
        if settings.embedding_url
        else settings.embedding_backend
    )
    return f"index-{settings.chunk_chars}-{settings.chunk_overlap_chars}-{where}"
