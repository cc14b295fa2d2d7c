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

from rag.evaluation.bench_reader import cosine_lists, measure
from rag.evaluation.reader_lists import ReaderList, Sources, held_out_lists, needed_texts, training_lists
from rag.evaluation.token_states import StateStore, encode_fn

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
    question_self: bool = False
    lr: float = 1e-3
    limit: int | None = None  # at most this many lists per source (quick runs, tests)
    progress: bool = True
    report: Path | None = None  # the figures as JSON (default: beside the weights)
    extra: dict[str, Any] = field(default_factory=dict)


def run(options: TrainOptions, encoder: Any) -> dict[str, Any]:
    """Encode, fit, measure, save; the report (also written as JSON)."""
    import torch

    from rag.train import fit
    from rag.train.model import ReaderShape

    torch.manual_seed(options.seed)
    started = time.perf_counter()
    store = StateStore(options.cache)
    sources = Sources(options.qa_dir, options.xquad_dir, options.without, options.limit, options.seed)
    items = needed_texts(sources)
    log.info("encoding %d texts (those not yet in %s)", len(items), options.cache)
    store.fill(items, encode_fn(encoder), _bar("encode", options.progress))
    lists = training_lists(sources, store.vector)
    log.info("training on %d lists", len(lists))
    shape = ReaderShape(d=options.d, layers=options.layers, question_self=int(options.question_self))
    net = fit.train(
        lists,
        store,
        shape,
        options.epochs,
        lr=options.lr,
        seed=options.seed,
        progress=_fit_bar(options.progress),
    )
    fit.save(net, options.out, {"version": VERSION, "report": {"held_out": "not measured yet"}})  # usable now
    held = held_out_lists(sources, store.vector)
    figures = {
        name: {
            "reader": measure(found, fit.score_lists(net, found, store)),
            "cosine": measure(found, cosine_lists(found, store)),
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
