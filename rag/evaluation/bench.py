"""Benchmarks that print figures and ratios (never timed tests).

``rag bench retrieval``: dense vs BM25 vs hybrid (and chunk sizes) on the seed questions and on an
XQuAD-R sample with a multilingual pool (LAReQA-style: each question has a correct paragraph in every
pool language). ``rag bench speed``: ingest throughput next to the raw encoder on the same texts, warm
search latency at 1k, 10k and 100k chunks, cold start of ``rag search``. ``rag bench answer``: answer
quality and latency per generator. ``rag bench ingest`` (in ``rag.evaluation.bench_ingest``): streaming
ingest at 1k and 10k articles, throughput and peak memory. These three also write ``<bench>.json``, ``.md``
and ``.png`` to ``--out``. ``rag bench page``: the chat page in headless Chromium, first answer text on
screen.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.evaluation.report import machine, write_outputs
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


def _metrics(hits_per_q: list[tuple[str, list, list]]) -> dict[str, float]:
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
) -> list[tuple[str, dict[str, float]]]:
    rows = []
    for mode in modes:
        for weight in weights if mode == "hybrid" else [None]:
            if weight is not None:
                assistant.retriever.bm25_weight = weight
            results = [(lang, assistant.search(q, k=20, mode=mode), spans) for lang, q, spans in questions]
            label = mode if weight is None else f"hybrid(w={weight:g})"
            rows.append((label, _metrics(results)))
    return rows


def _print_table(title: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    keys = list(rows[0][1])
    print(f"\n{title}\n| config | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for label, m in rows:
        print(f"| {label} | " + " | ".join(f"{m[k]:.3f}" for k in keys) + " |")


def bench_retrieval(args: Any) -> None:
    from rag.api import Assistant
    from rag.evaluation.datasets import (
        builtin_dataset,
        evidence_spans,
        load_dataset,
        retrieval_questions,
    )

    embedder = _CachedEmbedder(Assistant.open(tempfile.mkdtemp()).embedder)
    seeds = Path(args.seeds)
    seed_qs = retrieval_questions(load_dataset(builtin_dataset("seeds")).questions)
    text_of = lambda name: (seeds / name).read_text(encoding="utf-8")  # noqa: E731
    seed_questions = [(q.lang, q.question, evidence_spans(q, text_of)) for q in seed_qs]
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


def _ms(samples: list[float]) -> dict[str, float]:
    import numpy as np

    q = np.percentile(np.array(samples) * 1000, [50, 95])
    return {"p50_ms": round(float(q[0]), 2), "p95_ms": round(float(q[1]), 2)}


def bench_speed(args: Any) -> dict[str, Any]:
    """Ingest throughput next to the raw encoder on the same chunks; warm search latency per mode as the
    index grows (``--sizes``; chunks past the real ones are noisy copies of real vectors); cold start."""
    from rag.api import Assistant
    from rag.ingest.chunking import chunk_article
    from rag.ingest.corpus import Article, load_paths

    result: dict[str, Any] = {"bench": "speed", "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        sample = xquad_sample(Path(args.xquad), args.langs.split(","), args.paragraphs, 2, Path(tmp) / "x")
        assistant = Assistant.open(Path(tmp) / "index", progress=False)
        embedder = assistant.embedder
        s = assistant.settings
        texts = [
            c.text
            for a in load_paths([sample.folder], s.max_file_bytes)
            if isinstance(a, Article)
            for c in chunk_article(a, s.chunk_chars, s.chunk_overlap_chars)
        ]
        embedder.embed_documents(texts[:8])  # warm-up
        raw = _timed(lambda: embedder.embed_documents(texts))
        timing = _TimedEmbedder(embedder)
        assistant._embedder = timing
        started = time.perf_counter()
        report = assistant.ingest([sample.folder])
        pipeline = time.perf_counter() - started
        assistant._embedder = embedder
        raw = min(raw, _timed(lambda: embedder.embed_documents(texts)))  # best of two: less noise
        result["ingest"] = {
            "encoder": embedder.name,
            "articles": len(report.added),
            "chunks": report.chunks_embedded,
            "encoder_chunks_per_s": round(len(texts) / raw, 3),
            "ingest_chunks_per_s": round(report.chunks_embedded / pipeline, 3),
            "ingest_vs_encoder": round(pipeline / raw, 3),
            "ingest_vs_own_encoder_time": round(pipeline / timing.seconds, 3),
        }
        log.info("ingest: %s", result["ingest"])
        questions = [q for _, q, _ in sample.questions][: args.queries]
        result["search"] = []
        for target in [int(n) for n in args.sizes.split(",")]:
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
                result["search"].append(row)
                log.info("search: %s", row)
        cold = []
        for _ in range(args.cold_runs):
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "rag.cli",
                    "--index",
                    str(Path(tmp) / "index"),
                    "search",
                    questions[0],
                    "-k",
                    "5",
                ],
                check=True,
                capture_output=True,
            )
            cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rag.cli", "--help"], check=True, capture_output=True)
        result["startup"] = {
            "cold_search_median_s": round(statistics.median(cold), 2),
            "cold_runs": len(cold),
            "help_s": round(time.perf_counter() - started, 2),
        }
    return result


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
    from rag.ingest.corpus import Article

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
            r = records[source]
            article = Article(
                f"pad{target}-{copy}/{source}", texts[source], r.title, r.language, r.content_hash
            )
            clones = [
                Chunk(
                    f"{c.id}-{target}-{copy}",
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
            items.append((article, clones, v / np.linalg.norm(v, axis=1, keepdims=True)))
            count += len(clones)
            batch += len(clones)
            if batch >= 2000:  # Chroma takes at most ~5,400 records per call
                store.replace_articles(items, "pad")
                items, batch = [], 0
        store.replace_articles(items, "pad")


def bench_answer(args: Any) -> dict[str, Any]:
    """Questions of a set through ``ask`` per generator (``llama-index``: the plain CitationQueryEngine
    baseline with the local model, ``rag.evaluation.baseline``): accuracy, refusals, answers in the question's
    language, first-token and total latency. Models are loaded and warmed before timing (the chat page keeps
    them loaded). ``--dataset xquad-qa`` builds the held-out pile of ``--split``."""
    import tempfile

    from rag.answer import answer_language
    from rag.api import Assistant
    from rag.evaluation.datasets import builtin_dataset, load_dataset
    from rag.evaluation.metrics import score_answer

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(args.corpus)
        if args.dataset == "xquad-qa":
            from rag.evaluation.xquad_qa import build_pile

            corpus, path = build_pile(Path(tmp) / "pile", args.split, Path(args.xquad))
        else:
            path = Path(args.dataset) if Path(args.dataset).is_file() else builtin_dataset(args.dataset)
        questions = load_dataset(path).questions[: args.limit or None]
        result: dict[str, Any] = {
            "bench": "answer",
            "machine": machine(),
            "dataset": path.name,
            "questions": len(questions),
            "corpus": str(corpus),
            "generators": [],
        }
        assistant = Assistant.open(Path(tmp) / "index", progress=False)
        assistant.ingest([corpus])
        text_of = {Path(r.source).name: assistant.article_text(r.source) for r in assistant.sources()}.get
        for kind in args.generators.split(","):
            ask = _asker(assistant, kind)
            ask(questions[0])  # warm-up
            answers = [(q, ask(q)) for q in questions]
            rows = [score_answer(q, a, text_of) for q, a in answers]
            answerable = [r for r in rows if r.answerable]
            unanswerable = [r for r in rows if not r.answerable]
            first = [r.first_token_s for r in rows if r.first_token_s is not None]
            total = [r.total_s for r in rows]
            in_language = [answer_language(a.text, q.lang) == q.lang for q, a in answers if a.text]
            entry = {
                "generator": kind,
                "answerable": len(answerable),
                "correct": sum(r.correct for r in answerable),
                "false_refusals": sum(r.refused for r in answerable),
                "unanswerable": len(unanswerable),
                "refused": sum(r.refused for r in unanswerable),
                "exact_quotes": all(r.exact_quotes for r in rows),
                "in_question_language": round(sum(in_language) / len(in_language), 3)
                if in_language
                else None,
                "first_token_s": _seconds(first),
                "total_s": _seconds(total),
                "rows": [asdict(r) for r in rows],
            }  # per question: what was wrong, and how slow
            result["generators"].append(entry)
            log.info("answer bench: %s", {k: v for k, v in entry.items() if k != "rows"})
    return result


def _asker(assistant: Any, kind: str) -> Any:
    """question -> Answer for a generator kind (``llama-index``: the peer baseline, no history)."""
    if kind == "llama-index":
        from rag.evaluation.baseline import citation_engine

        assistant.warm("local")
        engine = citation_engine(assistant, assistant.generator_for("local"))
        return lambda q: engine(q.question)
    assistant.warm(kind)
    return lambda q: assistant.ask(q.question, list(q.history), generator=kind)


def _seconds(values: list[float]) -> dict[str, float | None]:
    import numpy

    if not values:
        return {"p50": None, "p95": None, "max": None}
    p50, p95 = numpy.percentile(values, [50, 95])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "max": round(max(values), 3)}


def answer_markdown(result: dict[str, Any]) -> str:
    def fmt(d: dict[str, float | None], key: str) -> str:
        return "-" if d[key] is None else f"{d[key]:.2f}"

    lines = [
        f"# rag bench answer ({result['machine']['summary']})",
        "",
        f"{result['questions']} questions from {result['dataset']}; corpus {Path(result['corpus']).name}/",
        "",
        "| generator | answerable correct | false refusals | unanswerable refused | in question language "
        "| exact quotes | first token p50 / p95 (s) | total p50 / p95 (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in result["generators"]:
        f, t = g["first_token_s"], g["total_s"]
        lines.append(
            f"| {g['generator']} | {g['correct']}/{g['answerable']} | {g['false_refusals']} "
            f"| {g['refused']}/{g['unanswerable']} | {g.get('in_question_language')} | {g['exact_quotes']} "
            f"| {fmt(f, 'p50')} / {fmt(f, 'p95')} "
            f"| {fmt(t, 'p50')} / {fmt(t, 'p95')} |"
        )
    return "\n".join(lines) + "\n"


def answer_plot(result: dict[str, Any], path: Path) -> None:
    from rag.evaluation.report import figure

    names = [g["generator"] for g in result["generators"]]
    with figure(path, figsize=(7, 4)) as ax:
        width = 0.2
        for k, (key, stat) in enumerate(
            [("first_token_s", "p50"), ("first_token_s", "p95"), ("total_s", "p50"), ("total_s", "p95")]
        ):
            values = [g[key][stat] or 0 for g in result["generators"]]
            ax.bar(
                [i + (k - 1.5) * width for i in range(len(names))],
                values,
                width,
                label=f"{key.replace('_s', '').replace('_', ' ')} {stat}",
            )
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel("seconds")
        ax.set_title("answer latency per generator")
        ax.legend(fontsize=8)


# headless Chromium as PLATFORM.md says it runs here (the browser tests use the same flags)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE_PROBE = """() => {
  window.__t = {sent: null, first: null, final: null};
  const box = document.querySelector('#question textarea');
  box.addEventListener('keydown', e => { if (e.key === 'Enter') window.__t.sent = performance.now(); }, true);
  new MutationObserver(() => {
    const bots = document.querySelectorAll("#chat [data-testid='bot']");
    if (!bots.length || window.__t.sent === null) return;
    const last = bots[bots.length - 1];
    const text = last.innerText.trim();
    if (window.__t.first === null && text && text !== '…') window.__t.first = performance.now();
    if (window.__t.final === null && last.querySelector('a.cite, .refusal, .error-msg'))
      window.__t.final = performance.now();
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def bench_page(args: Any) -> None:
    """The chat page in headless Chromium: seconds from pressing Enter to the first answer text on screen
    and to the verified answer, next to the model's own first-token time for the same answers."""
    import tempfile

    from playwright.sync_api import sync_playwright

    from rag.api import Assistant
    from rag.evaluation.datasets import (
        builtin_dataset,
        load_dataset,
        retrieval_questions,
    )
    from rag.ui import serve

    seeds = load_dataset(builtin_dataset("seeds")).questions
    questions = [q.question for q in retrieval_questions(seeds)][: args.questions]
    with tempfile.TemporaryDirectory() as index:
        assistant = Assistant.open(index, progress=False, generator=args.generator)
        assistant.ingest([args.corpus])
        assistant.warm()
        assistant.ask(questions[0])  # warm-up: sentence vectors and the LLM's prompt cache
        model_first: list[float] = []
        stream = assistant.ask_stream

        def recording(*a: Any, **kw: Any) -> Any:
            for piece in stream(*a, **kw):
                if not isinstance(piece, str) and "first_token" in piece.timings:
                    model_first.append(piece.timings["first_token"])
                yield piece

        assistant.ask_stream = recording  # type: ignore[method-assign]
        app = serve(assistant, "127.0.0.1", args.port)
        url = f"http://127.0.0.1:{args.port}/"
        first, final = [], []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page()
                for question in questions:
                    page.goto(url)  # a fresh chat each time: no follow-up rewriting
                    page.wait_for_selector("#question textarea")
                    page.evaluate(PAGE_PROBE)
                    page.fill("#question textarea", question)
                    page.press("#question textarea", "Enter")
                    page.wait_for_function("window.__t.final !== null", timeout=120_000)
                    t = page.evaluate("window.__t")
                    first.append((t["first"] - t["sent"]) / 1000)
                    final.append((t["final"] - t["sent"]) / 1000)
                browser.close()
        finally:
            app.close()
    print(
        f"{len(questions)} seeds questions on the chat page, generator {args.generator}, "
        f"{os.cpu_count()} CPUs, Chromium headless\n"
    )
    print("| measure | p50 (s) | p95 (s) | max (s) |\n|---|---|---|---|")
    for label, values in (
        ("first answer text on screen", first),
        ("verified answer on screen", final),
        ("model first token (same answers)", model_first),
    ):
        print(f"| {label} | {_pct(values, 50)} | {_pct(values, 95)} | {max(values, default=0):.2f} |")
    if model_first:
        print(
            f"\npage overhead on first token (p50 screen - p50 model): "
            f"{float(_pct(first, 50)) - float(_pct(model_first, 50)):.2f} s"
        )


def chat_sessions(
    url: str,
    questions: Sequence[str],
    users: int,
    turns: int = 2,
    generator: str | None = None,
    top_k: int = 5,
) -> list[dict[str, Any]]:
    """``users`` simultaneous chat sessions on the page at ``url`` (Gradio's own client, one session each),
    each asking ``turns`` questions in a row; per session: the final chat, sources panel, seconds per turn,
    and the questions it asked."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    def session(user: int) -> dict[str, Any]:
        client = Client(url, verbose=False, download_files=False)
        chat: list[Any] = []
        sources, asked, seconds = "", [], []
        for turn in range(turns):
            question = questions[(user + turn) % len(questions)]
            started = time.perf_counter()
            chat, sources, _ = client.predict(question, chat, generator, top_k, [], api_name="/respond")
            seconds.append(time.perf_counter() - started)
            asked.append(question)
        return {"user": user, "asked": asked, "chat": chat, "sources": sources, "seconds": seconds}

    with ThreadPoolExecutor(max_workers=users) as pool:
        return list(pool.map(session, range(users)))


def bench_load(args: Any) -> None:
    """``--users`` simultaneous sessions against one chat page (in process, loopback): turn latency."""
    import tempfile

    from rag.api import Assistant
    from rag.evaluation.datasets import (
        builtin_dataset,
        load_dataset,
        retrieval_questions,
    )
    from rag.ui import serve

    seeds = load_dataset(builtin_dataset("seeds")).questions
    questions = [q.question for q in retrieval_questions(seeds)]
    with tempfile.TemporaryDirectory() as index:
        assistant = Assistant.open(index, progress=False, generator=args.generator)
        assistant.ingest([args.corpus])
        app = serve(assistant, "127.0.0.1", args.port)
        try:
            started = time.perf_counter()
            sessions = chat_sessions(
                f"http://127.0.0.1:{args.port}/", questions, args.users, args.turns, args.generator
            )
            wall = time.perf_counter() - started
        finally:
            app.close()
    turns = [t for s in sessions for t in s["seconds"]]
    errors = sum("error-msg" in str(m.get("content", "")) for s in sessions for m in s["chat"])
    print(
        f"{args.users} simultaneous chat sessions x {args.turns} turns, generator {args.generator}, "
        f"{os.cpu_count()} CPUs, one `rag chat` (queue: 4 answers at once)\n"
    )
    print("| measure | value |\n|---|---|")
    print(f"| turns answered | {len(turns)} ({errors} errors) |")
    print(f"| seconds per turn p50 / p95 / max | {_pct(turns, 50)} / {_pct(turns, 95)} / {max(turns):.2f} |")
    print(f"| wall time for all sessions | {wall:.1f} s |")


def _pct(values: list[float], q: float) -> str:
    import numpy

    return f"{float(numpy.percentile(values, q)):.2f}" if values else "-"


def add_arguments(parser: Any) -> None:
    sub = parser.add_subparsers(dest="bench", required=True, metavar="BENCH")
    sub.add_parser(
        "encoder",
        help="encoder variants: speed and quality vs torch fp32 (options: `rag bench encoder --help`)",
    )
    for name, helptext in (
        ("retrieval", "retrieval quality by mode and chunk size"),
        ("speed", "ingest throughput, search latency, cold start"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument(
            "--xquad", default=None, help="XQuAD-R folder (default: RAG_XQUAD_DIR or ../shared/bench/xquad-r)"
        )
        p.add_argument("--langs", default="en,ru,de,ar,zh,hi" if name == "retrieval" else "en,ru,de,es")
        p.add_argument("--paragraphs", type=int, default=40 if name == "retrieval" else 60)
    retrieval = sub.choices["retrieval"]
    retrieval.add_argument("--questions", type=int, default=2, help="questions per paragraph and language")
    retrieval.add_argument("--chunk-sizes", default="1000")
    retrieval.add_argument("--weights", type=float, nargs="+", default=[0.5])
    retrieval.add_argument("--seeds", default="seeds")
    answer = sub.add_parser("answer", help="answer quality and latency (first token, total) per generator")
    answer.add_argument(
        "--generators",
        default="local,extractive",
        help="comma-separated: local,openai,extractive,llama-index (the CitationQueryEngine baseline)",
    )
    answer.add_argument("--dataset", default="seeds", help="a built-in set name, a JSONL path, or xquad-qa")
    answer.add_argument("--split", choices=("dev", "test"), default="dev", help="xquad-qa: which articles")
    answer.add_argument("--limit", type=int, default=0, help="only the first N questions")
    answer.add_argument(
        "--xquad", default=None, help="XQuAD-R folder (default: RAG_XQUAD_DIR or ../shared/bench/xquad-r)"
    )
    answer.add_argument("--corpus", default="seeds")
    page = sub.add_parser("page", help="the chat page in headless Chromium: first answer text on screen")
    page.add_argument("--generator", default="local", help="local, openai or extractive")
    page.add_argument("--questions", type=int, default=20, help="seeds questions to ask")
    page.add_argument("--corpus", default="seeds")
    page.add_argument("--port", type=int, default=7869)
    page.add_argument("--chromium", default=None, help="the browser to drive (default: RAG_CHROMIUM)")
    load = sub.add_parser("load", help="simultaneous chat sessions against one chat page: latency per turn")
    load.add_argument("--users", type=int, default=20)
    load.add_argument(
        "--turns", type=int, default=2, help="questions per session (the second is a follow-up turn)"
    )
    load.add_argument("--generator", default="local", help="local, openai or extractive")
    load.add_argument("--corpus", default="seeds")
    load.add_argument("--port", type=int, default=7871)
    ingest = sub.add_parser(
        "ingest", help="streaming ingest at growing corpus sizes: throughput, peak memory"
    )
    ingest.add_argument("--articles", default="1000,10000", help="corpus sizes (articles), comma-separated")
    ingest.add_argument("--sentences", type=int, default=3, help="XQuAD-R sentences per article")
    ingest.add_argument(
        "--stand-in-embeddings",
        default="",
        help="corpus sizes (comma-separated) embedded by a loopback /embeddings server of "
        "hash vectors instead of the model: the pipeline's own memory and overhead",
    )
    ingest.add_argument(
        "--xquad", default=None, help="XQuAD-R folder (default: RAG_XQUAD_DIR or ../shared/bench/xquad-r)"
    )
    speed = sub.choices["speed"]
    speed.add_argument("--sizes", default="1000,10000,100000", help="index sizes (chunks) for search latency")
    for p in (speed, answer, ingest):
        p.add_argument("--out", default="bench-out", help="folder for <bench>.json, .md and .png")
    speed.add_argument("--queries", type=int, default=100)
    speed.add_argument("--cold-runs", type=int, default=3)


REPORTED = {
    "speed": (bench_speed, speed_markdown, speed_plot),
    "answer": (bench_answer, answer_markdown, answer_plot),
}


def run(args: Any) -> int:
    from rag.settings import Settings

    settings = (
        Settings.from_env()
    )  # read here, not when the parser is built: a bad RAG_ value breaks no --help
    if getattr(args, "xquad", "") is None:
        args.xquad = str(settings.xquad_dir)
    if getattr(args, "chromium", "") is None:
        args.chromium = settings.chromium
    if args.bench == "ingest":
        from rag.evaluation.bench_ingest import (
            bench_ingest,
            ingest_markdown,
            ingest_plot,
        )

        REPORTED["ingest"] = (bench_ingest, ingest_markdown, ingest_plot)
    if args.bench in REPORTED:
        bench, markdown, plot = REPORTED[args.bench]
        result = bench(args)
        text = markdown(result)
        print(text)
        paths = write_outputs(Path(args.out), args.bench, result, text, plot)
        print("wrote " + ", ".join(str(p) for p in paths))
        return 0
    {"retrieval": bench_retrieval, "page": bench_page, "load": bench_load}[args.bench](args)
    return 0
