"""Benchmarks that print figures and ratios (never timed tests): the ``rag bench`` entry point.

This module owns the command line (``add_arguments``), the table of benchmarks that write reports
(``REPORTED``) and ``run``; each benchmark lives in its own module. ``rag bench retrieval``
(``rag.evaluation.bench_retrieval``): dense vs BM25 vs hybrid (and chunk sizes) on the seed questions and
on an XQuAD-R sample with a multilingual pool (LAReQA-style: each question has a correct paragraph in
every pool language). ``rag bench speed`` (``rag.evaluation.bench_speed``): ingest throughput next to the
raw encoder on the same texts, warm search latency at 1k, 10k and 100k chunks, cold start of
``rag search``. ``rag bench answer`` (``rag.evaluation.bench_answer``): answer quality and latency per
generator. ``rag bench ingest`` (``rag.evaluation.bench_ingest``): streaming ingest at 1k and 10k
articles, throughput and peak memory. These three also write ``<bench>.json``, ``.md`` and ``.png`` to
``--out``. ``rag bench page`` and ``rag bench load`` (``rag.evaluation.bench_page``): the chat page in
headless Chromium, first answer text on screen; simultaneous chat sessions, seconds per turn.
``rag bench stories`` (``rag.evaluation.bench_stories``): story grouping on XQuAD-R's parallel paragraphs.
``rag bench compare`` (``rag.evaluation.bench_compare``): agreement of parallel sentences, comparison latency.
``rag bench clauses`` (``rag.evaluation.bench_clauses``): the per-clause support check on XQuAD-R claims.
``rag bench serve`` (``rag.evaluation.bench_serve``): the HTTP API under 50 simultaneous clients.
``rag bench reader`` (``rag.evaluation.bench_reader``): the reader beside the pooled cosine, held-out lists.
``rag bench faithfulness`` (``rag.evaluation.bench_faithfulness``): unfaithful claims caught by verification.
``rag bench language`` (``rag.evaluation.bench_language``): mixed-language answers, the question's language
and sentence boundaries on the native QA sets.
``rag bench extract`` (``rag.evaluation.bench_extract``): the article text kept from real news pages.
``rag bench events`` (``rag.evaluation.bench_events``): the event similarity against people's ratings.
``rag bench encoder`` (``rag.evaluation.bench_encoder``) parses its own options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.evaluation.bench_answer import answer_markdown, answer_plot, bench_answer
from rag.evaluation.bench_clauses import bench_clauses, clauses_markdown, clauses_plot
from rag.evaluation.bench_compare import bench_compare, compare_markdown, compare_plot
from rag.evaluation.bench_page import CHROMIUM_ARGS, bench_load, bench_page, chat_sessions
from rag.evaluation.bench_retrieval import MODES, bench_retrieval
from rag.evaluation.bench_serve import bench_serve, serve_markdown, serve_plot
from rag.evaluation.bench_speed import bench_speed, speed_markdown, speed_plot
from rag.evaluation.bench_stories import bench_stories, stories_markdown, stories_plot
from rag.evaluation.report import write_outputs

__all__ = ["CHROMIUM_ARGS", "MODES", "REPORTED", "add_arguments", "chat_sessions", "run"]

_XQUAD_HELP = "XQuAD-R folder (default: RAG_XQUAD_DIR or ../shared/bench/xquad-r)"


def add_arguments(parser: Any) -> None:
    sub = parser.add_subparsers(dest="bench", required=True, metavar="BENCH")
    sub.add_parser(
        "encoder",
        help="encoder variants: speed and quality vs torch fp32 (options: `rag bench encoder --help`)",
    )
    retrieval, speed = _xquad_parsers(sub)
    retrieval.add_argument("--questions", type=int, default=2, help="questions per paragraph and language")
    retrieval.add_argument("--chunk-sizes", default="1000")
    retrieval.add_argument("--weights", type=float, nargs="+", default=[0.5])
    retrieval.add_argument("--seeds", default="seeds")
    answer = _answer_parser(sub)
    _page_parsers(sub)
    ingest = _ingest_parser(sub)
    stories = sub.add_parser(
        "stories", help="story grouping on XQuAD-R's parallel paragraphs (precision, recall)"
    )
    stories.add_argument("--xquad", default=None, help=_XQUAD_HELP)
    stories.add_argument("--articles", type=int, default=48, help="the first N of XQuAD-R's 48 articles")
    stories.add_argument("--orders", type=int, default=3, help="random arrival orders to average")
    stories.add_argument(
        "--scale", type=int, default=10000, help="stand-in articles grouped in a real Chroma store (0: none)"
    )
    clauses = sub.add_parser(
        "clauses", help="the per-clause support check on XQuAD-R claims (caught, dropped)"
    )
    clauses.add_argument("--xquad", default=None, help=_XQUAD_HELP)
    clauses.add_argument("--articles", type=int, default=0, help="only the first N articles of each split")
    compare = sub.add_parser("compare", help="agreement of parallel sentences (XQuAD-R); comparison latency")
    compare.add_argument("--xquad", default=None, help=_XQUAD_HELP)
    compare.add_argument("--articles", type=int, default=0, help="only the first N articles of each split")
    compare.add_argument("--corpus", default="seeds")
    compare.add_argument("--generators", default="extractive", help="comma-separated; empty: no latency")
    compare.add_argument("--questions", type=int, default=10, help="seeds questions to compare on")
    compare.add_argument(
        "--points",
        nargs="+",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help="configurations the points figures compare, e.g. first4:compare_depth=5,compare_sentences=4",
    )
    speed.add_argument("--sizes", default="1000,10000,100000", help="index sizes (chunks) for search latency")
    serve = sub.add_parser("serve", help="the HTTP API under simultaneous clients: throughput, latency, 429s")
    serve.add_argument("--clients", type=int, default=50, help="simultaneous clients on loopback")
    serve.add_argument("--seconds", type=float, default=20.0, help="how long the clients post questions")
    serve.add_argument("--generations", type=int, default=2, help="RAG_SERVE_GENERATIONS of the server")
    serve.add_argument("--queue", type=int, default=16, help="RAG_SERVE_QUEUE of the server")
    serve.add_argument(
        "--fake-seconds", type=float, default=0.25, help="seconds the stand-in LLM takes per answer"
    )
    serve.add_argument(
        "--local-clients", type=int, default=0, help="then N clients at once against the real local LLM"
    )
    serve.add_argument("--corpus", default="seeds")
    reader = sub.add_parser(
        "reader",
        help="which sentence answers and whether any does, on held-out XQuAD-R and QA-set lists, per reader",
    )
    reader.add_argument("--xquad", default=None, help=_XQUAD_HELP)
    reader.add_argument(
        "--weights",
        nargs="*",
        default=[],
        metavar="FILE",
        help="reader weights to measure (default: the shipped)",
    )
    reader.add_argument(
        "--cache",
        default=None,
        help="token-state store (default: RAG_MODELS_DIR/reader-states, shared with training)",
    )
    reader.add_argument("--limit", type=int, default=0, help="a quick run: N lists per source")
    language = sub.add_parser(
        "language",
        help="mixed-language answers caught, the question's language, sentence boundaries (QA sets)",
    )
    language.add_argument("--xquad", default=None, help=_XQUAD_HELP)
    language.add_argument(
        "--sentences", type=int, default=60, help="XQuAD-R sentences per language and split"
    )
    language.add_argument("--questions", type=int, default=300, help="questions per set and language")
    language.add_argument("--passages", type=int, default=400, help="passages per QA set (boundaries)")
    language.add_argument(
        "--translations",
        type=int,
        default=0,
        help="also the local LLM's translations of N XQuAD-R answers per split (short answers across "
        "languages)",
    )
    faithful = sub.add_parser(
        "faithfulness",
        help="unfaithful claims (entity, number, negation, cause, time, fused) caught by verification",
    )
    faithful.add_argument("--xquad", default=None, help=_XQUAD_HELP)
    faithful.add_argument("--articles", type=int, default=0, help="only the first N XQuAD-R articles")
    faithful.add_argument("--per-set", type=int, default=40, help="supported claims per QA set and split")
    faithful.add_argument(
        "--llm", type=int, default=0, help="also the local LLM's own claims: N dev questions per source"
    )
    faithful.add_argument(
        "--labels", default="", help="JSONL of {claim, supported} read by a person, for the LLM's claims"
    )
    extract = sub.add_parser(
        "extract", help="article text kept from real news pages (precision, recall, F1) beside trafilatura"
    )
    extract.add_argument(
        "--pages",
        default="../shared/bench/article-extraction",
        help="the article-extraction benchmark folder (html/*.html.gz, ground-truth.json)",
    )
    extract.add_argument("--limit", type=int, default=0, help="only the first N pages")
    events = sub.add_parser(
        "events", help="event similarity vs people's ratings of news pairs (Pearson, grouping curve)"
    )
    events.add_argument(
        "--pairs", default="../shared/bench/semeval2022-task8/pairs.csv", help="SemEval-2022 Task 8 pairs.csv"
    )
    for p in (
        speed,
        answer,
        ingest,
        stories,
        clauses,
        compare,
        serve,
        reader,
        language,
        faithful,
        extract,
        events,
    ):
        p.add_argument("--out", default="bench-out", help="folder for <bench>.json, .md and .png")
    speed.add_argument("--queries", type=int, default=100)
    speed.add_argument("--cold-runs", type=int, default=3)


def _xquad_parsers(sub: Any) -> tuple[Any, Any]:
    """``retrieval`` and ``speed`` with the XQuAD-R sample options they share."""
    for name, helptext in (
        ("retrieval", "retrieval quality by mode and chunk size"),
        ("speed", "ingest throughput, search latency, cold start"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--xquad", default=None, help=_XQUAD_HELP)
        p.add_argument("--langs", default="en,ru,de,ar,zh,hi" if name == "retrieval" else "en,ru,de,es")
        p.add_argument("--paragraphs", type=int, default=40 if name == "retrieval" else 60)
    return sub.choices["retrieval"], sub.choices["speed"]


def _answer_parser(sub: Any) -> Any:
    answer = sub.add_parser("answer", help="answer quality and latency (first token, total) per generator")
    answer.add_argument(
        "--generators",
        default="local,extractive",
        help="comma-separated: local,openai,extractive,llama-index (the CitationQueryEngine baseline)",
    )
    answer.add_argument("--dataset", default="seeds", help="a built-in set name, a JSONL path, or xquad-qa")
    answer.add_argument("--split", choices=("dev", "test"), default="dev", help="xquad-qa: which articles")
    answer.add_argument("--limit", type=int, default=0, help="only the first N questions")
    answer.add_argument("--xquad", default=None, help=_XQUAD_HELP)
    answer.add_argument("--corpus", default="seeds")
    return answer


def _page_parsers(sub: Any) -> None:
    """``page`` (headless Chromium) and ``load`` (simultaneous sessions) against the chat page."""
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


def _ingest_parser(sub: Any) -> Any:
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
    ingest.add_argument("--xquad", default=None, help=_XQUAD_HELP)
    return ingest


def _lazy(module: str, name: str) -> Any:
    """A function of ``rag.evaluation.<module>``, imported when called (it imports numpy or models)."""

    def call(*args: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(f"rag.evaluation.{module}"), name)(*args)

    return call


REPORTED = {
    "speed": (bench_speed, speed_markdown, speed_plot),
    "answer": (bench_answer, answer_markdown, answer_plot),
    "stories": (bench_stories, stories_markdown, stories_plot),
    "compare": (bench_compare, compare_markdown, compare_plot),
    "clauses": (bench_clauses, clauses_markdown, clauses_plot),
    "serve": (bench_serve, serve_markdown, serve_plot),
    "reader": tuple(_lazy("bench_reader", f) for f in ("bench_reader", "reader_markdown", "reader_plot")),
    "faithfulness": tuple(
        _lazy("bench_faithfulness", f)
        for f in ("bench_faithfulness", "faithfulness_markdown", "faithfulness_plot")
    ),
    "language": tuple(
        _lazy("bench_language", f) for f in ("bench_language", "language_markdown", "language_plot")
    ),
    "events": tuple(_lazy("bench_events", f) for f in ("bench_events", "events_markdown", "events_plot")),
    "extract": tuple(
        _lazy("bench_extract", f) for f in ("bench_extract", "extract_markdown", "extract_plot")
    ),
}


def run(args: Any) -> int:
    from rag.settings import Settings

    # read here, not when the parser is built: a bad RAG_ value breaks no --help
    settings = Settings.from_env()
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
