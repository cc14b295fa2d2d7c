"""The Chroma client of an index folder (index stage), shared by the threads of a process and reopened
when another process rebuilt the store; the only module that imports chromadb. Chroma's errors become
``StoreError`` here."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import RagError, StoreError
from rag.index.locks import ReadWriteLock, file_lock

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Turn any chromadb failure into a StoreError that says what was being done."""
    try:
        yield
    except RagError:
        raise
    except Exception as exc:
        raise StoreError(f"{what} failed: {type(exc).__name__}: {exc}") from exc


_REINDEX_HINT = " (`rag reindex` rebuilds the store from the kept article texts; it deletes nothing)"


# held while a process opens, creates or migrates the store, or swaps in a rebuilt one
STORE_LOCK = "store.lock"


def chroma_dir(index_dir: Path) -> Path:
    """Where Chroma keeps its files in an index folder: ``<index>/store/``, or the folder itself for an
    index made before the store had its own folder."""
    index_dir = Path(index_dir)
    return index_dir if (index_dir / "chroma.sqlite3").exists() else index_dir / "store"


_GENERATIONS = itertools.count(1)


def _drop_system(path: Path) -> None:
    """Stop and forget chromadb's cached client of the embedded store at ``path``."""
    from chromadb.api.shared_system_client import SharedSystemClient

    system = SharedSystemClient._identifier_to_system.pop(str(path), None)
    if system is not None:
        with contextlib.suppress(Exception):
            system.stop()


class _Shared:
    """The one Chroma client of this process for one index folder (or server), with the lock that lets
    its threads read while one of them reopens it, and the index revision it reflects."""

    _all: dict[str, _Shared] = {}
    _all_lock = threading.Lock()

    def __init__(self, url: str, path: Path | None, index_dir: Path) -> None:
        self.url, self.index_dir = url, index_dir
        self.path = Path(path or index_dir)  # the embedded store's folder (unused with a server)
        self.lock = ReadWriteLock()
        self.generation = next(_GENERATIONS)  # unique per client: a Store rebinds when it changes
        self.seen: str | None = None  # revision the client's vector index reflects (None: not read yet)
        self.client = self._connect()
        self.identity = self._identity()

    def _identity(self) -> tuple[int, int] | None:
        """Which database file the client opened: ``rag reindex`` swaps in a new one."""
        try:
            found = os.stat(self.path / "chroma.sqlite3")
        except OSError:
            return None
        return found.st_dev, found.st_ino

    @classmethod
    def get(cls, url: str, path: Path | None, index_dir: Path, check: bool = False) -> _Shared:
        """The registered client (made on first use); with ``check``, reopened first when another
        process swapped in a rebuilt store."""
        key = url or str(Path(path or index_dir).resolve())
        with cls._all_lock:
            shared = cls._all.get(key)
            if shared is None:
                shared = cls._all[key] = cls(url, path, index_dir)
                return shared
        if check and not url and shared._identity() != shared.identity:
            shared.reopen("it was rebuilt by another process")
        return shared

    def reopen(self, why: str) -> None:
        with self.lock.writing():
            log.info("reopening the index at %s: %s", self.index_dir, why)
            self._close()
            self.client = self._connect()
            self.identity = self._identity()
            self.generation = next(_GENERATIONS)
            self.seen = None

    @classmethod
    def forget(cls, path: Path) -> None:
        """Close and drop this process's client of the store at ``path`` (it was moved or rebuilt)."""
        with cls._all_lock:
            shared = cls._all.pop(str(Path(path).resolve()), None)
        if shared is None:
            _drop_system(Path(path))
            return
        with shared.lock.writing():
            shared._close()
            shared.generation = next(_GENERATIONS)

    @contextlib.contextmanager
    def creating(self) -> Iterator[None]:
        """Serialize first opens across processes: Chroma creates its tables and collections without
        a lock of its own (measured: "table collections already exists" in 4 of 90 processes started
        three at a time on a new folder)."""
        if self.url:
            yield
            return
        with file_lock(self.index_dir / STORE_LOCK, "process opening the index", logging.DEBUG):
            yield

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False)
        if self.url:
            from urllib.parse import urlparse

            url = urlparse(self.url)
            with _translated(f"connecting to the Chroma server {self.url} (RAG_CHROMA_URL)"):
                return chromadb.HttpClient(
                    host=url.hostname or "localhost",
                    port=url.port or 8000,
                    ssl=url.scheme == "https",
                    settings=settings,
                )
        with self.creating(), _translated(f"opening the index at {self.index_dir}{_REINDEX_HINT}"):
            self.path.mkdir(parents=True, exist_ok=True)
            try:
                return chromadb.PersistentClient(path=str(self.path), settings=settings)
            except Exception:
                _drop_system(self.path)  # chromadb caches the failed client: the next open would reuse it
                raise

    def _close(self) -> None:
        _drop_system(self.path)

    def now_ns(self) -> int:
        """The time by the Chroma server's clock (its heartbeat endpoint), in nanoseconds since the epoch;
        this machine's clock for an embedded store. Writers' heartbeats are stamped and judged by it."""
        if not self.url:
            return time.time_ns()
        with _translated(f"reading the clock of the Chroma server {self.url}"):
            return int(self.client.heartbeat())

    def follow(self, revision: str) -> None:
        """Reopen the embedded client when ``revision`` is not the one it reflects (another process
        wrote); a server client is always current."""
        if self.url or revision == self.seen:
            return
        if self.seen is not None:
            self.reopen("another process wrote to it")
        self.seen = revision

    def wrote(self, before: str, stamp: str) -> None:
        """This process wrote revision ``stamp`` over ``before``: its client reflects ``stamp`` unless
        another process had written since the client last caught up."""
        if self.seen is None or before == self.seen:
            self.seen = stamp


def forget_client(chroma_path: Path) -> None:
    """Close this process's client of the embedded store at ``chroma_path`` (before its files move)."""
    _Shared.forget(chroma_path)
