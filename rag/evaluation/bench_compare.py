"""``rag bench compare``: when two sources "agree", measured on XQuAD-R's parallel sentences, and how long a
comparison takes.

Agreement: in paragraphs whose sentence count matches the English one, sentence *i* of a language and
sentence *i* of English say the same thing (a positive pair); sentence *i* and another sentence *j* of the
same paragraph talk about the same matter but say something else (a negative). Precision and recall of
``cosine >= RAG_COMPARE_AGREE`` (sentence-similarity vectors, as ``rag.answer.compare`` uses them) on the
dev articles (0-23, where the threshold was chosen) and the held-out test articles (24-47), with the
curve. Latency: ``Assistant.compare`` on ``--corpus`` for the first ``--questions`` answerable questions of
the seeds set, per generator.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

CURVE = tuple(round(0.60 + 0.02 * i, 2) for i in range(16))


def sentence_pairs(root: Path, articles: range, paragraphs: tuple[int, ...] = (0, 2, 4)) -> list[tuple]:
    """(English sentence, other sentence, same meaning?) for matching paragraphs of ``articles``."""
    data = {
        p.stem: json.loads(p.read_text(encoding="utf-8"))["data"] for p in sorted(Path(root).glob("*.json"))
    }
    pairs = []
    for a in articles:
        for p in paragraphs:
            english = data["en"][a]["paragraphs"][p]["sentences"]
            for lang, articles_of in data.items():
                other = articles_of[a]["paragraphs"][p]["sentences"]
                if lang == "en" or len(other) != len(english):
                    continue
                for i, sentence in enumerate(english):
                    pairs += [(sentence, other[j], i == j) for j in range(len(other))]
    return pairs


def agreement(pairs: list[tuple], embedder: Any, threshold: float) -> dict[str, Any]:
    import numpy as np

    from rag.embed import embed_similar

    texts = sorted({t for a, b, _ in pairs for t in (a, b)})
    vectors = np.asarray(embed_similar(embedder, texts), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    index = {t: i for i, t in enumerate(texts)}
    cosine = np.array([float(vectors[index[a]] @ vectors[index[b]]) for a, b, _ in pairs])
    same = np.array([s for _, _, s in pairs])

    def scores(t: float) -> tuple[float, float]:
        kept = cosine >= t
        hits = int((kept & same).sum())
        return hits / max(int(kept.sum()), 1), hits / max(int(same.sum()), 1)

    precision, recall = scores(threshold)
    curve = [
        {"threshold": t, "precision": round(p, 4), "recall": round(r, 4)}
        for t in CURVE
        for p, r in [scores(t)]
    ]
    return {"pairs": len(pairs), "precision": round(precision, 4), "recall": round(recall, 4), "curve": curve}


def latency(corpus: Path, generators: list[str], questions: int, embedder: Any) -> list[dict[str, Any]]:
    from rag.api import Assistant
    from rag.evaluation.datasets import builtin_dataset, load_dataset

    seeds = load_dataset(builtin_dataset("seeds")).questions
    asked = [q.question for q in seeds if q.answerable and not q.history][:questions]
    rows = []
    with tempfile.TemporaryDirectory() as index:
        assistant = Assistant.open(index, embedder=embedder, progress=False)
        assistant.ingest([corpus])
        for generator in generators:
            assistant.compare(asked[0], generator=generator)  # warm: models loaded, as in the chat page
            seconds = []
            for question in asked:
                started = time.perf_counter()
                assistant.compare(question, generator=generator)
                seconds.append(time.perf_counter() - started)
            ordered = sorted(seconds)
            rows.append(
                {
                    "generator": generator,
                    "questions": len(seconds),
                    "p50_s": round(statistics.median(seconds), 2),
                    "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
                }
            )
    return rows


def bench_compare(args: Any) -> dict[str, Any]:
    from rag.embed import embedder_from
    from rag.evaluation.bench_points import points
    from rag.evaluation.run import parse_config
    from rag.evaluation.xquad_qa import SPLITS
    from rag.settings import Settings

    settings = Settings.from_env()
    embedder = embedder_from(settings)
    result: dict[str, Any] = {"bench": "compare", "agree": settings.compare_agree, "agreement": {}}
    configs = dict(parse_config(spec) for spec in args.points) or {"default": {}}
    result["points"] = {}
    for split, articles in SPLITS.items():
        picked = articles[: args.articles] if args.articles else articles
        result["agreement"][split] = agreement(
            sentence_pairs(Path(args.xquad), picked), embedder, settings.compare_agree
        )
        result["points"][split] = points(Path(args.xquad), picked, embedder, configs)
    generators = [g for g in args.generators.split(",") if g]
    result["latency"] = latency(Path(args.corpus), generators, args.questions, embedder) if generators else []
    return result


def compare_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Agreement of parallel sentences at RAG_COMPARE_AGREE = {result['agree']}:",
        "",
        "| split | pairs | precision | recall |",
        "|---|---|---|---|",
    ]
    for split, s in result["agreement"].items():
        lines.append(f"| {split} | {s['pairs']} | {s['precision']:.3f} | {s['recall']:.3f} |")
    for split, s in result["agreement"].items():
        curve = " · ".join(f"{c['threshold']:.2f} {c['precision']:.3f}/{c['recall']:.3f}" for c in s["curve"])
        lines += ["", f"Curve, {split} (precision/recall): {curve}"]
    if result.get("points"):
        lines += [
            "",
            "Points on two reports sharing a paragraph (`found`: agreement on the answer's sentence;"
            " of the questions both reports answer; `precision`: agreement points that pair one sentence in"
            " two languages):",
            "",
            "| split | configuration | questions | two sources | both answer | found | agree points"
            " | precision | differ |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for split, configs in result["points"].items():
            lines += [
                f"| {split} | {name} | {c['questions']} | {c['separate']} | {c['speaking']} |"
                f" {c['found']:.2f} | {c['agree_points']} | {c['precision']:.3f} | {c['differ_points']} |"
                for name, c in configs.items()
            ]
    if result["latency"]:
        lines += ["", "| generator | comparisons | p50 s | p95 s |", "|---|---|---|---|"]
        lines += [
            f"| {g['generator']} | {g['questions']} | {g['p50_s']} | {g['p95_s']} |"
            for g in result["latency"]
        ]
    return "\n".join(lines)


def compare_plot(result: dict[str, Any], path: Path) -> None:
    from rag.evaluation.report import figure

    with figure(path, 1, 1, figsize=(6, 4)) as ax:
        for split, s in result["agreement"].items():
            xs = [c["threshold"] for c in s["curve"]]
            ax.plot(xs, [c["precision"] for c in s["curve"]], label=f"{split} precision")
            ax.plot(xs, [c["recall"] for c in s["curve"]], "--", label=f"{split} recall")
        ax.axvline(result["agree"], color="grey", lw=0.8)
        ax.set_xlabel("threshold (RAG_COMPARE_AGREE)")
        ax.legend()
