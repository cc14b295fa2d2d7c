"""Story groups: copies and translations of one story, found at ingest (index stage).

Two articles are copies of one story when each covers the other chunk by chunk: *coverage* is the mean,
over one article's chunks, of the best cosine with a chunk of the other, the smaller of the two ways (a
translation covers all of its original; two outlets' reports of one event share only some passages). Their
numbers ("308", "2016": language-neutral, they survive translation) add ``number_weight`` times (Jaccard
overlap - 0.5) when both write some, so shared figures count for and different figures against. A new
article joins the story whose members score best on average when that reaches ``threshold``, else it
starts a story of its own (its article id). A story takes a second article in one language only when it
is a near-copy of that member (coverage of at least ``duplicate``). Only the stories of the ``neighbours``
nearest documents (by document vector, the normalised mean of the chunk vectors) are read, so adding an
article never recomputes the others. Chosen on XQuAD-R's dev articles (figures and the threshold's curve:
``rag bench stories``, docs/benchmarks.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class StoryPolicy:
    """When an article joins a story (``Settings``: RAG_STORY_THRESHOLD, RAG_STORY_NUMBER_WEIGHT,
    RAG_STORY_DUPLICATE)."""

    threshold: float = 0.50
    number_weight: float = 0.25
    duplicate: float = 0.85
    neighbours: int = 20


@dataclass(frozen=True)
class Document:
    """What grouping reads of one article."""

    article_id: str
    language: str
    vector: np.ndarray = field(repr=False)  # the document vector (normalised mean of ``chunks``)
    numbers: frozenset[str]
    story: str = ""
    chunks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32), repr=False)
    event: str = ""  # the event it reports (``rag.index.events``): an event holds stories


class Documents(Protocol):
    """The documents already grouped (the store's documents collection, or a list in a benchmark)."""

    def nearest(self, vectors: np.ndarray, k: int) -> list[list[Document]]: ...

    def members(self, stories: Collection[str]) -> dict[str, list[Document]]: ...


def signature(text: str) -> frozenset[str]:
    """The numbers of ``text`` of two digits or more, in any script's digits, without separators."""
    found = set()
    for written in _NUMBER.findall(text):
        digits = "".join(str(unicodedata.digit(c)) for c in written if c.isdigit())
        if len(digits) > 1:
            found.add(digits.lstrip("0") or "0")
    return frozenset(found)


def document(article_id: str, language: str, chunk_vectors: np.ndarray, text: str) -> Document:
    """The ``Document`` of an article from its chunk vectors and text (no story yet)."""
    chunks = _normalised(np.asarray(chunk_vectors, dtype=np.float32))
    mean = chunks.mean(axis=0)
    return Document(
        article_id, language, mean / max(float(np.linalg.norm(mean)), 1e-12), signature(text), "", chunks
    )


def _normalised(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def assign(new: Sequence[Document], documents: Documents, policy: StoryPolicy) -> list[Document]:
    """``new`` with their stories: each joins the best matching story (of those stored, or of the
    articles before it in ``new``) or starts its own."""
    if not new:
        return []
    vectors = np.stack([d.vector for d in new])
    near = documents.nearest(vectors, policy.neighbours)
    stored = documents.members({d.story for found in near for d in found})
    own = {d.article_id for d in new}  # a changed article is grouped afresh, not with its old self
    groups = {story: [m for m in ms if m.article_id not in own] for story, ms in stored.items()}
    done: list[Document] = []
    for doc, found in zip(new, near):
        candidates = {d.story for d in found if d.article_id not in own}
        earlier = sorted(done, key=lambda d: -_cosine(doc, d))[: policy.neighbours]
        candidates |= {d.story for d in earlier}
        story = _best_story(doc, {s: groups.get(s, []) for s in candidates}, policy) or doc.article_id
        grouped = replace(doc, story=story)
        groups.setdefault(story, []).append(grouped)
        done.append(grouped)
    return done


def _best_story(doc: Document, groups: dict[str, list[Document]], policy: StoryPolicy) -> str | None:
    best, chosen = policy.threshold, None
    for story, members in sorted(groups.items()):
        if not members or any(
            m.language == doc.language and coverage(doc, m) < policy.duplicate for m in members
        ):
            continue
        score = float(np.mean([pair_score(doc, m, policy.number_weight) for m in members]))
        if score >= best:
            best, chosen = score, story
    return chosen


def pair_score(a: Document, b: Document, number_weight: float) -> float:
    """Coverage, plus ``number_weight`` x (Jaccard overlap of the numbers - 0.5) when both write some."""
    numbers = number_weight * (_jaccard(a, b) - 0.5) if a.numbers and b.numbers else 0.0
    return coverage(a, b) + numbers


def coverage(a: Document, b: Document) -> float:
    """The smaller of: the mean over ``a``'s chunks of the best cosine with a chunk of ``b``, and back."""
    if not a.chunks.size or not b.chunks.size:
        return _cosine(a, b)
    cosine = a.chunks @ b.chunks.T
    return float(min(cosine.max(axis=1).mean(), cosine.max(axis=0).mean()))


def _cosine(a: Document, b: Document) -> float:
    return float(np.dot(a.vector, b.vector))


def _jaccard(a: Document, b: Document) -> float:
    union = a.numbers | b.numbers
    return len(a.numbers & b.numbers) / len(union) if union else 0.0


class InMemoryDocuments:
    """``Documents`` over a list (benchmarks and tests); ``add`` keeps what ``assign`` returned."""

    def __init__(self) -> None:
        self.docs: list[Document] = []
        self._matrix: np.ndarray | None = None

    def add(self, docs: Sequence[Document]) -> None:
        self.docs.extend(docs)
        self._matrix = None

    def nearest(self, vectors: np.ndarray, k: int) -> list[list[Document]]:
        if not self.docs:
            return [[] for _ in vectors]
        if self._matrix is None:
            self._matrix = np.stack([d.vector for d in self.docs])
        scores = vectors @ self._matrix.T
        top = np.argsort(-scores, axis=1)[:, :k]
        return [[self.docs[i] for i in row] for row in top]

    def members(self, stories: Collection[str]) -> dict[str, list[Document]]:
        return self._grouped("story", stories)

    def event_members(self, events: Collection[str]) -> dict[str, list[Document]]:
        return self._grouped("event", events)

    def _grouped(self, key: str, groups: Collection[str]) -> dict[str, list[Document]]:
        found: dict[str, list[Document]] = {}
        for d in self.docs:
            if getattr(d, key) in groups:
                found.setdefault(getattr(d, key), []).append(d)
        return found
