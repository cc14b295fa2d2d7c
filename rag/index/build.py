"""Bring files into the index (corpus -> chunks -> vectors -> store), incrementally and as a stream.

Unchanged articles (same text, same chunking) cost nothing; changed ones have their chunks replaced;
chunks left by an interrupted ingest are cleaned up first. Files are read one at a time and go through in
groups of about ``GROUP_CHUNKS`` chunks: embedded together, then written in one batch of store calls, so
memory stays flat however large the corpus, and an interrupted ingest keeps every group it finished.
Progress (files, chunks, rate, ETA) goes to a bar and to the log.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.embed import Embedder
from rag.index.events import EventModel, assign_events, load_model
from rag.index.locks import file_lock
from rag.index.store import Store
from rag.index.stories import StoryPolicy, assign, document
from rag.ingest.archive import Archive
from rag.ingest.chunking import Chunk, chunk_article
from rag.ingest.corpus import PAGE_MODE, Article, Skipped
from rag.ingest.sources import Sources
from rag.settings import Settings

log = logging.getLogger(__name__)

GROUP_CHUNKS = 64  # chunks embedded, then written in one batch (an interrupted ingest loses at most this)
# Identical passages kept in the whole index. Many identical vectors degrade Chroma's HNSW search for every
# query (measured with 2,000 random unit vectors: recall@1 1.00 with no copies, 0.90 beside 1,000 copies of
# one vector, 0.69 beside 3,000): shared boilerplate in a news corpus would do that.
MAX_COPIES = 3


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did, file by file."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    chunks_embedded: int = 0
    seconds: float = 0.0
    repeats_skipped: int = 0  # passages already in the index MAX_COPIES times (shared boilerplate)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = [{"source": s.source, "reason": s.reason} for s in self.skipped]
        return data

    def summary(self) -> str:
        repeats = f", {self.repeats_skipped} repeated passages left out" if self.repeats_skipped else ""
        lines = [
            f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
            f"skipped {len(self.skipped)} ({self.chunks_embedded} chunks embedded in {self.seconds:.1f}s"
            f"{repeats})"
        ]
        for label, items in (("added", self.added), ("updated", self.updated), ("unchanged", self.unchanged)):
            lines.extend(f"  {label:9} {source}" for source in items)
        lines.extend(f"  skipped   {s.source}: {s.reason}" for s in self.skipped)
        return "\n".join(lines)


@dataclass(frozen=True)
class IngestOptions:
    """How files become chunks: chunk size and overlap (characters) and the largest file read (bytes)."""

    chunk_chars: int
    overlap_chars: int
    max_bytes: int
    stories: StoryPolicy = field(default_factory=StoryPolicy)
    page_mode: str = PAGE_MODE  # how much of a web page is the article (rag.ingest.web.MODES)
    events: EventModel | None = None  # the event similarity (rag.index.events); None: no events

    @classmethod
    def of(cls, settings: Settings) -> IngestOptions:
        policy = StoryPolicy(settings.story_threshold, settings.story_number_weight, settings.story_duplicate)
        events = load_model(threshold=settings.event_threshold or None)
        return cls(
            settings.chunk_chars,
            settings.chunk_overlap_chars,
            settings.max_file_bytes,
            policy,
            settings.page_mode,
            events,
        )

    @property
    def key(self) -> str:
        """Stored with each article: a change of chunking (or of what ingest records about an article)
        re-does it at the next ingest. sentences2: no break before a lower-case word; meta1: dates,
        outlets and story groups."""
        return f"sentences2/{self.chunk_chars}/{self.overlap_chars}/meta1"

    def chunks(self, article: Article) -> list[Chunk]:
        return distinct(chunk_article(article, self.chunk_chars, self.overlap_chars))


def ingest(
    paths: Iterable[str | os.PathLike[str]],
    store: Store,
    embedder_factory: Any,
    options: IngestOptions,
    progress: bool = False,
    feeds: Sequence[str] = (),
    fetcher_factory: Any = None,
) -> IngestReport:
    """Ingest ``paths`` (files, folders, web archives and ``http(s)://`` URLs) and the pages the ``feeds``
    link to (``fetcher_factory()`` makes the ``rag.ingest.fetch.Fetcher`` on first need);
    ``embedder_factory()`` is called only if something needs embedding. One ingest at a time per index
    folder: a second one waits for the first (``ingest_lock``). Every article's text is also kept outside
    the store (``Archive``), so ``rag reindex`` can rebuild the store. On a Chroma server, ingests from
    other machines may write at the same time (``rag.index.writers``): the whole ingest is one writing
    session with a heartbeat."""
    sources = Sources.of(
        paths,
        max_bytes=options.max_bytes,
        page_mode=options.page_mode,
        fetcher_factory=fetcher_factory,
        exclude=[store.index_dir],
        feeds=list(feeds),
    )
    try:
        with ingest_lock(store.index_dir), store.writing():
            return _ingest(sources, store, Archive(store.index_dir), embedder_factory, options, progress)
    finally:
        sources.close()


def keep_missing(store: Store, archive: Archive, records: dict[str, Any] | None = None) -> int:
    """Copy into ``archive`` the texts of stored articles it lacks (indexes made before it existed);
    ``records``: the store's manifests, when already read."""
    kept = archive.ids()
    records = store.articles() if records is None else records
    missing = [r for r in records.values() if r.article_id not in kept]
    for record in missing:
        text = store.article_text(record.source)
        archive.put(Article(record.source, text, record.title, record.language, record.content_hash))
    if missing:
        log.info("kept the texts of %d article(s) outside the store", len(missing))
    return len(missing)


@contextmanager
def ingest_lock(index_dir: Path) -> Iterator[None]:
    """An exclusive lock on ``<index_dir>/ingest.lock`` (also with a Chroma server: it serializes the
    ingests started from one machine). A waiting ingest logs who holds it; the lock dies with its process,
    so a killed ingest never leaves it held."""
    with file_lock(Path(index_dir) / "ingest.lock", f"ingest into {index_dir}"):
        yield


def _ingest(
    sources: Sources,
    store: Store,
    archive: Archive,
    embedder_factory: Any,
    options: IngestOptions,
    progress: bool,
) -> IngestReport:
    started = time.perf_counter()
    repaired = store.repair()
    if repaired.articles:
        log.info("removed chunks of %d article(s) left by an interrupted ingest", repaired.articles)
    total = len(sources)  # for progress and ETA
    tally = Tally()
    meter = Progress(total, show_bar=progress)
    known = store.articles()
    keep_missing(store, archive, known)
    changed = _changed(sources, known, options, tally, meter, redo=repaired.short)
    try:
        embedded = embed_and_write(changed, store, archive, embedder_factory, options, meter, tally)
    finally:
        meter.close()
    if tally.repeats:
        log.info("left out %d passage(s) already in the index %d times", tally.repeats, MAX_COPIES)
    return IngestReport(
        tuple(tally.added),
        tuple(tally.updated),
        tuple(tally.unchanged),
        tuple(tally.skipped),
        embedded,
        time.perf_counter() - started,
        tally.repeats,
    )


@dataclass
class Tally:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    repeats: int = 0


def _changed(
    items: Iterable[Article | Skipped],
    known: dict[str, Any],
    options: IngestOptions,
    tally: Tally,
    meter: Progress,
    redo: Collection[str] = (),
) -> Iterator[tuple[Article, list[Chunk]]]:
    """Read ``items`` one at a time and yield each new or changed article with its chunks (or in ``redo``:
    short of chunks); unchanged and skipped ones are only counted. Nothing but the current article is
    held, so memory does not grow with the corpus."""
    seen: set[str] = set()
    for item in items:
        if item.source in seen:
            meter.advance(files=1)
            continue
        seen.add(item.source)
        record = known.get(item.source)
        if isinstance(item, Skipped):
            tally.skipped.append(item)
        elif (
            record
            and record.content_hash == item.content_hash
            and record.chunking == options.key
            and item.source not in redo
        ):
            tally.unchanged.append(item.source)
        else:
            if record and item.source in redo and record.content_hash == item.content_hash:
                log.info("redoing %s: its manifest lists more chunks than are stored", item.source)
            (tally.updated if record else tally.added).append(item.source)
            yield item, options.chunks(item)
            continue
        meter.advance(files=1)


def distinct(chunks: Sequence[Chunk]) -> list[Chunk]:
    """The chunks whose text is not a repeat of an earlier chunk of the same article. Many identical
    vectors (a 100 KB line of one repeated word gives ~170 identical chunks) break Chroma's HNSW graph:
    measured, dense search then returned those copies at cosine 0.03 instead of the best chunk at 0.52."""
    seen: set[str] = set()
    out = []
    for chunk in chunks:
        if chunk.text not in seen:
            seen.add(chunk.text)
            out.append(chunk)
    return out


def embed_and_write(
    changed: Iterable[tuple[Article, list[Chunk]]],
    store: Store,
    archive: Archive,
    embedder_factory: Any,
    options: IngestOptions,
    meter: Progress,
    tally: Tally,
) -> int:
    """Embed and write ``changed`` in groups of about ``GROUP_CHUNKS`` chunks as they stream in; the
    embedder is made when the first group is ready (never, when nothing changed). Each article's text is
    kept in ``archive`` before the store holds it; each joins its story group (``rag.index.stories``) and
    its event (``rag.index.events``)."""
    embedder: Embedder | None = None
    total = 0
    for group in _groups(changed, GROUP_CHUNKS):
        kept = _cap_copies(group, store)
        tally.repeats += sum(len(c) for _, c in group) - sum(len(c) for _, c in kept)
        texts = [c.text for _, chunks in kept for c in chunks]
        embedder = embedder or embedder_factory()
        vectors: Any = embedder.embed_documents(texts) if texts else []
        items, documents, offset = [], [], 0
        for article, chunks in kept:
            mine = vectors[offset : offset + len(chunks)]
            items.append((article, chunks, mine))
            if len(chunks):
                documents.append(document(article.article_id, article.language, mine, article.text))
            offset += len(chunks)
        for article, _ in kept:
            archive.put(article)
        grouped = assign(documents, store, options.stories)
        if options.events is not None:
            grouped = assign_events(grouped, store, options.events)
        store.replace_articles(items, options.key, grouped)
        total += offset
        meter.advance(files=len(group), chunks=offset)
    return total


def _cap_copies(group: list[tuple[Article, list[Chunk]]], store: Store) -> list[tuple[Article, list[Chunk]]]:
    """``group`` without the chunks whose text the index (other articles) and the group's earlier articles
    already hold ``MAX_COPIES`` times."""
    copies = store.text_copies(
        [c.text for _, chunks in group for c in chunks], [a.article_id for a, _ in group]
    )
    kept = []
    for article, chunks in group:
        mine = []
        for chunk in chunks:
            if copies[chunk.text] < MAX_COPIES:
                copies[chunk.text] += 1
                mine.append(chunk)
        kept.append((article, mine))
    return kept


def _groups(items: Iterable[tuple[Article, list[Chunk]]], size: int) -> Iterator[list]:
    group: list[tuple[Article, list[Chunk]]] = []
    count = 0
    for item in items:
        group.append(item)
        count += len(item[1])
        if count >= size:
            yield group
            group, count = [], 0
    if group:
        yield group


class Progress:
    """Files done out of ``total``, chunks embedded, rate and ETA: a tqdm bar on stderr when ``show_bar``,
    and an INFO log line every ``LOG_EVERY_S`` seconds (for logs and non-interactive runs). The ETA is the
    remaining files at the average pace so far."""

    LOG_EVERY_S = 30.0

    def __init__(self, total: int, show_bar: bool = False) -> None:
        self.total, self.files, self.chunks = total, 0, 0
        self.started = self._logged = time.perf_counter()
        self._bar = None
        if show_bar:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="file", desc="ingest", dynamic_ncols=True)

    def advance(self, files: int = 0, chunks: int = 0) -> None:
        self.files += files
        self.chunks += chunks
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.chunks} chunks, {self.chunk_rate():.1f}/s", refresh=False)
            self._bar.update(files)
        if time.perf_counter() - self._logged >= self.LOG_EVERY_S:
            self._logged = time.perf_counter()
            log.info("%s", self.line())

    def chunk_rate(self) -> float:
        return self.chunks / max(time.perf_counter() - self.started, 1e-9)

    def eta_seconds(self) -> float | None:
        """Seconds left at the pace so far; None before the first file is done."""
        if not self.files:
            return None
        elapsed = time.perf_counter() - self.started
        return elapsed * (self.total - self.files) / self.files

    def line(self) -> str:
        eta = self.eta_seconds()
        return (
            f"ingest: {self.files}/{self.total} files, {self.chunks} chunks embedded "
            f"({self.chunk_rate():.1f}/s), ETA {'?' if eta is None else _clock(eta)}"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
