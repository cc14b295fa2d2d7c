"""Whether a sentence supports a claim, in any script: shared words, names (transliterated with anyascii),
numbers with their values, acronyms; whether a claim adds anything to the question; the clauses of a long
sentence."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import replace

from rag.answer.language import question_language
from rag.answer.text import _NAME, _NUMBER, UNSPACED_SCRIPTS, _strip_markers
from rag.answer.values import Sentence
from rag.index.retrieve import tokenize


def lexical_support(claim: str, sentence: str, language: str) -> float:
    """Share of the claim's content words (stemmed, 4+ letters or digits; in Han and kana each character,
    in other scripts written without spaces each pair of letters) found in the sentence."""
    words = set(_content_words(claim, language, 4, digits=True, extra=("en",)))
    if not words:
        return 0.0
    found = set(_content_words(sentence, language, 1, digits=True, extra=("en",)))
    return len(words & found) / len(words)


def unsupported_words(
    claim: str, evidence: Sequence[str], question: str, language: str
) -> tuple[list[str], int]:
    """The content words of ``claim`` that neither ``evidence`` (its cited sentences, in the claim's
    language) nor the question has, and how many content words it has. A word is a run of three or more
    letters, stemmed in ``language``; in Han and kana each character, in other scripts written without
    spaces each pair of letters. A word is
    also found when an evidence word starts with all but its last two letters (endings: 케네디는 ~
    케네디, Zakharova's ~ Zakharova). Numbers are checked apart (``numbers_supported``)."""
    words = _content_words(_strip_markers(claim), language)
    if not words:
        return [], 0
    have = set().union(*(_content_words(t, language) for t in [*evidence, question]))
    missing = [w for w in dict.fromkeys(words) if not _word_in(w, have)]
    return missing, len(set(words))


def _content_words(
    text: str, language: str, min_letters: int = 3, digits: bool = False, extra: Sequence[str] = ()
) -> list[str]:
    """Words of ``text`` stemmed in ``language`` (and ``extra`` languages) with at least ``min_letters``
    letters (and numbers, with ``digits``); a run of Han or kana gives its characters, a run of another
    script written without spaces its pairs of letters."""
    words: list[str] = []
    for token in tokenize(text, [language, *extra]):
        letters = "".join(ch for ch in token if ch.isalpha())
        if not letters:
            if digits and token.isdigit():
                words.append(token)
            continue
        if _logographic(letters[0]):  # Han and kana: each character
            words.extend(letters)
        elif _unspaced(letters[0]):  # Thai, Lao, Khmer, Burmese: each pair of letters
            words.extend(letters[k : k + 2] for k in range(max(1, len(letters) - 1)))
        elif len(letters) >= (min(min_letters, 2) if _syllabic(letters[0]) else min_letters):
            words.append(token)  # a letter of a syllabary is a syllable: 톨리 is a word
    return words


def _word_in(word: str, have: set[str]) -> bool:
    if word in have:
        return True
    if _syllabic(word[0]):  # particles and endings follow the word: 톨리 ~ 톨리가, 사렙타입니다 ~ 사렙타는
        return any(_common_prefix(word, h) >= max(2, min(len(word), len(h)) - 2) for h in have)
    if len(word) < 4 or _unspaced(word[0]):
        return False
    stem = word[: max(3, len(word) - 2)]
    return any(h.startswith(stem) or (len(h) >= 4 and word.startswith(h[: max(3, len(h) - 2)])) for h in have)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _syllabic(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("HANGUL", "ETHIOPIC", "YI ", "CHEROKEE", "CANADIAN"))


def _logographic(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA"))


def _unspaced(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(UNSPACED_SCRIPTS)


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
    names = [
        w
        for k, w in enumerate(words)
        if w[0].isupper() and len(w) >= 3 and (k > 0 or w.lower() in question_names)
    ]
    if not same_language:  # only full names (two capitalised words) in another script: Владимир Путин
        pairs = {
            m.group(0)
            for a, b in zip(found, found[1:])
            if a.group(0)[0].isupper() and b.group(0)[0].isupper() and not claim[a.end() : b.start()].strip()
            for m in (a, b)
        }  # "Сирии, — ISIS" is no pair
        names = [w for w in names if not _is_latin(w) and w in pairs]
    if not names:
        return True
    have = name_words(context)
    return all(name_found(w, have) for w in names)


def names_elsewhere(claim: str, cited: Sequence[str], context: str, question: str = "") -> list[str]:
    """The claim's names (as ``names_supported`` finds them, any script) that the passage (``context``)
    has and none of its ``cited`` sentences nor the question do: a name swapped in from another sentence
    of the passage, which a translation of the cited sentence would not carry."""
    question_names = {w.lower() for w in _NAME.findall(question)[1:] if w[0].isupper()}
    words = _NAME.findall(_strip_markers(claim))
    names = [
        w
        for k, w in enumerate(words)
        if w[0].isupper() and len(w) >= 3 and (k > 0 or w.lower() in question_names)
    ]
    if not names:
        return []
    passage, own = name_words(context), name_words(" ".join([*cited, question]))
    return [w for w in names if name_found(w, passage) and not name_found(w, own)]


_OPENS_SENTENCE = re.compile(r"(?:^|[.!?。！？])[\s\"'«»“”‘’()\[\]\d]*$")


def swapped_names(claim: str, sentence: str, max_block: int = 3) -> list[str]:
    """Names a claim that copies ``sentence`` puts where the sentence has other names: aligned word by
    word, a short stretch where the claim has a capitalised word the stretch of the sentence lacks and
    the sentence a name (capitalised, not opening a sentence) the claim's stretch lacks ("North is
    strongest" for "Labor is strongest", "Provinsi" made "Kabupaten"). A pronoun or a sentence's first
    word made a name ("He" -> "Obama") and names added or left out are no swap. Same language only."""
    from difflib import SequenceMatcher

    said = [(m.group(0), m.start()) for m in _NAME.finditer(_strip_markers(claim))]
    have = [(m.group(0), m.start()) for m in _NAME.finditer(sentence)]
    if len(said) < 3 or not have:
        return []
    matcher = SequenceMatcher(
        None, [w.lower() for w, _ in said], [w.lower() for w, _ in have], autojunk=False
    )
    swapped: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "replace" or i2 - i1 > max_block or j2 - j1 > max_block:
            continue
        theirs = [w for w, at in have[j1:j2] if w[0].isupper() and not _OPENS_SENTENCE.search(sentence[:at])]
        ours = [w for w, _ in said[i1:i2] if w[0].isupper()]
        kept = name_words(" ".join(w for w, _ in said[i1:i2]))
        new = [w for w in ours if not name_found(w, name_words(" ".join(w for w, _ in have[j1:j2])))]
        if new and any(not name_found(w, kept) for w in theirs):
            swapped += new
    return swapped


def only_names(claim: str, sentence: str) -> bool:
    """Every word of the claim (three letters or more) is a name found in the sentence, transliterated if
    need be: a short answer such as "Мария Захарова [1]" citing "Maria Zakharova said ..."."""
    words = [w for w in _NAME.findall(_strip_markers(claim)) if len(w) >= 3]
    if not words or not all(w[0].isupper() for w in words):
        return False
    have = name_words(sentence)
    return all(name_found(w, have) for w in words)


_CASE_ENDINGS = (
    "ого",
    "ему",
    "ом",
    "ем",
    "ой",
    "ей",
    "ою",
    "ую",
    "ым",
    "им",
    "а",
    "я",
    "у",
    "ю",
    "е",
    "ы",
    "и",
)


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
    Хасеке ~ Hasakah), closely between two Latin spellings (Zaharova ~ Zakharova, but Putin is not Putih).
    A Cyrillic name is also tried without its case ending (Джоном -> Джон ~ John, Лаврова -> Лавров ~
    Lavrov)."""
    fuzzy = not _is_latin(word)
    if _name_in(_latin(word), words, fuzzy):
        return True
    lower = word.lower()
    stem = next(
        (lower[: -len(e)] for e in _CASE_ENDINGS if lower.endswith(e) and len(lower) - len(e) >= 3), ""
    )
    return bool(stem) and fuzzy and _name_in(_latin(stem), words, fuzzy)


def _name_in(name: str, words: Mapping[str, bool], fuzzy: bool) -> bool:
    from difflib import SequenceMatcher

    if name in words or any(w.startswith(name[:5]) for w in words if len(name) >= 5):
        return True
    return any(
        SequenceMatcher(None, name, w).ratio() >= (0.75 if fuzzy or transliterated else 0.85)
        for w, transliterated in words.items()
        if abs(len(w) - len(name)) <= 3
    )


def _latin(word: str) -> str:
    """Lower-cased and transliterated to Latin letters, any script (anyascii: Джош -> dzhosh, Νορμανδοί ->
    normandoi); 'dzh' and 'zh' read as 'j' so that Cyrillic and English spellings meet (Джош ~ Josh)."""
    from anyascii import anyascii

    text = anyascii(word).lower()
    return text.replace("dzh", "j").replace("'", "").replace("’", "")


def _is_latin(word: str) -> bool:
    return all(ch.isascii() or not ch.isalpha() or "LATIN" in unicodedata.name(ch, "") for ch in word)


_CLAUSE_END = re.compile(r"[,;:](?=\s)|[，；：、،؛]|\s[–—-]\s")  # full-width and Arabic marks need no space


def claim_clauses(claim: str, clause_min: int = 30) -> list[str]:
    """The clauses of a generated claim, cut as ``clause_windows`` cuts a sentence (a clause shorter than
    ``clause_min`` characters joined to its neighbour, a short last one to the one before); one clause or
    none: []. Each must be supported on its own: an appended invented clause ("..., and the US is
    concerned about further violence") barely moves the whole claim's similarity."""
    pieces = [claim[a:b] for a, b in _clause_spans(claim, clause_min)]
    if len(pieces) >= 2 and len(pieces[-1]) < clause_min:
        pieces[-2:] = [f"{pieces[-2]} {pieces[-1]}"]
    pieces = [p for p in pieces if p]
    return pieces if len(pieces) >= 2 else []


def clause_windows(sentence: Sentence, long_sentence: int = 160, clause_min: int = 30) -> list[Sentence]:
    """The clauses of a sentence longer than ``long_sentence`` characters, cut at commas, semicolons,
    colons and dashes, a clause shorter than ``clause_min`` characters joined to the next; each an exact
    slice of the sentence's source text."""
    text = sentence.text
    if len(text) <= long_sentence:
        return []
    spans = _clause_spans(text, clause_min)
    if len(spans) < 2:
        return []
    return [
        replace(sentence, start=sentence.start + a, end=sentence.start + b, text=text[a:b])
        for a, b in spans
        if b > a
    ]


def _clause_spans(text: str, clause_min: int) -> list[tuple[int, int]]:
    """(start, end) of the clauses of ``text``, cut after ``_CLAUSE_END`` marks, a clause shorter than
    ``clause_min`` characters joined to the next, surrounding space left out (a span may be empty)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in [*(m.end() for m in _CLAUSE_END.finditer(text)), len(text)]:
        piece = text[start:cut]
        if len(piece.strip()) >= clause_min or cut == len(text):
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
            start = cut
    return spans


def adds_content(claim: str, question: str, sentence: str, same_language: bool, language: str = "") -> bool:
    """A claim answers only when it carries something the question does not: a word (three letters or
    more, stemmed) or number that is not in the question and, when the claim and the sentence share a
    language, is in the sentence. "The news agency that quoted Zakharova is [1]." restates its question
    (no new word of the sentence), as does "The spokesperson said X" for "Which spokesperson said X?"."""
    language = language or question_language(claim)
    asked = set(_content_words(question, question_language(question), 1, True, (language, "en")))
    new = {t for t in _content_words(_strip_markers(claim), language, 3, True, ("en",)) if t not in asked}
    if not new:
        return False
    if not same_language:
        return True
    have = set(_content_words(sentence, language, 1, True, ("en",)))
    return any(_word_in(w, have) for w in new)  # 사렙타입니다 ~ 사렙타는


_ACRONYM = re.compile(r"\b[A-Z]{3,}\b")


def acronyms_supported(claim: str, sentence: str, question: str = "") -> bool:
    """Every Latin all-capitals word of three or more letters in the claim (ISIS, BBC, TASS) is in the
    supporting sentence or the question: such names are not translated, and a small model readily
    borrows one from a neighbouring sentence. A sentence written in another script (with no Latin word)
    may have it transliterated (USA / यूएसए): there it is not required."""
    if not any(_is_latin(w) for w in _NAME.findall(sentence)):
        return True
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
