"""Events: reports of the same event, across outlets and languages (index stage). An event holds stories.

Two articles report one event when their *event similarity* reaches the model's threshold. The similarity
reads only what ingest already computes, the articles' chunk vectors: the document vectors' cosine, the
coverage both ways (``rag.index.stories.coverage`` and its larger direction), the best pair of chunks, the
two leads (first chunks) and each lead against the other's chunks, and whether the two are in one
language (cosines across languages run lower). A small logistic model over these, fitted on people's
ratings of news pairs (SemEval-2022 Task 8: ``rag train events``, docs/events.md), turns them into a
probability-like score. A new article joins the event of its story when it joined one; else the event
whose members score best on average, when that reaches the threshold; else it starts its own. Only the
events of the nearest documents are read, so an arrival never rewrites more than its neighbourhood.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.errors import ConfigError
from rag.index.stories import Document, coverage

if TYPE_CHECKING:
    from rag.index.records import ArticleRecord

MODEL_FILE = Path(__file__).with_name("events.json")
FEATURES = ("document", "coverage", "coverage_max", "best_chunks", "leads", "lead_in_other", "same_language")


@dataclass(frozen=True)
class EventModel:
    """The fitted event similarity: standardised features, weights, bias, and the grouping threshold."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    neighbours: int = 20

    def similarity(self, a: Document, b: Document) -> float:
        """How surely ``a`` and ``b`` report one event (0-1)."""
        return float(self.scores(features(a, b)[None, :])[0])

    def scores(self, rows: np.ndarray) -> np.ndarray:
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1 / (1 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def to_dict(self) -> dict[str, object]:
        return {
            "features": list(FEATURES),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
            "threshold": self.threshold,
        }


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_FILE, threshold: float | None = None) -> EventModel:
    """The shipped event model (or the one at ``path``), with ``threshold`` instead of its own if given."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"features {data['features']} are not {list(FEATURES)}")
        model = EventModel(
            tuple(data["mean"]),
            tuple(data["scale"]),
            tuple(data["weights"]),
            float(data["bias"]),
            float(data["threshold"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"the event model {path} is unreadable ({exc}): `rag train events` remakes it"
        ) from None
    return replace(model, threshold=threshold) if threshold is not None else model


def features(a: Document, b: Document) -> np.ndarray:
    """The event features of a pair (``FEATURES``), from their document and chunk vectors."""
    doc = float(np.dot(a.vector, b.vector))
    if not a.chunks.size or not b.chunks.size:
        return np.array([doc, doc, doc, doc, doc, doc, float(a.language == b.language)], dtype=np.float64)
    cos = a.chunks @ b.chunks.T
    forward, backward = float(cos.max(axis=1).mean()), float(cos.max(axis=0).mean())
    lead_in_other = max(float(cos[0].max()), float(cos[:, 0].max()))
    return np.array(
        [
            doc,
            coverage(a, b),
            max(forward, backward),
            float(cos.max()),
            float(cos[0, 0]),
            lead_in_other,
            float(a.language == b.language),
        ],
        dtype=np.float64,
    )


class EventDocuments(Protocol):
    """The documents already placed in events (the store's documents collection, or a list)."""

    def nearest(self, vectors: np.ndarray, k: int) -> list[list[Document]]: ...

    def event_members(self, events: Collection[str]) -> dict[str, list[Document]]: ...


def assign_events(new: Sequence[Document], documents: EventDocuments, model: EventModel) -> list[Document]:
    """``new`` (their stories already assigned) with their events: the event of a story they joined, else
    the best matching event (of those stored, or of the articles before them in ``new``), else their own."""
    if not new:
        return []
    vectors = np.stack([d.vector for d in new])
    near = documents.nearest(vectors, model.neighbours)
    own = {d.article_id for d in new}
    stored = documents.event_members({d.event for found in near for d in found if d.event})
    groups = {e: [m for m in ms if m.article_id not in own] for e, ms in stored.items()}
    done: list[Document] = []
    for doc, found in zip(new, near):
        others = [d for d in found if d.article_id not in own] + done
        event = _story_event(doc, others) or _best_event(
            doc, {d.event for d in others if d.event}, groups, model
        )
        placed = replace(doc, event=event or doc.article_id)
        groups.setdefault(placed.event, []).append(placed)
        done.append(placed)
    return done


def _story_event(doc: Document, others: Sequence[Document]) -> str:
    """The event of the story ``doc`` joined (a copy or translation reports the same event)."""
    if doc.story and doc.story != doc.article_id:
        return next((d.event for d in others if d.story == doc.story and d.event), "")
    return ""


def _best_event(
    doc: Document, candidates: Collection[str], groups: dict[str, list[Document]], model: EventModel
) -> str:
    best, chosen = model.threshold, ""
    for event in sorted(candidates):
        members = groups.get(event, [])
        if not members:
            continue
        score = float(np.mean(model.scores(np.stack([features(doc, m) for m in members]))))
        if score >= best:
            best, chosen = score, event
    return chosen


@dataclass(frozen=True)
class Event:
    """One event as listed: its reports (sources, best first: the most central), label and spread."""

    event: str
    label: str  # the title of its most central report
    label_from: str
    sources: tuple[str, ...]
    stories: int
    languages: tuple[str, ...]
    outlets: tuple[str, ...]
    first_published: str | None
    last_published: str | None

    def to_dict(self) -> dict[str, object]:
        from dataclasses import asdict

        return asdict(self)


def event_of(record: ArticleRecord) -> str:
    """The event of a stored article (an article stored before events: its story's)."""
    return record.event or record.story or record.article_id


def list_events(
    records: Sequence[ArticleRecord], vectors: dict[str, np.ndarray], language: str | None = None
) -> list[Event]:
    """The events of the index's ``records``, newest first (by last publication, then by ingest time);
    ``vectors``: document vectors by article id, for the most central report. With ``language``, each
    label is the title of the most central report in that language, when the event has one."""
    groups: dict[str, list[ArticleRecord]] = {}
    for r in records:
        groups.setdefault(event_of(r), []).append(r)
    events = [_event(key, members, vectors, language) for key, members in groups.items()]
    latest = {e.event: max(r.ingested_at for r in groups[e.event]) for e in events}
    return sorted(events, key=lambda e: (e.last_published or "", latest[e.event]), reverse=True)


def _event(
    key: str, members: list[ArticleRecord], vectors: dict[str, np.ndarray], language: str | None
) -> Event:
    have = [vectors[m.article_id] for m in members if m.article_id in vectors]
    mean = np.mean(have, axis=0) if have else None

    def centrality(m: ArticleRecord) -> float:
        return (
            float(np.dot(vectors[m.article_id], mean))
            if mean is not None and m.article_id in vectors
            else 0.0
        )

    central = sorted(members, key=centrality, reverse=True)
    dates = sorted(m.published for m in members if m.published)
    labelled = next((m for m in central if language and m.language == language), central[0])
    in_language = bool(language) and labelled.language == language
    return Event(
        key,
        labelled.title,
        "the title of its most central report" + (f" in {language}" if in_language else ""),
        tuple(m.source for m in central),
        len({m.story for m in members}),
        tuple(sorted({m.language for m in members})),
        tuple(sorted({m.outlet for m in members if m.outlet})),
        dates[0] if dates else None,
        dates[-1] if dates else None,
    )
