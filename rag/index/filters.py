"""What a search may return: languages, sources, outlets and a publication-date range (index stage).

One ``Filters`` value serves both retrievers: ``where()`` is the Chroma ``where`` (through llama-index's
metadata filters) of the dense search, ``keeps(chunk)`` the same test in Python for the BM25 index. Dates
are whole days, inclusive; ``since="2016-10"`` means from 1 October, ``until="2016"`` to 31 December. An
article whose date is unknown is left out as soon as a date bound is given (nothing shows it is inside).
Outlets match case-insensitively.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from rag.errors import QueryError
from rag.ingest.chunking import Chunk


class FilterArgs(TypedDict, total=False):
    """The filter keywords of ``Assistant.search`` / ``ask`` / ``compare`` (and the CLI's flags)."""

    language: str | Sequence[str] | None
    source: str | Sequence[str] | None
    outlet: str | Sequence[str] | None
    since: str | dt.date | None
    until: str | dt.date | None
    event: str | Sequence[str] | None  # the reports of these events (``Assistant.events``)


@dataclass(frozen=True)
class Filters:
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()  # case-folded
    since: int | None = None  # YYYYMMDD, inclusive
    until: int | None = None

    @classmethod
    def of(
        cls,
        language: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
        outlet: str | Sequence[str] | None = None,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
    ) -> Filters:
        """Filters from the keywords users pass (a value or a list each; dates as ISO text or ``date``)."""
        low, high = day_number(since, "since"), day_number(until, "until", last=True)
        if low is not None and high is not None and low > high:
            raise QueryError(f"since ({since}) is after until ({until})")
        outlets = tuple(o.casefold().strip() for o in as_list(outlet))
        return cls(as_list(language), as_list(source), outlets, low, high)

    def __bool__(self) -> bool:
        return bool(self.languages or self.sources or self.outlets) or self.dated

    @property
    def dated(self) -> bool:
        return self.since is not None or self.until is not None

    def keeps(self, chunk: Chunk) -> bool:
        if self.languages and chunk.language not in self.languages:
            return False
        if self.sources and chunk.source not in self.sources:
            return False
        if self.outlets and (chunk.outlet or "").casefold() not in self.outlets:
            return False
        if self.dated:
            day = day_number(chunk.published, "published") if chunk.published else None
            if day is None or not (self.since or 0) <= day <= (self.until or 99991231):
                return False
        return True

    def where(self) -> Any:
        """llama-index ``MetadataFilters`` (all must hold), None when nothing is filtered."""
        from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

        op = FilterOperator
        parts: list[MetadataFilter | MetadataFilters] = [
            MetadataFilter(key=key, value=list(values), operator=op.IN)
            for key, values in (
                ("language", self.languages),
                ("source", self.sources),
                ("outlet_key", self.outlets),
            )
            if values
        ]
        if self.since is not None:
            parts.append(MetadataFilter(key="published_day", value=self.since, operator=op.GTE))
        if self.until is not None:
            parts.append(MetadataFilter(key="published_day", value=self.until, operator=op.LTE))
        return MetadataFilters(filters=parts) if parts else None


def as_list(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    return (value,) if isinstance(value, str) else tuple(v for v in value if v)


_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?$")


def day_number(value: str | dt.date | None, name: str, last: bool = False) -> int | None:
    """``YYYYMMDD`` of an ISO date, a ``YYYY-MM`` month or a ``YYYY`` year (its last day with ``last``)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value.year * 10000 + value.month * 100 + value.day
    match = _PARTIAL.match(str(value).strip()[:10])
    try:
        if not match:
            raise ValueError
        year, month, day = int(match[1]), int(match[2] or (12 if last else 1)), match[3]
        dt.date(year, month, 1)
        days = int(day) if day else (calendar.monthrange(year, month)[1] if last else 1)
        dt.date(year, month, days)
    except ValueError:
        raise QueryError(
            f"{name} must be a date such as 2016-10-04, 2016-10 or 2016, not {value!r}"
        ) from None
    return year * 10000 + month * 100 + days
