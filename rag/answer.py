"""Answer a question from retrieved passages with verified, sentence-exact citations (answer stage).

The pipeline, for one question:

1. **Follow-ups.** With a history, the question is rewritten into a standalone one (by the LLM, with the
   ``condense`` prompt; without an LLM the previous question is prepended for retrieval).
2. **Evidence.** The retrieved chunks are split into sentences; each sentence is scored against the
   question with the embedding model and the best ones are packed into a token budget
   (``RAG_CONTEXT_TOKENS``): prompt processing, not generation, dominates latency on a CPU.
3. **Refusal gates.** When the best sentence is less relevant than ``RAG_MIN_RELEVANCE``, or the question
   names something the retrieved passages never mention (``missing_names``), the answer is a refusal in
   the question's language, without asking the LLM.
4. **Generation.** The LLM sees the numbered sentences as data and answers in the question's language.
5. **Verification.** Each answer sentence (claim) must be supported by a sentence the model was given:
   lexical overlap or embedding similarity (of the sentence or, for a long one, one of its clauses) at
   least ``RAG_MIN_SUPPORT``, and every number in the claim present in the evidence. A claim citing the wrong sentence is re-pointed to the one that supports it;
   a claim nothing supports is dropped. If no claim survives, the answer is a refusal. Markers are
   renumbered so that the citation list holds exactly the cited sentences, in order of first use.

A citation's ``quote`` is always ``article_text[start:end]`` of its ``source``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from rag import prompts
from rag.chunking import sentence_spans
from rag.embedding import Embedder, embed_similar
from rag.errors import QueryError
from rag.generate import Generator, Message
from rag.retrieve import Hit, tokenize
from rag.settings import Settings

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
MAX_SENTENCE_CHARS = 400
HISTORY_TURNS = 3
LANGUAGE_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fa": "Persian", "fi": "Finnish",
    "fr": "French", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "id": "Indonesian",
    "it": "Italian", "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "ms": "Malay",
    "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish", "th": "Thai", "tl": "Tagalog",
    "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}
# [1]  [1, 2]  [Source 1]  [sumber 2]  【3】  — what small models write when asked for [n]
_MARKER = re.compile(r"[\[【]\s*(?:(?:source|sources|sumber|источник)\s*)?(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*[\]】]",
                     re.IGNORECASE)
_WORDS = re.compile(r"\w+", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_REFUSAL_WORDS = ("NOT_FOUND", "NOT FOUND")
_NAME = re.compile(r"\b[^\W\d_][\w'’-]*", re.UNICODE)
# questions asking for a quantity: their answer must contain a number
_QUANTITY = re.compile(r"\b(how (many|much)|berapa|сколько|combien|cu[aá]nt[oa]s?|quant[oa]s?|wie (viele?|viel)"
                       r"|population|number of|percentage|jumlah|penduduk|численност\w*|количеств\w*|процент\w*)\b",
                       re.IGNORECASE)
# how close (cosine) a question's name must be to a name in the passages to count as mentioned there
NAME_MATCH = 0.75
# ... for a Latin-script name, with sentence-similarity vectors: Latin-script languages spell people's
# names alike and translate other names word by word (White ~ Putih 0.95; Putin ~ Russia is 0.81)
TRANSLATION_MATCH = 0.85
# extractive answers quote the best sentence and those (up to three) within this much relevance of it
EXTRACTIVE_WINDOW = 0.1
# a claim citing a sentence that supports it also cites the one that supports it this much better
CLEARLY_BETTER = 0.25
# when every claim of the model's answer is dropped but the best sentence is at least this relevant,
# the answer quotes the evidence (extractive) instead of refusing: the model misread strong evidence
QUOTE_WHEN_DROPPED = 0.6
# sentences after the best go to the model when at least RAG_MIN_RELEVANCE relevant or, when the best is
# near that gate (cross-lingual scores run low), within NEAR_BEST of the best; never more than SELECT_WINDOW
# below it (on the seeds, evidence ranked after the best sentence is at most 0.23 below it; less relevant
# sentences cost prompt time and lead the model to misattribute)
NEAR_BEST = 0.05
SELECT_WINDOW = 0.25


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
    timings: dict[str, float] = field(default_factory=dict)  # seconds: retrieval, first_token, generation, total

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [asdict(c) for c in self.citations]
        data["dropped"] = list(self.dropped)
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
    relevance: float = 0.0


@dataclass
class _Claim:
    text: str
    markers: list[int]


SearchFn = Callable[[str, int], list[Hit]]


class Answerer:
    """Turns a question (plus history) into a verified ``Answer``; ``stream`` also yields text pieces."""

    def __init__(self, search: SearchFn, embedder: Embedder, generator: Generator | None,
                 settings: Settings) -> None:
        self.search = search
        self.embedder = embedder
        self.generator = generator
        self.settings = settings
        self._vectors: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

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
        sentences = self.rank_sentences(standalone, hits)
        timings = {"retrieval": time.perf_counter() - started}
        chosen = self.select(sentences)
        context = "\n".join(h.text for h in hits)  # names in a claim may sit around the cited sentence
        base = dict(question=question, standalone_question=standalone, language=language,
                    generator=self.generator.name if self.generator else "extractive")
        missing = self.missing_names(standalone, context) if chosen else []
        if missing:
            log.info("refused without the LLM: the passages never mention %s", missing)
        elif not chosen:
            log.info("refused without the LLM: no sentence reaches RAG_MIN_RELEVANCE=%s (best %s)",
                     self.settings.min_relevance, sentences[0].relevance if sentences else None)
        if not chosen or missing:
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
        if not answer.refused and echoes_question(answer.text, prompt_question):
            log.info("the model restated the question (%r): answering with quotes instead", answer.text)
            stating = self._stating(reply, chosen, standalone, context)
            answer = self._extractive(stating or chosen, base, timings, started, window=1.0 if stating else None)
        elif answer.refused and answer.dropped and chosen[0].relevance >= QUOTE_WHEN_DROPPED:
            log.info("every claim was unsupported (%s) but the evidence is strong (%.2f): quoting it",
                     answer.dropped, chosen[0].relevance)
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
        lines = "\n".join(f"User: {_clip(q, 300)}\nAssistant: {_clip(_strip_markers(a), 300)}" for q, a in turns)
        prompt = prompts.render("condense", history=lines, question=question)
        reply = _until_line_break(self.generator.stream([self.system_message(), {"role": "user", "content": prompt}],
                                                        60))
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
                seen.setdefault(key, Sentence(hit.source, hit.start + s, hit.start + e, hit.text[s:e], hit.title,
                                              hit.language))
        if not seen:
            return []
        sentences = list(seen.values())
        scores = self._vectors_for(sentences) @ np.asarray(self.embedder.embed_query(question), dtype=np.float32)
        ranked = [replace(s, relevance=round(float(r), 4)) for s, r in zip(sentences, scores)]
        return sorted(ranked, key=lambda s: -s.relevance)

    def select(self, sentences: Sequence[Sentence]) -> list[Sentence]:
        """The most relevant sentences that fit the token budget; none when the best is below the gate."""
        if not sentences or sentences[0].relevance < self.settings.min_relevance:
            return []
        budget = self.settings.context_tokens
        best = sentences[0].relevance
        floor = max(min(self.settings.min_relevance, best - NEAR_BEST), best - SELECT_WINDOW)
        chosen: list[Sentence] = []
        for s in sentences:
            cost = self._tokens(s.text) + 3
            if chosen and (cost > budget or s.relevance < floor):
                continue
            chosen.append(s)
            budget -= cost
        return chosen

    def missing_names(self, question: str, context: str) -> list[str]:
        """Names in the question that the retrieved passages never mention: no word of the name occurs
        there (transliterated, fuzzy: Джош ~ Josh) and the embedding model puts neither the name nor any
        of its words close to a capitalised word or pair of words there (Турция ~ Turkey ~ Turki; for a
        Latin-script name, a word-by-word translation: White House ~ Gedung Putih, but Putin is not
        Russia). A question about something the articles never name is refused without asking the LLM."""
        names = question_names(question)
        if not names:
            return []
        words = name_words(context)
        unseen = [n for n in names if not any(name_found(w, words) for w in n.split())]
        candidates = capitalised_phrases(context, longest=2)
        if not unseen or not candidates:
            return unseen
        missing: list[str] = []
        for latin in (False, True):  # a Latin-script name may only be translated word by word
            some = [n for n in unseen if _is_latin(n) == latin]
            if not some:
                continue
            forms = [list(dict.fromkeys([n, *n.split()])) for n in some]  # the name and each of its words
            flat = [f for group in forms for f in group]
            vectors = self._word_vectors(flat + candidates, similar=latin)
            closest = (vectors[:len(flat)] @ vectors[len(flat):].T).max(axis=1)
            best = dict(zip(flat, closest.tolist()))
            bar = TRANSLATION_MATCH if latin else NAME_MATCH
            missing += [n for n, group in zip(some, forms) if max(best[f] for f in group) < bar]
        return [n for n in unseen if n in missing]

    def _word_vectors(self, words: Sequence[str], similar: bool = False) -> np.ndarray:
        """Vectors of single words or names: document vectors, or sentence-similarity ones (``similar``)."""
        return self._vectors_for([Sentence("", -1, -1, w, "", "") for w in words], similar)

    def with_search(self, search: SearchFn, top_k: int) -> "Answerer":
        """A copy sharing the generator and sentence cache, with another search (filters, k)."""
        clone = Answerer(search, self.embedder, self.generator, self.settings)
        clone.settings = replace(self.settings, top_k=top_k)
        clone._vectors, clone._cache_lock = self._vectors, self._cache_lock
        return clone

    @staticmethod
    def system_message() -> Message:
        """The fixed system prompt (no variables, so llama.cpp keeps it cached across questions)."""
        return {"role": "system", "content": prompts.render("system")}

    def messages(self, question: str, chosen: Sequence[Sentence], language: str) -> list[Message]:
        sources = "\n".join(f"[{n}] {_one_line(s.text)}" for n, s in enumerate(chosen, start=1))
        user = prompts.render("answer", sources=sources, question=question, language_name=language_name(language))
        return [self.system_message(), {"role": "user", "content": user}]

    def verify(self, raw: str, chosen: Sequence[Sentence], base: dict[str, Any], timings: dict[str, float],
               started: float, context: str = "") -> Answer:
        """Keep the claims a given sentence supports, cite that sentence, renumber; else refuse."""
        if any(word in raw.upper() for word in _REFUSAL_WORDS):
            return self._refusal(base, timings, started)
        claims = split_claims(raw)
        if not claims:
            return self._refusal(base, timings, started)
        support = self._support([c.text for c in claims], chosen, base["standalone_question"], context)
        kept: list[tuple[str, list[int]]] = []
        dropped: list[str] = []
        for i, claim in enumerate(claims):
            sources = self._supporting(claim, support[i], len(chosen))
            log.debug("claim %r markers=%s support=%s relevance=%s -> %s", claim.text, claim.markers,
                      np.round(support[i], 3).tolist(), [s.relevance for s in chosen], sources)
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
        bar = self.settings.min_support
        cited = [m - 1 for m in dict.fromkeys(claim.markers) if 1 <= m <= n]
        good = [i for i in cited if support[i] >= bar]
        best = int(np.argmax(support))
        if good:  # a sentence that states the claim far better than the cited ones is cited as well
            return good + [best] if support[best] >= max(support[i] for i in good) + CLEARLY_BETTER else good
        return [best] if support[best] >= bar + 0.1 else []



    def _support(self, claims: Sequence[str], chosen: Sequence[Sentence], question: str,
                 context: str) -> np.ndarray:
        """claims x sentences support in [0, 1]: the larger of embedding cosine and lexical coverage; zero
        when the claim has a number the sentence lacks, is negated where the sentence is not while the
        question asks about a negation ("never struck" against "reluctantly struck"), has a Latin acronym
        (ISIS, BBC) that neither the sentence nor the question has, names a person, place or thing that
        the passage around the sentence does not (checked when both are in the same language), or
        answers a how-many question without a number."""
        claim_vectors = np.asarray(self.embedder.embed_documents(list(claims)), dtype=np.float32)
        cosine = self._cosine(claim_vectors, chosen)
        result = np.zeros((len(claims), len(chosen)), dtype=np.float32)
        needs_number = bool(_QUANTITY.search(question))
        negated_question = bool(_NEGATION.search(question))  # "which group did they never strike?"
        claim_language = question_language(" ".join(claims))
        for i, claim in enumerate(claims):
            if needs_number and not _NUMBER.search(claim):
                continue  # a quantity question answered without a number: nothing supports it
            names_ok: dict[bool, bool] = {}  # same language as the sentence? -> names found in the context
            for j, sentence in enumerate(chosen):
                if not numbers_supported(claim, sentence.text):
                    continue
                if negated_question and not polarity_agrees(claim, sentence.text):
                    continue
                if not acronyms_supported(claim, sentence.text, question):
                    continue
                same = sentence.language == claim_language
                if same not in names_ok:
                    names_ok[same] = names_supported(claim, context or sentence.text, question, same_language=same)
                if not names_ok[same]:
                    continue
                result[i, j] = max(float(cosine[i, j]), lexical_support(claim, sentence.text, sentence.language))
        return result

    def _cosine(self, claim_vectors: np.ndarray, chosen: Sequence[Sentence]) -> np.ndarray:
        """claims x sentences cosine, a long sentence scored by its best clause window too: a claim that
        states one clause of a 250-character sentence is diluted by the rest (0.39 for the whole, 0.62
        for "including an attack on a humanitarian convoy on 19 September")."""
        pieces = [(j, piece) for j, sentence in enumerate(chosen) for piece in clause_windows(sentence)]
        vectors = self._vectors_for([*chosen, *(piece for _, piece in pieces)])
        cosine = claim_vectors @ vectors[:len(chosen)].T
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

    def _stating(self, raw: str, chosen: Sequence[Sentence], question: str, context: str) -> list[Sentence]:
        """The given sentences (most relevant first) that support a claim of ``raw``: where a restated
        question is stated, the answer to it usually is too ("in which interview ..." -> the sentence
        naming the BBC interview, not only the quote itself)."""
        claims = [c.text for c in split_claims(raw)]
        if not claims:
            return []
        support = self._support(claims, chosen, question, context).max(axis=0)
        return [s for s, value in zip(chosen, support) if value >= self.settings.min_support]

    def _extractive(self, chosen: Sequence[Sentence], base: dict[str, Any], timings: dict[str, float],
                    started: float, window: float | None = None) -> Answer:
        """No LLM: the best sentence (and any within ``window`` relevance of it, up to three), quoted and
        cited."""
        window = EXTRACTIVE_WINDOW if window is None else window
        best = [s for s in chosen[:3] if s.relevance >= chosen[0].relevance - window]
        quotes = " ".join(f"“{_one_line(s.text)}” [{n}]" for n, s in enumerate(best, start=1))
        text = prompts.render("extractive", language=base["language"], quotes=quotes).strip()
        citations = tuple(_citation(n, s, s.relevance) for n, s in enumerate(best, start=1))
        return self._answer(base, text, citations, False, timings, started)

    def _refusal(self, base: dict[str, Any], timings: dict[str, float], started: float,
                 dropped: Sequence[str] = ()) -> Answer:
        text = prompts.render("refusal", language=base["language"]).strip()
        return self._answer(base, text, (), True, timings, started, dropped)

    @staticmethod
    def _answer(base: dict[str, Any], text: str, citations: tuple[Citation, ...], refused: bool,
                timings: dict[str, float], started: float, dropped: Sequence[str] = ()) -> Answer:
        timings = {**timings, "total": time.perf_counter() - started}
        return Answer(text=text, citations=citations, refused=refused, dropped=tuple(dropped),
                      timings={k: round(v, 4) for k, v in timings.items()}, **base)


# -- pure functions (unit-tested without models) --------------------------------------------------------


# Short questions are ambiguous to langid ("Who did TASS quote?" scores Italian, Latin, then English;
# "Kapan konvoi diserang?" Malay before Indonesian). Among the guesses scoring within a small margin of the
# best, the most widely used language wins, in this order.
_PREFERRED = ("en", "zh", "hi", "es", "ar", "fr", "ru", "pt", "id", "de", "ja", "tr", "ko", "vi", "it", "pl",
              "uk", "fa", "nl", "th")
_MARGIN = 3.0  # log-probability; it grows with text length, so only short texts are ever re-read
_SAME = {"ms": "id"}  # langid tells standard Malay and Indonesian apart poorly at any length


def question_language(question: str) -> str:
    """ISO code of the question's language (``en`` when there is nothing to tell); close calls on short
    questions go to the most widely used candidate (``_PREFERRED``)."""
    if not any(ch.isalpha() for ch in question):
        return "en"
    import py3langid

    ranked = py3langid.rank(question[:5000])
    best_score = ranked[0][1]
    close = {lang for lang, score in ranked if best_score - score <= _MARGIN}
    best = next((lang for lang in _PREFERRED if lang in close), str(ranked[0][0]))
    return _SAME.get(best, best)


_QUOTED = re.compile(r"“[^”]*”|«[^»]*»|„[^“”]*[“”]|\"[^\"]*\"|「[^」]*」")


def answer_language(answer: str, expected: str = "") -> str:
    """The language an answer is written in, quotes, citation markers, numbers and names aside (a name
    keeps its source's spelling in any language); ``expected`` when nothing is left to tell."""
    text = _MARKER.sub(" ", _QUOTED.sub(" ", answer))
    words = [w for k, w in enumerate(_NAME.findall(text)) if k == 0 or not w[0].isupper()]
    rest = " ".join(words)
    if sum(ch.isalpha() for ch in rest) < 3:
        return expected
    return question_language(rest)


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def split_claims(raw: str) -> list[_Claim]:
    """Sentences of a generated answer with the markers each carries; a marker standing after a sentence's
    full stop ("... Syria. [1]") belongs to that sentence."""
    claims: list[_Claim] = []
    text = raw.strip()
    for s, e in sentence_spans(text):
        piece = text[s:e]
        lead = re.match(rf"\s*(?:(?:{_MARKER.pattern})\s*)+", piece, re.IGNORECASE)
        if lead and claims and lead.end() < len(piece):  # "... Syria. [1] Next sentence": [1] is Syria's
            claims[-1].markers.extend(_numbers_in(lead.group(0)))
            piece = piece[lead.end():]
        markers = _numbers_in(piece)
        words = _strip_markers(piece).strip(" \t-–—•*:;,")
        if sum(ch.isalnum() for ch in words) < 2 or only_pointer(words):
            if claims:
                claims[-1].markers.extend(markers)
            continue
        claims.append(_Claim(words, markers))
    return claims


# words of sentences that only point at a source ("This is stated in [2].", "Hal ini disebutkan dalam [1].")
_POINTER_WORDS = frozenset("""this that it is was are as stated mentioned said says reported written shown see in
the source sources article articles text according above below hal ini itu disebutkan dinyatakan tertulis dalam
pada sumber artikel menurut seperti это так указано сказано говорится упомянуто написано в во источнике источник
статье статья согласно как""".split())


def only_pointer(sentence: str) -> bool:
    """True for an answer sentence that states nothing but where something is stated."""
    words = _WORDS.findall(sentence.lower())
    return bool(words) and all(w in _POINTER_WORDS for w in words)


def _numbers_in(text: str) -> list[int]:
    return [int(n) for m in _MARKER.finditer(text) for n in re.split(r"\s*[,;]\s*", m.group(1))]


def lexical_support(claim: str, sentence: str, language: str) -> float:
    """Share of the claim's content words (stemmed, 4+ letters or digits) found in the sentence."""
    words = {t for t in tokenize(claim, [language, "en"]) if len(t) >= 4 or t.isdigit()}
    if not words:
        return 0.0
    found = set(tokenize(sentence, [language, "en"]))
    return len(words & found) / len(words)


def names_supported(claim: str, context: str, question: str = "", same_language: bool = True) -> bool:
    """Every name in the claim occurs in ``context`` (the passage around the cited sentence).

    A name is a capitalised word (the claim's first word only when the question capitalises it
    mid-sentence too). Names are compared transliterated to Latin letters, fuzzily (Джош ~ Josh,
    Асада ~ Assad). Across languages only names in another script are checked: a Latin-script name may
    be translated ("White House" / "Gedung Putih"), a transliterated one may not.
    """
    found = list(_NAME.finditer(claim))
    words = [m.group(0) for m in found]
    question_names = {w.lower() for w in _NAME.findall(question)[1:] if w[0].isupper()}
    names = [w for k, w in enumerate(words) if w[0].isupper() and len(w) >= 3
             and (k > 0 or w.lower() in question_names)]
    if not same_language:  # only full names (two capitalised words) in another script: Владимир Путин
        pairs = {m.group(0) for a, b in zip(found, found[1:]) if a.group(0)[0].isupper() and b.group(0)[0].isupper()
                 and not claim[a.end():b.start()].strip() for m in (a, b)}  # "Сирии, — ISIS" is no pair
        names = [w for w in names if not _is_latin(w) and w in pairs]
    if not names:
        return True
    have = name_words(context)
    return all(name_found(w, have) for w in names)


_CASE_ENDINGS = ("ого", "ему", "ом", "ем", "ой", "ей", "ою", "ую", "ым", "им", "а", "я", "у", "ю", "е", "ы", "и")


def name_words(text: str) -> dict[str, bool]:
    """The ``_latin`` forms of the words of ``text``, each mapped to whether it was written in another
    script (transliterated)."""
    words: dict[str, bool] = {}
    for word in _NAME.findall(text):
        key = _latin(word)
        words[key] = words.get(key, False) or not _is_latin(word)
    return words


def name_found(word: str, words: Mapping[str, bool]) -> bool:
    """``word`` (any script) is among ``words`` (``name_words``): the same, or sharing its first five
    letters (Lavrov's, Zakharova), or fuzzily: loosely where one side was transliterated (Джош ~ Josh,
    Хасеке ~ Hasakah), closely between two Latin spellings (Zaharova ~ Zakharova, but Putin is not Putih). A
    Cyrillic name is also tried without its case ending (Джоном -> Джон ~ John, Лаврова -> Лавров ~ Lavrov)."""
    fuzzy = not _is_latin(word)
    if _name_in(_latin(word), words, fuzzy):
        return True
    lower = word.lower()
    stem = next((lower[:-len(e)] for e in _CASE_ENDINGS if lower.endswith(e) and len(lower) - len(e) >= 3), "")
    return bool(stem) and fuzzy and _name_in(_latin(stem), words, fuzzy)


def _name_in(name: str, words: Mapping[str, bool], fuzzy: bool) -> bool:
    from difflib import SequenceMatcher

    if name in words or any(w.startswith(name[:5]) for w in words if len(name) >= 5):
        return True
    return any(SequenceMatcher(None, name, w).ratio() >= (0.75 if fuzzy or transliterated else 0.85)
               for w, transliterated in words.items() if abs(len(w) - len(name)) <= 3)


_CYRILLIC = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r",
                      "s", "t", "u", "f", "h", "ts", "ch", "sh", "sch", "", "y", "", "e", "yu", "ya"]))


