"""``rag bench retrieval``: dense vs BM25 vs hybrid (and chunk sizes) on the seed questions and on an
XQuAD-R sample with a multilingual pool, printed as markdown tables. Owns the retrieval modes compared
(``MODES``), which ``rag bench speed`` times too."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.evaluation.xquad_r import xquad_sample

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

MODES = ("dense", "bm25", "hybrid")


class _CachedEmbedder:
    """Embeds each distinct query once, so modes are compared on the same query vectors."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.embed_query = lru_cache(maxsize=None)(inner.embed_query)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_documents(texts)


def _metrics(hits_per_q: list[tuple[str, list, list]]) -> dict[str, float | None]:
    import numpy as np

    from rag.evaluation.metrics import first_hit_rank, rank_metrics

    ranks, aps, same = [], [], []
    for lang, hits, spans in hits_per_q:
        ranks.append(first_hit_rank(hits, spans))
        aps.append(_average_precision(hits, spans))
        if hits:
            same.append(hits[0].language == lang)
    return {
        **rank_metrics(ranks),
        "map@20": float(np.mean(aps)),
        "top1_same_lang": float(np.mean(same)) if same else 0.0,
    }


def _average_precision(hits: list, spans: list) -> float:
    """AP over all gold spans; each span counts once (overlapping chunks can cover the same one)."""
    from rag.evaluation.metrics import covers

    found: set[int] = set()
    total = 0.0
    for rank, hit in enumerate(hits, start=1):
        new = [i for i, span in enumerate(spans) if i not in found and covers(hit, span)]
        if new:
            found.add(new[0])
            total += len(found) / rank
    return total / max(len(spans), 1)


def _run_modes(
    assistant: Any, questions: list, modes: Sequence[str], weights: Sequence[float]
) -> list[tuple[str, dict[str, float | None]]]:
    rows = []
    for mode in modes:
        for weight in weights if mode == "hybrid" else [None]:
            if weight is not None:
                assistant.retriever.bm25_weight = weight
            results = [(lang, assistant.search(q, k=20, mode=mode), spans) for lang, q, spans in questions]
            label = mode if weight is None else f"hybrid(w={weight:g})"
            rows.append((label, _metrics(results)))
    return rows


def _print_table(title: str, rows: list[tuple[str, dict[str, float | None]]]) -> None:
    keys = list(rows[0][1])
    print(f"\n{title}\n| config | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for label, m in rows:
        print(f"| {label} | " + " | ".join(f"{m[k]:.3f}" for k in keys) + " |")


def _seed_questions(seeds: Path) -> list[tuple[str, str, list]]:
    """(language, question, gold spans) of the built-in seed questions that have evidence to find."""
    from rag.evaluation.datasets import (
        builtin_dataset,
        evidence_spans,
        load_dataset,
        retrieval_questions,
    )

    seed_qs = retrieval_questions(load_dataset(builtin_dataset("seeds")).questions)
    text_of = lambda name: (seeds / name).read_text(encoding="utf-8")  # noqa: E731
    return [(q.lang, q.question, evidence_spans(q, text_of)) for q in seed_qs]


def bench_retrieval(args: Any) -> None:
    from rag.api import Assistant

    embedder = _CachedEmbedder(Assistant.open(tempfile.mkdtemp()).embedder)
    seeds = Path(args.seeds)
    seed_questions = _seed_questions(seeds)
    with tempfile.TemporaryDirectory() as tmp:
        sample = xquad_sample(
            Path(args.xquad), args.langs.split(","), args.paragraphs, args.questions, Path(tmp) / "xquad"
        )
        print(
            f"XQuAD-R sample: {len(args.langs.split(','))} languages x {args.paragraphs} paragraphs, "
            f"{len(sample.questions)} questions; seeds: {len(seed_questions)} questions"
        )
        for size in [int(s) for s in args.chunk_sizes.split(",")]:
            overlap = size // 5
            seed_a = Assistant.open(
                Path(tmp) / f"seeds-{size}",
                embedder=embedder,
                progress=False,
                chunk_chars=size,
                chunk_overlap_chars=overlap,
            )
            seed_a.ingest([seeds])
            _print_table(
                f"seeds, chunk {size}/{overlap} chars ({seed_a.store.count()} chunks)",
                _run_modes(seed_a, seed_questions, MODES, args.weights),
            )
            xq = Assistant.open(
                Path(tmp) / f"xquad-{size}",
                embedder=embedder,
                progress=True,
                chunk_chars=size,
                chunk_overlap_chars=overlap,
            )
            started = time.perf_counter()
            xq.ingest([sample.folder])
            log.info("ingested XQuAD-R sample in %.0fs", time.perf_counter() - started)
            _print_table(
                f"XQuAD-R, chunk {size}/{overlap} chars ({xq.store.count()} chunks)",
                _run_modes(xq, sample.questions, MODES, args.weights),
            )
