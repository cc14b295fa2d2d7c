"""``rag bench serve``: the HTTP API under load. ``--clients`` simultaneous clients on loopback post the seed
questions to ``/v1/chat/completions`` for ``--seconds``, against a real uvicorn server over a real index of
the seeds (real embeddings, retrieval and verification), the LLM replaced by ``QuoteGenerator`` (it quotes
the best source sentence after ``--fake-seconds``), so the figures are the server's and the line's, not
the model's. ``--local-clients N`` adds a short run with the real local LLM: N clients at once, one
question each. Reports throughput, p50/p95 latency and requests turned away (429 with Retry-After)."""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of sorted ``values`` (linear between ranks, as numpy's default)."""
    if len(values) == 1:
        return values[0]
    rank = (len(values) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


_FIRST_SOURCE = re.compile(r"^\[1\] (?:\(published [^)]*\) )?(.+)$", re.MULTILINE)
_LAST_QUESTION = re.compile(r"^Last question: (.+)$", re.MULTILINE)


class QuoteGenerator:
    """A fast stand-in LLM (``rag.generate.Generator``): answers by quoting source [1] with its marker
    (which verification keeps), rewrites a follow-up as the last question, translates by copying; it takes
    ``seconds`` per reply, spread over its words."""

    name = "quote"

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def reply(self, prompt: str) -> str:
        if (m := _FIRST_SOURCE.search(prompt)) is not None:
            return f"{m.group(1).strip()} [1]"
        if (m := _LAST_QUESTION.search(prompt)) is not None:
            return m.group(1).strip()
        lines = [line for line in prompt.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def stream(self, messages: Sequence[dict[str, str]], max_tokens: int) -> Iterator[str]:
        words = self.reply(messages[-1]["content"]).split(" ")
        for k, word in enumerate(words):
            if self.seconds:
                time.sleep(self.seconds / len(words))
            yield word if k == 0 else " " + word


def _questions() -> list[str]:
    from rag.evaluation.datasets import builtin_dataset, load_dataset, retrieval_questions

    return [q.question for q in retrieval_questions(load_dataset(builtin_dataset("seeds")).questions)]


def _load(
    url: str, questions: list[str], clients: int, seconds: float, per_client: int = 0
) -> dict[str, Any]:
    """``clients`` threads posting chat completions until ``seconds`` pass (or ``per_client`` each)."""
    import httpx

    rows: list[tuple[int, float]] = []
    lock = threading.Lock()
    start = threading.Event()
    deadline = [0.0]

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=600) as http:
            start.wait()
            done = 0
            while time.monotonic() < deadline[0] and (not per_client or done < per_client):
                question = questions[(n + done) % len(questions)]
                body = {"model": "rag", "messages": [{"role": "user", "content": question}]}
                t0 = time.perf_counter()
                try:
                    status = http.post("/v1/chat/completions", json=body).status_code
                except httpx.HTTPError:
                    status = 0
                latency = time.perf_counter() - t0
                with lock:
                    rows.append((status, latency))
                done += 1
                if status == 429:  # turned away: back off a little, as a polite client does
                    time.sleep(0.5)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    began = time.monotonic()
    deadline[0] = began + seconds
    start.set()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    ok = sorted(latency for status, latency in rows if status == 200)
    rejected = sorted(latency for status, latency in rows if status == 429)
    return {
        "clients": clients,
        "seconds": round(wall, 2),
        "requests": len(rows),
        "answered": len(ok),
        "rejected_429": len(rejected),
        "other_errors": sum(1 for status, _ in rows if status not in (200, 429)),
        "answers_per_s": round(len(ok) / wall, 2) if wall else 0.0,
        "p50_s": round(percentile(ok, 50), 3) if ok else None,
        "p95_s": round(percentile(ok, 95), 3) if ok else None,
        "rejection_p50_ms": round(1000 * percentile(rejected, 50), 1) if rejected else None,
    }


def _run(assistant: Any, questions: list[str], clients: int, seconds: float, per_client: int = 0) -> dict:
    from rag.serve.app import create_app
    from rag.serve.runner import running

    with running(create_app(assistant)) as url:
        return _load(url, questions, clients, seconds, per_client)


def bench_serve(args: Any) -> dict[str, Any]:
    from rag.api import Assistant

    questions = _questions()
    line = {"serve_generations": args.generations, "serve_queue": args.queue}
    result: dict[str, Any] = {"bench": "serve", **line, "fake_seconds": args.fake_seconds, "runs": []}
    with tempfile.TemporaryDirectory() as index:
        fake = QuoteGenerator(args.fake_seconds)
        assistant = Assistant.open(index, progress=False, generator="local", llm=fake, **line)
        assistant.ingest([args.corpus])
        assistant.ask(questions[0])  # warm: the model and the sentence vectors
        run = _run(assistant, questions, args.clients, args.seconds)
        result["runs"].append({"generator": "quote (stand-in)", **run})
        if args.local_clients:
            real = Assistant.open(index, progress=False, generator="local", **line)
            real.warm()
            run = _run(real, questions, args.local_clients, 600.0, per_client=1)
            result["runs"].append({"generator": "local (Qwen2.5-Coder-1.5B)", **run})
    return result


def serve_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"`rag bench serve`: clients on loopback posting /v1/chat/completions (RAG_SERVE_GENERATIONS "
        f"{result['serve_generations']}, RAG_SERVE_QUEUE {result['serve_queue']}; the stand-in LLM takes "
        f"{result['fake_seconds']} s per answer):",
        "",
        "| generator | clients | seconds | requests | answered | answers/s | p50 s | p95 s | 429s | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['generator']} | {r['clients']} | {r['seconds']} | {r['requests']} | {r['answered']} | "
            f"{r['answers_per_s']} | {r['p50_s']} | {r['p95_s']} | {r['rejected_429']} | "
            f"{r['other_errors']} |"
        )
    return "\n".join(lines) + "\n"


def serve_plot(result: dict[str, Any], path: Any) -> None:
    from rag.evaluation.report import figure

    runs = result["runs"]
    with figure(path, 1, 1, figsize=(6, 4)) as ax:
        names = [r["generator"] for r in runs]
        ax.bar([i - 0.2 for i in range(len(runs))], [r["answered"] for r in runs], 0.4, label="answered")
        ax.bar([i + 0.2 for i in range(len(runs))], [r["rejected_429"] for r in runs], 0.4, label="429")
        ax.set_xticks(range(len(runs)), names)
        ax.set_ylabel("requests")
        ax.legend()