def _latin(word: str) -> str:
    """Lower-cased, Cyrillic transliterated, 'dzh'/'zh' read as 'j' (Джош -> josh)."""
    text = "".join(_CYRILLIC.get(ch, ch) for ch in word.lower())
    return text.replace("dzh", "j").replace("'", "").replace("’", "")


def _is_latin(word: str) -> bool:
    return all(ch.isascii() or not ch.isalpha() or "LATIN" in unicodedata.name(ch, "") for ch in word)


def question_names(question: str) -> list[str]:
    """Names in a question: runs of capitalised words after its first word ("White House"); none for
    German, which capitalises every noun."""
    if question_language(question) == "de":
        return []
    return [p for p in capitalised_phrases(question, skip_first=True) if len(p) >= 3]


def capitalised_phrases(text: str, longest: int = 3, skip_first: bool = False) -> list[str]:
    """Distinct runs of capitalised words (up to ``longest`` words; with ``longest=2``, every word and
    every adjacent pair of a run), in order."""
    phrases: dict[str, None] = {}
    for sentence in re.split(r"[.!?。！？\n]+", text):
        words = _NAME.findall(sentence)
        run: list[str] = []
        for k, word in enumerate(words + [""]):
            if word and word[0].isupper() and not (skip_first and k == 0):
                run.append(word)
                continue
            if longest >= 3 and run:
                phrases[" ".join(run[:longest])] = None
            elif run:
                for i in range(len(run)):
                    phrases[run[i]] = None
                    if i + 1 < len(run):
                        phrases[f"{run[i]} {run[i + 1]}"] = None
            run = []
    return list(phrases)


