"""Tidying an index (index stage): the chunks no manifest and no live writer needs, left by an interrupted
ingest or by a writer that lost a race on one file, are deleted, and articles short of chunks are found.
``Store`` inherits ``Tidying``; the order of the reads (chunks, then heartbeats, then manifests) is what
makes a tidy safe beside other writers (``rag.index.writers``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rag.index.client import _translated
from rag.index.records import text_hash
from rag.index.writers import (
    Listed,
    TidyPlan,
    Writer,
    WriterTiming,
    live_writers,
    plan_tidy,
    short_articles,
    suspects,
)

log = logging.getLogger("rag.index.store")

PAGE = 2000  # records per Chroma call
T = TypeVar("T")


def pages(collection: Any, include: list[str]) -> Iterator[dict[str, Any]]:
    """Every record of a Chroma ``collection``, as ``get`` results of ``PAGE`` records each."""
    for offset in range(0, int(collection.count()), PAGE):
        yield collection.get(include=include, limit=PAGE, offset=offset)


def batches(items: Sequence[T]) -> Iterator[list[T]]:
    """``items`` in lists of at most ``PAGE`` (one Chroma call each)."""
    for offset in range(0, len(items), PAGE):
        yield list(items[offset : offset + PAGE])


@dataclass(frozen=True)
class Repair:
    """What the repair that starts an ingest did: chunks removed (of ``articles`` articles) that no
    manifest and no live writer needed, and the sources whose manifest has fewer chunks than it lists
    (``short``: an ingest of their files redoes them)."""

    articles: int = 0
    chunks: int = 0
    short: frozenset[str] = frozenset()


class Tidying:
    """The writing sessions and the tidy of a ``Store`` (its collections and locks are the store's)."""

    _chunks: Any
    _articles: Any
    _documents: Any
    _writers: Any
    _url: str
    _shared: Any

    _timing: Any
    _writer: Any

    def _exclusive(self) -> Any:
        raise NotImplementedError

    def _use(self) -> Any:
        raise NotImplementedError

    def _touch(self) -> None:
        raise NotImplementedError

    @property
    def writer(self) -> Writer:
        """This store's writer: its id goes with every chunk it writes (``rag.index.writers``)."""
        if self._writer is None:
            self._writer = Writer(self._timing or WriterTiming.from_env(), heartbeats=bool(self._url))
        return self._writer

    @contextlib.contextmanager
    def writing(self) -> Iterator[Writer]:
        """A writing session (an ingest): on a server, this writer's heartbeat is kept fresh until its end;
        then its own chunks that lost to another writer's manifest are removed and its heartbeat record
        deleted. Re-entrant; every write opens one of its own when none is open."""
        with self.writer.active(self._beat, self._finish, self._drop_beat) as writer:
            yield writer

    def _beat(self) -> None:
        writer = self.writer
        with self._use(), _translated(f"storing the heartbeat of writer {writer.id}"):
            now = self._shared.now_ns()
            self._writers.upsert(ids=[writer.id], embeddings=[[1.0]], metadatas=[writer.beat_meta(now)])

    def _drop_beat(self) -> None:
        with self._use(), _translated(f"removing the heartbeat of writer {self.writer.id}"):
            self._writers.delete(ids=[self.writer.id])

    def _finish(self, written: set[str]) -> None:
        with self._exclusive(), self._use(), _translated("tidying the articles this ingest wrote"):
            plan, _ = self._tidy(sorted(written))
            if plan.count:
                self._touch()

    def _live(self) -> tuple[set[str], dict[str, int]]:
        """The writers other than this one that are live now, and the beats of the expired ones (none in
        embedded mode, where the ingest lock serialises ingests: every other writer counts as gone)."""
        if not self._url:
            return set(), {}
        now = self._shared.now_ns()  # before the beats: a beat stored meanwhile is young, so live
        got = self._writers.get(include=["metadatas"])
        beats = dict(zip(got["ids"], got["metadatas"]))
        live, expired = live_writers(beats, now, self.writer.timing, self.writer.id)
        return live, {w: int(beats[w].get("beat", 0)) for w in expired}

    def _list(self, articles: Sequence[str] | None) -> tuple[list[Listed], dict[str, str]]:
        """The chunks of ``articles`` (of all: None) as listed, and their story documents' writers."""
        listed: list[Listed] = []
        docs: dict[str, str] = {}
        if articles is None:
            for got in pages(self._chunks, ["metadatas"]):
                listed.extend(Listed.of(i, m) for i, m in zip(got["ids"], got["metadatas"]))
            for got in pages(self._documents, ["metadatas"]):
                docs.update(
                    (i, str((m or {}).get("writer", ""))) for i, m in zip(got["ids"], got["metadatas"])
                )
            return listed, docs
        for page in batches(articles):
            got = self._chunks.get(where={"article_id": {"$in": page}}, include=["metadatas"])
            listed.extend(Listed.of(i, m) for i, m in zip(got["ids"], got["metadatas"]))
            got = self._documents.get(ids=page, include=["metadatas"])
            docs.update((i, str((m or {}).get("writer", ""))) for i, m in zip(got["ids"], got["metadatas"]))
        return listed, docs

    def _manifests(self, articles: Sequence[str] | None) -> dict[str, dict[str, Any]]:
        """Manifest metadata by article id, of ``articles`` (of all: None)."""
        found: dict[str, dict[str, Any]] = {}
        if articles is None:
            for got in pages(self._articles, ["metadatas"]):
                found.update(zip(got["ids"], got["metadatas"]))
            return found
        for batch in batches(articles):
            got = self._articles.get(ids=batch, include=["metadatas"])
            found.update(zip(got["ids"], got["metadatas"]))
        return found

    def _tidy(
        self, articles: Sequence[str] | None, keep: frozenset[str] = frozenset(), own: bool = True
    ) -> tuple[TidyPlan, set[str]]:
        """Delete the chunks of ``articles`` (of all: None) that no manifest and no live writer needs,
        ids in ``keep`` excepted, and story documents of articles with no manifest whose writer is gone;
        the second value: articles whose manifest is short of chunks. ``own``: ``articles`` are the
        caller's own write, so not left alone as busy (else a write of them in another thread of this
        process keeps them). Inside ``_use``; the order of the reads (chunks, then heartbeats, then
        manifests) is what makes it safe (``rag.index.writers``)."""
        listed, docs = self._list(articles)
        live, expired = self._live()
        manifests = self._manifests(articles)
        hashes = {a: str(m.get("content_hash", "")) for a, m in manifests.items()}
        texts: dict[str, str] = {}
        doubtful = sorted(suspects(listed, hashes))
        for batch in batches(doubtful):
            got = self._articles.get(ids=batch, include=["documents", "metadatas"])
            for i, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                texts[i], hashes[i], manifests[i] = str(text), str(meta.get("content_hash", "")), meta
        busy = self.writer.busy_now() - (frozenset(articles or ()) if own else frozenset())
        plan = plan_tidy(listed, hashes, texts, live, text_hash, keep, busy)
        for writer, ids in plan.chunks.items():
            for page in batches(ids):
                # guarded: a chunk another writer upserted since the listing stays ("": written before
                # writers were recorded)
                self._chunks.delete(ids=page, where={"writer": writer} if writer else None)
        stale_docs: dict[str, list[str]] = {}
        for article, writer in docs.items():
            if article not in hashes and article not in busy and (not writer or writer not in live):
                stale_docs.setdefault(writer, []).append(article)
        for writer, ids in stale_docs.items():
            self._documents.delete(ids=ids, where={"writer": writer} if writer else None)
        for writer, beat in expired.items():
            self._writers.delete(ids=[writer], where={"beat": beat})
        if plan.chunks:
            log.info(
                "removed %d chunk(s) of %d article(s) that no writer needs", plan.count, len(plan.articles)
            )
        counts = {a: int(m.get("chunk_count", 0)) for a, m in manifests.items()}
        deleted = [i for ids in plan.chunks.values() for i in ids]
        short = short_articles(listed, hashes, counts, texts, text_hash, deleted) - busy
        return plan, {str(manifests[a].get("source", a)) for a in short}

    def repair(self) -> Repair:
        """Delete chunks that no manifest and no live writer needs (left by an interrupted ingest, or by a
        writer that lost a race on one file), and find articles short of chunks."""
        with self._exclusive(), self._use(), _translated("checking for interrupted ingests"):
            plan, short = self._tidy(None)
            if plan.count:
                self._touch()
        if short:
            log.warning(
                "%d article(s) have fewer chunks than their manifest lists (%s): an ingest of their files "
                "redoes them",
                len(short),
                ", ".join(sorted(short)[:5]) + (", ..." if len(short) > 5 else ""),
            )
        return Repair(len(plan.articles), plan.count, frozenset(short))

    def remove_orphans(self) -> int:
        """Delete chunks whose article has no manifest (left by an interrupted ingest), or that are not
        exact spans of its text, unless a live writer wrote them; the number of articles cleaned."""
        return self.repair().articles
