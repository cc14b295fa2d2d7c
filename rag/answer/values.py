"""The answer stage's values: a ranked ``Sentence`` of the evidence, a ``Citation`` of an exact span,
the ``Answer``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from rag.index.retrieve import Hit


@dataclass(frozen=True)
class Citation:
    """One cited sentence: ``quote == article_text(source)[start:end]``."""

    marker: int
    source: str
    start: int
    end: int
    quote: str
    title: str
    language: str
    score: float = 0.0  # how strongly it supports the claims citing it (0..1)
    published: str | None = None  # the article's publication date (ISO), when known
    outlet: str | None = None
    gloss: str | None = None  # a machine translation of the quote into the answer's language (on request)
    also_in: tuple[str, ...] = ()  # the other articles of its story group (copies, translations)


@dataclass(frozen=True)
class Nearest:
    """A sentence closest to the question, shown with a refusal so a reader can overrule it: not a
    citation (no claim rests on it). ``quote == article_text(source)[start:end]``."""

    source: str
    start: int
    end: int
    quote: str
    title: str
    language: str
    score: (
        float  # the reader's score for it (the probability that it states the answer; cosine reader: cosine)
    )


@dataclass(frozen=True)
class Answer:
    """A verified answer: ``text`` carries markers [1], [2] ... that index ``citations``."""

    text: str
    citations: tuple[Citation, ...]
    refused: bool
    language: str
    question: str = ""
    standalone_question: str = ""
    generator: str = ""
    dropped: tuple[str, ...] = ()  # answer sentences removed because no source supports them
    scores: dict[str, float] = field(default_factory=dict)  # what the answer-or-refuse decision read
    timings: dict[str, float] = field(
        default_factory=dict
    )  # seconds: retrieval, first_token, generation, total
    nearest: tuple[Nearest, ...] = ()  # a refusal's closest sentences (none states the answer), best first

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [asdict(c) | {"also_in": list(c.also_in)} for c in self.citations]
        data["dropped"] = list(self.dropped)
        data["nearest"] = [asdict(n) for n in self.nearest]
        return data


@dataclass(frozen=True)
class Sentence:
    """A candidate evidence sentence: an exact span of a retrieved passage."""

    source: str
    start: int
    end: int
    text: str
    title: str
    language: str
    relevance: float = 0.0  # cosine of its vector to the question's
    published: str | None = None
    outlet: str | None = None
    score: float = 0.0  # how likely it states the answer (trained reader: calibrated; else the cosine)
    reader: float = 0.0  # the trained reader's own probability that it, rather than none, states the answer


SearchFn = Callable[[str, int], list[Hit]]


def _nearest(s: Sentence) -> Nearest:
    return Nearest(s.source, s.start, s.end, s.text, s.title, s.language, round(s.score, 4))


def _citation(marker: int, s: Sentence, score: float) -> Citation:
    return Citation(
        marker, s.source, s.start, s.end, s.text, s.title, s.language, round(score, 4), s.published, s.outlet
    )
