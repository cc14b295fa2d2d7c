"""Evaluation reports on disk: ``report.json``, ``report.md`` and PNG plots (matplotlib, lazily).

``write_report(report, out)`` writes one run; ``write_comparison(reports, out)`` one table for several
named configurations run on the same data; ``write_outputs`` a benchmark's JSON, Markdown and plot,
``machine()`` the machine it ran on.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.errors import ConfigError
from rag.evaluation.metrics import METRICS

log = logging.getLogger(__name__)

PAIR_METRICS = ("hit@5", "mrr@10", "citation_precision", "answer_accuracy")


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def metrics_table(rows: Mapping[str, Mapping[str, Any]], first: str, keys: tuple[str, ...] = METRICS) -> str:
    lines = [f"| {first} | n | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {m.get('questions', '')} | " + " | ".join(fmt(m.get(k)) for k in keys) + " |"
        )
    return "\n".join(lines)


def latency_table(latency: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["| stage | p50 (s) | p95 (s) | n |", "|---|---|---|---|"]
    lines += [f"| {stage} | {fmt(v['p50'])} | {fmt(v['p95'])} | {v['n']} |" for stage, v in latency.items()]
    return "\n".join(lines)


def markdown(report: Mapping[str, Any]) -> str:
    cfg = report["config"]
    misses = [q for q in report["questions"] if q["correct"] is False]
    parts = [
        f"# Evaluation: {cfg.get('dataset', '')}",
        f"Corpus `{cfg.get('corpus', '')}`, generator `{cfg.get('generator') or 'none (retrieval only)'}`, "
        f"settings {json.dumps(cfg.get('settings', {}), ensure_ascii=False)}.",
        "## Overall",
        metrics_table({"all": report["metrics"]}, "set"),
        "## By question language",
        metrics_table(report["by_language"], "language"),
        "## By document language (of the evidence)",
        metrics_table(report.get("by_document_language", {}), "language"),
        "## By language pair (question - evidence)",
        metrics_table(report["by_pair"], "pair"),
        "## Latency",
        latency_table(report["latency"]),
    ]
    if cfg.get("problems"):
        parts += [
            "## Skipped lines",
            "\n".join(f"- line {p['line']}: {p['message']}" for p in cfg["problems"]),
        ]
    if misses:
        parts += [
            "## Wrong answers",
            "\n".join(
                f"- `{q['id']}` ({q['pair']}): "
                + ("refused" if q["refused"] else json.dumps(q["answer"], ensure_ascii=False))
                for q in misses
            ),
        ]
    return "\n\n".join(parts) + "\n"


def write_report(report: Mapping[str, Any], out: Path) -> list[Path]:
    """report.json, report.md, metrics_by_pair.png, latency.png under ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md"]
    paths[0].write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    paths[1].write_text(markdown(report), encoding="utf-8")
    paths += _plots(report, out)
    return paths


@contextmanager
def figure(path: Path, *grid: int, **options: Any) -> Iterator[Any]:
    """A matplotlib figure (headless) whose axes the block draws on; laid out, saved to ``path`` and
    closed afterwards. ``grid`` and ``options`` go to ``plt.subplots``; yields its axes. matplotlib is the
    ``eval`` extra (``pip install 'rag[eval]'``; ``make setup`` installs it)."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'rag[eval]' (make setup installs it)") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(*grid, **options)
    try:
        yield axes
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def _plots(report: Mapping[str, Any], out: Path) -> list[Path]:
    written = []
    pairs = report["by_pair"]
    keys = [k for k in PAIR_METRICS if any(m.get(k) is not None for m in pairs.values())]
    if pairs and keys:
        written.append(out / "metrics_by_pair.png")
        with figure(written[-1], figsize=(max(6, 1.2 * len(pairs) * len(keys) / 2), 4)) as ax:
            width = 0.8 / len(keys)
            for i, key in enumerate(keys):
                values = [m.get(key) or 0.0 for m in pairs.values()]
                ax.bar([x + i * width for x in range(len(pairs))], values, width, label=key)
            ax.set_xticks(
                [x + width * (len(keys) - 1) / 2 for x in range(len(pairs))], list(pairs), rotation=30
            )
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("score")
            ax.set_title("metrics by language pair (question - evidence)")
            ax.legend(fontsize=8)
    stages = {
        s: [q[f"{s}_s"] for q in report["questions"] if q.get(f"{s}_s") is not None]
        for s in ("retrieval", "first_token", "total")
    }
    stages = {s: v for s, v in stages.items() if v}
    if stages:
        written.append(out / "latency.png")
        with figure(written[-1], figsize=(6, 4)) as ax:
            ax.boxplot(list(stages.values()), tick_labels=list(stages), whis=(5, 95))
            ax.set_ylabel("seconds")
            ax.set_title("latency per question (whiskers: p5-p95)")
    return written


def comparison_markdown(reports: Mapping[str, Mapping[str, Any]]) -> str:
    rows = {
        name: {
            **r["metrics"],
            "total p50": r["latency"]["total"]["p50"],
            "retrieval p50": r["latency"]["retrieval"]["p50"],
        }
        for name, r in reports.items()
    }
    keys = (*METRICS, "retrieval p50", "total p50")
    return metrics_table(rows, "config", keys) + "\n"


def write_comparison(reports: Mapping[str, Mapping[str, Any]], out: Path) -> list[Path]:
    """Each configuration's report in ``out/NAME/``, plus compare.json and compare.md side by side."""
    paths = []
    for name, r in reports.items():
        paths += write_report(r, out / name)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        name: {"metrics": r["metrics"], "latency": r["latency"], "config": r["config"]}
        for name, r in reports.items()
    }
    (out / "compare.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "compare.md").write_text(comparison_markdown(reports), encoding="utf-8")
    return paths + [out / "compare.json", out / "compare.md"]


def machine() -> dict[str, Any]:
    import platform

    summary = f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "summary": summary,
        "date": time.strftime("%Y-%m-%d"),
    }


def write_outputs(out: Path, name: str, result: dict[str, Any], markdown: str, plot: Any) -> list[Path]:
    """``<name>.json``, ``<name>.md`` and ``<name>.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.json", out / f"{name}.md", out / f"{name}.png"]
    paths[0].write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[1].write_text(markdown, encoding="utf-8")
    plot(result, paths[2])
    return paths
