"""The evidence for an answer (answer stage): the sentences of the retrieved passages scored against the
question by the reader (``rag.answer.reader``), the ones that fit the prompt's token budget, and the scores
the answer-or-refuse decision reads. ``SentenceVectors`` caches sentence vectors and token states: the same
passages come back for related questions."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from rag.answer.language import macrolanguage
from rag.answer.reader import Encoded, Reader
from rag.answer.values import Sentence
from rag.embed import Embedder, embed_similar
from rag.index.retrieve import Hit
from rag.ingest.chunking import sentence_spans
from rag.settings import AnswerPolicy, Bars

MAX_SENTENCE_CHARS = 400
CACHED_VECTORS = 20_000
CACHED_STATE_ROWS = 150_000  # token rows of cached sentence states (float16, 768 wide: about 230 MB)


class SentenceVectors:
    """Document (or, with ``similar``, sentence-similarity) vectors of sentences, cached by span."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._vectors: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self._states: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self._state_rows = 0
        self._cache_lock = threading.Lock()

    def __call__(self, sentences: Sequence[Sentence], similar: bool = False) -> np.ndarray:
        keys = [_key(s, similar) for s in sentences]
        with self._cache_lock:
            known = {k: self._vectors[k] for k in keys if k in self._vectors}
        missing = [i for i, k in enumerate(keys) if k not in known]
        if missing:
            texts = [sentences[i].text for i in missing]
            vectors = embed_similar(self.embedder, texts) if similar else self.embedder.embed_documents(texts)
            known.update({keys[i]: v for i, v in zip(missing, np.asarray(vectors, dtype=np.float32))})
        with self._cache_lock:
            for k in keys:
                self._vectors[k] = known[k]
                self._vectors.move_to_end(k)
            while len(self._vectors) > CACHED_VECTORS:
                self._vectors.popitem(last=False)
        return np.stack([known[k] for k in keys])

    def encoded(self, sentences: Sequence[Sentence]) -> list[Encoded]:
        """Document vectors and token states of ``sentences`` (the embedder must give states:
        ``rag.embed.has_states``); both cached, the states up to ``CACHED_STATE_ROWS`` token rows."""
        keys = [_key(s, False) for s in sentences]
        with self._cache_lock:
            known = {k: (self._vectors[k], self._states[k]) for k in keys if k in self._states}
        missing = [i for i, k in enumerate(keys) if k not in known]
        if missing:
            vectors, states = self.embedder.document_states([sentences[i].text for i in missing])  # type: ignore[attr-defined]
            for i, v, st in zip(missing, np.asarray(vectors, dtype=np.float32), states):
                known[keys[i]] = (v, st)
        with self._cache_lock:
            for k in keys:
                vector, states = known[k]
                self._vectors[k] = vector
                self._vectors.move_to_end(k)
                if k not in self._states:
                    self._state_rows += len(states)
                self._states[k] = states
                self._states.move_to_end(k)
            while len(self._vectors) > CACHED_VECTORS:
                self._vectors.popitem(last=False)
            while self._state_rows > CACHED_STATE_ROWS and len(self._states) > len(keys):
                self._state_rows -= len(self._states.popitem(last=False)[1])
        return [Encoded(*known[k]) for k in keys]


def _key(s: Sentence, similar: bool) -> tuple[Any, ...]:
    return (similar, s.source, s.start, s.end) if s.source else (similar, "", s.text)


def rank_sentences(
    question: str,
    hits: Sequence[Hit],
    vectors: SentenceVectors,
    reader: Reader,
    language: str = "",
    policy: AnswerPolicy | None = None,
) -> list[Sentence]:
    """Sentences of the retrieved passages (each once), the likeliest to state the answer first;
    ``relevance`` is each one's cosine to the question. With a trained reader, ``reader`` is its
    probability that the sentence (rather than none) states the answer and ``score`` the calibrated
    probability that the question is answered by it, from both (``policy.reader_answerable``: the
    answer-or-refuse decision is the best sentence's score); with the cosine reader, ``score`` is the
    cosine. ``language``: the question's."""
    seen: dict[tuple[str, int, int], Sentence] = {}
    for hit in hits:
        for s, e in sentence_spans(hit.text, max_chars=MAX_SENTENCE_CHARS):
            if sum(ch.isalnum() for ch in hit.text[s:e]) < 3:
                continue
            key = (hit.source, hit.start + s, hit.start + e)
            seen.setdefault(
                key,
                Sentence(
                    hit.source,
                    hit.start + s,
                    hit.start + e,
                    hit.text[s:e],
                    hit.title,
                    hit.language,
                    published=hit.published,
                    outlet=hit.outlet,
                ),
            )
    if not seen:
        return []
    sentences = list(seen.values())
    embedder: Any = vectors.embedder
    if reader.needs_states:
        q_vector, q_states = embedder.query_states(question)
        asked = Encoded(np.asarray(q_vector, dtype=np.float32), q_states)
        encoded = vectors.encoded(sentences)
    else:
        asked = Encoded(np.asarray(embedder.embed_query(question), dtype=np.float32))
        encoded = [Encoded(v) for v in vectors(sentences)]
    relevance = np.stack([e.vector for e in encoded]) @ asked.vector
    same = [macrolanguage(s.language) == language for s in sentences]
    raw = reader.scores(asked, encoded, same)
    if not reader.needs_states:
        ranked = [
            replace(s, relevance=round(float(r), 4), score=round(float(p), 4))
            for s, r, p in zip(sentences, relevance, raw)
        ]
        return sorted(ranked, key=lambda s: -s.score)
    probabilities = 1 / (1 + np.exp(-np.asarray(raw, dtype=np.float64)))
    policy = policy or AnswerPolicy()
    ranked = [
        replace(
            s,
            relevance=round(float(r), 4),
            score=round(policy.reader_answerable(float(p), float(r)), 4),
            reader=round(float(p), 4),
        )
        for s, r, p in zip(sentences, relevance, probabilities)
    ]
    return sorted(ranked, key=lambda s: -s.score)


