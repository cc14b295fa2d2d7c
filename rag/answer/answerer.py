"""Answer a question from retrieved passages with verified, sentence-exact citations (answer stage).

The pipeline, for one question:

1. **Follow-ups.** With a history, the question is rewritten into a standalone one (by the LLM, with the
   ``condense`` prompt; without an LLM the previous question is prepended for retrieval).
2. **Evidence.** The retrieved chunks are split into sentences; each sentence is scored against the
   question with the embedding model and the best ones are packed into a token budget
   (``RAG_CONTEXT_TOKENS``): prompt processing, not generation, dominates latency on a CPU.
3. **Answer or refuse.** One calibrated decision for every generator (``AnswerPolicy`` in settings):
   the best sentence's relevance and its margin over the next sentences give P(answerable); below
   ``min_answerable`` the answer is a refusal in the question's language.
4. **Generation.** The LLM sees the numbered sentences as data and answers in the question's language.
5. **Verification.** Each answer sentence (claim) must add something to the question (a claim that only
   restates it is dropped) and be supported by a sentence the model was given: word coverage or
   embedding similarity (of the sentence or, for a long one, one of its clauses) at least
   ``min_support``, every number in the claim present in it with the same value, every name in the
   passage around it. A claim citing the wrong sentence is re-pointed to the one that supports it; a
   claim nothing supports is dropped. Markers are renumbered so that the citation list holds exactly the
   cited sentences, in order of first use. When no claim survives, or the answer is not in the
   question's language, the answer quotes the evidence instead, its lead-in in the question's language.

A citation's ``quote`` is always ``article_text[start:end]`` of its ``source``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer import prompts
from rag.answer.checks import (
    acronyms_supported,
    adds_content,
    clause_windows,
    lexical_support,
    names_supported,
    numbers_supported,
)
from rag.answer.claims import _attach, _Claim, split_claims
from rag.answer.language import (
    answer_language,
    language_name,
    macrolanguage,
    question_language,
)
from rag.answer.phrases import Phrases
from rag.answer.text import _WORDS, _strip_markers
from rag.answer.values import Answer, Citation, SearchFn, Sentence, _citation
from rag.embed import Embedder, embed_similar
from rag.errors import QueryError
from rag.generate import Generator, Message
from rag.index.retrieve import Hit
from rag.ingest.chunking import sentence_spans
from rag.settings import Settings

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
MAX_SENTENCE_CHARS = 400
HISTORY_TURNS = 3


class Answerer:
    """Turns a question (plus history) into a verified ``Answer``; ``stream`` also yields text pieces."""

    def __init__(
        self, search: SearchFn, embedder: Embedder, generator: Generator | None, settings: Settings
    ) -> None:
        self.search = search
        self.embedder = embedder
        self.generator = generator
        self.settings = settings
        self._vectors: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.phrases = Phrases(Path(settings.index_dir) / "phrases", self._translate if generator else None)

    # -- public ---------------------------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        answer = None
        for item in self.stream(question, history):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Iterator[str | Answer]:
        """Text pieces as the LLM writes them (raw, before verification), then the final ``Answer``."""
        started = time.perf_counter()
        question = _check_question(question)
        language = question_language(question)
        standalone, prompt_question = self.standalone(question, history)
        hits = self.search(standalone, self.settings.top_k)
        ranked = self.rank_sentences(standalone, hits)
        chosen = self.select(ranked)
        timings = {"retrieval": time.perf_counter() - started}
        context = "\n".join(h.text for h in hits)  # names in a claim may sit around the cited sentence
        base: dict[str, Any] = dict(
            question=question,
            standalone_question=standalone,
            language=language,
            generator=self.generator.name if self.generator else "extractive",
        )
        scores = self.answerability(ranked, language)
        base["scores"] = scores
        if not self.answerable(scores):
            log.info("refused: %s", scores)
            yield self._refusal(base, timings, started)
            return
        if self.generator is None:
            yield self._extractive(chosen, base, timings, started)
            return
        raw: list[str] = []
        messages = self.messages(prompt_question, chosen, language)
        log.debug("asking %s:\n%s", self.generator.name, messages[-1]["content"])
        for piece in self.generator.stream(messages, self.settings.answer_tokens):
            timings.setdefault("first_token", time.perf_counter() - started)
            raw.append(piece)
            yield piece
        timings["generation"] = time.perf_counter() - started - timings["retrieval"]
        reply = "".join(raw)
        answer = self.verify(reply, chosen, base, timings, started, context)
        if answer.refused or answer_language(answer.text, language) != language:
            # the evidence was judged to answer the question, but no claim of the model's survived (or its
            # answer is in another language): quote the evidence, with the lead-in in the question's language
            log.info(
                "the model's answer %r was not usable (dropped %s): quoting the evidence",
                reply,
                answer.dropped,
            )
            answer = replace(self._extractive(chosen, base, timings, started), dropped=answer.dropped)
        yield answer

    # -- stages ---------------------------------------------------------------------------------------

    def standalone(self, question: str, history: Sequence[tuple[str, str]]) -> tuple[str, str]:
        """(question to retrieve with, question to put to the LLM): the question rewritten so that it needs
        no history; when that fails (or there is no LLM), retrieval uses it followed by the previous one."""
        turns = [(q, a) for q, a in history if (q or "").strip()][-HISTORY_TURNS:]
        if not turns:
            return question, question
        fallback = (f"{question} {turns[-1][0].strip()}", f"{question} (after: {turns[-1][0].strip()})")
        if self.generator is None:
            return fallback
        lines = "\n".join(
            f"User: {_clip(q, 300)}\nAssistant: {_clip(_strip_markers(a), 300)}" for q, a in turns
        )
        prompt = prompts.render("condense", history=lines, question=question)
        reply = _until_line_break(
            self.generator.stream([self.system_message(), {"role": "user", "content": prompt}], 60)
        )
        rewritten = _first_line(reply)
        if not _plausible_rewrite(question, rewritten):
            log.info("condensing failed (%r); retrieving with the previous question appended", reply)
            return fallback
        log.info("follow-up %r rewritten as %r", question, rewritten)
        return rewritten, rewritten

    def rank_sentences(self, question: str, hits: Sequence[Hit]) -> list[Sentence]:
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
                        hit.source, hit.start + s, hit.start + e, hit.text[s:e], hit.title, hit.language
                    ),
                )
        if not seen:
            return []
        sentences = list(seen.values())
        scores = self._vectors_for(sentences) @ np.asarray(
            self.embedder.embed_query(question), dtype=np.float32
        )
        ranked = [replace(s, relevance=round(float(r), 4)) for s, r in zip(sentences, scores)]
        return sorted(ranked, key=lambda s: -s.relevance)

    def select(self, sentences: Sequence[Sentence]) -> list[Sentence]:
        """The most relevant sentences that fit the token budget (the best one always)."""
        if not sentences:
            return []
        policy = self.settings.policy
        budget = self.settings.context_tokens
        best = sentences[0].relevance
        floor = max(min(policy.select_floor, best - policy.near_best), best - policy.select_window)
        chosen: list[Sentence] = []
        for s in sentences:
            cost = self._tokens(s.text) + 3
            if chosen and (cost > budget or s.relevance < floor):
                continue
            chosen.append(s)
            budget -= cost
        return chosen

    def answerability(self, ranked: Sequence[Sentence], language: str = "") -> dict[str, float]:
        """The evidence for answering, from the ranked sentences: ``relevance`` of the best one, its
        ``margin`` over the mean of the next ``margin_of`` (0 when there are none), ``same_language`` (1 when
        it is in the question's ``language``: cosines run higher within one language), and ``answerable``,
        the calibrated combination of the three (``AnswerPolicy``)."""
        if not ranked:
            return {"relevance": 0.0, "margin": 0.0, "same_language": 0.0, "answerable": 0.0}
        policy = self.settings.policy
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

    def answerable(self, scores: Mapping[str, float]) -> bool:
        return scores.get("answerable", 0.0) >= self.settings.policy.min_answerable

    def with_search(self, search: SearchFn, top_k: int) -> Answerer:
        """A copy sharing the generator and sentence cache, with another search (filters, k)."""
        clone = Answerer(search, self.embedder, self.generator, self.settings)
        clone.settings = replace(self.settings, top_k=top_k)
        clone._vectors, clone._cache_lock, clone.phrases = self._vectors, self._cache_lock, self.phrases
        return clone

    def _translate(self, plain: str, language: str) -> str:
        """A phrase template translated by the LLM (``Phrases`` checks and keeps it)."""
        assert self.generator is not None
        prompt = prompts.render("translate", language_name=language_name(language), text=plain)
        return _first_line(
            _until_line_break(self.generator.stream([{"role": "user", "content": prompt}], 80))
        )

    @staticmethod
    def system_message() -> Message:
        """The fixed system prompt (no variables, so llama.cpp keeps it cached across questions)."""
        return {"role": "system", "content": prompts.render("system")}

    def messages(self, question: str, chosen: Sequence[Sentence], language: str) -> list[Message]:
        user = prompts.render(
            "answer", sources=_numbered(chosen), question=question, language_name=language_name(language)
        )
        return [self.system_message(), {"role": "user", "content": user}]

    def verify(
        self,
        raw: str,
        chosen: Sequence[Sentence],
        base: dict[str, Any],
        timings: dict[str, float],
        started: float,
        context: str = "",
    ) -> Answer:
        """Keep the claims a given sentence supports, cite that sentence, renumber; else refuse."""
        question = base["standalone_question"]
        claims = split_claims(raw)
        if not claims:
            return self._refusal(base, timings, started)
        support = self._support([c.text for c in claims], chosen, question, context)
        kept: list[tuple[str, list[int]]] = []
        dropped: list[str] = []
        for i, claim in enumerate(claims):
            sources = self._supporting(claim, support[i], len(chosen))
            log.debug(
                "claim %r markers=%s support=%s relevance=%s -> %s",
                claim.text,
                claim.markers,
                np.round(support[i], 3).tolist(),
                [s.relevance for s in chosen],
                sources,
            )
            if sources:
                kept.append((claim.text, sources))
            else:
                dropped.append(claim.text)
        if dropped:
            log.info("dropped unsupported claims: %s", dropped)
        if not kept:
            return self._refusal(base, timings, started, dropped)
        numbering: dict[int, int] = {}
        parts = []
        for text, sources in kept:
            marks = [numbering.setdefault(s, len(numbering) + 1) for s in sources]
            parts.append(_attach(text, marks))
        scores = {s: float(max(support[i][s] for i in range(len(claims)))) for s in numbering}
        citations = tuple(_citation(numbering[s], chosen[s], scores[s]) for s in numbering)
        return self._answer(base, " ".join(parts), citations, False, timings, started, dropped)

    # -- helpers --------------------------------------------------------------------------------------

    def _supporting(self, claim: _Claim, support: np.ndarray, n: int) -> list[int]:
        """Indices (0-based) of the given sentences that support ``claim``: its own citations when they
        do, else the one sentence that supports it best (stricter bar), else none."""
        policy = self.settings.policy
        bar = policy.min_support
        cited = [m - 1 for m in dict.fromkeys(claim.markers) if 1 <= m <= n]
        good = [i for i in cited if support[i] >= bar]
        best = int(np.argmax(support))
        if good:  # a sentence that states the claim far better than the cited ones is cited as well
            return (
                good + [best]
                if support[best] >= max(support[i] for i in good) + policy.clearly_better
                else good
            )
        return [best] if support[best] >= bar + policy.repoint_margin else []

    def _support(
        self, claims: Sequence[str], chosen: Sequence[Sentence], question: str, context: str
    ) -> np.ndarray:
        """claims x sentences support in [0, 1]: the larger of embedding cosine and word coverage; zero when
        the claim adds nothing of the sentence to the question (``adds_content``), has a number the sentence
        lacks, a Latin acronym (ISIS, BBC) that neither the sentence nor the question has, or names a
        person, place or thing that the passage around the sentence does not."""
        claim_vectors = np.asarray(self.embedder.embed_documents(list(claims)), dtype=np.float32)
        cosine = self._cosine(claim_vectors, chosen)
        result = np.zeros((len(claims), len(chosen)), dtype=np.float32)
        claim_language = question_language(" ".join(claims))
        for i, claim in enumerate(claims):
            names_ok: dict[bool, bool] = {}  # same language as the sentence? -> names found in the context
            for j, sentence in enumerate(chosen):
                same = macrolanguage(sentence.language) == claim_language
                if not (
                    adds_content(claim, question, sentence.text, same, claim_language)
                    and numbers_supported(claim, sentence.text)
                    and acronyms_supported(claim, sentence.text, question)
                ):
                    continue
                if same not in names_ok:
                    names_ok[same] = names_supported(
                        claim, context or sentence.text, question, same_language=same
                    )
                if names_ok[same]:
                    result[i, j] = max(
                        float(cosine[i, j]), lexical_support(claim, sentence.text, sentence.language)
                    )
        return result

    def _cosine(self, claim_vectors: np.ndarray, chosen: Sequence[Sentence]) -> np.ndarray:
        """claims x sentences cosine, a long sentence scored by its best clause window too: a claim that
        states one clause of a 250-character sentence is diluted by the rest (0.39 for the whole, 0.62
        for "including an attack on a humanitarian convoy on 19 September")."""
        policy = self.settings.policy
        pieces = [
            (j, piece)
            for j, sentence in enumerate(chosen)
            for piece in clause_windows(sentence, policy.long_sentence, policy.clause_min)
        ]
        vectors = self._vectors_for([*chosen, *(piece for _, piece in pieces)])
        cosine = claim_vectors @ vectors[: len(chosen)].T
        for k, (j, _) in enumerate(pieces):
            cosine[:, j] = np.maximum(cosine[:, j], claim_vectors @ vectors[len(chosen) + k])
        return cosine

    def _vectors_for(self, sentences: Sequence[Sentence], similar: bool = False) -> np.ndarray:
        """Document vectors of sentences (sentence-similarity vectors with ``similar``), cached: the same
        passages come back for related questions."""
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
            while len(self._vectors) > 20_000:
                self._vectors.popitem(last=False)
        return np.stack([known[k] for k in keys])

    def _tokens(self, text: str) -> int:
        if self.generator is None:
            return max(1, len(text) // 3)
        return self.generator.count_tokens(text)

    def _extractive(
        self, chosen: Sequence[Sentence], base: dict[str, Any], timings: dict[str, float], started: float
    ) -> Answer:
        """The best sentence (and any within ``extractive_window`` relevance of it, up to three), quoted and
        cited."""
        window = self.settings.policy.extractive_window
        best = [s for s in chosen[:3] if s.relevance >= chosen[0].relevance - window]
        quotes = " ".join(f"“{_one_line(s.text)}” [{n}]" for n, s in enumerate(best, start=1))
        text = self.phrases.render("extractive", base["language"], quotes=quotes)
        citations = tuple(_citation(n, s, s.relevance) for n, s in enumerate(best, start=1))
        return self._answer(base, text, citations, False, timings, started)

    def _refusal(
        self, base: dict[str, Any], timings: dict[str, float], started: float, dropped: Sequence[str] = ()
    ) -> Answer:
        text = self.phrases.render("refusal", base["language"])
        return self._answer(base, text, (), True, timings, started, dropped)

    @staticmethod
    def _answer(
        base: dict[str, Any],
        text: str,
        citations: tuple[Citation, ...],
        refused: bool,
        timings: dict[str, float],
        started: float,
        dropped: Sequence[str] = (),
    ) -> Answer:
        timings = {**timings, "total": time.perf_counter() - started}
        return Answer(
            text=text,
            citations=citations,
            refused=refused,
            dropped=tuple(dropped),
            timings={k: round(v, 4) for k, v in timings.items()},
            **base,
        )


# -- pure functions (unit-tested without models) --------------------------------------------------------


def _numbered(chosen: Sequence[Sentence]) -> str:
    return "\n".join(f"[{n}] {_one_line(s.text)}" for n, s in enumerate(chosen, start=1))


def _check_question(question: str) -> str:
    question = (question or "").strip()
    if not question:
        raise QueryError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise QueryError(
            f"the question is too long ({len(question)} characters, at most {MAX_QUESTION_CHARS})"
        )
    return question


def _plausible_rewrite(question: str, rewritten: str) -> bool:
    """A rewrite is kept when it is a question in the same language that keeps most of the original's
    words (small models sometimes answer instead, switch language, or echo an earlier question)."""
    if not rewritten.endswith(("?", "？")) or len(rewritten) > 3 * len(question) + 200:
        return False
    if question_language(rewritten) != question_language(question):
        return False
    words = set(_WORDS.findall(question.lower()))
    kept = words & set(_WORDS.findall(rewritten.lower()))
    return not words or len(kept) >= 0.5 * len(words)


def _until_line_break(pieces: Iterator[str]) -> str:
    """The text of ``pieces`` up to the first line break after some text; the rest is never generated
    (small models follow the rewritten question with an answer, which costs seconds on a CPU)."""
    text = ""
    try:
        for piece in pieces:
            text += piece
            if "\n" in text.lstrip():
                break
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    return text


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        line = line.strip().strip('"“”«»').strip()
        for prefix in ("Standalone question:", "Question:"):
            if line.lower().startswith(prefix.lower()):
                line = line[len(prefix) :].strip()
        if line:
            return line
    return ""


def _clip(text: str, limit: int) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _one_line(text: str) -> str:
    return " ".join(text.split())
