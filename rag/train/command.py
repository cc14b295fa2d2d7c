"""``rag train reader``: build the reader lists, encode every text once, fit, measure on held-out data, save.

What it reads: the dev split of each native-speaker QA set (``rag.evaluation.qa_sets``; ``--without`` leaves
sets out, for a leave-set-out row) and XQuAD-R articles 0-23 (dev). What it reports (never fitted on): the
issue's XQuAD-R measure on articles 24-47 (each question against its whole article in three other
languages, and the same without the answer's paragraph), and each QA set's test split (its answerable
lists, and the same with the answer's sentences removed, and its own unanswerable questions), for the
trained reader and for the pooled cosine side by side. The weights and those figures go into one ``.npz``
(``rag.answer.reader`` reads it); the figures into a JSON file too.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation.qa_sets import SETS, load_set
from rag.evaluation.xquad_qa import SPLITS
from rag.train import data as reader_data
from rag.train.data import ReaderList
from rag.train.states import StateStore

log = logging.getLogger(__name__)

VERSION = "1"


@dataclass(frozen=True)
class TrainOptions:
    qa_dir: Path
    xquad_dir: Path
    cache: Path  # the token-state store (reused across runs)
    out: Path  # the weights
    without: tuple[str, ...] = ()
    epochs: int = 3
    seed: int = 0
    d: int = 128
    layers: int = 1
    lr: float = 1e-3
    limit: int | None = None  # at most this many lists per source (quick runs, tests)
    progress: bool = True
    report: Path | None = None  # the figures as JSON (default: beside the weights)
    extra: dict[str, Any] = field(default_factory=dict)


def training_lists(options: TrainOptions, store: StateStore) -> list[ReaderList]:
    xquad = reader_data.xquad_articles(options.xquad_dir)
    lists = reader_data.xquad_lists(
        xquad, _articles("dev", options), targets=3, same_language=True, seed=options.seed + 1
    )
    for name in SETS:
        if name in options.without:
            continue
        found = reader_data.qa_lists(_passages(name, "dev", options), store.vector, seed=options.seed + 2)
        lists += found[: options.limit] if options.limit else found
    return lists


def _articles(split: str, options: TrainOptions) -> range:
    """XQuAD-R articles of ``split`` (with ``limit``: its first one)."""
    found = SPLITS[split]
    return range(found.start, found.start + 1) if options.limit else found


def _passages(name: str, split: str, options: TrainOptions) -> list:
    passages = load_set(name, split, options.qa_dir)
    return passages[: max(1, options.limit // 2)] if options.limit else passages


def held_out_lists(options: TrainOptions, store: StateStore) -> dict[str, list[ReaderList]]:
    """The measure's lists: XQuAD-R test (articles 24-47) and each QA set's test split."""
    xquad = reader_data.xquad_articles(options.xquad_dir)
    out = {
        "xquad-test": reader_data.xquad_lists(
            xquad, _articles("test", options), targets=3, seed=options.seed + 3
        )
    }
    for name in SETS:
        found = reader_data.qa_lists(
            _passages(name, "test", options), store.vector, seed=options.seed + 4, removed=1.0
        )
        out[name] = found
    if options.limit:
        out = {k: v[: options.limit] for k, v in out.items()}
    return out


def needed_texts(options: TrainOptions) -> list[tuple[str, str]]:
    """Every (kind, text) the lists can hold: the questions and sentences of both splits of every source
    (distractors are chosen from the pooled vectors, so all of a split's sentences are encoded first)."""
    items: list[tuple[str, str]] = []
    xquad = reader_data.xquad_articles(options.xquad_dir)
    for articles in xquad.values():
        for a in [*_articles("dev", options), *_articles("test", options)]:
            for paragraph in articles[a]["paragraphs"]:
                items += [
                    ("document", paragraph["context"][s:e].strip()) for s, e in paragraph["sentence_breaks"]
                ]
                items += [("query", qa["question"].strip()) for qa in paragraph["qas"]]
    for split in ("dev", "test"):
        for name in SETS:
            for p in _passages(name, split, options):
                items += [("document", p.text[s:e]) for s, e in reader_data.passage_sentences(p.text)]
                items += [("query", q.question) for q in p.questions]
    return [item for item in items if item[1]]


def run(options: TrainOptions, encoder: Any) -> dict[str, Any]:
    """Encode, fit, measure, save; the report (also written as JSON)."""
    import torch

    from rag.train import fit
    from rag.train.model import ReaderShape

    torch.manual_seed(options.seed)
    started = time.perf_counter()
    store = StateStore(options.cache)
    items = needed_texts(options)
    log.info("encoding %d texts (those not yet in %s)", len(items), options.cache)
    store.fill(items, _encode_fn(encoder), _bar("encode", options.progress))
    lists = training_lists(options, store)
    log.info("training on %d lists", len(lists))
    shape = ReaderShape(d=options.d, layers=options.layers)
    net = fit.train(
        lists,
        store,
        shape,
        options.epochs,
        lr=options.lr,
        seed=options.seed,
        progress=_fit_bar(options.progress),
    )
    held = held_out_lists(options, store)
    figures = {
        name: {
            "reader": fit.measure(found, fit.score_lists(net, found, store)),
            "cosine": fit.measure(found, fit.cosine_lists(found, store)),
        }
        for name, found in held.items()
    }
    report = {
        "version": VERSION,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "training_lists": len(lists),
        "training_lists_by_source": _count(lists),
        "held_out": figures,
        "seconds": round(time.perf_counter() - started, 1),
    }
    fit.save(net, options.out, {"version": VERSION, "report": report})
    target = options.report or options.out.with_suffix(".json")
    target.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log.info("saved %s and %s", options.out, target)
    return report


def _count(lists: Sequence[ReaderList]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in lists:
        counts[item.group] = counts.get(item.group, 0) + 1
    return counts


def _encode_fn(encoder: Any) -> Callable[[str, list[str]], tuple[np.ndarray, list[np.ndarray]]]:
    def encode(kind: str, texts: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        if kind == "document":
            vectors, states = encoder.document_states(texts)
            return np.asarray(vectors, dtype=np.float32), list(states)
        pairs = [encoder.query_states(t) for t in texts]
        return np.stack([v for v, _ in pairs]).astype(np.float32), [s for _, s in pairs]

    return encode


def _bar(label: str, show: bool) -> Callable[[int, int], None] | None:
    if not show:
        return None
    from tqdm.auto import tqdm

    state: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc=label, unit="text", file=sys.stderr, dynamic_ncols=True)
        state["bar"].n = done
        state["bar"].refresh()
        if done >= total:
            state["bar"].close()

    return progress


def _fit_bar(show: bool) -> Callable[[int, int, float], None] | None:
    if not show:
        return None
    from tqdm.auto import tqdm

    state: dict[str, Any] = {}

    def progress(step: int, steps: int, loss: float) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=steps, desc="train", unit="step", file=sys.stderr, dynamic_ncols=True)
        state["bar"].n = step
        state["bar"].set_postfix(loss=f"{loss:.3f}", refresh=False)
        state["bar"].refresh()
        if step >= steps:
            state["bar"].close()

    return progress
