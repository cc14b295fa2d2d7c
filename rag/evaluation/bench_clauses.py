"""``rag bench clauses``: does the per-clause support check (``AnswerPolicy.min_clause_support``) catch an
invented clause appended to a supported claim, and how many supported claims does it drop?

Claims are built from XQuAD-R's parallel sentences, in paragraphs whose sentence counts match in two
languages (the evidence language and, as the question's would be, another one): the evidence is the
paragraph's sentences in one language; a *supported* claim is the translation of one of them, or of one
joined to another (a claim drawing on two sentences); an *unsupported* claim is a translation with a
sentence of another paragraph of the same article appended (on the topic, not in the evidence). The
score of a claim is its weakest clause's best support from the evidence, as the answer stage computes it
(``Answerer.clause_support``); a one-clause claim is not checked. Reported on the dev articles (0-23,
where the bar was chosen) and the held-out test articles (24-47), with the bar's curve.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "es", "de", "ru", "zh", "ar", "vi", "tr", "el", "hi")
CURVE = tuple(round(0.20 + 0.025 * i, 3) for i in range(15))
EVIDENCE = 8  # sentences of the paragraph given as evidence, at most


def claims(root: Path, articles: range, seed: int = 7) -> list[tuple[bool, str, list[str], str]]:
    """(supported?, claim, evidence sentences, evidence language) for ``articles`` of XQuAD-R."""
    data = {
        lang: json.loads((Path(root) / f"{lang}.json").read_text(encoding="utf-8"))["data"]
        for lang in LANGUAGES
    }
    rng = random.Random(seed)
    rows: list[tuple[bool, str, list[str], str]] = []
    for a in articles:
        for p in range(len(data["en"][a]["paragraphs"])):
            source, claim_lang = rng.sample(LANGUAGES, 2)
            evidence = [s.strip("\ufeff ") for s in data[source][a]["paragraphs"][p]["sentences"]][:EVIDENCE]
            said = [s.strip("\ufeff ") for s in data[claim_lang][a]["paragraphs"][p]["sentences"]][:EVIDENCE]
            if len(evidence) != len(said) or len(said) < 2:
                continue
            elsewhere = [
                s.strip("\ufeff ")
                for q, para in enumerate(data[claim_lang][a]["paragraphs"])
                if q != p
                for s in para["sentences"]
            ]
            for i in rng.sample(range(len(said)), min(3, len(said))):
                stem = said[i].rstrip(" .。")
                other = rng.choice([k for k in range(len(said)) if k != i])
                rows.append((True, said[i], evidence, source))
                rows.append((True, f"{stem}, {said[other]}", evidence, source))
                rows.append((False, f"{stem}, {rng.choice(elsewhere)}", evidence, source))
    return rows


def weakest_clauses(rows: list[tuple[bool, str, list[str], str]], answerer: Any) -> list[float | None]:
    """Per claim, its weakest clause's best support (None: one clause, not checked)."""
    from rag.answer.values import Sentence

    scores: list[float | None] = []
    for _, claim, evidence, language in rows:
        chosen = [Sentence("", 0, len(t), t, "", language) for t in evidence]
        support = answerer.clause_support([claim], chosen)[0]
        scores.append(None if support is None else float(support.max(axis=1).min()))
    return scores


def rates(
    rows: list[tuple[bool, str, list[str], str]], scores: list[float | None], bar: float
) -> dict[str, float]:
    dropped = [s is not None and s < bar for s in scores]
    good = [d for (ok, *_), d in zip(rows, dropped) if ok]
    bad = [d for (ok, *_), d in zip(rows, dropped) if not ok]
    return {
        "caught": round(sum(bad) / max(1, len(bad)), 4),
        "supported_dropped": round(sum(good) / max(1, len(good)), 4),
    }


def bench_clauses(args: Any) -> dict[str, Any]:
    from rag.answer.answerer import Answerer
    from rag.embed import embedder_from
    from rag.evaluation.xquad_qa import SPLITS
    from rag.settings import Settings

    settings = Settings.from_env()
    answerer = Answerer(lambda q, k: [], embedder_from(settings), None, settings)
    bar = settings.policy.min_clause_support
    result: dict[str, Any] = {"bench": "clauses", "min_clause_support": bar, "splits": {}}
    for split, articles in SPLITS.items():
        rows = claims(Path(args.xquad), articles[: args.articles] if args.articles else articles)
        scores = weakest_clauses(rows, answerer)
        result["splits"][split] = {
            "claims": len(rows),
            "unsupported": sum(not ok for ok, *_ in rows),
            **rates(rows, scores, bar),
            "curve": [{"bar": t, **rates(rows, scores, t)} for t in CURVE],
        }
    return result


def clauses_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Appended unsupported clauses caught at RAG_MIN_CLAUSE_SUPPORT = {result['min_clause_support']}:",
        "",
        "| split | claims | unsupported | caught | supported dropped |",
        "|---|---|---|---|---|",
    ]
    for split, s in result["splits"].items():
        counts = f"| {split} | {s['claims']} | {s['unsupported']} "
        lines.append(f"{counts}| {s['caught']:.3f} | {s['supported_dropped']:.3f} |")
    for split, s in result["splits"].items():
        curve = " · ".join(
            f"{c['bar']:.3f} {c['caught']:.3f}/{c['supported_dropped']:.3f}" for c in s["curve"]
        )
        lines += ["", f"Curve, {split} (caught/supported dropped): {curve}"]
    return "\n".join(lines)


def clauses_plot(result: dict[str, Any], path: Path) -> None:
    from rag.evaluation.report import figure

    with figure(path, 1, 1, figsize=(6, 4)) as ax:
        for split, s in result["splits"].items():
            xs = [c["bar"] for c in s["curve"]]
            ax.plot(xs, [c["caught"] for c in s["curve"]], label=f"{split} unsupported caught")
            ax.plot(
                xs, [c["supported_dropped"] for c in s["curve"]], "--", label=f"{split} supported dropped"
            )
        ax.axvline(result["min_clause_support"], color="grey", lw=0.8)
        ax.set_xlabel("bar (RAG_MIN_CLAUSE_SUPPORT)")
        ax.legend()
