"""The ``rag`` command: the same verbs as the Python API (ingest, watch, search, ask, compare, sources,
remove, reindex), the chat page (``chat``) and the HTTP API (``serve``).

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
from typing import Any

from rag.cli.common import open_assistant as _open
from rag.cli.common import print_json as _print_json
from rag.cli.evaluation import cmd_bench, cmd_eval, eval_verbs
from rag.cli.training import cmd_train, train_verbs
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
    eval_verbs(verbs)
    train_verbs(verbs)
    _index_verbs(verbs)
    _serve_verb(verbs)
    return parser


def _serve_verb(verbs: Any) -> None:
    """serve: the HTTP API (OpenAI-compatible chat, search, sources)."""
    p = verbs.add_parser(
        "serve", help="serve the HTTP API: OpenAI-compatible /v1/chat/completions with citations, and more"
    )
    p.add_argument(
        "--host",
        default=None,
        help="address to bind (default RAG_SERVE_HOST or 127.0.0.1; any other needs RAG_API_KEY)",
    )
    p.add_argument("--port", type=int, default=None, help="port (default RAG_SERVE_PORT or 8080)")
    p.add_argument(
        "--generator",
        choices=("local", "openai", "extractive"),
        help="who writes the answers (default: RAG_GENERATOR or local)",
    )


def _ingest_verb(verbs: Any) -> None:
    """ingest: add or update articles; watch: keep them current."""
    p = verbs.add_parser(
        "ingest", help="add or update articles from files, folders, web archives, web pages (URLs) and feeds"
    )
    p.add_argument(
        "paths", nargs="*", metavar="PATH|URL", help="files, folders, .warc.gz files, http(s) URLs"
    )
    p.add_argument(
        "--feed", action="append", default=[], metavar="URL", help="an RSS or Atom feed (repeatable)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p = verbs.add_parser(
        "watch", help="keep the index current with folders and feeds: a round every N minutes until stopped"
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders, files or URLs to keep current")
    p.add_argument(
        "--feed", action="append", default=[], metavar="URL", help="an RSS or Atom feed (repeatable)"
    )
    p.add_argument(
        "--every", type=float, default=None, metavar="MINUTES", help="default RAG_WATCH_MINUTES or 15"
    )
    p.add_argument("--rounds", type=int, default=None, help="stop after N rounds (default: until Ctrl+C)")


def _index_verbs(verbs: Any) -> None:
    """sources, events, remove, reindex: what is in the index."""
    p = verbs.add_parser("sources", help="list the ingested articles")
    p.add_argument("--json", action="store_true")
    p = verbs.add_parser("events", help="list the events: reports of one event across outlets and languages")
    p.add_argument("--json", action="store_true")
    p.add_argument("--language", metavar="CODE", help="label each event with a report in this language")

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
    """--language, --source, --outlet, --event (each repeatable), --since, --until: ``rag.index.filters``."""
    p.add_argument("--language", action="append", metavar="CODE", help="only articles in this language")
    p.add_argument("--source", action="append", metavar="SOURCE", help="only this article")
    p.add_argument("--outlet", action="append", metavar="NAME", help="only articles of this outlet")
    p.add_argument("--since", metavar="DATE", help="only articles published on or after DATE (2016-10-04)")
    p.add_argument("--until", metavar="DATE", help="only articles published on or before DATE")
    p.add_argument(
        "--event", action="append", metavar="ID", help="only the reports of this event (rag events)"
    )


def filter_args(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("language", "source", "outlet", "since", "until", "event")}


def _answer_flags(p: argparse.ArgumentParser, written: str, passages: str) -> None:
    """--generator, -k, the filters and --gloss: the options of ask and compare."""
    p.add_argument(
        "--generator",
        choices=("local", "openai", "extractive"),
        help=f"who writes {written} (default: RAG_GENERATOR or local)",
    )
    p.add_argument("-k", type=int, default=None, help=f"{passages} (default: RAG_TOP_K or 5)")
    add_filter_flags(p)
    p.add_argument("--gloss", action="store_true", help="machine-translate quotes in other languages")


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
    _answer_flags(p, "the answer", "passages to read")
    p.add_argument(
        "--history", metavar="FILE", help="JSON file with earlier turns: [[question, answer], ...]"
    )
    p.add_argument("--json", action="store_true", help="print the answer as JSON")

    p = verbs.add_parser("compare", help="how each source reports a question; where they agree and differ")
    p.add_argument("question")
    _answer_flags(p, "each source's answer", "passages read per source")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")

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


def cmd_ingest(args: argparse.Namespace) -> int:
    if not args.paths and not args.feed:
        raise QueryError("nothing to ingest: give files, folders, URLs or --feed URL")
    progress = not args.no_progress and not args.json
    report = _open(args).ingest(args.paths, progress=progress, feeds=args.feed)
    _print_json(report.to_dict()) if args.json else print(report.summary())
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    if not args.paths and not args.feed:
        raise QueryError("nothing to watch: give folders, files, URLs or --feed URL")
    if args.every is not None and args.every <= 0:
        raise QueryError("--every must be more than 0 minutes")
    assistant = _open(args)
    every = assistant.settings.watch_minutes if args.every is None else args.every
    print(f"watching {len(args.paths)} path(s) and {len(args.feed)} feed(s) every {every:g} min", flush=True)
    for done in assistant.watch(args.paths, args.feed, every_minutes=every, rounds=args.rounds):
        print(done.line(), flush=True)
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    events = _open(args).events(args.language)
    if args.json:
        _print_json([e.to_dict() for e in events])
        return 0
    if not events:
        print("the index is empty: run `rag ingest PATH`")
    for e in events:
        dates = " to ".join(dict.fromkeys(d for d in (e.first_published, e.last_published) if d)) or "undated"
        print(
            f"{e.event}  {e.label}  ({len(e.sources)} reports, {e.stories} stories, "
            f"{', '.join(e.languages)}; {', '.join(e.outlets) or 'outlets unknown'}; {dates})"
        )
        for source in e.sources:
            print(f"    {source}")
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
    answer = _open(args).ask(
        args.question, history, generator=args.generator, k=args.k, gloss=args.gloss, **filter_args(args)
    )
    if args.json:
        _print_json(answer.to_dict())
        return 0
    print(answer.text)
    if answer.citations:
        print("\nSources:")
    for c in answer.citations:
        print(f"[{c.marker}] {c.source} [{c.start}:{c.end}] ({_about(c)}) {c.title}")
        print(f"    “{' '.join(c.quote.split())}”")
        if c.gloss:
            print(f"    machine translation: {c.gloss}")
    if answer.nearest:
        print("\nClosest passages; none of them states the answer:")
    for n in answer.nearest:
        print(f"  - {n.source} [{n.start}:{n.end}] (score {n.score:.2f}) “{' '.join(n.quote.split())}”")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    result = _open(args).compare(
        args.question, generator=args.generator, k=args.k, gloss=args.gloss, **filter_args(args)
    )
    if args.json:
        _print_json(result.to_dict())
        return 0
    if not result.sources:
        print("no article bears on the question")
    for view in result.sources:
        also = f" (also in: {', '.join(view.also_in)})" if view.also_in else ""
        print(f"== {view.source} ({_about(view)}){also} {view.title}")
        print(("   silent: " if view.silent else "   ") + view.answer)
        _print_citations(view.citations)
    for label, found in (("Agree", result.agree), ("Differ", result.differ)):
        if found:
            print(f"\n{label}:")
        for point in found:
            print("  " + point.text)
            _print_citations(point.citations)
    return 0


def _print_citations(citations: Sequence[Any]) -> None:
    for c in citations:
        print(f"    [{c.marker}] {c.source} [{c.start}:{c.end}] ({_about(c)})")
        if c.gloss:
            print(f"        machine translation: {c.gloss}")


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
    stories: dict[str, list[str]] = {}
    for record in records:
        stories.setdefault(record.story, []).append(record.source)
    for r in records:
        print(f"{r.source}  ({_about(r)}, {r.chunk_count} chunks, ingested {r.ingested_at})  {r.title}")
        others = [o for o in stories.get(r.story, []) if o != r.source]
        if others:
            print(f"    same story as: {', '.join(others)}")
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


def cmd_serve(args: argparse.Namespace) -> int:
    from rag.serve.auth import check_bind
    from rag.settings import Settings

    settings = Settings.from_env(index_dir=args.index, generator=args.generator)
    host = args.host or settings.serve_host
    port = settings.serve_port if args.port is None else args.port
    try:
        check_bind(host, settings.api_key)  # before any model loads
    except RagError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 2
    from rag.api import Assistant
    from rag.serve import MODEL_ID, serve

    def announce(url: str) -> None:
        print(f"API on {url}/v1 (model {MODEL_ID!r}; Ctrl+C stops it)", flush=True)

    serve(Assistant.open(settings=settings), host, port, announce)
    return 0


COMMANDS = {
    "ingest": cmd_ingest,
    "watch": cmd_watch,
    "search": cmd_search,
    "ask": cmd_ask,
    "compare": cmd_compare,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "train": cmd_train,
    "sources": cmd_sources,
    "events": cmd_events,
    "remove": cmd_remove,
    "reindex": cmd_reindex,
    "bench": cmd_bench,
    "serve": cmd_serve,
}
