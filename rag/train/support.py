"""``rag train support``: fit the support scorer (whether a sentence says what a claim says) on XQuAD-R
dev articles, choose its bar on dev articles it never saw, save.

The scorer is the reader's network (``rag.train.model``) with the claim in the question's place: the lists
of ``rag.evaluation.support_lists`` (a claim against the sentences of a paragraph, in its language or
another; perturbed claims have no supporting sentence). The answer stage reads the weights
(``rag/answer/support.npz``) where words cannot be compared: a claim and its sentence in two languages.
Its held-out figures are ``rag bench faithfulness``'s (XQuAD-R test articles, the benchmark's own
phrasings, which training never sees).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation.reader_lists import ReaderList
from rag.evaluation.support_lists import CALIBRATE, FIT, support_lists, texts_of
from rag.evaluation.token_states import StateStore, encode_fn

log = logging.getLogger(__name__)

VERSION = "1"
MOST_DROPPED = 0.05  # the bar drops at most this share of the calibration articles' supported claims


@dataclass(frozen=True)
class SupportOptions:
    xquad_dir: Path
    cache: Path
    out: Path
    epochs: int = 3
    seed: int = 0
    d: int = 128
    layers: int = 1
    lr: float = 1e-3
    draws: int = 12
    progress: bool = True


def run_support(options: SupportOptions, encoder: Any) -> dict[str, Any]:
    """Encode, fit, choose the bar, save; the report (also written beside the weights as JSON)."""
    import torch

    from rag.train import fit
    from rag.train.command import _bar, _fit_bar
    from rag.train.model import ReaderShape

    torch.manual_seed(options.seed)
    started = time.perf_counter()
    store = StateStore(options.cache)
    lists = support_lists(options.xquad_dir, FIT, options.seed, options.draws)
    held = support_lists(options.xquad_dir, CALIBRATE, options.seed + 1, max(1, options.draws // 2))
    store.fill(texts_of([*lists, *held]), encode_fn(encoder), _bar("encode", options.progress))
    shape = ReaderShape(d=options.d, layers=options.layers)
    net = fit.train(
        lists,
        store,
        shape,
        options.epochs,
        lr=options.lr,
        seed=options.seed,
        progress=_fit_bar(options.progress),
        question_kind="document",
    )
    scores = fit.score_lists(net, held, store, question_kind="document")
    bar, figures = choose_bar(held, scores)
    report = {
        "version": VERSION,
        "training_lists": len(lists),
        "calibration_lists": len(held),
        "bar": bar,
        "calibration": figures,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in options.__dict__.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    fit.save(net, options.out, {"version": f"support-{VERSION}", "report": report})
    options.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log.info("saved %s (bar %.3f)", options.out, bar)
    return report


def own_scores(items: Sequence[ReaderList], scores: Sequence[np.ndarray]) -> list[tuple[str, bool, float]]:
    """Per list: (kind, across languages, the probability its own sentence supports the claim)."""
    out = []
    for item, s in zip(items, scores):
        kind, cited = item.group.rsplit(":", 1)
        z = float(s[int(cited)])
        out.append((kind, item.languages[0] != item.language, 1 / (1 + math.exp(-z))))
    return out


SUPPORTED = ("supported", "clause", "answer")


def choose_bar(items: Sequence[ReaderList], scores: Sequence[np.ndarray]) -> tuple[float, dict[str, Any]]:
    """The highest bar that drops at most ``MOST_DROPPED`` of the supported claims across languages, and
    per kind the share dropped (supported kinds) or caught (perturbed ones) there."""
    rows = own_scores(items, scores)
    kept = sorted(p for kind, across, p in rows if kind in SUPPORTED and across)
    bar = float(kept[int(math.floor(MOST_DROPPED * len(kept)))]) if kept else 0.5
    figures: dict[str, Any] = {}
    for across in (False, True):
        side: dict[str, Any] = {}
        for kind in sorted({k for k, _, _ in rows}):
            ps = [p for k, a, p in rows if k == kind and a == across]
            if ps:
                share = float(np.mean([p < bar for p in ps]))
                side[kind] = {
                    "claims": len(ps),
                    "dropped" if kind in SUPPORTED else "caught": round(share, 3),
                }
        figures["across languages" if across else "same language"] = side
    return round(bar, 4), figures
