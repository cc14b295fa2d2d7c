"""``rag bench answer``: the questions of a set through ``ask`` per generator (or the plain llama-index
baseline), scored for accuracy, refusals and answer language and timed to first token and in total; the
result dict, its markdown and its plot."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rag.evaluation.report import machine

log = logging.getLogger(__name__)


def bench_answer(args: Any) -> dict[str, Any]:
    """Questions of a set through ``ask`` per generator (``llama-index``: the plain CitationQueryEngine
    baseline with the local model, ``rag.evaluation.baseline``): accuracy, refusals, answers in the question's
    language, first-token and total latency. Models are loaded and warmed before timing (the chat page keeps
    them loaded). ``--dataset xquad-qa`` builds the held-out pile of ``--split``."""
    from rag.api import Assistant
    from rag.evaluation.datasets import load_dataset

    with tempfile.TemporaryDirectory() as tmp:
        corpus, path = _dataset(args, Path(tmp))
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
            entry = _generator_entry(assistant, kind, questions, text_of)
            result["generators"].append(entry)
            log.info("answer bench: %s", {k: v for k, v in entry.items() if k != "rows"})
    return result


def _dataset(args: Any, tmp: Path) -> tuple[Path, Path]:
    """(corpus folder, question set path) for ``--corpus`` and ``--dataset``; ``xquad-qa`` builds both
    under ``tmp``."""
    from rag.evaluation.datasets import builtin_dataset

    if args.dataset == "xquad-qa":
        from rag.evaluation.xquad_qa import build_pile

        return build_pile(tmp / "pile", args.split, Path(args.xquad))
    path = Path(args.dataset) if Path(args.dataset).is_file() else builtin_dataset(args.dataset)
    return Path(args.corpus), path


def _generator_entry(assistant: Any, kind: str, questions: Sequence[Any], text_of: Any) -> dict[str, Any]:
    """One generator's row of the result: every question asked (after a warm-up) and scored."""
    from rag.answer.mixing import language_share
    from rag.evaluation.metrics import score_answer
    from rag.settings import AnswerPolicy

    ask = _asker(assistant, kind)
    ask(questions[0])  # warm-up
    answers = [(q, ask(q)) for q in questions]
    rows = [score_answer(q, a, text_of) for q, a in answers]
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    first = [r.first_token_s for r in rows if r.first_token_s is not None]
    total = [r.total_s for r in rows]
    shares = [language_share(a.text, q.lang, [c.language for c in a.citations]) for q, a in answers if a.text]
    in_language = [s is None or s >= AnswerPolicy.min_language_share for s in shares]
    return {
        "generator": kind,
        "answerable": len(answerable),
        "correct": sum(r.correct for r in answerable),
        "false_refusals": sum(r.refused for r in answerable),
        "unanswerable": len(unanswerable),
        "refused": sum(r.refused for r in unanswerable),
        "exact_quotes": all(r.exact_quotes for r in rows),
        "in_question_language": round(sum(in_language) / len(in_language), 3) if in_language else None,
        "first_token_s": _seconds(first),
        "total_s": _seconds(total),
        "rows": [asdict(r) for r in rows],
    }  # per question: what was wrong, and how slow


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
