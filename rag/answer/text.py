"""Text patterns the answer stage's checks share: source markers, words, numbers, capitalised names, the
script of a letter."""

from __future__ import annotations

import re
import unicodedata

# [1]  [1, 2]  [Source 1]  [sumber 2]  【3】  — what small models write when asked for [n]
_MARKER = re.compile(
    r"[\[【]\s*(?:(?:source|sources|sumber|источник)\s*)?(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*[\]】]",
    re.IGNORECASE,
)


def _strip_markers(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", _MARKER.sub("", text)).strip()


_WORDS = re.compile(r"\w+", re.UNICODE)


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


_NAME = re.compile(r"\b[^\W\d_][\w'’-]*", re.UNICODE)


def _numbers_in(text: str) -> list[int]:
    return [int(n) for m in _MARKER.finditer(text) for n in re.split(r"\s*[,;]\s*", m.group(1))]


# a word of letters (apostrophes and hyphens inside), and the end of a sentence before the next word
_LETTER_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?。！？]\s*$")

# scripts written without spaces between words (the first words of their letters' Unicode names)
UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN")


def letter_script(ch: str) -> str:
    """The script of a letter: the first word of its Unicode name (LATIN, CYRILLIC, CJK); "" if unnamed."""
    return unicodedata.name(ch, "").split(" ", 1)[0]


def copied(words: str, sentence: str) -> str:
    """``words`` as ``sentence`` writes them (the sentence's own characters), when they are a piece of it,
    case and spacing aside; "" when they are not (a model asked to copy an answer changed it)."""
    want = " ".join(words.split()).casefold()
    if not want:
        return ""
    starts: list[int] = []  # the sentence's characters with runs of spaces as one, and where each came from
    flat: list[str] = []
    for i, ch in enumerate(sentence):
        if ch.isspace():
            if not flat or flat[-1] == " ":
                continue
            ch = " "
        flat.append(ch.casefold() if len(ch.casefold()) == 1 else ch)
        starts.append(i)
    at = "".join(flat).find(want)
    if at < 0:
        return ""
    return sentence[starts[at] : starts[at + len(want) - 1] + 1]
