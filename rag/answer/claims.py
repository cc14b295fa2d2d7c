"""A generated reply as claims: its sentences with the source markers they carry (``[1]``, ``[Source 2]``,
``【3】``), and the markers written back after verification."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.text import _MARKER, _WORDS, _numbers_in, _strip_markers
from rag.ingest.chunking import sentence_spans


@dataclass
class _Claim:
    text: str
    markers: list[int]


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
            piece = piece[lead.end() :]
        markers = _numbers_in(piece)
        words = _strip_markers(piece).strip(" \t-–—•*:;,")
        if sum(ch.isalnum() for ch in words) < 2 or only_pointer(words):
            if claims:
                claims[-1].markers.extend(markers)
            continue
        claims.append(_Claim(words, markers))
    return claims


# words of sentences that only point at a source ("This is stated in [2].", "Hal ini disebutkan dalam [1].")
_POINTER_WORDS = frozenset(
    """this that it is was are as stated mentioned said says reported written shown see in the source sources
article articles text according above below hal ini itu disebutkan dinyatakan tertulis dalam pada sumber
artikel menurut seperti это так указано сказано говорится упомянуто написано в во источнике источник статье
статья согласно как""".split()
)


def only_pointer(sentence: str) -> bool:
    """True for an answer sentence that states nothing but where something is stated."""
    words = _WORDS.findall(sentence.lower())
    return bool(words) and all(w in _POINTER_WORDS for w in words)


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
