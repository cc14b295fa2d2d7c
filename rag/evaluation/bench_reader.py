"""``rag bench reader``: which sentence answers, and whether any does, on held-out lists, for each reader.

The lists (``rag.evaluation.reader_lists.held_out_lists``) are XQuAD-R test (articles 24-47: each question
against its whole article in three other languages, and the same without the answer's paragraph) and
each native-speaker QA set's test split (its questions against their passage and its nearest sentences
of other passages; every answerable list also without its answer's sentences; the set's own unanswerable
questions). The readers are scored through the answer stage's own code (``rag.answer.reader``: the
numpy network of each ``--weights`` file, and the pooled cosine) on token states encoded once into a
store (``--cache``). Per list source and reader: the share of answerable lists whose best sentence holds
the answer, the AUC of the best score (answerable vs none), the false refusals at the threshold that
refuses 0.90 of the none lists, and the curve of answered-right against refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation.reader_lists import ReaderList, Sources, held_out_lists, needed_texts
from rag.evaluation.token_states import StateStore, encode_fn, text_key

log = logging.getLogger(__name__)

CURVE_REFUSED = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


def measure(
    items: Sequence[ReaderList], scores: Sequence[np.ndarray], refused: float = 0.9
) -> dict[str, Any]:
    """Right sentence first (answerable lists), AUC of the best score (answerable vs none lists), the
    false refusals at the threshold that refuses ``refused`` of the none lists, and the curve: for each
    share of none lists refused, the share of answerable lists answered with the right sentence."""
    firsts, pos, neg = [], [], []
    for item, s in zip(items, scores):
        if not len(s):
            continue
        if item.answerable:
            top = int(np.argmax(np.where(np.asarray(item.labels) < 0, -np.inf, s)))
            firsts.append(item.labels[top] == 1)
            pos.append(float(np.max(s)))
        else:
            neg.append(float(np.max(s)))
    result: dict[str, Any] = {"lists": len(items), "answerable": len(pos), "none": len(neg)}
    if firsts:
        result["right_first"] = round(float(np.mean(firsts)), 4)
    if pos and neg:
        result["auc"] = round(auc(pos, neg), 4)
        result[f"false_refusals_at_{refused:.2f}"] = round(_refused_share(pos, neg, refused), 4)
        right = np.asarray(firsts)
        result["curve"] = {
            f"{share:.2f}": round(float(np.mean(right & (np.asarray(pos) >= np.quantile(neg, share)))), 4)
            for share in CURVE_REFUSED
        }
    return result


def _refused_share(pos: Sequence[float], neg: Sequence[float], refused: float) -> float:
    return float(np.mean(np.asarray(pos) < np.quantile(neg, refused)))


def auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties half."""
    values = np.concatenate([np.asarray(pos, float), np.asarray(neg, float)])
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):  # ties share their mean rank
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    n_pos, n_neg = len(pos), len(neg)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def cosine_lists(items: Sequence[ReaderList], store: StateStore) -> list[np.ndarray]:
    """The pooled cosine of each candidate (the ranking before the reader)."""
    return [
        np.asarray([store.vector("query", i.question) @ store.vector("document", c) for c in i.candidates])
        for i in items
    ]


def reader_lists(reader: Any, items: Sequence[ReaderList], store: StateStore) -> list[np.ndarray]:
    """Each list scored by an answer-stage ``Reader`` (``rag.answer.reader``)."""
    from rag.answer.reader import Encoded

    out = []
    for item in items:
        question = Encoded(store.vector("query", item.question), store.states("query", item.question))
        sentences = [
            Encoded(store.vector("document", c), store.states("document", c)) for c in item.candidates
        ]
        same = [lang == item.language for lang in item.languages]
        out.append(np.asarray(reader.scores(question, sentences, same), dtype=np.float64))
    return out


def bench_reader(args: Any) -> dict[str, Any]:
    from rag.answer.reader import WEIGHTS, LateReader
    from rag.embed import embedder_from
    from rag.settings import Settings

    settings = Settings.from_env()
    sources = Sources(Path(settings.qa_dir), Path(args.xquad), limit=args.limit or None)
    store = StateStore(Path(args.cache) if args.cache else settings.models_dir / "reader-states")
    texts = needed_texts(sources)
    if any(_missing(store, texts)):
        store.fill(texts, encode_fn(embedder_from(settings)))
    held = held_out_lists(sources, store.vector)
    weights = [Path(w) for w in args.weights] or [WEIGHTS]
    result: dict[str, Any] = {"sources": {k: len(v) for k, v in held.items()}, "readers": {}}
    for name, found in held.items():
        result["readers"].setdefault("cosine", {})[name] = measure(found, cosine_lists(found, store))
    for path in weights:
        reader = LateReader(path)
        label = path.stem if path != WEIGHTS else "shipped"
        for name, found in held.items():
            result["readers"].setdefault(label, {})[name] = measure(found, reader_lists(reader, found, store))
    return result


def _missing(store: StateStore, texts: Sequence[tuple[str, str]]) -> list[bool]:
    return [text_key(kind, text) not in store for kind, text in texts]


def reader_markdown(result: dict[str, Any]) -> str:
    lines = [
        "| reader | lists | right first | AUC | false refusals at 0.90 refused "
        "| answered right at 0.90 refused |",
        "|---|---|---|---|---|---|",
    ]
    for reader, by_source in result["readers"].items():
        for source, m in by_source.items():
            lines.append(
                f"| {reader} | {source} ({m['answerable']}+{m['none']}) | {m.get('right_first', '-')} "
                f"| {m.get('auc', '-')} | {m.get('false_refusals_at_0.90', '-')} "
                f"| {m.get('curve', {}).get('0.90', '-')} |"
            )
    return "\n".join(lines)


def reader_plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = list(next(iter(result["readers"].values())))
    fig, axes = plt.subplots(1, len(sources), figsize=(3 * len(sources), 3), sharey=True)
    for ax, source in zip(np.atleast_1d(axes), sources):
        for reader, by_source in result["readers"].items():
            curve = by_source[source].get("curve", {})
            ax.plot([float(k) for k in curve], list(curve.values()), marker="o", label=reader)
        ax.set_title(source, fontsize=8)
        ax.set_xlabel("none lists refused", fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("answerable: right sentence, answered", fontsize=7)
    np.atleast_1d(axes)[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
