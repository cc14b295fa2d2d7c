"""How much of a text is written in a given language, word by word (an answer that is half Indonesian
passes a whole-string language check as Russian when one Cyrillic word outweighs the rest).

A word belongs to the language when its letters are of the language's script (CLDR's likely script, from
langcodes) and, where the script is shared with a language the text might be mixing in (the sources'
languages and English), when wordfreq's word lists do not clearly give it to that other language. Quotes,
citation markers, numbers and names carry no language and are set aside: a capitalised word not at the
start of a sentence, an all-capitals word, and a sentence's first word that no word list knows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rag.answer.text import _LETTER_WORD, _MARKER, _SENTENCE_END, UNSPACED_SCRIPTS, letter_script

# ISO 15924 codes (CLDR's likely script of a language) -> the first word of the Unicode names of their
# letters; the composite codes of Japanese, Korean and Chinese name several
_SCRIPT_NAMES = {
    "Latn": ("LATIN",),
    "Cyrl": ("CYRILLIC",),
    "Grek": ("GREEK",),
    "Arab": ("ARABIC",),
    "Hebr": ("HEBREW",),
    "Deva": ("DEVANAGARI",),
    "Beng": ("BENGALI",),
    "Guru": ("GURMUKHI",),
    "Gujr": ("GUJARATI",),
    "Orya": ("ORIYA",),
    "Taml": ("TAMIL",),
    "Telu": ("TELUGU",),
    "Knda": ("KANNADA",),
    "Mlym": ("MALAYALAM",),
    "Sinh": ("SINHALA",),
    "Thai": ("THAI",),
    "Laoo": ("LAO",),
    "Khmr": ("KHMER",),
    "Mymr": ("MYANMAR",),
    "Tibt": ("TIBETAN",),
    "Geor": ("GEORGIAN",),
    "Armn": ("ARMENIAN",),
    "Ethi": ("ETHIOPIC",),
    "Thaa": ("THAANA",),
    "Hang": ("HANGUL",),
    "Hani": ("CJK",),
    "Hans": ("CJK",),
    "Hant": ("CJK",),
    "Jpan": ("CJK", "HIRAGANA", "KATAKANA"),
    "Kore": ("HANGUL", "CJK"),
}
# scripts written without spaces between words: a run of their letters counts as len / 2 words
_UNSPACED = frozenset(UNSPACED_SCRIPTS)
_PAIRS = {"“": "”", "«": "»", "„": "“”", "「": "」", "『": "』", '"': '"'}


@dataclass(frozen=True)
class Mixing:
    """Words of a text (``counted``, names and the like aside) and how many are in the language
    (``inside``); words of unspaced scripts count by length."""

    inside: float
    counted: float
    other_script: float = 0.0  # of the counted words outside the language, those in another script

    @property
    def share(self) -> float | None:
        """The share of counted words in the language; None when no word could tell."""
        return self.inside / self.counted if self.counted else None


def language_share(text: str, language: str, others: Iterable[str] = ()) -> float | None:
    """Share of the words of ``text`` (quotes, markers, numbers and names aside) that are in ``language``;
    ``others``: the languages it may be mixed with (sources' languages; English is always among them).
    None when nothing is left to tell."""
    return mixing(text, language, others).share


def mixing(text: str, language: str, others: Iterable[str] = ()) -> Mixing:
    scripts = language_scripts(language)
    rivals = _rivals(language, [*others, "en"], scripts)
    inside = counted = other_script = 0.0
    bare = _MARKER.sub(" ", unquoted(text))
    previous_end = 0
    for match in _LETTER_WORD.finditer(bare):
        word = match.group(0)
        first = previous_end == 0 or bool(_SENTENCE_END.search(bare[previous_end : match.start()]))
        previous_end = match.end()
        script = word_script(word)
        if script is None or (len(word) == 1 and script not in _UNSPACED):
            continue  # one letter: a variable, an initial, a list item (a, b, c) tells no language
        weight = len(word) / 2 if script in _UNSPACED else 1.0
        verdict = _verdict(word, script, first, language, scripts, rivals)
        if verdict is None:
            continue
        counted += weight
        inside += weight if verdict else 0.0
        other_script += 0.0 if verdict or script in scripts else weight
    return Mixing(inside, counted, other_script)


def unquoted(text: str) -> str:
    """``text`` with its quotations (nested ones included: “He said “no” twice”) replaced by " . "; an
    opening mark never closed is read as text."""
    out: list[str] = []
    closers: list[str] = []
    opened = 0  # where the outermost open quotation began
    for at, ch in enumerate(text):
        if closers and ch in closers[-1]:
            closers.pop()
            if not closers:
                out.append(" . ")
            continue
        if ch in _PAIRS and not (ch == '"' and closers):
            if not closers:
                opened = at
            closers.append(_PAIRS[ch])
            continue
        if not closers:
            out.append(ch)
    if closers:
        return "".join(out) + " " + unquoted(text[opened + 1 :])
    return "".join(out)


def _verdict(
    word: str, script: str, first: bool, language: str, scripts: tuple[str, ...], rivals: tuple[str, ...]
) -> bool | None:
    """True: the word is in ``language``; False: it is not; None: it tells nothing (a name, unknown)."""
    cased = word.lower() != word or word.upper() != word
    if cased and word.isupper() and len(word) > 1:
        return None  # an acronym: kept in its source's spelling in any language
    if cased and word[0].isupper() and not first:
        return _capitalised(word, script, language, scripts, rivals)
    if script not in scripts:
        if first and cased and word[0].isupper():
            return None  # "Maria Zakharova сказала": a sentence may open with a foreign name
        return False
    same_script = _same_script(script, rivals)
    if not same_script or not _has_wordlist(language):
        return True
    own = _zipf(word.lower(), language)
    best_other = max(_zipf(word.lower(), r) for r in same_script)
    if own == 0.0 and best_other == 0.0:
        return None if first or not cased else True
    if first and word[0].isupper() and own == 0.0:
        return None  # an unknown capitalised first word is likelier a name
    return own >= best_other - WORD_MARGIN


def _capitalised(
    word: str, script: str, language: str, scripts: tuple[str, ...], rivals: tuple[str, ...]
) -> bool | None:
    """A capitalised word inside a sentence is a name (None), unless it is a common word of a language the
    text may be mixing in and not of ``language`` ("Kementerian Luar Negeri" in an English answer)."""
    same_script = _same_script(script, rivals)
    if script not in scripts or not same_script or not _has_wordlist(language):
        return None
    best_other = max(_zipf(word.lower(), r) for r in same_script)
    if best_other < COMMON_WORD:
        return None
    return _zipf(word.lower(), language) >= best_other - WORD_MARGIN


# a word at least this frequent in another language's list (zipf) is that language's word, capitalised
# or not; rarer capitalised words are taken for names
COMMON_WORD = 3.5

# a word is given to another language only when that language's word list has it this much more often
# (zipf units: log10 of occurrences per billion words); chosen on XQuAD-R dev articles by
# ``rag bench language`` (1, 2 and 3 tried)
WORD_MARGIN = 2.0


def own_scripts(language: str) -> frozenset[str] | None:
    """The scripts of ``language`` when it has its own (not Latin): what the LLM may write letters in."""
    scripts = language_scripts(language)
    return None if "LATIN" in scripts else frozenset(scripts)


def word_script(word: str) -> str | None:
    """The script of a word's first letter, as the first word of its Unicode name (LATIN, CYRILLIC, CJK)."""
    return next((letter_script(ch) or None for ch in word if ch.isalpha()), None)


@lru_cache(maxsize=256)
def language_scripts(language: str) -> tuple[str, ...]:
    """The scripts ``language`` is written in (CLDR's likely script); Latin when it is unknown."""
    import langcodes

    try:
        code = langcodes.Language.get(language).maximize().script or "Latn"
    except (ValueError, LookupError):
        code = "Latn"
    return _SCRIPT_NAMES.get(code, ("LATIN",))


def _rivals(language: str, others: Iterable[str], scripts: tuple[str, ...]) -> tuple[str, ...]:
    """The other languages to weigh a word against: those sharing a script with ``language`` that have a
    word list."""
    return tuple(
        dict.fromkeys(
            o
            for o in others
            if o and o != language and _has_wordlist(o) and set(language_scripts(o)) & set(scripts)
        )
    )


def _same_script(script: str, rivals: tuple[str, ...]) -> tuple[str, ...]:
    """The rival languages written in ``script``: those a word of it could belong to instead."""
    return tuple(r for r in rivals if script in language_scripts(r))


@lru_cache(maxsize=1)
def _wordlists() -> frozenset[str]:
    import wordfreq

    return frozenset(wordfreq.available_languages(wordlist="best"))


def _has_wordlist(language: str) -> bool:
    return language in _wordlists() and not set(language_scripts(language)) & _UNSPACED


@lru_cache(maxsize=65536)
def _zipf(word: str, language: str) -> float:
    import wordfreq

    return float(wordfreq.zipf_frequency(word, language, wordlist="best"))
