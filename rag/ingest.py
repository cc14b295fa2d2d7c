"""Bring files into the index (corpus -> chunks -> vectors -> store), incrementally.

Unchanged articles (same text, same chunking) cost nothing; changed ones have their chunks replaced;
chunks left by an interrupted ingest are cleaned up first. Articles go through in groups of about
``GROUP_CHUNKS`` chunks: embedded together, then written in one batch of store calls, so an interrupted
ingest keeps every group it finished.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from rag.chunking import Chunk, chunk_article
from rag.corpus import Article, Skipped, load_paths
from rag.embedding import Embedder
from rag.store import Store

log = logging.getLogger(__name__)

GROUP_CHUNKS = 64  # chunks embedded, then written in one batch (an interrupted ingest loses at most this)


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did, file by file."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    chunks_embedded: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = [{"source": s.source, "reason": s.reason} for s in self.skipped]
        return data

    def summary(self) -> str:
        lines = [f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
                 f"skipped {len(self.skipped)} ({self.chunks_embedded} chunks embedded in {self.seconds:.1f}s)"]
        for label, items in (("added", self.added), ("updated", self.updated), ("unchanged", self.unchanged)):
            lines.extend(f"  {label:9} {source}" for source in items)
        lines.extend(f"  skipped   {s.source}: {s.reason}" for s in self.skipped)
        return "\n".join(lines)


def chunking_key(chunk_chars: int, overlap_chars: int) -> str:
    return f"sentences/{chunk_chars}/{overlap_chars}"


def ingest(paths: Iterable[Path | str], store: Store, embedder_factory: Any, chunk_chars: int,
           overlap_chars: int, max_bytes: int, progress: bool = False) -> IngestReport:
    """Ingest ``paths``; ``embedder_factory()`` is called only if something needs embedding. One ingest
    at a time per index folder: a second one waits for the first (``ingest_lock``)."""
    with ingest_lock(store.index_dir):
        return _ingest(paths, store, embedder_factory, chunk_chars, overlap_chars, max_bytes, progress)


@contextmanager
def ingest_lock(index_dir: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``<index_dir>/ingest.lock`` (also with a Chroma server: it serializes the
    ingests started from one machine). A waiting ingest logs who holds it; the lock dies with its process,
    so a killed ingest never leaves it held."""
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(index_dir) / "ingest.lock", "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            log.warning("waiting for another ingest into %s to finish (%s)", index_dir,
                        handle.read().strip() or "holder unknown")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ingest(paths: Iterable[Path | str], store: Store, embedder_factory: Any, chunk_chars: int,
            overlap_chars: int, max_bytes: int, progress: bool) -> IngestReport:
    started = time.perf_counter()
    repaired = store.remove_orphans()
    if repaired:
        log.info("removed chunks of %d article(s) left by an interrupted ingest", repaired)
    known = store.articles()
    key = chunking_key(chunk_chars, overlap_chars)
    added, updated, unchanged, skipped = [], [], [], []
    pending: list[tuple[Article, list[Chunk]]] = []
    seen: set[str] = set()
    for item in load_paths(paths, max_bytes, exclude=[store.index_dir]):
        if item.source in seen:
            continue
        seen.add(item.source)
        if isinstance(item, Skipped):
            skipped.append(item)
            continue
        record = known.get(item.source)
        if record and record.content_hash == item.content_hash and record.chunking == key:
            unchanged.append(item.source)
            continue
        (updated if record else added).append(item.source)
        pending.append((item, distinct(chunk_article(item, chunk_chars, overlap_chars))))
    embedded = _embed_and_write(pending, store, embedder_factory, key, progress) if pending else 0
    return IngestReport(tuple(added), tuple(updated), tuple(unchanged), tuple(skipped), embedded,
                        time.perf_counter() - started)


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


def _embed_and_write(pending: Sequence[tuple[Article, list[Chunk]]], store: Store, embedder_factory: Any,
                     key: str, progress: bool) -> int:
    from tqdm.auto import tqdm

    embedder: Embedder = embedder_factory()
    total = sum(len(chunks) for _, chunks in pending)
    bar = tqdm(total=total, unit="chunk", desc="embedding", disable=not progress)
    for group in _groups(pending, GROUP_CHUNKS):
        vectors = embedder.embed_documents([c.text for _, chunks in group for c in chunks])
        items, offset = [], 0
        for article, chunks in group:
            items.append((article, chunks, vectors[offset:offset + len(chunks)]))
            offset += len(chunks)
        store.replace_articles(items, key)
        bar.update(offset)
    bar.close()
    return total


def _groups(pending: Sequence[tuple[Article, list[Chunk]]], size: int) -> Iterable[list]:
    group: list[tuple[Article, list[Chunk]]] = []
    count = 0
    for item in pending:
        group.append(item)
        count += len(item[1])
        if count >= size:
            yield group
            group, count = [], 0
    if group:
        yield group
