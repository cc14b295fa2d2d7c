"""Text patterns the answer stage's checks share: source markers, words, numbers, capitalised names."""

from __future__ import annotations

import re

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
