"""``rag train events``: fit the event similarity (``rag.index.events``) on people's ratings of news pairs.

The pairs of SemEval-2022 Task 8 (``rag.evaluation.semeval``) are chunked and embedded as ingest would;
each pair's ``FEATURES`` are standardised and a logistic curve is fitted, by gradient descent with a small
L2 penalty, to the rating turned into a same-event degree ((4 - Overall) / 3). Only the ``fit`` part is
read. The grouping threshold is the lowest score at which at most ``max_merged`` of the fit part's
different-event pairs (Overall >= 3.5) would be put together. Writes ``rag/index/events.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation.semeval import feature_rows, pair_documents
from rag.index.events import FEATURES, MODEL_FILE, EventModel

log = logging.getLogger(__name__)

STEPS, RATE, L2 = 20000, 0.5, 1e-3
MAX_MERGED = 0.04  # different-event pairs the threshold may merge, on the fit part
GRID = np.round(np.arange(0.30, 0.90, 0.025), 3)


def fit(rows: np.ndarray, overall: np.ndarray) -> EventModel:
    """The logistic curve of ``rows`` to (4 - ``overall``) / 3, with a threshold of 0.5 (set later)."""
    mean, scale = rows.mean(axis=0), rows.std(axis=0) + 1e-9
    z = (rows - mean) / scale
    target = (4 - overall) / 3
    weights, bias = np.zeros(z.shape[1]), 0.0
    for _ in range(STEPS):
        s = 1 / (1 + np.exp(-(z @ weights + bias)))
        gradient = (s - target) * s * (1 - s)
        weights -= RATE * (z.T @ gradient / len(gradient) + L2 * weights)
        bias -= RATE * float(gradient.mean())
    as_tuple = lambda a: tuple(round(float(x), 6) for x in a)  # noqa: E731
    return EventModel(as_tuple(mean), as_tuple(scale), as_tuple(weights), round(bias, 6), 0.5)


def threshold_for(scores: np.ndarray, overall: np.ndarray, max_merged: float = MAX_MERGED) -> float:
    """The lowest grid score at which at most ``max_merged`` of the different-event pairs are merged."""
    from rag.evaluation.semeval import DIFFERENT

    different = scores[overall >= DIFFERENT]
    return float(next((t for t in GRID if (different >= t).mean() <= max_merged), GRID[-1]))


def train_events(pairs: Sequence[Any], settings: Any, out: Path = MODEL_FILE) -> dict[str, Any]:
    fit_part = [p for p in pairs if p.split == "fit"]
    rows = feature_rows(pair_documents(fit_part, settings))
    overall = np.array([p.overall for p in fit_part])
    model = fit(rows, overall)
    threshold = threshold_for(model.scores(rows), overall)
    model = EventModel(model.mean, model.scale, model.weights, model.bias, threshold)
    record = model.to_dict() | {"fitted_on": f"{len(fit_part)} SemEval-2022 Task 8 pairs (fit part)"}
    Path(out).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    log.info("event model written to %s (threshold %.3f)", out, threshold)
    scores = model.scores(rows)
    return {
        "out": str(out),
        "pairs": len(fit_part),
        "features": list(FEATURES),
        "threshold": threshold,
        "fit_pearson": round(float(-np.corrcoef(scores, overall)[0, 1]), 4),
    }
