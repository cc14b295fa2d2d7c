"""How each source reports one question, side by side, and where the sources agree and differ (answer stage).

Each source (a story group: an article and its copies) is answered on its own by the answer stage, with
retrieval restricted to its members, so every sentence shown still cites an exact span; a source whose
evidence does not answer the question is *silent*, not invented. Points compare what two sources say on
the question: each side's cited sentences, then its other sentences of its ``compare_depth`` best
passages within the cosine selection window (``AnswerPolicy.select_window``) of its most relevant one (at most
``compare_sentences``; the prompt's token budget does not limit them, so a source's reply or reason below
the first few sentences is still compared). A pair that says the same thing
(sentence-similarity cosine of at least ``agree``, numbers not in conflict) is a point of agreement; a
pair on the same matter (cosine of at least ``related``) whose numbers conflict is a difference. Each
point quotes and cites both sentences; its lead-in phrase is in the question's language. Thresholds are
``Settings`` fields (RAG_COMPARE_AGREE, RAG_COMPARE_RELATED), chosen on XQuAD-R's parallel sentences
(``rag bench compare``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from rag.answer.answerer import Answerer, check_question
from rag.answer.checks import numbers_supported
from rag.answer.glosses import Glosses
from rag.answer.language import question_language
from rag.answer.text import _NUMBER
from rag.answer.values import Answer, Citation, Sentence, _citation
from rag.index.records import ArticleRecord
from rag.index.retrieve import Hit
from rag.settings import Settings


@dataclass(frozen=True)
class SourceAnswer:
    """One source's side: its own answer, or silence."""

    source: str
    title: str
    language: str
    outlet: str | None
    published: str | None
    story: str
    also_in: tuple[str, ...]  # the other members of its story group (copies, translations)
    answer: str
    citations: tuple[Citation, ...]
    silent: bool


@dataclass(frozen=True)
class Point:
    """Something two sources agree or differ on, quoting and citing both."""

    text: str
    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class Comparison:
    question: str
    language: str
    sources: tuple[SourceAnswer, ...]
    agree: tuple[Point, ...]
    differ: tuple[Point, ...]
    timings: dict[str, float] = field(default_factory=dict)

    def glossed(self, glosses: Glosses) -> Comparison:
        """The comparison with a gloss on each citation in another language than the question's."""
        return self.map_citations(lambda cited: glosses.citations(cited, self.language))

    def map_citations(self, change: Callable[[tuple[Citation, ...]], tuple[Citation, ...]]) -> Comparison:
        """The comparison with ``change`` applied to the citations of every source and point."""
        sources = tuple(replace(v, citations=change(v.citations)) for v in self.sources)
        agree = tuple(replace(p, citations=change(p.citations)) for p in self.agree)
        differ = tuple(replace(p, citations=change(p.citations)) for p in self.differ)
        return replace(self, sources=sources, agree=agree, differ=differ)

    def to_dict(self) -> dict[str, Any]:
        def cited(item: Any) -> dict[str, Any]:
            return asdict(item) | {"citations": [asdict(c) for c in item.citations]}

        return {
            "question": self.question,
            "language": self.language,
            "sources": [cited(s) | {"also_in": list(s.also_in)} for s in self.sources],
            "agree": [cited(p) for p in self.agree],
            "differ": [cited(p) for p in self.differ],
            "timings": self.timings,
        }


@dataclass(frozen=True)
class Side:
    """What the comparison reads of one source: its answer and its best evidence sentences."""

    view: SourceAnswer
    evidence: tuple[Sentence, ...]


Similar = Callable[[Sequence[Sentence]], np.ndarray]  # sentence-similarity vectors (normalised)
Phrase = Callable[[str], str]  # template name -> its text in the question's language


def side(view: SourceAnswer, answer: Answer, ranked: Sequence[Sentence], most: int, window: float) -> Side:
    """The sentences a source is compared on: those its answer cites, then its other ``ranked`` sentences
    within ``window`` of the most relevant one's cosine, the most relevant first, ``most`` in all (a silent
    source: none). Points compare what sources say on the matter, not only the answer, so the topical
    cosine chooses them, whichever reader picked the answer."""
    if view.silent or not ranked:
        return Side(view, ())
    cited = {(c.source, c.start, c.end) for c in answer.citations}
    first = [s for s in ranked if (s.source, s.start, s.end) in cited]
    floor = max(s.relevance for s in ranked) - window
    rest = sorted(
        (s for s in ranked if (s.source, s.start, s.end) not in cited and s.relevance >= floor),
        key=lambda s: -s.relevance,
    )
    return Side(view, tuple((first + rest)[:most]))