_CLAUSE_END = re.compile(r"[,;:](?=\s)|\s[–—-]\s")
LONG_SENTENCE = 160  # characters: longer sentences are also scored clause by clause
CLAUSE_MIN = 30  # characters: shorter clauses are scored with their neighbour


def clause_windows(sentence: Sentence) -> list[Sentence]:
    """The clauses of a long sentence (over ``LONG_SENTENCE`` characters), cut at commas, semicolons,
    colons and dashes, a clause shorter than ``CLAUSE_MIN`` characters joined to the next; each an exact
    slice of the sentence's source text."""
    text = sentence.text
    if len(text) <= LONG_SENTENCE:
        return []
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in [*(m.end() for m in _CLAUSE_END.finditer(text)), len(text)]:
        piece = text[start:cut]
        if len(piece.strip()) >= CLAUSE_MIN or cut == len(text):
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
            start = cut
    if len(spans) < 2:
        return []
    return [replace(sentence, start=sentence.start + a, end=sentence.start + b, text=text[a:b]) for a, b in spans
            if b > a]


def echoes_question(answer: str, question: str) -> bool:
    """True when an answer adds no content word to the question ("Which spokesperson said X?" ->
    "The spokesperson said X."): the model restated the question instead of answering it."""
    language = question_language(question)
    asked = set(tokenize(question, [language, "en"]))
    said = [t for t in tokenize(_strip_markers(answer), [question_language(answer), language, "en"])
            if len(t) >= 3 or t.isdigit()]
    return bool(said) and all(t in asked for t in said)


