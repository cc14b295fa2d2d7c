"""The ``rag`` command: the same verbs as the Python API (ingest, search, ask, sources, remove, reindex).

Only the standard library is imported at start-up, so ``rag --help`` is instant; ``RagError`` becomes a
one-line message on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rag.errors import QueryError, RagError

log = logging.getLogger("rag")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag", description="Multilingual news question answering with verifiable citations."
    )
    parser.add_argument("--index", metavar="DIR", help="index folder (default: RAG_INDEX_DIR or .rag/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    _ingest_verb(verbs)
    _question_verbs(verbs)
    _xquad_options(_eval_verb(verbs))
    _index_verbs(verbs)
    p = verbs.add_parser("bench", help="print speed and quality figures (see docs/benchmarks.md)")
    from rag.evaluation.bench import add_arguments

    add_arguments(p)
    return parser


def _ingest_verb(verbs: Any) -> None:
    """ingest: add or update articles."""
    p = verbs.add_parser("ingest", help="add or update articles from files and folders")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _index_verbs(verbs: Any) -> None:
    """sources, remove, reindex: what is in the index."""
    p = verbs.add_parser("sources", help="list the ingested articles")
    p.add_argument("--json", action="store_true")

    p = verbs.add_parser("remove", help="remove an article from the index")
    p.add_argument("source", metavar="SOURCE")

    p = verbs.add_parser(
        "reindex",
        help="rebuild a broken store from the kept article texts and uploads "
        "(moves the old store aside; deletes nothing)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_filter_flags(p: argparse.ArgumentParser) -> None:
    """--language, --source, --outlet (each repeatable), --since, --until: ``rag.index.filters``."""
    p.add_argument("--language", action="append", metavar="CODE", help="only articles in this language")
    p.add_argument("--source", action="append", metavar="SOURCE", help="only this article")
    p.add_argument("--outlet", action="append", metavar="NAME", help="only articles of this outlet")
    p.add_argument("--since", metavar="DATE", help="only articles published on or after DATE (2016-10-04)")
    p.add_argument("--until", metavar="DATE", help="only articles published on or before DATE")


def filter_args(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("language", "source", "outlet", "since", "until")}


def _question_verbs(verbs: Any) -> None:
    """search, ask, chat: questions to the index."""
    p = verbs.add_parser("search", help="find the passages that answer a question")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=None, help="number of passages (default: RAG_TOP_K or 5)")
    p.add_argument(
        "--mode", choices=("hybrid", "dense", "bm25"), help="retrieval mode (default: RAG_RETRIEVAL)"
    )
    add_filter_flags(p)
    p.add_argument("--json", action="store_true", help="print hits as a JSON list")

    p = verbs.add_parser("ask", help="answer a question with cited source sentences")
    p.add_argument("question")
    p.add_argument(
        "--generator",
        choices=("local", "openai", "extractive"),
        help="who writes the answer (default: RAG_GENERATOR or local)",
    )
    p.add_argument("-k", type=int, default=None, help="passages to read (default: RAG_TOP_K or 5)")
    add_filter_flags(p)
    p.add_argument(
        "--history", metavar="FILE", help="JSON file with earlier turns: [[question, answer], ...]"
    )
    p.add_argument("--json", action="store_true", help="print the answer as JSON")

    p = verbs.add_parser("chat", help="open the chat page in the browser (http://127.0.0.1:7860)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; any other needs RAG_CHAT_USER and RAG_CHAT_PASSWORD)",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--generator",
        choices=("local", "openai", "extractive"),
        help="default generator on the page (default: RAG_GENERATOR or local)",
    )


def _eval_verb(verbs: Any) -> argparse.ArgumentParser:
    """eval: measure retrieval, citations and answers on a question set."""
    p = verbs.add_parser("eval", help="measure retrieval, citations and answers on a question set")
    p.add_argument(
        "dataset",
        metavar="DATASET",
        help="JSONL question set, or a built-in name (seeds); xquad-r for the XQuAD-R retrieval "
        "benchmark; xquad-qa for the held-out multilingual answer benchmark",
    )
    p.add_argument(
        "--corpus", metavar="PATH", help="articles to index into a temporary index (default: seeds/)"
    )
    p.add_argument("--retrieval-only", action="store_true", help="no answers: retrieval metrics only")
    p.add_argument(
        "--generator",
        choices=("local", "openai", "extractive"),
        help="who writes the answers (default: RAG_GENERATOR or local)",
    )
    p.add_argument("--out", metavar="DIR", default="eval-out", help="report folder (default: eval-out/)")
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="NAME:KEY=VALUE,...",
        default=[],
        help="named configurations run on the same data, e.g. dense:retrieval=dense "
        "bm25:retrieval=bm25 small:chunk_chars=400,chunk_overlap_chars=80",
    )
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    return p


def _xquad_options(p: argparse.ArgumentParser) -> None:
    """The options of ``rag eval xquad-r`` and ``rag eval xquad-qa``."""
    p.add_argument(
        "--data", metavar="DIR", help="xquad-r: the XQuAD-R folder (default: ../shared/bench/xquad-r)"
    )
    p.add_argument(
        "--sample", type=int, metavar="N", help="xquad-r: only the first N paragraphs of each language"
    )
    p.add_argument(
        "--answers", type=int, default=30, metavar="N", help="xquad-r: questions answered for EM/F1"
    )
    p.add_argument(
        "--questions",
        type=int,
        metavar="N",
        help="xquad-r LAReQA: score N questions per language (evenly spread) against the whole pool",
    )
    p.add_argument(
        "--part", choices=("lareqa", "ours", "both"), default="both", help="xquad-r: which protocol"
    )
    p.add_argument(
        "--split",
        choices=("dev", "test"),
        default="dev",
        help="xquad-qa: dev (XQuAD-R articles 0-23, for tuning) or test (24-47, for reporting only)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="xquad-qa: only the first N questions")
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="xquad-qa, dev split: rank every question's evidence with the gate open and fit the answer "
        "policy's decision",
    )
    p.add_argument(
        "--every-question",
        action="store_true",
        help="xquad-qa: ask every question of the split's articles (the calibration set; about 1,200)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["bench", "encoder"]:  # its own option parser (argparse REMAINDER drops --options)
        from rag.evaluation.bench_encoder import main as bench_encoder

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        try:
            bench_encoder(argv[2:])
        except RagError as exc:
            print(f"rag: error: {exc}", file=sys.stderr)
            return 1
        return 0
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return COMMANDS[args.verb](args)
    except RagError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


def _open(args: argparse.Namespace) -> Any:
    from rag.api import Assistant

    return Assistant.open(args.index)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def cmd_ingest(args: argparse.Namespace) -> int:
    report = _open(args).ingest(args.paths, progress=not args.no_progress and not args.json)
    _print_json(report.to_dict()) if args.json else print(report.summary())
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    hits = _open(args).search(args.question, args.k, mode=args.mode, **filter_args(args))
    if args.json:
        _print_json([h.to_dict() for h in hits])
        return 0
    if not hits:
        print("no passages found")
    for rank, h in enumerate(hits, start=1):
        print(f"[{rank}] {h.source} [{h.start}:{h.end}] ({_about(h)}, score {h.score:.4f}) {h.title}")
        print("    " + " ".join(h.text.split())[:400])
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    history = _read_history(args.history) if args.history else None
    answer = _open(args).ask(args.question, history, generator=args.generator, k=args.k, **filter_args(args))
    if args.json:
        _print_json(answer.to_dict())
        return 0
    print(answer.text)
    if answer.citations:
        print("\nSources:")
    for c in answer.citations:
        print(f"[{c.marker}] {c.source} [{c.start}:{c.end}] ({_about(c)}) {c.title}")
        print(f"    “{' '.join(c.quote.split())}”")
    return 0


def _about(item: Any) -> str:
    """ "en, TASS, 2016-10-04": language, outlet and date of a hit, citation or article record."""
    return ", ".join(v for v in (item.language, item.outlet, item.published) if v)


def _read_history(path: str) -> list[tuple[str, str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            turns = json.load(handle)
        return [(str(q), str(a)) for q, a in turns]
    except (OSError, ValueError, TypeError) as exc:
        raise QueryError(
            f"--history {path}: expected a JSON list of [question, answer] pairs ({exc})"
        ) from None


def cmd_sources(args: argparse.Namespace) -> int:
    records = _open(args).sources()
    if args.json:
        _print_json([asdict(r) for r in records])
        return 0
    if not records:
        print("the index is empty: run `rag ingest PATH`")
    for r in records:
        print(f"{r.source}  ({_about(r)}, {r.chunk_count} chunks, ingested {r.ingested_at})  {r.title}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    record = _open(args).remove(args.source)
    print(f"removed {record.source} ({record.chunk_count} chunks)")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from rag.api import Assistant

    report = Assistant.reindex(args.index, progress=not args.no_progress and not args.json)
    _print_json(report.to_dict()) if args.json else print(report.summary())
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from rag.api import Assistant
    from rag.ui import serve

    assistant = Assistant.open(args.index, generator=args.generator)
    app = serve(assistant, args.host, args.port)
    print(f"chat page on http://{args.host}:{args.port} (Ctrl+C stops it)", flush=True)
    try:
        app.block_thread()
    finally:
        app.close()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.evaluation.report import comparison_markdown, latency_table, metrics_table
    from rag.evaluation.run import evaluate

    if args.dataset == "xquad-r":
        return _eval_xquad(args)
    if args.dataset == "xquad-qa":
        from rag.evaluation.xquad_qa import evaluate_pile

        result = evaluate_pile(
            args.split,
            Path(args.data) if args.data else None,
            args.retrieval_only,
            args.generator,
            args.out,
            args.compare,
            args.limit,
            args.calibrate,
            args.every_question,
        )
        if args.calibrate:
            _print_json(result["calibration"])
            return 0
    else:
        result = evaluate(
            args.dataset, args.corpus, args.index, args.retrieval_only, args.generator, args.out, args.compare
        )
    reports = result if args.compare else {"default": result}
    if args.json:
        _print_json({name: {"metrics": r["metrics"], "latency": r["latency"]} for name, r in reports.items()})
        return 0
    if args.compare:
        print(comparison_markdown(reports))
    else:
        print(metrics_table({"all": result["metrics"]}, "set") + "\n")
        print(metrics_table(result["by_language"], "question language") + "\n")
        print(metrics_table(result["by_document_language"], "document language") + "\n")
        print(metrics_table(result["by_pair"], "pair") + "\n")
        print(latency_table(result["latency"]) + "\n")
    problems = next(iter(reports.values()))["config"]["problems"]
    for p in problems:
        print(f"skipped line {p['line']}: {p['message']}", file=sys.stderr)
    print(f"reports in {args.out}/")
    return 0


def _eval_xquad(args: argparse.Namespace) -> int:
    from rag.embed import embedder_from
    from rag.evaluation import xquad
    from rag.settings import Settings

    root = Path(args.data) if args.data else Settings.from_env().xquad_dir
    embedder = embedder_from(Settings.from_env())
    result: dict[str, Any] = {"data": str(root), "sample": args.sample}
    if args.part in ("lareqa", "both"):
        result["lareqa"] = xquad.lareqa(embedder, root, args.sample, questions_per_language=args.questions)
    if args.part in ("ours", "both"):
        result["ours"] = xquad.our_setting(embedder, root, args.sample, args.answers, args.generator)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "xquad-r.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "xquad-r.md").write_text(xquad.markdown(result), encoding="utf-8")
    if args.json:
        _print_json(result)
    else:
        print(xquad.markdown(result))
        print(f"reports in {out}/")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from rag.evaluation.bench import run

    return run(args)


COMMANDS = {
    "ingest": cmd_ingest,
    "search": cmd_search,
    "ask": cmd_ask,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "sources": cmd_sources,
    "remove": cmd_remove,
    "reindex": cmd_reindex,
    "bench": cmd_bench,
}

if __name__ == "__main__":
    raise SystemExit(main())
