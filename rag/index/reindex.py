"""Rebuild the store from the kept article texts (``rag reindex``), for a store whose files broke.

The new store is built beside the old one (``<index>/store.rebuilding/``) and swapped in under the store
lock only when it is complete, so an interrupted rebuild changes nothing. The old store's files are moved
into ``<index>/broken-<time>/``, never deleted; the kept texts (``<index>/articles/``) and the uploads
(``<index>/uploads/``) are never touched. Articles come back with the same sources and texts, so every
citation span stays exact; uploads that were never kept are ingested afresh.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.index.build import (
    IngestOptions,
    IngestReport,
    Progress,
    Tally,
    embed_and_write,
    ingest,
    ingest_lock,
    keep_missing,
)
from rag.index.client import STORE_LOCK, chroma_dir, forget_client
from rag.index.locks import file_lock
from rag.index.store import Store
from rag.ingest.archive import Archive

log = logging.getLogger(__name__)

REBUILDING = "store.rebuilding"
UPLOADS = "uploads"


@dataclass(frozen=True)
class ReindexReport:
    """What a rebuild did."""

    restored: tuple[str, ...]
    uploads: IngestReport | None
    moved_aside: str  # where the old store's files went ("" when there were none, or on a server)
    old_store_readable: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "restored": list(self.restored),
            "uploads": self.uploads.to_dict() if self.uploads else None,
            "moved_aside": self.moved_aside,
            "old_store_readable": self.old_store_readable,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        lines = [f"restored {len(self.restored)} article(s) from the kept texts in {self.seconds:.1f}s"]
        if not self.old_store_readable:
            lines.append("  the old store could not be read: only the kept texts and uploads were used")
        if self.moved_aside:
            lines.append(
                f"  the old store's files are in {self.moved_aside} (delete them once you no longer "
                "need them)"
            )
        if self.uploads is not None:
            lines.append("uploads: " + self.uploads.summary())
        return "\n".join(lines)


@dataclass(frozen=True)
class StoreAddress:
    """Where a store lives: the index folder, the collection, and the Chroma server ("": embedded)."""

    index_dir: Path
    collection: str
    chroma_url: str
    embedding_space: str

    def open(self, chroma_path: Path | None = None) -> Store:
        if chroma_path is not None:
            return Store(
                self.index_dir, self.collection, embedding_space=self.embedding_space, chroma_path=chroma_path
            )
        return Store(self.index_dir, self.collection, self.chroma_url, self.embedding_space)


def reindex(
    address: StoreAddress, embedder_factory: Any, options: IngestOptions, progress: bool = False
) -> ReindexReport:
    """Rebuild the store of ``index_dir`` (or the collections on the Chroma server) from its kept texts."""
    started = time.perf_counter()
    index_dir = Path(address.index_dir)
    archive = Archive(index_dir)
    with ingest_lock(index_dir):
        readable = _keep_what_the_old_store_has(index_dir, address.collection, address.chroma_url, archive)
        if address.chroma_url:
            restored = _write_all(archive, address.open(), embedder_factory, options, progress)
            moved = ""
        else:
            building = index_dir / REBUILDING
            shutil.rmtree(building, ignore_errors=True)  # an earlier, interrupted rebuild of our own
            restored = _write_all(archive, address.open(building), embedder_factory, options, progress)
            forget_client(building)
            moved = _swap_in(index_dir, building)
        shutil.rmtree(index_dir / "bm25-cache", ignore_errors=True)
    uploads = _ingest_uploads(address, embedder_factory, options)
    return ReindexReport(tuple(restored), uploads, moved, readable, time.perf_counter() - started)


def _keep_what_the_old_store_has(index_dir: Path, collection: str, chroma_url: str, archive: Archive) -> bool:
    """Copy into the archive what only the old store holds; False when the old store cannot be read.
    Its vectors are not used, so it may have been built with other embeddings (reindex re-embeds)."""
    try:
        old = Store(index_dir, collection, chroma_url)
        keep_missing(old, archive)
        return True
    except RagError as exc:
        log.warning("the store cannot be read (%s): rebuilding from the kept texts only", exc)
        return False
    finally:
        if not chroma_url:
            forget_client(chroma_dir(index_dir))


def _write_all(
    archive: Archive,
    store: Store,
    embedder_factory: Any,
    options: IngestOptions,
    progress: bool,
) -> list[str]:
    articles = list(archive.articles())
    tally = Tally()
    meter = Progress(len(articles), show_bar=progress)
    chunked = ((article, options.chunks(article)) for article in articles)
    try:
        embed_and_write(chunked, store, archive, embedder_factory, options, meter, tally)
    finally:
        meter.close()
    return [a.source for a in articles]


def _swap_in(index_dir: Path, building: Path) -> str:
    """Move the old store's files into ``broken-<time>/`` and the new store into ``store/``, under the
    store lock (no process opens the store half-swapped)."""
    aside = index_dir / time.strftime("broken-%Y%m%d-%H%M%S")
    with file_lock(index_dir / STORE_LOCK, "process opening the index"):
        old = chroma_dir(index_dir)
        files = _store_files(old) if old == index_dir else ([old] if old.exists() else [])
        if files:
            aside.mkdir(parents=True, exist_ok=True)
            for path in files:
                path.rename(aside / path.name)
        building.rename(index_dir / "store")
    return str(aside) if files else ""


def _store_files(folder: Path) -> list[Path]:
    """Chroma's own files in an index folder of the old layout (database and one folder per segment)."""
    import re

    segment = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    return [
        p
        for p in folder.iterdir()
        if p.name.startswith("chroma.sqlite3") or (p.is_dir() and segment.match(p.name))
    ]


def _ingest_uploads(
    address: StoreAddress, embedder_factory: Any, options: IngestOptions
) -> IngestReport | None:
    uploads = Path(address.index_dir) / UPLOADS
    if not uploads.is_dir():
        return None
    return ingest([uploads], address.open(), embedder_factory, options)