def points(
    sides: Sequence[Side], similar: Similar, phrase: Phrase, agree: float, related: float
) -> tuple[tuple[Point, ...], tuple[Point, ...]]:
    """(agreements, differences) between every two speaking sources; each sentence is used once."""
    speaking = [s for s in sides if s.evidence]
    pairs: list[tuple[float, Sentence, Sentence, bool]] = []
    for a, b in itertools.combinations(speaking, 2):
        va, vb = similar(a.evidence), similar(b.evidence)
        cosine = va @ vb.T
        for i, j in zip(*np.nonzero(cosine >= related)):
            x, y = a.evidence[i], b.evidence[j]
            conflict = conflicts(x, y)
            if conflict or cosine[i, j] >= agree:
                pairs.append((float(cosine[i, j]), x, y, conflict))
    used: set[tuple[str, int, int]] = set()
    agreed: list[Point] = []
    differed: list[Point] = []
    for score, x, y, conflict in sorted(pairs, key=lambda p: -p[0]):
        keys = {(x.source, x.start, x.end), (y.source, y.start, y.end)}
        if keys & used:
            continue
        used |= keys
        (differed if conflict else agreed).append(
            _point(phrase("differ" if conflict else "agree"), x, y, score)
        )
    return tuple(agreed), tuple(differed)


def conflicts(x: Sentence, y: Sentence) -> bool:
    """Whether two sentences on one matter disagree: each writes a number the other does not ("22 were
    killed" / "24 were killed"; "1.200" and "1200" are one number, ``rag.answer.checks``)."""
    if not (_NUMBER.search(x.text) and _NUMBER.search(y.text)):
        return False
    return not numbers_supported(x.text, y.text) and not numbers_supported(y.text, x.text)


def _point(lead: str, x: Sentence, y: Sentence, score: float) -> Point:
    text = f"{lead} “{_one_line(x.text)}” [1] — “{_one_line(y.text)}” [2]"
    return Point(text, (_citation(1, x, score), _citation(2, y, score)))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def compare(
    question: str,
    hits: Sequence[Hit],
    records: Mapping[str, ArticleRecord],
    answerer_for: Callable[[tuple[str, ...]], Answerer],
    settings: Settings,
) -> Comparison:
    """Answer ``question`` from each of the first ``compare_sources`` story groups among ``hits`` (best
    first), then find their points; ``answerer_for(sources)`` answers from those sources only."""
    started = time.perf_counter()
    question = check_question(question)
    language = question_language(question)
    sides, answerer = [], None
    for members in _stories(hits, records)[: settings.compare_sources]:
        answerer = answerer_for(members)
        answer = answerer.ask(question)
        ranked = answerer.rank_sentences(question, answerer.search(question, settings.compare_depth))
        view = _view(records[members[0]], members, answer)
        sides.append(side(view, answer, ranked, settings.compare_sentences, settings.policy.select_window))
    if answerer is None:
        return Comparison(question, language, (), (), (), {"total": time.perf_counter() - started})

    def similar(sentences: Sequence[Sentence]) -> np.ndarray:
        vectors = np.asarray(answerer.vectors(sentences, similar=True), dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def phrase(name: str) -> str:
        return answerer.phrases.render(name, language)

    agreed, differed = points(sides, similar, phrase, settings.compare_agree, settings.compare_related)
    views = tuple(s.view for s in sides)
    return Comparison(question, language, views, agreed, differed, {"total": time.perf_counter() - started})


def _stories(hits: Sequence[Hit], records: Mapping[str, ArticleRecord]) -> list[tuple[str, ...]]:
    """The story groups among ``hits``, best hit first; each as its members' sources, the best first."""
    by_story: dict[str, list[str]] = {}
    for record in sorted(records.values(), key=lambda r: r.source):
        by_story.setdefault(record.story or record.article_id, []).append(record.source)
    order: dict[str, list[str]] = {}
    for hit in hits:
        found = records.get(hit.source)
        if found is None:
            continue
        story = found.story or found.article_id
        first = order.setdefault(story, [])
        if hit.source not in first:
            first.append(hit.source)
    return [tuple(dict.fromkeys(seen + by_story.get(story, []))) for story, seen in order.items()]


def _view(record: ArticleRecord, members: tuple[str, ...], answer: Answer) -> SourceAnswer:
    return SourceAnswer(
        record.source,
        record.title,
        record.language,
        record.outlet,
        record.published,
        record.story or record.article_id,
        members[1:],
        answer.text,
        answer.citations,
        answer.refused,
    )