# negation words; for a question about a negation, a claim that has one needs a sentence that has one
# (any language: the claim is in the question's language, the sentence may be in another)
_NEGATION = re.compile(r"(?:\b(?:not|no|never|none|nobody|nothing|neither|nor|without|tidak|tak|belum|bukan|"
                       r"tanpa|jangan|не|ни|нет|никогда|никто|ничего|нигде|без|nicht|nie|kein\w*|ne|jamais|"
                       r"nunca|nada|sin|sem|non)\b|n't)", re.IGNORECASE)


def polarity_agrees(claim: str, sentence: str) -> bool:
    """A negated claim ("the Americans never struck X") is supported only by a negated sentence."""
    return not _NEGATION.search(claim) or bool(_NEGATION.search(sentence))


_ACRONYM = re.compile(r"\b[A-Z]{3,}\b")


def acronyms_supported(claim: str, sentence: str, question: str = "") -> bool:
    """Every Latin all-capitals word of three or more letters in the claim (ISIS, BBC, TASS) is in the
    supporting sentence or the question: such names are not translated, and a small model readily
    borrows one from a neighbouring sentence."""
    have = set(_ACRONYM.findall(sentence)) | set(_ACRONYM.findall(question))
    return all(a in have for a in _ACRONYM.findall(claim))


