"""``rag bench page`` and ``rag bench load``: the chat page measured from outside. ``page`` drives it in
headless Chromium (seconds to the first answer text and to the verified answer on screen); ``load`` runs
simultaneous Gradio client sessions against it (seconds per turn). Both print markdown tables. Owns the
Chromium flags the browser tests share (``CHROMIUM_ARGS``) and ``chat_sessions``, which the load tests
use."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from typing import Any

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


def _seed_questions() -> list[str]:
    """The built-in seed questions that have evidence to find, as text."""
    from rag.evaluation.datasets import (
        builtin_dataset,
        load_dataset,
        retrieval_questions,
    )

    seeds = load_dataset(builtin_dataset("seeds")).questions
    return [q.question for q in retrieval_questions(seeds)]


def bench_page(args: Any) -> None:
    """The chat page in headless Chromium: seconds from pressing Enter to the first answer text on screen
    and to the verified answer, next to the model's own first-token time for the same answers."""
    from rag.api import Assistant
    from rag.ui import serve

    questions = _seed_questions()[: args.questions]
    with tempfile.TemporaryDirectory() as index:
        assistant = Assistant.open(index, progress=False, generator=args.generator)
        assistant.ingest([args.corpus])
        assistant.warm()
        assistant.ask(questions[0])  # warm-up: sentence vectors and the LLM's prompt cache
        model_first = _record_first_tokens(assistant)
        app = serve(assistant, "127.0.0.1", args.port)
        try:
            first, final = _browse(f"http://127.0.0.1:{args.port}/", args.chromium, questions)
        finally:
            app.close()
    _print_page_table(args, questions, first, final, model_first)


def _record_first_tokens(assistant: Any) -> list[float]:
    """Wrap ``assistant.ask_stream`` so that each answer's model first-token time lands in the list."""
    model_first: list[float] = []
    stream = assistant.ask_stream

    def recording(*a: Any, **kw: Any) -> Any:
        for piece in stream(*a, **kw):
            if not isinstance(piece, str) and "first_token" in piece.timings:
                model_first.append(piece.timings["first_token"])
            yield piece

    assistant.ask_stream = recording
    return model_first


def _browse(url: str, chromium: str | None, questions: Sequence[str]) -> tuple[list[float], list[float]]:
    """Ask each question on the page at ``url`` in a fresh chat: seconds from Enter to the first answer
    text and to the verified answer on screen."""
    from playwright.sync_api import sync_playwright

    first, final = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
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
    return first, final


def _print_page_table(
    args: Any, questions: Sequence[str], first: list[float], final: list[float], model_first: list[float]
) -> None:
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
            filters: tuple[Any, ...] = ([], [], "", "", False)  # languages, outlets, since, until, gloss
            chat, sources, *_ = client.predict(
                question, chat, generator, top_k, *filters, api_name="/respond"
            )
            seconds.append(time.perf_counter() - started)
            asked.append(question)
        return {"user": user, "asked": asked, "chat": chat, "sources": sources, "seconds": seconds}

    with ThreadPoolExecutor(max_workers=users) as pool:
        return list(pool.map(session, range(users)))


def bench_load(args: Any) -> None:
    """``--users`` simultaneous sessions against one chat page (in process, loopback): turn latency."""
    from rag.api import Assistant
    from rag.ui import serve

    questions = _seed_questions()
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
