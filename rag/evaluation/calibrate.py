"""Fit the answer-or-refuse decision of ``AnswerPolicy`` from an evaluation run (evaluation stage).

``rag eval xquad-qa --split dev --calibrate`` ranks the evidence of every question of the development
articles with the gate open, then fits, on what each answer's decision read (``Answer.scores``):

- ``answerable_bias``, ``relevance_weight``, ``margin_weight``, ``same_language_weight``: a logistic
  regression of "the question is answerable" on the best sentence's relevance, its margin over the next
  sentences and whether it is in the question's language;
- ``min_answerable``: the probability threshold with the best balanced accuracy (share of answerable
  questions answered plus share of unanswerable ones refused, halved); ties go to the lower threshold.

The same decision holds with the trained reader (``RAG_READER=late``), which ranks the sentences. Its
sentence score is fitted the same way (``READER``, ``--reader``): a logistic of "the question is
answerable" on the reader's log-odds for its first sentence and that sentence's cosine (``reader_bias``,
``reader_logit_weight``, ``reader_relevance_weight``; the threshold is ``reader_floor``).

``python -m rag.evaluation.calibrate [--reader] REPORT...`` fits one of them on the rows of several
reports (each report one group: ``rag eval xquad-qa --split dev --calibrate`` writes
``calibration.json``, ``rag eval qa --set NAME`` with the gate open writes ``report.json``) and reports
each group's figures from the fit without it (``leave_one_out``): what to expect on a set nobody fitted
on. For the reader's score, rows must be ones it was not trained on (XQuAD-R dev articles 16-23, the QA
sets' test splits); the XQuAD-R test articles (24-47) stay for reporting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

OPEN_GATES = {"min_answerable": "0"}  # every question is answered


def _scored(answered: Any, labels: Any, rows: Sequence[dict[str, Any]], folds: int) -> dict[str, Any]:
    import numpy as np

    correct = np.array([bool(r.get("correct")) for r in rows])
    positive, negative = labels == 1, labels == 0
    return {
        "folds": folds,
        "answered_right": round(float(np.mean(answered[positive] & correct[positive])), 3),
        "false_refusals": round(float(np.mean(~answered[positive])), 3),
        "unanswerable_refused": round(float(np.mean(~answered[negative])), 3),
    }


@dataclass(frozen=True)
class Decision:
    """One decision's logistic: the ``AnswerPolicy`` fields of its bias, weights and threshold, and how a
    report row's ``scores`` give its features."""

    bias: str
    weights: tuple[str, ...]
    threshold: str
    features: Callable[[dict[str, float]], list[float]]


COSINE = Decision(
    "answerable_bias",
    ("relevance_weight", "margin_weight", "same_language_weight"),
    "min_answerable",
    lambda s: [s["relevance"], s["margin"], s.get("same_language", 0.0)],
)
READER = Decision(
    "reader_bias",
    ("reader_logit_weight", "reader_relevance_weight"),
    "reader_floor",
    lambda s: [_logit(s["reader"]), s["reader_relevance"]],
)


def decision_of(rows: Sequence[dict[str, Any]]) -> Decision:
    """The answer-or-refuse decision (the cosine one, for every reader), unless the rows only hold the
    trained reader's features."""
    return COSINE if any("margin" in (r.get("scores") or {}) for r in rows) else READER


def fit(
    rows: Sequence[dict[str, Any]],
    group: Callable[[dict[str, Any]], str] | None = None,
    folds: int = 4,
    decision: Decision | None = None,
) -> dict[str, Any]:
    """Policy values fitted on report rows (``questions`` of an ``rag eval`` report). With ``group`` (a row's
    article, say), also ``cross_validated``: the decision fitted on all but one of ``folds`` groups of
    articles and scored on the one left out, summed over the folds (what to expect on unseen articles)."""
    import numpy as np

    decision = decision or decision_of(rows)
    usable = [r for r in rows if r.get("scores") and _has(decision, r)]
    x = np.array([decision.features(r["scores"]) for r in usable], dtype=float).reshape(
        -1, len(decision.weights)
    )
    labels = np.array([1.0 if r["answerable"] else 0.0 for r in usable])
    if len(set(labels.tolist())) < 2:
        raise ValueError("calibration needs answerable and unanswerable questions")
    fitted = _fit(x, labels, decision)
    result: dict[str, Any] = {"questions": len(usable), **fitted}
    if group is not None:
        names = [group(r) for r in usable]
        order = {name: k for k, name in enumerate(sorted(set(names)))}
        fold = np.array([order[name] % folds for name in names])
        answered = np.zeros(len(usable), dtype=bool)
        for k in range(folds):
            held = fold == k
            if held.any() and len(set(labels[~held].tolist())) == 2:
                trained = _fit(x[~held], labels[~held], decision)
                answered[held] = _probability(x[held], trained, decision) >= trained[decision.threshold]
        result["cross_validated"] = _scored(answered, labels, usable, folds)
    return result


