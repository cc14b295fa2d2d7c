"""Whether the sentences given to the model support what it wrote (the answer stage's verification checks):
a claim's support from each sentence (embedding cosine, a long sentence by its clauses too, or word
coverage; numbers, acronyms and names must be there), each clause's, the words a claim adds to its
sentences, whether a short answer is stated, whether a text is in the question's language.
``Answerer`` inherits these; ``Answerer.verify`` applies them to a reply."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from rag.answer.checks import (
    acronyms_supported,
    adds_content,
    claim_clauses,
    clause_windows,
    lexical_support,
    names_elsewhere,
    names_supported,
    numbers_supported,
    only_names,
    swapped_names,
    unsupported_words,
)
from rag.answer.claims import _Claim
from rag.answer.evidence import SentenceVectors
from rag.answer.language import macrolanguage, question_language
from rag.answer.mixing import language_share
from rag.answer.reader import Encoded, Reader
from rag.answer.values import Sentence
from rag.embed import Embedder
from rag.settings import Settings

log = logging.getLogger(__name__)


class Support:
    """The support checks of the answer stage, over ``settings.policy``, ``embedder`` and ``vectors``."""

    settings: Settings
    embedder: Embedder
    vectors: SentenceVectors
    scorer: Reader | None  # the support scorer, where it can run

    def states(self, phrase: str, sentence: Sentence, question: str, language: str) -> bool:
        """Whether ``sentence`` states ``phrase`` (an answer in ``language``) and the phrase tells more than
        the question: every content word found in it (same language), or its names found in it or its
        meaning close to it (another language); numbers and acronyms always."""
        same = macrolanguage(sentence.language) == language
        if not (
            self.in_language(phrase, language, [sentence])
            and adds_content(phrase, question, sentence.text, same, language)
            and numbers_supported(phrase, _with_date(sentence))
            and acronyms_supported(phrase, sentence.text, question)
        ):
            return False
        if same:
            return not unsupported_words(phrase, [sentence.text], question, language)[0]
        if only_names(phrase, sentence.text):
            return True
        vector = np.asarray(self.embedder.embed_documents([phrase]), dtype=np.float32)
        return float(self._cosine(vector, [sentence])[0, 0]) >= self.settings.policy.min_support

    def carries(self, translation: str, span: str, sentence: Sentence, language: str) -> bool:
        """Whether ``translation`` (in ``language``) says what ``span`` (words of ``sentence``) says: in the
        language, the same numbers and acronyms, and its names found in the span through transliteration
        or its meaning within ``min_phrase_translation`` of the span's."""
        if not (
            self.in_language(translation, language, [sentence])
            and numbers_supported(translation, span)
            and acronyms_supported(translation, span, "")
        ):
            return False
        if only_names(translation, span):
            return True
        vectors = np.asarray(self.embedder.embed_documents([translation, span]), dtype=np.float32)
        return float(vectors[0] @ vectors[1]) >= self.settings.policy.min_phrase_translation

    def in_language(self, text: str, language: str, chosen: Sequence[Sentence] = ()) -> bool:
        """At least ``min_language_share`` of the words of ``text`` (quotes, names, numbers aside) are in
        ``language``, weighed against the sources' languages and English (``rag.answer.mixing``)."""
        share = language_share(text, language, [s.language for s in chosen])
        return share is None or share >= self.settings.policy.min_language_share

    def says_only(
        self, claim: str, cited: Sequence[Sentence], question: str, language: str, context: str = ""
    ) -> bool:
        """A claim in its sentences' language says nothing they and the question do not: each of its
        clauses has at most ``max_unsupported_words`` content words that one cited sentence and the
        question lack (an added "because ...", a denial, another name, halves of two sentences fused),
        and puts none of its names where the sentence it copies has another (``swapped_names``). Across
        languages words cannot be compared; names can: none of the claim's may come from another
        sentence of the passage (``context``) than the cited ones."""
        missing = self.unsupported(claim, cited, question, language)
        if missing is not None and missing > self.settings.policy.max_unsupported_words:
            log.debug("claim %r: %d words not in its sentences", claim, missing)
            return False
        if missing is not None and cited:
            copied = max((s.text for s in cited), key=lambda t: _overlap(claim, t))
            swapped = swapped_names(claim, copied)
            if swapped:
                log.debug("claim %r puts %s where its sentence has other names", claim, swapped)
                return False
        if missing is None and context:
            elsewhere = names_elsewhere(claim, [s.text for s in cited], context, question)
            if elsewhere:
                log.debug("claim %r names %s, which its sentences do not", claim, elsewhere)
                return False
        if missing is None and cited:
            supported = self.scored_support(claim, cited)
            if supported is not None and supported < self.settings.policy.min_claim_support:
                log.debug("claim %r: support scorer %.3f", claim, supported)
                return False
        return True

    def scored_support(self, claim: str, cited: Sequence[Sentence]) -> float | None:
        """The support scorer's probability that one of ``cited`` says what ``claim`` says (the best);
        None without a scorer (``rag.answer.reader.support_scorer``) or with its bar at 0."""
        scorer = self.scorer
        if scorer is None or self.settings.policy.min_claim_support <= 0:
            return None
        vectors, states = self.embedder.document_states([claim])  # type: ignore[attr-defined]
        encoded = Encoded(np.asarray(vectors, dtype=np.float32)[0], np.asarray(states[0]))
        scores = scorer.scores(encoded, self.vectors.encoded(cited), [False] * len(cited))
        return float(1 / (1 + np.exp(-float(np.max(scores)))))

    def unsupported(self, claim: str, cited: Sequence[Sentence], question: str, language: str) -> int | None:
        """The most content words a clause of ``claim`` has that the cited sentence closest to it and the
        question lack; None when a cited sentence is in another language (words cannot be compared)."""
        if not cited or any(macrolanguage(s.language) != language for s in cited):
            return None
        clauses = claim_clauses(claim, self.settings.policy.clause_min) or [claim]
        return max(
            min(len(unsupported_words(clause, [s.text], question, language)[0]) for s in cited)
            for clause in clauses
        )

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

    def _every_clause(self, sources: list[int], support: np.ndarray | None) -> list[int]:
        """``sources`` of a claim, plus the sentence that supports a clause none of them does; none when a
        clause is supported by no given sentence (``support``: clauses x sentences; None: one clause)."""
        if not sources or support is None:
            return sources
        bar = self.settings.policy.min_clause_support
        cited = list(sources)
        for row in support:
            if max(row[s] for s in cited) >= bar:
                continue
            best = int(np.argmax(row))
            if row[best] < bar:
                log.debug("clause support %s below %s: claim dropped", np.round(row, 3).tolist(), bar)
                return []
            cited.append(best)
        return cited

    def clause_support(self, claims: Sequence[str], chosen: Sequence[Sentence]) -> list[np.ndarray | None]:
        """Per claim of two or more clauses (``claim_clauses``): clauses x sentences support (embedding
        cosine, a long sentence by its clauses too, or word coverage); None for a one-clause claim."""
        clauses = [claim_clauses(c, self.settings.policy.clause_min) for c in claims]
        flat = [piece for pieces in clauses for piece in pieces]
        if not flat:
            return [None] * len(claims)
        vectors = np.asarray(self.embedder.embed_documents(flat), dtype=np.float32)
        cosine = self._cosine(vectors, chosen)
        for k, piece in enumerate(flat):
            for j, sentence in enumerate(chosen):
                cosine[k, j] = max(
                    float(cosine[k, j]), lexical_support(piece, sentence.text, sentence.language)
                )
        result: list[np.ndarray | None] = []
        at = 0
        for pieces in clauses:
            result.append(cosine[at : at + len(pieces)] if pieces else None)
            at += len(pieces)
        return result

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
                    and numbers_supported(claim, _with_date(sentence))
                    and acronyms_supported(claim, sentence.text, question)
                ):
                    continue
                if same not in names_ok:
                    names_ok[same] = names_supported(
                        claim, context or sentence.text, question, same_language=same
                    )
                if names_ok[same]:
                    result[i, j] = max(
                        float(cosine[i, j]),
                        lexical_support(claim, sentence.text, sentence.language),
                        1.0 if only_names(claim, sentence.text) else 0.0,  # "Мария Захарова [1]."
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
        vectors = self.vectors([*chosen, *(piece for _, piece in pieces)])
        cosine = claim_vectors @ vectors[: len(chosen)].T
        for k, (j, _) in enumerate(pieces):
            cosine[:, j] = np.maximum(cosine[:, j], claim_vectors @ vectors[len(chosen) + k])
        return cosine


def _with_date(sentence: Sentence) -> str:
    """The sentence's text and its publication date's numbers (a claim may state when it was published)."""
    if not sentence.published:
        return sentence.text
    year, month, day = sentence.published.split("-")
    return f"{sentence.text} {sentence.published} {year} {int(month)} {int(day)}"


def _overlap(claim: str, sentence: str) -> float:
    """How much of ``claim`` is copied from ``sentence``, word by word (difflib's ratio)."""
    from difflib import SequenceMatcher

    return SequenceMatcher(None, claim.lower().split(), sentence.lower().split(), autojunk=False).ratio()