def numbers_supported(claim: str, sentence: str) -> bool:
    """Every number written in the claim also appears, with the same value, in the sentence (guards
    against invented figures). "1,200", "1.200" and "1200" may be the same number; "15" and "1.5" are not."""
    have = set().union(*(number_values(n) for n in _NUMBER.findall(sentence)))
    return all(number_values(n) & have for n in _NUMBER.findall(claim))


def number_values(written: str) -> set[float]:
    """The values a written number can have in any language: "1.200" is 1200 (a thousands separator)
    or 1.2 (a decimal point); "1.5" and "1,5" are 1.5; "1,234,567" is 1234567."""
    parts = re.split(r"[.,]", written)
    values = set()
    if len(parts) > 1 and all(len(p) == 3 for p in parts[1:]):
        values.add(float("".join(parts)))
    if len(parts) == 2:
        values.add(float(f"{parts[0]}.{parts[1]}"))
    if len(parts) > 2 and all(len(p) == 3 for p in parts[1:-1]):  # "1,234.5" / "1.234,5"
        values.add(float(f"{''.join(parts[:-1])}.{parts[-1]}"))
    return values or {float("".join(parts))}


def _citation(marker: int, s: Sentence, score: float) -> Citation:
    return Citation(marker, s.source, s.start, s.end, s.text, s.title, s.language, round(score, 4))


def _attach(text: str, markers: Sequence[int]) -> str:
    """``text`` with its markers placed before the final punctuation: "Claim [1][2]."."""
    marks = "".join(f"[{m}]" for m in markers)
    body = text.rstrip()
    end = len(body)
    while end > 0 and body[end - 1] in ".!?。！？…\"'”’»)":
        end -= 1
    if end == 0:
        return f"{body} {marks}"
    return f"{body[:end]} {marks}{body[end:]}"


def _strip_markers(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", _MARKER.sub("", text)).strip()


def _check_question(question: str) -> str:
    question = (question or "").strip()
    if not question:
        raise QueryError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise QueryError(f"the question is too long ({len(question)} characters, at most {MAX_QUESTION_CHARS})")
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
                line = line[len(prefix):].strip()
        if line:
            return line
    return ""


def _clip(text: str, limit: int) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _one_line(text: str) -> str:
    return " ".join(text.split())
