"""``rag bench events``: the event similarity against people's ratings (SemEval-2022 Task 8 pairs).

On the held-out part of ``pairs.csv`` (``rag.evaluation.semeval``: split by article, never fitted on):
the Pearson correlation of the shipped event similarity with the people's Overall rating (negated: a
higher similarity is a lower rating), overall and per language pair, beside today's story similarity
(``rag.index.stories.pair_score``); at the shipped threshold, the share of same-event pairs (Overall <=
1.5) grouped, across languages too, and of different-event pairs (Overall >= 3.5) merged; and that curve
over thresholds. The fit part's figures are printed beside, for comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CURVE = np.round(np.arange(0.30, 0.90, 0.05), 2)


def _pearson(scores: np.ndarray, overall: np.ndarray) -> float | None:
    if len(scores) < 3 or np.std(scores) == 0:
        return None
    return round(float(-np.corrcoef(scores, overall)[0, 1]), 4)


def _grouping(scores: np.ndarray, overall: np.ndarray, cross: np.ndarray, threshold: float) -> dict[str, Any]:
    from rag.evaluation.semeval import DIFFERENT, SAME

    same, different = overall <= SAME, overall >= DIFFERENT
    grouped = scores >= threshold

    def share(mask: np.ndarray) -> float | None:
        return round(float(grouped[mask].mean()), 4) if mask.any() else None

    return {
        "same_grouped": share(same),
        "same_grouped_across_languages": share(same & cross),
        "different_merged": share(different),
        "same_pairs": int(same.sum()),
        "different_pairs": int(different.sum()),
    }


def bench_events(args: Any) -> dict[str, Any]:
    from rag.evaluation.semeval import feature_rows, load_pairs, pair_documents
    from rag.index.events import load_model
    from rag.index.stories import pair_score
    from rag.settings import Settings

    settings = Settings.from_env()
    pairs = load_pairs(Path(args.pairs))
    model = load_model()
    docs = pair_documents(pairs, settings)
    scores = model.scores(feature_rows(docs))
    stories = np.array([pair_score(a, b, 0.25) for a, b in docs])
    overall = np.array([p.overall for p in pairs])
    cross = np.array([p.lang1 != p.lang2 for p in pairs])
    languages = np.array([p.languages for p in pairs])
    result: dict[str, Any] = {"bench": "events", "pairs": len(pairs), "threshold": model.threshold}
    for part in ("test", "fit"):
        m = np.array([p.split == part for p in pairs])
        result[part] = {
            "pairs": int(m.sum()),
            "pearson": _pearson(scores[m], overall[m]),
            "story_pearson": _pearson(stories[m], overall[m]),
            **_grouping(scores[m], overall[m], cross[m], model.threshold),
            "story_groups": _grouping(stories[m], overall[m], cross[m], 0.50),
            "by_languages": {
                lang: {
                    "pairs": int((m & (languages == lang)).sum()),
                    "pearson": _pearson(scores[m & (languages == lang)], overall[m & (languages == lang)]),
                }
                for lang in sorted(set(languages[m]))
            },
            "curve": [
                {"threshold": float(t), **_grouping(scores[m], overall[m], cross[m], float(t))} for t in CURVE
            ],
        }
    return result


def events_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Event similarity on {result['pairs']} rated news pairs (SemEval-2022 Task 8; threshold "
        f"{result['threshold']}):",
        "",
        "| part | pairs | Pearson | story similarity's | same event grouped | across languages "
        "| different merged |",
        "|---|---|---|---|---|---|---|",
    ]
    for part in ("test", "fit"):
        r = result[part]
        lines.append(
            f"| {part} | {r['pairs']} | {r['pearson']} | {r['story_pearson']} | {r['same_grouped']} | "
            f"{r['same_grouped_across_languages']} | {r['different_merged']} |"
        )
    t = result["test"]
    lines += [
        "",
        "Held out, per language pair (pairs, Pearson): "
        + ", ".join(f"{k} {v['pairs']} {v['pearson']}" for k, v in t["by_languages"].items()),
    ]
    lines += [
        "",
        "Held-out curve (threshold: same grouped / across languages / different merged): "
        + " · ".join(
            f"{c['threshold']:.2f}: {c['same_grouped']}/{c['same_grouped_across_languages']}/"
            f"{c['different_merged']}"
            for c in t["curve"]
        ),
    ]
    return "\n".join(lines)


def events_plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result["test"]["curve"]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(
        [c["different_merged"] for c in curve], [c["same_grouped"] for c in curve], marker="o", label="all"
    )
    ax.plot(
        [c["different_merged"] for c in curve],
        [c["same_grouped_across_languages"] for c in curve],
        marker=".",
        label="across languages",
    )
    ax.set_xlabel("different-event pairs merged")
    ax.set_ylabel("same-event pairs grouped")
    ax.set_title("Event grouping, held-out pairs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
