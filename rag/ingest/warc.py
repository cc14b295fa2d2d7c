"""Web archives (corpus stage): the HTML pages a WARC file holds (news crawls such as Common Crawl News
come as ``.warc.gz``). Every HTML response record is a page, keyed by its WARC target URI, with its WARC
date as a fallback publication date. The only module that imports warcio."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import CorpusError

log = logging.getLogger(__name__)

SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class ArchivedPage:
    """One HTML response of a web archive."""

    uri: str  # WARC-Target-URI
    date: str | None  # the WARC-Date's day (ISO), when the page was fetched
    body: bytes
    charset: str | None = None
    too_large: bool = False  # the body was over the size limit and was not read


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(SUFFIXES)


def archived_pages(path: Path, max_bytes: int) -> Iterator[ArchivedPage]:
    """The HTML responses (status 200) of the web archive at ``path``, in file order; ``CorpusError`` when
    it is not one."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    try:
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream, arc2warc=True):
                page = _page(record, max_bytes)
                if page is not None:
                    yield page
    except ArchiveLoadFailed as exc:
        raise CorpusError(f"not a readable web archive: {exc}") from None
    except (ValueError, EOFError, zlib.error) as exc:  # warcio's readers on a cut or corrupt file
        raise CorpusError(f"broken web archive: {exc}") from None
    except OSError as exc:
        raise CorpusError(f"unreadable web archive: {exc}") from None


def _page(record: object, max_bytes: int) -> ArchivedPage | None:
    if getattr(record, "rec_type", "") != "response" or record.http_headers is None:  # type: ignore[attr-defined]
        return None
    headers = record.http_headers  # type: ignore[attr-defined]
    if headers.get_statuscode() != "200":
        return None
    media, _, params = (headers.get_header("Content-Type") or "").partition(";")
    if media.strip().lower() not in HTML_TYPES:
        return None
    uri = record.rec_headers.get_header("WARC-Target-URI") or ""  # type: ignore[attr-defined]
    date = (record.rec_headers.get_header("WARC-Date") or "")[:10] or None  # type: ignore[attr-defined]
    body = record.content_stream().read(max_bytes + 1)  # type: ignore[attr-defined]
    charset = params.partition("charset=")[2].strip(" \"'") or None
    if len(body) > max_bytes:
        return ArchivedPage(uri, date, b"", charset, too_large=True)
    return ArchivedPage(uri, date, body, charset)
