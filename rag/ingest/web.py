"""The article out of a web page (corpus stage): trafilatura's main text (paragraph breaks kept, tables as
text, comments left out), title, publication date (htmldate, the original date preferred), outlet (the
site name the page declares, else the host name), author and canonical URL. The only module that imports
trafilatura.

Most of a saved news page is not the article (menus, "related stories", cookie notices, comments); the
hand-written parser in ``rag.ingest.corpus`` keeps every visible text and is the fallback for a page
trafilatura finds no article in (``rag bench extract`` reports how often that happens).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MODES = ("default", "precision", "recall")  # trafilatura's balance: favor_precision / favor_recall


@dataclass(frozen=True)
class Page:
    """What a web page holds as an article; None fields were not found."""

    text: str
    title: str = ""
    published: str | None = None  # ISO date
    published_from: str = ""
    outlet: str | None = None
    outlet_from: str = ""
    author: str | None = None
    url: str | None = None  # the page's canonical URL (declared, else the one it was fetched from)


def extract_page(html: str, url: str | None = None, mode: str = "default") -> Page | None:
    """The article of ``html`` (fetched from ``url``, if known), or None when trafilatura finds none."""
    import trafilatura

    if mode not in MODES:
        raise ValueError(f"unknown extraction mode {mode!r}: one of {', '.join(MODES)}")
    try:
        doc = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            favor_precision=mode == "precision",
            favor_recall=mode == "recall",
            date_extraction_params={"original_date": True, "extensive_search": True},
        )
    except Exception as exc:  # trafilatura and lxml raise many types on broken markup
        log.info("trafilatura found no article (%s: %s)", type(exc).__name__, exc)
        return None
    text = _paragraphs(getattr(doc, "text", None) or "") if doc is not None else ""
    if not text:
        return None
    return Page(
        text,
        " ".join(str(getattr(doc, "title", None) or "").split()),
        *_date(doc),
        *_outlet(doc, url),
        _author(doc),
        _url(doc, url),
    )


def _paragraphs(text: str) -> str:
    """Lines stripped, empty ones dropped: one paragraph per line."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _date(doc: object) -> tuple[str | None, str]:
    date = getattr(doc, "date", None)
    if not date:
        return None, ""
    return str(date)[:10], f"web page: {date} (htmldate: the page's metadata, URL or visible dates)"


def _outlet(doc: object, url: str | None) -> tuple[str | None, str]:
    site = " ".join(str(getattr(doc, "sitename", None) or "").split())
    if site and not site.startswith(("http://", "https://")):
        return site, f"web page: site name {site!r}"
    host = getattr(doc, "hostname", None) or (urlsplit(url).hostname if url else None)
    if host:
        host = host.removeprefix("www.")
        return host, f"web page: host name {host!r}"
    return None, ""


def _author(doc: object) -> str | None:
    author = " ".join(str(getattr(doc, "author", None) or "").split())
    return author or None


def _url(doc: object, url: str | None) -> str | None:
    declared = getattr(doc, "url", None)
    return str(declared) if declared and str(declared).startswith(("http://", "https://")) else url
