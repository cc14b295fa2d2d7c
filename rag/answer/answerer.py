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
   cited sentences, in order of first use. An answer must be in the question's language word by word
   (``rag.answer.mixing``): a mixed one is asked for once more, the language restated (for a language
   with a script of its own, the local model then cannot write other scripts' letters at all). When no
   claim survives, or the answer is still mixed, the answer quotes the evidence, its lead-in in the
   question's language, opened by the short answer its best sentence states when one passes the checks.

A citation's ``quote`` is always ``article_text[start:end]`` of its ``source``.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer import prompts
from rag.answer.checks import adds_content, only_names
from rag.answer.claims import _attach, split_claims
from rag.answer.evidence import SentenceVectors, answerability, rank_sentences, select
from rag.answer.followups import _first_line, _until_line_break, standalone
from rag.answer.glosses import Glosses
from rag.answer.language import language_name, macrolanguage, question_language
from rag.answer.mixing import own_scripts
from rag.answer.phrases import Phrases
from rag.answer.reader import choose_reader, support_scorer
from rag.answer.support import Support
from rag.answer.text import _LETTER_WORD, _strip_markers, copied
from rag.answer.values import Answer, Citation, SearchFn, Sentence, _citation, _nearest
from rag.embed import Embedder
from rag.errors import ModelError, QueryError, RagError
from rag.generate import Generator, Message
from rag.index.retrieve import Hit
from rag.settings import Bars, Settings

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
_PHRASE_EDGES = " \t\"'“”«».。:;,"  # stripped from both ends of a short answer
NEAREST = 3  # sentences shown with a refusal (``Answer.nearest``)


class Answerer(Support):
    """Turns a question (plus history) into a verified ``Answer``; ``stream`` also yields text pieces."""

    def __init__(
        self, search: SearchFn, embedder: Embedder, generator: Generator | None, settings: Settings
    ) -> None:
        self.search = search
        self.embedder = embedder
        self.generator = generator
        self.settings = settings
        self.vectors = SentenceVectors(embedder)
        self.reader = choose_reader(settings.reader, embedder)
        self.scorer = support_scorer(embedder)
        self.templates = settings.prompts_dir  # None: the templates shipped with the package
        translate = self._translate if generator else None
        self.phrases = Phrases(Path(settings.index_dir) / "phrases", translate, self.templates)
        self.glosses = Glosses(Path(settings.index_dir) / "glosses", self._gloss if generator else None)

    # -- public ---------------------------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        answer = None
        for item in self.stream(question, history):
            if isinstance(item, Answer):
                answer = item
        if answer is None:  # stream() always ends with one; this names the bug if it ever does not
            raise RagError("the answer stage ended without an answer")
        return answer

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Iterator[str | Answer]:
        """Text pieces as the LLM writes them (raw, before verification), then the final ``Answer``."""
        started = time.perf_counter()
        question = check_question(question)
        language = question_language(question)
        standalone, prompt_question = self.standalone(question, history)
        hits = self.search(standalone, self.settings.top_k)
        ranked = self.rank_sentences(standalone, hits, language)
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
            yield replace(
                self._refusal(base, timings, started),
                nearest=tuple(_nearest(s) for s in ranked[:NEAREST]),
            )
            return
        if self.generator is None:
            yield self._extractive(chosen, base, timings, started)
            return
        raw: list[str] = []
        messages = self.messages(prompt_question, chosen, language)
        log.debug("asking %s:\n%s", self.generator.name, messages[-1]["content"])
        for piece in self._generate(messages, language, masked=False):
            timings.setdefault("first_token", time.perf_counter() - started)
            raw.append(piece)
            yield piece
        reply = "".join(raw)
        timings["generation"] = time.perf_counter() - started - timings["retrieval"]
        answer = self.verify(reply, chosen, base, timings, started, context)
        usable = answer.refused or self.in_language(answer.text, language, chosen)
        if not usable:
            # the model mixed in the sources' language: asked once more, the language restated (and, for a
            # language with a script of its own, other scripts' letters masked)
            log.info("the answer %r is not all in %s: asking again", answer.text, language)
            retry = [*messages, {"role": "assistant", "content": reply}, self._restate(language)]
            reply = "".join(self._generate(retry, language))
            timings["generation"] = time.perf_counter() - started - timings["retrieval"]
            answer = self.verify(reply, chosen, base, timings, started, context)
            usable = answer.refused or self.in_language(answer.text, language, chosen)
        if answer.refused or not usable:
            # the evidence was judged to answer the question, but no claim of the model's survived (or its
            # answer is in another language): quote the evidence, with the lead-in in the question's language
            log.info(
                "the model's answer %r was not usable (dropped %s): quoting the evidence",
                reply,
                answer.dropped,
            )
            phrase = self.short_answer(prompt_question, chosen[0], language)
            answer = replace(self._extractive(chosen, base, timings, started, phrase), dropped=answer.dropped)
        yield answer

    # -- stages ---------------------------------------------------------------------------------------

    def _generate(
        self, messages: Sequence[Message], language: str, most: int = 0, masked: bool = True
    ) -> Iterator[str]:
        """The model's reply; with ``masked``, for a language with a script of its own, letters of other
        scripts are masked where the generator can (llama.cpp in process): names come out
        transliterated. The first answer is written unmasked (masked from the start, the small model
        transliterated names and acronyms badly: docs/answer-text.md); a mixed one, and a quoted
        fallback's short answer, are written masked."""
        most = most or self.settings.answer_tokens
        scripts = own_scripts(language) if masked else None
        in_scripts = getattr(self.generator, "stream_in_scripts", None)
        if scripts and in_scripts is not None:
            return in_scripts(messages, most, scripts)
        assert self.generator is not None
        return self.generator.stream(messages, most)

    def short_answer(self, question: str, sentence: Sentence, language: str) -> str:
        """The few words of ``sentence`` that answer ``question``, in ``language``; "" when there is no LLM or
        no phrase passes the checks. An answer that quotes the evidence opens with it.

        The LLM copies the words from the sentence (kept only when they are a piece of it and tell more
        than the question); across languages it then translates them, and the translation is shown when
        its meaning is within ``min_phrase_translation`` of the copied words (names through
        transliteration), else the copied words themselves when they are names or numbers. In the
        sentence's language a reply that is not a piece of it is kept when the sentence states it
        (``states``: every content word found in it); across languages only copied words are (a small
        model's own translation of the answer was too often a guess: "Plagiarism" for "plagada de
        problemas")."""
        if self.generator is None:
            return ""
        prompt = prompts.render(
            "short", folder=self.templates, sentence=_one_line(sentence.text), question=question
        )
        message: Message = {"role": "user", "content": prompt}
        reply = _first_line(_until_line_break(self._generate([message], language, 40, masked=False)))
        reply = _strip_markers(reply).strip(_PHRASE_EDGES)
        span = _one_line(copied(reply, sentence.text)).strip(_PHRASE_EDGES)
        phrase = self._carried(span, sentence, question, language) if span else ""
        same = macrolanguage(sentence.language) == language
        if not phrase and same and reply and self.states(reply, sentence, question, language):
            phrase = reply  # reworded, but every content word of it is in the sentence
        if not phrase:
            log.info("short answer %r not kept", reply)
            return ""
        return phrase[:1].upper() + phrase[1:]

    def _carried(self, span: str, sentence: Sentence, question: str, language: str) -> str:
        """``span``, words copied from ``sentence``, as the answer shows them in ``language``: itself in the
        sentence's language; else its translation when the translation carries its meaning, else itself
        when it is names or numbers (kept as written); "" when it tells nothing the question does not."""
        same = macrolanguage(sentence.language) == language
        if not adds_content(span, question, sentence.text, same, sentence.language or language):
            return ""
        if same:
            return span if self.in_language(span, language, [sentence]) else ""
        translation = self.translated_phrase(span, language)
        if translation and not adds_content(translation, question, sentence.text, False, language):
            return ""  # the copied words were the question's own, in the sentence's language
        if translation and self.carries(translation, span, sentence, language):
            return translation
        restates = only_names(span, question)  # "Lavrov" for a question about what Лавров said
        return span if _names_or_numbers(span, sentence.text) and not restates else ""

    def translated_phrase(self, phrase: str, language: str) -> str:
        """``phrase`` translated into ``language`` by the LLM (for a language with a script of its own,
        other scripts masked: names come out transliterated); unchecked."""
        prompt = prompts.render(
            "gloss", folder=self.templates, language_name=language_name(language), text=phrase
        )
        message: Message = {"role": "user", "content": prompt}
        reply = _first_line(_until_line_break(self._generate([message], language, 40)))
        return _strip_markers(reply).strip(_PHRASE_EDGES)

    def _restate(self, language: str) -> Message:
        return {
            "role": "user",
            "content": prompts.render(
                "restate", folder=self.templates, language_name=language_name(language)
            ),
        }

    def standalone(self, question: str, history: Sequence[tuple[str, str]]) -> tuple[str, str]:
        """(question to retrieve with, question to put to the LLM): ``rag.answer.followups``."""
        system = self.system_message(self.templates)
        return standalone(question, history, self.generator, system, self.templates)

    def rank_sentences(
        self, question: str, hits: Sequence[Hit], language: str | None = None
    ) -> list[Sentence]:
        """Sentences of the retrieved passages (each once), the likeliest to state the answer first."""
        language = question_language(question) if language is None else language
        return rank_sentences(question, hits, self.vectors, self.reader, language, self.settings.policy)

    @property
    def bars(self) -> Bars:
        """The selection and decision bars of the active reader (``AnswerPolicy.bars``)."""
        return self.settings.policy.bars(self.reader.name if self.reader.name == "cosine" else "late")

    @property
    def topical(self) -> Bars | None:
        """With a trained reader, the cosine bars that fill its context (``rag.answer.evidence.select``)."""
        return None if self.reader.name == "cosine" else self.settings.policy.bars("cosine")

    def select(self, sentences: Sequence[Sentence]) -> list[Sentence]:
        """The best-scored sentences that fit the token budget (the best one always), then, with a trained
        reader, the topical ones by cosine."""
        return select(sentences, self.bars, self.settings.context_tokens, self._tokens, self.topical)

    def answerability(self, ranked: Sequence[Sentence], language: str = "") -> dict[str, float]:
        """What the answer-or-refuse decision reads (``rag.answer.evidence.answerability``)."""
        kind = "cosine" if self.reader.name == "cosine" else "late"
        return answerability(ranked, self.settings.policy, language, kind)

    def answerable(self, scores: Mapping[str, float]) -> bool:
        return scores.get("answerable", 0.0) >= self.bars.min_answerable

    def with_search(self, search: SearchFn, top_k: int, context_tokens: int | None = None) -> Answerer:
        """A copy sharing the generator and sentence cache, with another search (filters, k) and, when
        given, another evidence budget."""
        clone = copy.copy(self)  # shares every model and cache; nothing is loaded again
        clone.search = search
        budget = context_tokens or self.settings.context_tokens
        clone.settings = replace(self.settings, top_k=top_k, context_tokens=budget)
        return clone

    def _translate(self, plain: str, language: str) -> str:
        """A phrase template translated by the LLM (``Phrases`` checks and keeps it)."""
        if self.generator is None:
            raise ModelError("no LLM to translate a phrase with (RAG_GENERATOR)")
        prompt = prompts.render(
            "translate", folder=self.templates, language_name=language_name(language), text=plain
        )
        return _first_line(
            _until_line_break(self.generator.stream([{"role": "user", "content": prompt}], 80))
        )

    def _gloss(self, quote: str, language: str) -> str:
        """A quote translated by the LLM (``Glosses`` checks and keeps it)."""
        if self.generator is None:
            raise ModelError("no LLM to gloss a quote with (RAG_GENERATOR)")
        prompt = prompts.render(
            "gloss", folder=self.templates, language_name=language_name(language), text=quote
        )
        most = min(4 * self._tokens(quote) + 16, self.settings.answer_tokens * 2)
        return _first_line(
            _until_line_break(self.generator.stream([{"role": "user", "content": prompt}], most))
        )

    @staticmethod
    def system_message(templates: Path | None = None) -> Message:
        """The fixed system prompt (no variables, so llama.cpp keeps it cached across questions)."""
        return {"role": "system", "content": prompts.render("system", folder=templates)}

    def messages(self, question: str, chosen: Sequence[Sentence], language: str) -> list[Message]:
        user = prompts.render(
            "answer",
            folder=self.templates,
            sources=_numbered(chosen),
            question=question,
            language_name=language_name(language),
        )
        return [self.system_message(self.templates), {"role": "user", "content": user}]

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
        by_clause = self.clause_support([c.text for c in claims], chosen)
        kept: list[tuple[str, list[int]]] = []
        dropped: list[str] = []
        for i, claim in enumerate(claims):
            sources = self._every_clause(self._supporting(claim, support[i], len(chosen)), by_clause[i])
            if sources and not self.says_only(
                claim.text, [chosen[s] for s in sources], question, base["language"], context
            ):
                sources = []
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

    def _tokens(self, text: str) -> int:
        if self.generator is None:
            return max(1, len(text) // 3)
        return self.generator.count_tokens(text)

    def _extractive(
        self,
        chosen: Sequence[Sentence],
        base: dict[str, Any],
        timings: dict[str, float],
        started: float,
        phrase: str = "",
    ) -> Answer:
        """The best sentence (and any within ``extractive_window`` relevance of it, up to three), quoted and
        cited; opened by ``phrase``, the answer the best one states (``short_answer``), when there is one."""
        window = self.bars.quote_window
        best = [s for s in chosen[:3] if s.score >= chosen[0].score - window]
        quotes = " ".join(f"“{_one_line(s.text)}” [{n}]" for n, s in enumerate(best, start=1))
        text = self.phrases.render("extractive", base["language"], quotes=quotes)
        if phrase:
            text = f"{_attach(phrase + '.', [1])} {text}"
        citations = tuple(_citation(n, s, s.score) for n, s in enumerate(best, start=1))
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
    """The sources of the prompt, each with its article's publication date when known (so "what happened
    first / latest" can be answered from dates)."""
    return "\n".join(
        f"[{n}] {f'(published {s.published}) ' if s.published else ''}{_one_line(s.text)}"
        for n, s in enumerate(chosen, start=1)
    )


def _names_or_numbers(span: str, sentence: str) -> bool:
    """``span`` (words of ``sentence``) is numbers, or names: every word capitalised and, for one word that
    opens the sentence, capitalised elsewhere in it too (a sentence's first word is capitalised anyway:
    Turkish "Örneğin", for example, is no name)."""
    first = _LETTER_WORD.search(span)
    if first is None:
        return True
    if not only_names(span, span):
        return False
    if not sentence.lstrip().startswith(span) or len(_LETTER_WORD.findall(span)) >= 2:
        return True
    return re.search(rf"(?<=\s){re.escape(first.group(0))}\b", sentence) is not None


def check_question(question: str) -> str:
    question = (question or "").strip()
    if not question:
        raise QueryError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise QueryError(
            f"the question is too long ({len(question)} characters, at most {MAX_QUESTION_CHARS})"
        )
    return question


def _one_line(text: str) -> str:
    return " ".join(text.split())
