"""What one ingest reads (corpus stage): files and folders, web archives, web pages by URL and RSS/Atom
feeds, each turned into ``Article`` values one at a time, every failure a ``Skipped`` with its reason.

Every way in gives the same article for the same page: a saved ``.html`` file, an upload, a URL, a feed
entry and a web archive record all go through ``rag.ingest.corpus.page_article``. An article from the web
is keyed by its canonical URL (the one the page declares on its own host, else the address it was
fetched from, without its fragment), so fetching it again updates it only when its text changed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rag.errors import CorpusError
from rag.ingest.corpus import (
    PAGE_MODE,
    Article,
    Skipped,
    decode_declared,
    iter_files,
    load_file,
    page_article,
)
from rag.ingest.warc import archived_pages, is_archive

log = logging.getLogger(__name__)


def is_url(text: str | os.PathLike[str]) -> bool:
    return isinstance(text, str) and text.strip().lower().startswith(("http://", "https://"))


def canonical(url: str, declared: str | None = None) -> str:
    """The key of a page fetched from ``url``: the canonical URL it ``declared`` when that is on the same
    host (``www.`` aside), else ``url``; the fragment dropped, scheme and host lower-cased."""

    def host(u: str) -> str:
        return (urlsplit(u).hostname or "").removeprefix("www.")

    chosen = declared if declared and is_url(declared) and host(declared) == host(url) else url
    parts = urlsplit(chosen.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


@dataclass
class Sources:
    """Files and folders (``paths``), ``urls`` and ``feeds`` to read; ``fetcher`` (a
    ``rag.ingest.fetch.Fetcher``) is made on first need by ``fetcher_factory``."""

    paths: list[Path] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)
    max_bytes: int = 20 * 2**20
    page_mode: str = PAGE_MODE
    fetcher_factory: Callable[[], object] | None = None
    exclude: list[Path] = field(default_factory=list)
    _fetcher: object = None
    _files: list[Path] | None = None

    @classmethod
    def of(cls, items: Iterable[str | os.PathLike[str]], **kwargs: object) -> Sources:
        """``items`` sorted into URLs and paths."""
        items = list(items)
        return cls(
            paths=[Path(p) for p in items if not is_url(p)],
            urls=[str(u).strip() for u in items if is_url(u)],
            **kwargs,  # type: ignore[arg-type]
        )

    def files(self) -> list[Path]:
        """The files under ``paths``, walked once (``CorpusError`` for a path that does not exist)."""
        if self._files is None:
            self._files = list(iter_files(self.paths, exclude=self.exclude))
        return self._files

    def __len__(self) -> int:
        """Files, URLs and feeds to read (a feed and a web archive count once): for progress."""
        return len(self.files()) + len(self.urls) + len(self.feeds)

    def __iter__(self) -> Iterator[Article | Skipped]:
        for path in self.files():
            if is_archive(path):
                yield from self.archive(path)
            else:
                yield load_file(path, self.max_bytes, self.page_mode)
        for url in self.urls:
            yield from self.url(url)
        for feed in self.feeds:
            yield from self.feed(feed)

    def fetcher(self) -> object:
        if self._fetcher is None:
            if self.fetcher_factory is None:
                raise CorpusError("no fetcher: web pages and feeds cannot be read here")
            self._fetcher = self.fetcher_factory()
        return self._fetcher

    def url(self, url: str) -> Iterator[Article | Skipped]:
        """The article at ``url``, or, when it is an RSS or Atom feed, the articles of its entries."""
        from rag.ingest.fetch import FEED_TYPES, HTML_TYPES

        try:
            fetched = self.fetcher().get(url, accept=tuple(dict.fromkeys(HTML_TYPES + FEED_TYPES)))  # type: ignore[attr-defined]
        except CorpusError as exc:
            yield Skipped(url, str(exc))
            return
        if fetched.content_type in HTML_TYPES or not fetched.content_type:
            yield self._fetched(fetched)
        else:
            yield from self._entries(url, fetched)

    def page(
        self, url: str, published: str | None = None, outlet: str | None = None, given_from: str = ""
    ) -> Article | Skipped:
        """The article at ``url``; ``published`` and ``outlet`` (from a feed entry) when the page has none."""
        try:
            fetched = self.fetcher().get(url)  # type: ignore[attr-defined]
        except CorpusError as exc:
            return Skipped(url, str(exc))
        return self._fetched(fetched, published, outlet, given_from)

    def _fetched(
        self, fetched: Any, published: str | None = None, outlet: str | None = None, given_from: str = ""
    ) -> Article | Skipped:
        try:
            html = fetched.text()
        except CorpusError as exc:
            return Skipped(fetched.url, str(exc))
        return self._article(html, fetched.final_url, published, outlet, given_from)

    def _article(
        self, html: str, url: str, published: str | None, outlet: str | None, given_from: str
    ) -> Article | Skipped:
        keyed = lambda declared: canonical(url, declared)  # noqa: E731
        return page_article(html, url, url, published, outlet, given_from, self.page_mode, keyed)

    def feed(self, url: str) -> Iterator[Article | Skipped]:
        """The articles the entries of the feed at ``url`` link to."""
        from rag.ingest.fetch import FEED_TYPES

        try:
            fetched = self.fetcher().get(url, accept=FEED_TYPES)  # type: ignore[attr-defined]
        except CorpusError as exc:
            yield Skipped(url, str(exc))
            return
        yield from self._entries(url, fetched)

    def _entries(self, url: str, fetched: Any) -> Iterator[Article | Skipped]:
        from rag.ingest.feeds import parse_feed

        try:
            entries = parse_feed(fetched.body, fetched.final_url)
        except CorpusError as exc:
            yield Skipped(url, str(exc))
            return
        log.info("feed %s: %d entries", url, len(entries))
        for entry in entries:
            yield self.page(entry.link, entry.published, entry.source, f"feed entry of {url}")

    def archive(self, path: Path) -> Iterator[Article | Skipped]:
        """The pages of the web archive at ``path``, each keyed by its target URI."""
        pages = 0
        try:
            for page in archived_pages(path, self.max_bytes):
                pages += 1
                if page.too_large:
                    yield Skipped(page.uri, f"too large: over {self.max_bytes / 2**20:.1f} MiB (in {path})")
                    continue
                try:
                    html = decode_declared(page.body, page.charset)
                except CorpusError as exc:
                    yield Skipped(page.uri, f"{exc} (in {path})")
                    continue
                yield self._article(html, page.uri, page.date, None, f"web archive {path.name}: WARC-Date")
        except CorpusError as exc:
            yield Skipped(str(path), str(exc))
            return
        if not pages:
            yield Skipped(
                str(path), "no HTML page found in this web archive (not a WARC file, or no responses)"
            )

    def close(self) -> None:
        close = getattr(self._fetcher, "close", None)
        if close:
            close()
