"""The evidence for an answer (answer stage): the sentences of the retrieved passages ranked against the
question, the ones that fit the prompt's token budget, and the scores the answer-or-refuse decision reads.
``SentenceVectors`` caches sentence vectors: the same passages come back for related questions."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from rag.answer.language import macrolanguage
from rag.answer.values import Sentence
from rag.embed import Embedder, embed_similar
from rag.index.retrieve import Hit
from rag.ingest.chunking import sentence_spans
from rag.settings import AnswerPolicy

MAX_SENTENCE_CHARS = 400
CACHED_VECTORS = 20_000


class SentenceVectors:
    """Document (or, with ``similar``, sentence-similarity) vectors of sentences, cached by span."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._vectors: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def __call__(self, sentences: Sequence[Sentence], similar: bool = False) -> np.ndarray:
        keys = [(similar, s.source, s.start, s.end) if s.source else (similar, "", s.text) for s in sentences]
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


def rank_sentences(question: str, hits: Sequence[Hit], vectors: SentenceVectors) -> list[Sentence]:
    """Sentences of the retrieved passages (each once), most relevant to ``question`` first."""
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
    scores = vectors(sentences) @ np.asarray(vectors.embedder.embed_query(question), dtype=np.float32)
    ranked = [replace(s, relevance=round(float(r), 4)) for s, r in zip(sentences, scores)]
    return sorted(ranked, key=lambda s: -s.relevance)


def select(
    sentences: Sequence[Sentence], policy: AnswerPolicy, budget: int, tokens: Callable[[str], int]
) -> list[Sentence]:
    """The most relevant sentences that fit the token ``budget`` (the best one always)."""
    if not sentences:
        return []
    best = sentences[0].relevance
    floor = max(min(policy.select_floor, best - policy.near_best), best - policy.select_window)
    chosen: list[Sentence] = []
    for s in sentences:
        cost = tokens(s.text) + 3
        if chosen and (cost > budget or s.relevance < floor):
            continue
        chosen.append(s)
        budget -= cost
    return chosen


def answerability(ranked: Sequence[Sentence], policy: AnswerPolicy, language: str = "") -> dict[str, float]:
    """The evidence for answering, from the ranked sentences: ``relevance`` of the best one, its
    ``margin`` over the mean of the next ``margin_of`` (0 when there are none), ``same_language`` (1 when
    it is in the question's ``language``: cosines run higher within one language), and ``answerable``,
    the calibrated combination of the three (``AnswerPolicy``)."""
    if not ranked:
        return {"relevance": 0.0, "margin": 0.0, "same_language": 0.0, "answerable": 0.0}
    best = ranked[0]
    rest = [s.relevance for s in ranked[1 : 1 + policy.margin_of]]
    margin = round(best.relevance - sum(rest) / len(rest), 4) if rest else 0.0
    same = float(macrolanguage(best.language) == language)
    return {
        "relevance": best.relevance,
        "margin": margin,
        "same_language": same,
        "answerable": round(policy.answerable(best.relevance, margin, same), 4),
    }