def leave_one_out(
    groups: dict[str, Sequence[dict[str, Any]]], decision: Decision | None = None
) -> dict[str, Any]:
    """``decision`` fitted on all ``groups`` of report rows, and for each group (when there are several)
    its figures (answered right, false refusals, unanswerable refused) under the decision fitted without
    it."""
    import numpy as np

    every = [r for rows in groups.values() for r in rows]
    decision = decision or decision_of(every)
    result: dict[str, Any] = fit(every, decision=decision)
    held_out: dict[str, Any] = {}
    for name, rows in groups.items() if len(groups) > 1 else ():
        others = [r for other, rs in groups.items() if other != name for r in rs]
        trained = fit(others, decision=decision)
        usable = [r for r in rows if r.get("scores") and _has(decision, r)]
        x = np.array([decision.features(r["scores"]) for r in usable], dtype=float)
        labels = np.array([1.0 if r["answerable"] else 0.0 for r in usable])
        answered = _probability(x, trained, decision) >= trained[decision.threshold]
        held_out[name] = {"questions": len(usable), **_scored(answered, labels, usable, len(groups) - 1)}
        del held_out[name]["folds"]
    result["left_out"] = held_out
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Fit the decision on report files, one group each (named by their data set), and print JSON."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m rag.evaluation.calibrate", description=main.__doc__)
    parser.add_argument("reports", nargs="+", type=Path, help="report.json / calibration.json files")
    parser.add_argument("--reader", action="store_true", help="fit the trained reader's sentence score")
    args = parser.parse_args(argv)
    groups = {}
    for path in args.reports:
        report = json.loads(path.read_text(encoding="utf-8"))
        groups[Path(report["config"]["dataset"]).stem] = report["questions"]
    print(json.dumps(leave_one_out(groups, READER if args.reader else None), ensure_ascii=False, indent=2))
    return 0


def _has(decision: Decision, row: dict[str, Any]) -> bool:
    try:
        decision.features(row["scores"])
    except KeyError:
        return False
    return True


def _logit(p: float) -> float:
    import math

    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _fit(x: Any, labels: Any, decision: Decision) -> dict[str, float]:
    bias, *weights = _logistic(x, labels)
    fitted = {decision.bias: round(bias, 3), **{n: round(w, 3) for n, w in zip(decision.weights, weights)}}
    fitted[decision.threshold] = _threshold(_probability(x, fitted, decision), labels)
    return fitted


def _probability(x: Any, fitted: dict[str, float], decision: Decision) -> Any:
    import numpy as np

    z = fitted[decision.bias] + x @ np.array([fitted[n] for n in decision.weights])
    return 1 / (1 + np.exp(-z))


def _logistic(x: Any, y: Any, steps: int = 20000, rate: float = 0.5, l2: float = 1e-3) -> tuple[float, ...]:
    """(bias, weights...) of a logistic regression fitted by gradient descent on standardised inputs."""
    import numpy as np

    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    w = np.zeros(x.shape[1])
    b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= rate * (z.T @ (p - y) / len(y) + l2 * w)
        b -= rate * float(np.mean(p - y))
    weights = w / std
    return (float(b - weights @ mean), *map(float, weights))


def _threshold(score: Any, labels: Any) -> float:
    """The cut (answer when score >= cut) with the best balanced accuracy, halfway between two scores."""
    import numpy as np

    values = np.unique(score)
    cuts = [values[0] - 1e-3, *((values[:-1] + values[1:]) / 2), values[-1] + 1e-3]
    positive, negative = labels == 1, labels == 0

    def balanced(cut: float) -> float:
        return (np.mean(score[positive] >= cut) + np.mean(score[negative] < cut)) / 2

    best = max(cuts, key=lambda c: (round(balanced(c), 9), -c))
    return round(float(best), 4)


if __name__ == "__main__":
    raise SystemExit(main())
