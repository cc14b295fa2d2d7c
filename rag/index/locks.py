"""Locks that let many processes and threads share one index folder.

``file_lock`` is an ``flock`` on a file in the index folder: it serializes what must happen once across
processes (creating or migrating the store, an ingest, swapping in a rebuilt store). The kernel drops it
when its process dies, so a killed process never leaves it held. ``ReadWriteLock`` lets the threads of one
process read a shared Chroma client at once while one of them replaces it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import StoreError

log = logging.getLogger(__name__)


@contextmanager
def file_lock(path: Path, what: str, level: int = logging.WARNING) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created with its folder); a waiter logs who holds it
    (at ``level``)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise StoreError(
            f"cannot create the lock file {path} ({exc.strerror or exc}): the index folder "
            "must be writable (RAG_INDEX_DIR)"
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "holder unknown"
            log.log(level, "waiting for another %s to finish (%s)", what, holder)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers so it cannot starve. A thread
    that already reads may read again (nested calls) without waiting."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._waiting_writers = 0
        self._mine = threading.local()

    @contextmanager
    def reading(self) -> Iterator[None]:
        depth = getattr(self._mine, "depth", 0)
        if not depth:
            with self._cond:
                while self._writing or self._waiting_writers:
                    self._cond.wait()
                self._readers += 1
        self._mine.depth = depth + 1
        try:
            yield
        finally:
            self._mine.depth = depth
            if not depth:
                with self._cond:
                    self._readers -= 1
                    self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
