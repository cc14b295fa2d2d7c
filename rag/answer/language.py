"""The languages of a question and of an answer (any language py3langid knows), their macrolanguage,
and the names of languages for the prompt."""

from __future__ import annotations

import re

from rag.answer.text import _LETTER_WORD, _MARKER, _NAME, _SENTENCE_END, letter_script

LANGUAGE_NAMES = {
    "ar": "Arabic",
    "bg": "Bulgarian",
    "ca": "Catalan",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "hr": "Croatian",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "ms": "Malay",
    "nl": "Dutch",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sr": "Serbian",
    "sv": "Swedish",
    "th": "Thai",
    "tl": "Tagalog",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
    "zh": "Chinese",
}


# Short questions are ambiguous to langid ("Who did TASS quote?" scores Italian, Latin, then English;
# "Kapan konvoi diserang?" Malay before Indonesian). Among the guesses scoring within a small margin of the
# best, the most widely used language wins, in this order.
_PREFERRED = (
    "en",
    "zh",
    "hi",
    "es",
    "ar",
    "fr",
    "ru",
    "pt",
    "id",
    "de",
    "ja",
    "tr",
    "ko",
    "vi",
    "it",
    "pl",
    "uk",
    "fa",
    "nl",
    "th",
)


_MARGIN = 3.0  # log-probability; it grows with text length, so only short texts are ever re-read


# langid tells standard Malay and Indonesian apart poorly at any length, and returns dialects (Wu Chinese,
# Egyptian Arabic) for short standard texts: those count as their macrolanguage
_SAME = {"ms": "id", "wuu": "zh", "yue": "zh", "arz": "ar", "ary": "ar", "apc": "ar", "acm": "ar"}


def question_language(question: str) -> str:
    """ISO code of the question's language, names set aside (a Finnish question about Bruno Latour is not
    French): ``en`` when there is nothing to tell; close calls on short questions go to the most widely
    used candidate (``_PREFERRED``)."""
    bare = without_names(question)
    return _identify(bare if sum(ch.isalpha() for ch in bare) >= _MIN_LETTERS else question)


_MIN_LETTERS = 8  # fewer letters left once names are set aside: the whole question is read


def without_names(text: str) -> str:
    """``text`` without quotes and names: a capitalised word not at the start of a sentence, an
    all-capitals word (names keep their source's spelling in any language). A word is a run of letters
    of one script ("Groupの日本語名" is "Group" and "の日本語名")."""
    bare = _QUOTED.sub(" ", text)
    kept: list[str] = []
    at = 0
    first = True
    for match in _LETTER_WORD.finditer(bare):
        start = match.start()
        for word in _script_runs(match.group(0)):
            between = bare[at:start]
            first = first or bool(_SENTENCE_END.search(between))
            kept.append(between)
            cased = word.lower() != word or word.upper() != word
            name = cased and ((word[0].isupper() and not first) or (len(word) > 1 and word.isupper()))
            kept.append(" " if name else word)
            at = start = start + len(word)
            first = False
    kept.append(bare[at:])
    return "".join(kept)


def _script_runs(word: str) -> list[str]:
    """``word`` cut where the script of its letters changes."""
    runs: list[str] = []
    last = None
    for ch in word:
        script = letter_script(ch) if ch.isalpha() else last
        if runs and script == last:
            runs[-1] += ch
        else:
            runs.append(ch)
        last = script
    return runs


def _identify(text: str) -> str:
    """py3langid's language for ``text``, close calls going to ``_PREFERRED``; ``en`` without letters."""
    if not any(ch.isalpha() for ch in text):
        return "en"
    import py3langid

    ranked = py3langid.rank(text[:5000])
    best_score = ranked[0][1]
    close = {lang for lang, score in ranked if best_score - score <= _MARGIN}
    best = next((lang for lang in _PREFERRED if lang in close), str(ranked[0][0]))
    return macrolanguage(best)


def macrolanguage(code: str) -> str:
    """A detector's code with dialects and near-identical standards folded (ms -> id, wuu -> zh,
    arz -> ar)."""
    return _SAME.get(code, code)


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
