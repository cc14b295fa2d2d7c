"""``rag bench speed``: ingest throughput next to the raw encoder on the same texts, warm search latency
per retrieval mode as the index grows (padded with noisy copies of real vectors), cold start of
``rag search``; the result dict, its markdown and its plot."""

from __future__ import annotations

import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.evaluation.bench_retrieval import MODES
from rag.evaluation.report import machine
from rag.evaluation.xquad_r import xquad_sample

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


def _ms(samples: list[float]) -> dict[str, float]:
    import numpy as np

    q = np.percentile(np.array(samples) * 1000, [50, 95])
    return {"p50_ms": round(float(q[0]), 2), "p95_ms": round(float(q[1]), 2)}


def bench_speed(args: Any) -> dict[str, Any]:
    """Ingest throughput next to the raw encoder on the same chunks; warm search latency per mode as the
    index grows (``--sizes``; chunks past the real ones are noisy copies of real vectors); cold start."""
    from rag.api import Assistant

    result: dict[str, Any] = {"bench": "speed", "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        sample = xquad_sample(Path(args.xquad), args.langs.split(","), args.paragraphs, 2, Path(tmp) / "x")
        assistant = Assistant.open(Path(tmp) / "index", progress=False)
        result["ingest"] = _ingest_figures(assistant, sample.folder)
        log.info("ingest: %s", result["ingest"])
        questions = [q for _, q, _ in sample.questions][: args.queries]
        result["search"] = _search_latency(assistant, questions, [int(n) for n in args.sizes.split(",")])
        result["startup"] = _startup(Path(tmp) / "index", questions[0], args.cold_runs)
    return result


def _chunk_texts(assistant: Any, folder: Path) -> list[str]:
    """The chunk texts an ingest of ``folder`` embeds, with the assistant's own chunk settings."""
    from rag.ingest.chunking import chunk_article
    from rag.ingest.corpus import Article, load_paths

    s = assistant.settings
    return [
        c.text
        for a in load_paths([folder], s.max_file_bytes)
        if isinstance(a, Article)
        for c in chunk_article(a, s.chunk_chars, s.chunk_overlap_chars)
    ]


def _ingest_figures(assistant: Any, folder: Path) -> dict[str, Any]:
    """Ingest ``folder`` and time it against the raw encoder on the same chunk texts (best of two)."""
    embedder = assistant.embedder
    texts = _chunk_texts(assistant, folder)
    embedder.embed_documents(texts[:8])  # warm-up
    raw = _timed(lambda: embedder.embed_documents(texts))
    timing = _TimedEmbedder(embedder)
    assistant._embedder = timing
    started = time.perf_counter()
    report = assistant.ingest([folder])
    pipeline = time.perf_counter() - started
    assistant._embedder = embedder
    raw = min(raw, _timed(lambda: embedder.embed_documents(texts)))  # best of two: less noise
    return {
        "encoder": embedder.name,
        "articles": len(report.added),
        "chunks": report.chunks_embedded,
        "encoder_chunks_per_s": round(len(texts) / raw, 3),
        "ingest_chunks_per_s": round(report.chunks_embedded / pipeline, 3),
        "ingest_vs_encoder": round(pipeline / raw, 3),
        "ingest_vs_own_encoder_time": round(pipeline / timing.seconds, 3),
    }


def _search_latency(assistant: Any, questions: list[str], sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Warm top-5 search latency per mode, the index padded to each of ``sizes`` chunks in turn."""
    rows = []
    for target in sizes:
        started = time.perf_counter()
        _grow(assistant, target)
        assistant.retriever.invalidate()
        for q in questions[:10]:  # builds the lexical index, lets Chroma settle after the writes
            assistant.search(q, k=5)
        grow_s = time.perf_counter() - started
        for mode in MODES:
            times = []
            for q in questions:
                started = time.perf_counter()
                assistant.search(q + " ", k=5, mode=mode)
                times.append(time.perf_counter() - started)
            row = {
                "chunks": assistant.store.count(),
                "mode": mode,
                "queries": len(times),
                **_ms(times),
                "build_s": round(grow_s, 1),
            }
            rows.append(row)
            log.info("search: %s", row)
    return rows


def _startup(index: Path, question: str, cold_runs: int) -> dict[str, Any]:
    """Seconds for ``rag search`` in a new process (median of ``cold_runs``) and for ``rag --help``."""
    cold = []
    for _ in range(cold_runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rag.cli", "--index", str(index), "search", question, "-k", "5"],
            check=True,
            capture_output=True,
        )
        cold.append(time.perf_counter() - started)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rag.cli", "--help"], check=True, capture_output=True)
    return {
        "cold_search_median_s": round(statistics.median(cold), 2),
        "cold_runs": len(cold),
        "help_s": round(time.perf_counter() - started, 2),
    }


def speed_markdown(result: dict[str, Any]) -> str:
    i, st = result["ingest"], result["startup"]
    lines = [
        f"# rag bench speed ({result['machine']['summary']})",
        "",
        f"Ingest: {i['chunks']} chunks of {i['articles']} articles with {i['encoder']}.",
        "",
        "| measure | chunks/s | ratio |",
        "|---|---|---|",
        f"| raw encoder (best of 2) | {i['encoder_chunks_per_s']} | 1 |",
        f"| ingest pipeline | {i['ingest_chunks_per_s']} | {i['ingest_vs_encoder']}x the encoder's time "
        f"({i['ingest_vs_own_encoder_time']}x its own encoder time) |",
        "",
        "Warm search, top 5 (the query embedding included):",
        "",
        "| chunks | mode | p50 (ms) | p95 (ms) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['chunks']:,} | {r['mode']} | {r['p50_ms']} | {r['p95_ms']} |" for r in result["search"]]
    lines += [
        "",
        f"Cold start of `rag search` (new process, models loaded): median {st['cold_search_median_s']} s "
        f"over {st['cold_runs']} runs; `rag --help` {st['help_s']} s.",
    ]
    return "\n".join(lines) + "\n"


def speed_plot(result: dict[str, Any], path: Path) -> None:
    from rag.evaluation.report import figure

    with figure(path, 1, 2, figsize=(10, 4)) as (left, right):
        i = result["ingest"]
        left.bar(
            ["raw encoder", "ingest"],
            [i["encoder_chunks_per_s"], i["ingest_chunks_per_s"]],
            color=["#888", "#37a"],
        )
        left.set_ylabel("chunks / s")
        left.set_title("ingest throughput")
        for mode in MODES:
            rows = [r for r in result["search"] if r["mode"] == mode]
            if rows:
                chunks = [r["chunks"] for r in rows]
                line = right.plot(chunks, [r["p95_ms"] for r in rows], marker="o", label=f"{mode} p95")
                right.plot(
                    chunks,
                    [r["p50_ms"] for r in rows],
                    marker=".",
                    linestyle="--",
                    color=line[0].get_color(),
                    label=f"{mode} p50",
                )
        right.set_xscale("log")
        right.set_xlabel("chunks in the index")
        right.set_ylabel("ms per search")
        right.set_title("warm search latency")
        right.legend(fontsize=7)


class _TimedEmbedder:
    """Adds up the time spent inside ``embed_documents`` (the rest of an ingest is pipeline overhead)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.seconds = inner, inner.name, 0.0

    def embed_documents(self, texts: Sequence[str]) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - started

    def embed_query(self, text: str) -> Any:
        return self.inner.embed_query(text)


def _timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _grow(assistant: Any, target: int) -> None:
    """Pad the index to about ``target`` chunks with copies of its real articles under new sources.

    Copies get the original vectors plus small noise (re-normalised), so the vector distribution stays
    realistic without embedding thousands of extra passages on a laptop CPU.
    """
    import numpy as np

    from rag.ingest.chunking import Chunk

    store = assistant.store
    base = store.all_chunks()
    vectors = store.vectors([c.id for c in base])
    by_source: dict[str, list[Chunk]] = {}
    for c in base:
        by_source.setdefault(c.source, []).append(c)
    records = store.articles()
    rng = np.random.default_rng(0)
    copy = 0
    texts = {source: store.article_text(source) for source in by_source}
    count = store.count()
    while count < target:
        copy += 1
        items, batch = [], 0
        for source, chunks in by_source.items():
            if count >= target:
                break
            item = _padded_copy(
                source, f"{target}-{copy}", records[source], texts[source], chunks, vectors, rng
            )
            items.append(item)
            count += len(item[1])
            batch += len(item[1])
            if batch >= 2000:  # Chroma takes at most ~5,400 records per call
                store.replace_articles(items, "pad")
                items, batch = [], 0
        store.replace_articles(items, "pad")


def _padded_copy(
    source: str,
    tag: str,
    record: Any,
    text: str,
    chunks: list[Any],
    vectors: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> tuple[Any, list[Any], np.ndarray]:
    """Copy ``tag`` of the article at ``source``, under ``pad<tag>/<source>``: its chunks (ids end in
    ``-<tag>``) and their vectors plus small noise, re-normalised."""
    import numpy as np

    from rag.ingest.chunking import Chunk
    from rag.ingest.corpus import Article

    article = Article(f"pad{tag}/{source}", text, record.title, record.language, record.content_hash)
    clones = [
        Chunk(
            f"{c.id}-{tag}",
            article.source,
            article.article_id,
            c.index,
            c.start,
            c.end,
            c.text,
            c.language,
            c.title,
        )
        for c in chunks
    ]
    v = np.stack([vectors[c.id] for c in chunks])
    v = v + rng.normal(0, 0.02, size=v.shape).astype(np.float32)
    return article, clones, v / np.linalg.norm(v, axis=1, keepdims=True)
