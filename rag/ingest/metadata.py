"""Publication date and outlet of an article, and where each was found (corpus stage).

In this order, the first that gives a value wins: what the file declares (front matter ``date:`` /
``outlet:``, HTML ``<meta>`` tags such as ``article:published_time`` and ``og:site_name``, a ``<time
datetime>``), then a dateline (a date, or ``CITY (Outlet) -``, in the first lines), then a date in the
last lines of the text (many news pages end with one, as the English seed does: ``... Syria 04.10.2016``).
Dates elsewhere in the body are events, not the publication, and are never used.

Numeric dates are read as ISO ``Y-M-D``, ``D.M.Y`` (dots are day first in every locale that uses them),
``Y/M/D``, and ``D/M/Y`` or ``M/D/Y`` by the article language's own short date pattern (CLDR, through
babel) when the numbers alone do not decide; month names come from CLDR for the article's language (any
language babel knows) plus English; CJK ``2016年10月4日`` too. ``published_from`` says where the value was
found and quotes what was read, so a reader can check it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

HEAD_CHARS = 300  # the dateline: a date in the first characters of the text
TAIL_CHARS = 300  # the sign-off: a date in the last characters of the text
DATE_KEYS = ("published", "date", "pubdate", "publish_date", "published_at", "datepublished", "created")
OUTLET_KEYS = ("outlet", "publisher", "source", "site_name", "site", "publication", "newspaper")
META_DATE = (
    "article:published_time",
    "datepublished",
    "og:published_time",
    "pubdate",
    "publishdate",
    "publish-date",
    "date",
    "dc.date.issued",
    "dc.date",
    "dcterms.created",
    "sailthru.date",
    "parsely-pub-date",
)
META_OUTLET = ("og:site_name", "publisher", "article:publisher", "application-name", "dc.publisher")


@dataclass(frozen=True)
class Published:
    """A publication date (ISO ``YYYY-MM-DD``) or outlet, and where it was found."""

    published: str | None = None
    published_from: str = ""
    outlet: str | None = None
    outlet_from: str = ""


def find_metadata(text: str, language: str, declared: dict[str, str] | None = None) -> Published:
    """Date and outlet of an article: ``declared`` holds what the file declared (lower-case keys:
    ``front matter:date``, ``meta:og:site_name``, ``time``...), ``text`` is its extracted text."""
    declared = declared or {}
    date, date_from = _declared_date(declared, language)
    if date is None:
        date, date_from = _text_date(text, language)
    outlet, outlet_from = _declared_outlet(declared)
    if outlet is None:
        outlet, outlet_from = _dateline_outlet(text)
    return Published(date, date_from, outlet, outlet_from)


def _declared_date(declared: dict[str, str], language: str) -> tuple[str | None, str]:
    keys = [f"front matter:{k}" for k in DATE_KEYS] + [f"meta:{k}" for k in META_DATE] + ["time"]
    for key in keys:
        value = declared.get(key, "").strip()
        found = parse_date(value, language) if value else None
        if found:
            return found, f"{key.replace(':', ' ', 1) if key != 'time' else 'html <time>'}: {value}"
    return None, ""


def _text_date(text: str, language: str) -> tuple[str | None, str]:
    """A date in the dateline (the text before the first dash, colon or line break, when that comes
    within ``HEAD_CHARS``) or one that ends a line near the end (a sign-off, not a sentence of the body)."""
    head = _DATELINE_END.search(text[:HEAD_CHARS])
    for match in _candidates(text[: head.start()] if head else "", language):
        found = _from_match(match, language)
        if found:
            return found, f"dateline: {match.group(0).strip()}"
    offset = max(len(text) - TAIL_CHARS, head.end() if head else 0)
    tail = text[offset:]
    for match in reversed(_candidates(tail, language)):
        ends_line = _LINE_END.match(tail, match.end())
        found = _from_match(match, language) if ends_line else None
        if found:
            return found, f"end of the text: {match.group(0).strip()}"
    return None, ""


_DATELINE_END = re.compile(r"\s[-–—]\s|:\s|\n")
_LINE_END = re.compile(r"[^\S\n]*(?:\d{1,2}:\d{2}(?::\d{2})?)?[^\S\n]*(?:\n|$)")


def _declared_outlet(declared: dict[str, str]) -> tuple[str | None, str]:
    keys = [f"front matter:{k}" for k in OUTLET_KEYS] + [f"meta:{k}" for k in META_OUTLET]
    for key in keys:
        value = " ".join(declared.get(key, "").split()).strip("\"'")
        if value and not value.lower().startswith(("http://", "https://")) and len(value) <= 80:
            return value, f"{key.replace(':', ' ', 1)}: {value}"
    return None, ""


# "MOSCOW (Reuters) - ", "Jakarta (ANTARA) -", "PARIS, 4 oct (AFP) —": a city, then the agency in brackets
_DATELINE = re.compile(r"\A\W*[^\W\d_][^\n()]{0,60}?\((?P<outlet>[^\W\d_][^()\n]{0,40}?)\)\s*[-–—:]")


def _dateline_outlet(text: str) -> tuple[str | None, str]:
    match = _DATELINE.match(text[:HEAD_CHARS])
    if not match:
        return None, ""
    return match.group("outlet").strip(), f"dateline: {match.group(0).strip()}"


# --- dates ---------------------------------------------------------------------------------------


def parse_date(value: str, language: str = "en") -> str | None:
    """The ISO date of a declared value (``2016-10-04T10:00:00Z``, ``04.10.2016``, ``4 October 2016``)."""
    for match in _candidates(value, language):
        found = _from_match(match, language)
        if found:
            return found
    return None


def _candidates(text: str, language: str) -> list[re.Match[str]]:
    found = [m for pattern in _patterns(language) for m in pattern.finditer(text)]
    return sorted(found, key=lambda m: m.start())


@lru_cache(maxsize=64)
def _patterns(language: str) -> tuple[re.Pattern[str], ...]:
    months = "|".join(sorted((re.escape(n) for n in _month_names(language)), key=len, reverse=True))
    joint = r"(?:[^\W\d_]{1,3}\s+)?"  # "4 de octubre de 2016": a short word between the parts
    return (
        re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)"),
        re.compile(r"(?<!\d)(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})(?!\d)"),
        re.compile(r"(?<![\d.])(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})(?!\d)"),
        re.compile(r"(?<![\d/])(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})(?!\d)"),
        re.compile(r"(?P<y>\d{4})\s*[年년]\s*(?P<m>\d{1,2})\s*[月월]\s*(?P<d>\d{1,2})\s*[日일]?"),
        re.compile(
            rf"(?<!\d)(?P<d>\d{{1,2}})\.?\s+{joint}(?P<name>{months})\.?,?\s+{joint}(?P<y>\d{{4}})(?!\d)",
            re.I,
        ),
        re.compile(
            rf"(?P<name>{months})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})(?!\d)", re.I
        ),
    )


def _from_match(match: re.Match[str], language: str) -> str | None:
    parts = match.groupdict()
    year = int(parts["y"])
    if parts.get("name"):
        month = _month_names(language).get(parts["name"].lower())
        day = int(parts["d"])
    elif parts.get("a"):
        a, b = int(parts["a"]), int(parts["b"])
        day, month = (b, a) if (a <= 12 < b) or (a <= 12 and b <= 12 and _month_first(language)) else (a, b)
    else:
        day, month = int(parts["d"]), int(parts["m"])
    if month is None or not 1900 <= year <= 2100:
        return None
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


@lru_cache(maxsize=64)
def _month_names(language: str) -> dict[str, int]:
    """Lower-case month names (wide and abbreviated, format and stand-alone) of ``language`` and English."""
    names: dict[str, int] = {}
    for code in dict.fromkeys(("en", language)):
        locale = _locale(code)
        if locale is None:
            continue
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                for number, name in locale.months.get(context, {}).get(width, {}).items():
                    name = name.lower().rstrip(".")
                    if name and not name.isdigit() and not any(c.isdigit() for c in name):
                        names.setdefault(name, number)
    return names


@lru_cache(maxsize=64)
def _month_first(language: str) -> bool:
    """Whether ``language``'s short numeric date puts the month before the day (``M/d/yy``)."""
    locale = _locale(language)
    pattern = locale.date_formats["short"].pattern if locale is not None else "d/M/y"
    return pattern.lower().find("m") < pattern.lower().find("d")


def _locale(code: str) -> Any:
    """babel's ``Locale`` for ``code`` (imported lazily), None when babel does not know it."""
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(code) if code and code != "und" else None
    except (UnknownLocaleError, ValueError, TypeError):
        return None
