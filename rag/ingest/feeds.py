"""RSS and Atom feeds (corpus stage): the entries of a feed, each a link to fetch with its title, date
and source name. The only module that imports feedparser."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from rag.errors import CorpusError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a feed: the article's link, and what the feed says about it."""

    link: str
    title: str = ""
    published: str | None = None  # ISO date the feed gives the entry
    source: str | None = None  # the outlet: the entry's own source, else the feed's title


def parse_feed(data: bytes | str, url: str = "") -> list[FeedEntry]:
    """The entries of an RSS or Atom document that link to a web page, in feed order; ``CorpusError``
    when ``data`` is not a feed."""
    import feedparser

    parsed = feedparser.parse(data, response_headers={"content-location": url} if url else None)
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        reason = getattr(parsed.get("bozo_exception"), "args", [""])
        raise CorpusError(f"not an RSS or Atom feed{': ' + str(reason[0]) if reason and reason[0] else ''}")
    name = _clean(parsed.feed.get("title"))
    entries = []
    for entry in parsed.entries:
        link = str(entry.get("link") or "")
        if not link.startswith(("http://", "https://")):
            log.info("feed entry without a web link left out: %r", entry.get("title"))
            continue
        source = _clean((entry.get("source") or {}).get("title")) or name
        entries.append(FeedEntry(link, _clean(entry.get("title")) or "", _date(entry), source))
    return entries


def _date(entry: Any) -> str | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return time.strftime("%Y-%m-%d", value)
    return None


def _clean(text: Any) -> str | None:
    text = " ".join(str(text or "").split())
    return text or None