def select(
    sentences: Sequence[Sentence],
    bars: Bars,
    budget: int,
    tokens: Callable[[str], int],
    topical: Bars | None = None,
) -> list[Sentence]:
    """The best-scored sentences that fit the token ``budget`` (the best one always): those at least
    ``bars.floor`` or within ``bars.near_best`` of the best, never more than ``bars.window`` below it.
    With ``topical`` (the cosine bars, when a trained reader scored the sentences), the budget left then
    takes the sentences those bars pass on ``relevance``, the most relevant first: the reader picks the
    answer, and the model still reads what surrounds it on the topic (a reason, a reply, a name)."""
    if not sentences:
        return []
    chosen = _within(sentences, bars, budget, tokens, lambda s: s.score)
    if topical is not None:
        taken = {(s.source, s.start, s.end) for s in chosen}
        budget -= sum(tokens(s.text) + 3 for s in chosen)
        rest = sorted(
            (s for s in sentences if (s.source, s.start, s.end) not in taken), key=lambda s: -s.relevance
        )
        floor = _floor(topical, max(s.relevance for s in sentences))
        chosen += _within(rest, topical, budget, tokens, lambda s: s.relevance, floor, True)
    return chosen


def _within(
    sentences: Sequence[Sentence],
    bars: Bars,
    budget: int,
    tokens: Callable[[str], int],
    value: Callable[[Sentence], float],
    floor: float | None = None,
    optional: bool = False,
) -> list[Sentence]:
    """``sentences`` in order that reach the bars' floor (below the first one's value: ``floor`` when
    given) and fit ``budget``; the first one always, unless ``optional``."""
    if not sentences:
        return []
    if floor is None:
        floor = _floor(bars, value(sentences[0]))
    chosen: list[Sentence] = []
    for s in sentences:
        cost = tokens(s.text) + 3
        if (chosen or optional) and (cost > budget or value(s) < floor):
            continue
        chosen.append(s)
        budget -= cost
    return chosen


def _floor(bars: Bars, best: float) -> float:
    """The least value a sentence after the ``best`` needs: ``bars.floor``, or within ``bars.near_best`` of
    the best, and never more than ``bars.window`` below it."""
    return max(min(bars.floor, best - bars.near_best), best - bars.window)


def answerability(
    ranked: Sequence[Sentence], policy: AnswerPolicy, language: str = "", reader: str = "cosine"
) -> dict[str, float]:
    """The evidence for answering, from the ranked sentences, for every reader: ``relevance`` of the
    sentence closest to the question by cosine, its ``margin`` over the mean of the next ``margin_of`` (0
    when there are none), ``same_language`` (1 when it is in the question's ``language``: cosines run
    higher within one language), and ``answerable``, the calibrated combination of the three
    (``AnswerPolicy.answerable``). With a trained reader, also ``reader``, ``reader_relevance`` and
    ``reader_score``: the reader's probability, the cosine and the calibrated score of the sentence it
    ranks first (reported, not decided on)."""
    if not ranked:
        return {"relevance": 0.0, "margin": 0.0, "same_language": 0.0, "answerable": 0.0}
    by_cosine = sorted(ranked, key=lambda s: -s.relevance)
    best = by_cosine[0]
    same = float(macrolanguage(best.language) == language)
    rest = [s.relevance for s in by_cosine[1 : 1 + policy.margin_of]]
    margin = round(best.relevance - sum(rest) / len(rest), 4) if rest else 0.0
    scores = {
        "relevance": best.relevance,
        "margin": margin,
        "same_language": same,
        "answerable": round(policy.answerable(best.relevance, margin, same), 4),
    }
    if reader != "cosine":
        first = ranked[0]  # the reader's first sentence (reported; rag.evaluation.calibrate --reader)
        scores.update(reader=first.reader, reader_relevance=first.relevance, reader_score=first.score)
    return scores
