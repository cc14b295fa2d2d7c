"""``rag watch``: keep an index current with folders and feeds (index stage).

Each round ingests what is new or changed (files, web archives, the pages of feed entries; unchanged ones
cost nothing) and removes the articles of files that are gone from a watched folder, then waits. A round
is one log line: added / updated / removed / unchanged / skipped. Ingests hold the index's ingest lock and
removals take it too, so a watcher runs safely beside the chat page, ``rag serve`` and other ingests. A
watched folder that is missing (an unmounted drive) removes nothing: only a file gone from a folder that
is still there is removed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.index.build import ingest_lock
from rag.ingest.sources import is_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchRound:
    """What one round did."""

    number: int
    started: str  # ISO 8601, UTC
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str = ""  # why the round could not run (it is tried again next round)

    def line(self) -> str:
        if self.error:
            return f"round {self.number}: failed: {self.error}"
        return (
            f"round {self.number}: added {self.added}, updated {self.updated}, removed {self.removed}, "
            f"unchanged {self.unchanged}, skipped {self.skipped} ({self.seconds:.1f} s)"
        )


def watch(
    assistant: Any,
    paths: Sequence[str],
    feeds: Sequence[str],
    minutes: float,
    rounds: int | None = None,
    stop: threading.Event | None = None,
) -> Iterator[WatchRound]:
    """Rounds every ``minutes`` until ``rounds`` are done or ``stop`` is set."""
    stop = stop or threading.Event()
    number = 0
    while not stop.is_set():
        number += 1
        done = watch_round(assistant, paths, feeds, number)
        log.info("%s", done.line())
        yield done
        if rounds is not None and number >= rounds:
            return
        stop.wait(minutes * 60)


def watch_round(assistant: Any, paths: Sequence[str], feeds: Sequence[str], number: int) -> WatchRound:
    started, clock = datetime.now(UTC).isoformat(timespec="seconds"), time.perf_counter()
    present = [p for p in paths if is_url(p) or Path(p).exists()]
    for missing in sorted(set(paths) - set(present)):
        log.warning("watched %s is not there (nothing under it is removed unless it was one file)", missing)
    try:
        report = assistant.ingest(present, progress=False, feeds=feeds)
        removed = remove_gone(assistant, [p for p in paths if not is_url(p)])
    except RagError as exc:
        return WatchRound(number, started, seconds=time.perf_counter() - clock, error=str(exc))
    return WatchRound(
        number,
        started,
        len(report.added),
        len(report.updated),
        len(removed),
        len(report.unchanged),
        len(report.skipped),
        time.perf_counter() - clock,
    )


def remove_gone(assistant: Any, paths: Sequence[str]) -> list[str]:
    """Remove the articles whose file was under one of ``paths`` (folders that still exist, or files) and
    is there no more; their sources."""
    roots = [os.path.normpath(p) for p in paths if Path(p).is_dir()]
    files = {os.path.normpath(p) for p in paths if not Path(p).exists() and Path(p).suffix}
    gone = [
        r.source
        for r in assistant.sources()
        if not is_url(r.source)
        and not Path(r.source).exists()
        and (r.source in files or any(_under(r.source, root) for root in roots))
    ]
    if gone:
        with ingest_lock(assistant.store.index_dir):
            for source in gone:
                assistant.remove(source)
                log.info("removed %s: its file is gone", source)
    return gone


def _under(source: str, root: str) -> bool:
    return os.path.commonpath([os.path.abspath(source), os.path.abspath(root)]) == os.path.abspath(root)
