"""Several writers on one Chroma server without a lock (index stage): who writes (``Writer``: an id and a
heartbeat), which writers are alive (``live_writers``), and what a tidy may delete (``plan_tidy``).
``rag.index.store`` runs the protocol; this module holds its parts, pure logic apart from the heartbeat
thread.

Chroma has no compare-and-set, so a lease record could be taken by two writers at once. Instead, nothing
here ever needs exclusive access; what a write or a repair may delete is limited to records that no
manifest and no live writer needs.

Records. Chunk ids are deterministic (``rag.ingest.chunking``: a hash of source, span and text), so the same
passage written twice is one record (an upsert), and a chunk is an exact span of an article text T exactly
when ``T[start:end]`` has its text. Every chunk and story document records its ``writer`` (id
``host:pid:random``, one per writing ``Store``). On a server, a writer keeps a heartbeat record in
``<name>-writers`` (its id -> the time of its last beat by the server's clock), refreshed every
``RAG_WRITER_HEARTBEAT_S`` seconds by a daemon thread from the start of an ingest (or of a single write)
to its end, and deleted at its end. A writer is live while its last beat is at most
``RAG_WRITER_EXPIRY_S`` old; an absent record is a finished or unknown writer, the same as an expired one.

A write of a group of articles (``Store.replace_articles``): (1) the old manifests out; (2) a tidy of those
articles that keeps the new chunk ids; (3) the new chunks upserted, then the story documents; (4) the
writer checks its own heartbeat is fresh, else it stops (``StoreError``) before (5) the manifests (text and
record, one upsert per article) go in, last; (6) the new chunks are read back and any missing one is
upserted again. At the end of an ingest, a tidy of every article it wrote removes its own chunks that
lost to another writer's manifest. The repair that starts every ingest (``Store.repair``) is a tidy of all
articles, and it also reports articles whose manifest has fewer chunks than it lists, which the ingest
then redoes (those among its files). A removal (``Store.remove_article``) is a writing session too: the
manifest out, then a tidy of that article, so a manifest another writer writes meanwhile keeps its chunks
(and its story document).

A tidy lists the articles' chunks (id, writer, span, hashes), then reads the heartbeats, then the manifests
(so a manifest written after the listing is seen), and deletes a chunk only when all hold: its writer is
not live (or is this writer), its id is not in the write's new set, and its article has no manifest or the
chunk is not an exact span of the manifest's text. Each delete carries the writer the chunk was listed
with as a ``where`` guard, evaluated by the server: a chunk upserted again since the listing by another
writer survives. Story documents of articles with no manifest go the same way; expired heartbeat records
are deleted, guarded by their beat.

Why a manifest never loses a chunk. A manifest is written only after all its chunks were upserted by its
writer W. Another tidy deletes such a chunk c only if it listed c with a writer that is not live: not W
(W is live until it finishes, and a finished W's chunks are in a manifest or unneeded), so c was listed
before W's upsert, and the guarded delete then either runs before the upsert (which writes c again) or
finds c's writer changed and keeps it. A tidy that reads the manifest keeps every exact span of it. What is
left is Chroma's own get-then-delete inside one guarded call (not atomic in the server): W's read-back (6)
re-upserts a chunk lost in that window, and if W dies before that, the next repair finds the manifest
short and the next ingest of the file redoes it.

The races of issue 19:
(a) two writers on one file at once. Same text: same chunk ids, so both upserts write the same records and
    nothing is deleted (a tidy keeps exact spans of the manifest, and each write's new set). Different
    texts: neither deletes chunks of the other while it is live; the manifest written last wins (its text
    and its chunk list belong together, being one record, and its chunks were all upserted before it);
    the loser's chunks are not exact spans of the winner's text, and the loser deletes them itself in the
    tidy at the end of its ingest (or any repair does once it is gone).
(b) a writer killed mid-write leaves chunks without a manifest, never a manifest without chunks (the old
    manifest goes first, the new one last). Its heartbeat stops; until it expires every tidy leaves its
    chunks alone, after that any writer's repair deletes those no manifest needs.
(c) a slow writer keeps beating from its own thread however long embedding or a write takes, so it is
    never taken for dead while it runs. One whose beats fail (cut off, or the process paused) for
    ``expiry - interval`` seconds refuses to write a manifest; if it was paused right after that check
    and repaired meanwhile, its read-back (6) restores its chunks, and failing that the next repair
    reports the article short and it is redone.
(d) clock skew: beats carry the Chroma server's own clock (its heartbeat endpoint, in nanoseconds), and age
    is judged against the same clock read just before, so the writers' clocks may differ freely. A reader
    uses the larger of its own and the writer's recorded expiry. Assumed: the server's clock does not jump
    forward by more than ``expiry - interval`` during a write (a jump can only make a live writer look
    dead, which (c) covers).

Embedded mode (no server): the ingest lock (``rag.index.build.ingest_lock``) serialises the ingests of
one folder, so no heartbeat is kept and every other writer counts as gone: a repair removes a killed
ingest's chunks at once, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rag.errors import StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriterTiming:
    """How often a writer beats and how long a silent one is still taken for alive (seconds)."""

    heartbeat_s: float = 5.0
    expiry_s: float = 30.0

    @classmethod
    def of(cls, settings: Any) -> WriterTiming:
        return cls(settings.writer_heartbeat_s, settings.writer_expiry_s)

    @classmethod
    def from_env(cls) -> WriterTiming:
        from rag.settings import Settings

        return cls.of(Settings.from_env())


class Writer:
    """One writing ``Store``'s identity: its id, the articles it is writing now (``busy``) and wrote in the
    current session (``written``), and (with ``heartbeats``) a thread that refreshes its heartbeat record
    while any ``active()`` block runs."""

    def __init__(self, timing: WriterTiming, heartbeats: bool) -> None:
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.timing = timing
        self.heartbeats = heartbeats
        self.busy: Counter[str] = Counter()  # article ids in a write of this process now
        self.written: set[str] = set()  # article ids written since the outermost active() began
        self._lock = threading.RLock()  # held while finishing, which reads busy_now()
        self._depth = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fresh_at = 0.0  # monotonic time just before the clock of the last stored beat was read

    @contextlib.contextmanager
    def active(
        self, beat: Callable[[], None], finish: Callable[[set[str]], None], drop: Callable[[], None]
    ) -> Iterator[Writer]:
        """Beat (``beat()`` stores one heartbeat) from the first entry until the last exit; then
        ``finish(written)`` (the tidy of what this session wrote) and ``drop()`` the heartbeat record, so
        the writer's leftovers count as gone at once. Re-entrant, also across threads."""
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                self.written = set()
                if self.heartbeats:
                    try:
                        self._beat_once(beat, raise_errors=True)
                    except BaseException:
                        self._depth -= 1
                        raise
                    self._stop = threading.Event()  # one per thread: a late old thread never beats on
                    self._thread = threading.Thread(
                        target=self._run, args=(beat, self._stop), name="rag-writer-heartbeat", daemon=True
                    )
                    self._thread.start()
        try:
            yield self
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    try:
                        if self.written:
                            finish(set(self.written))
                    except Exception as exc:
                        log.warning("writer %s could not tidy the articles it wrote: %s", self.id, exc)
                    finally:  # also on Ctrl+C in the tidy: else a long-lived process beats on forever
                        self._end(drop)

    @contextlib.contextmanager
    def writing(self, articles: Iterable[str]) -> Iterator[None]:
        """Mark ``articles`` busy in this process while a write of them runs."""
        ids = list(articles)
        with self._lock:
            self.busy.update(ids)
            self.written.update(ids)
        try:
            yield
        finally:
            with self._lock:
                self.busy.subtract(ids)
                self.busy = +self.busy

    def busy_now(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self.busy)

    def _end(self, drop: Callable[[], None]) -> None:
        """Stop the heartbeat thread (waiting at most ``expiry_s`` for a beat in flight) and ``drop()`` the
        heartbeat record."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        try:
            thread.join(self.timing.expiry_s)
            if thread.is_alive():
                log.warning(
                    "the heartbeat of writer %s did not stop within %gs (a beat stuck on the server?): "
                    "leaving it behind",
                    self.id,
                    self.timing.expiry_s,
                )
        finally:
            try:
                drop()
            except Exception as exc:
                log.warning("could not remove the heartbeat of writer %s: %s", self.id, exc)

    def _run(self, beat: Callable[[], None], stop: threading.Event) -> None:
        while not stop.wait(self.timing.heartbeat_s):
            self._beat_once(beat)

    def _beat_once(self, beat: Callable[[], None], raise_errors: bool = False) -> None:
        started = time.monotonic()
        try:
            beat()
        except Exception as exc:
            if raise_errors:
                raise
            log.warning("writer %s could not refresh its heartbeat: %s", self.id, exc)
            return
        self._fresh_at = started

    def check(self) -> None:
        """Raise when other writers may already take this one for gone (no beat stored for
        ``expiry - interval`` seconds): its unfinished articles may have been repaired away."""
        if not self.heartbeats:
            return
        silent = time.monotonic() - self._fresh_at
        if silent > self.timing.expiry_s - self.timing.heartbeat_s:
            raise StoreError(
                f"writer {self.id} could not refresh its heartbeat for {silent:.0f}s "
                f"(RAG_WRITER_EXPIRY_S={self.timing.expiry_s:g}): stopping before writing manifests; "
                "the next ingest redoes the unfinished articles"
            )

    def beat_meta(self, now_ns: int) -> dict[str, Any]:
        """The heartbeat record's metadata at server time ``now_ns``."""
        host, pid, _ = self.id.split(":", 2)
        return {"beat": int(now_ns), "host": host, "pid": int(pid), "expiry_s": float(self.timing.expiry_s)}


def live_writers(
    beats: Mapping[str, Mapping[str, Any]], now_ns: int, timing: WriterTiming, me: str = ""
) -> tuple[set[str], set[str]]:
    """(live, expired) writer ids other than ``me`` among the heartbeat records ``beats`` (id ->
    metadata) at server time ``now_ns``. A writer is live for the larger of its own and ``timing``'s
    expiry; a beat from the future (a clock read later than ``now_ns``) is live."""
    live: set[str] = set()
    expired: set[str] = set()
    for writer, meta in beats.items():
        if writer == me:
            continue
        expiry = max(timing.expiry_s, float(meta.get("expiry_s", 0.0)))
        age_s = (now_ns - int(meta.get("beat", 0))) / 1e9
        (live if age_s <= expiry else expired).add(writer)
    return live, expired


@dataclass(frozen=True)
class Listed:
    """A chunk as a tidy listed it: its id and the metadata that decide whether it may go."""

    id: str
    article: str
    writer: str  # "" for a chunk written before writers were recorded
    start: int
    end: int
    text_hash: str  # of the chunk's text (``rag.index.records.text_hash``)
    content_hash: str  # of the article text it was cut from

    @classmethod
    def of(cls, chunk_id: str, meta: Mapping[str, Any]) -> Listed:
        return cls(
            chunk_id,
            str(meta.get("article_id", "")),
            str(meta.get("writer", "")),
            int(meta.get("start", 0)),
            int(meta.get("end", 0)),
            str(meta.get("text_hash", "")),
            str(meta.get("content_hash", "")),
        )


@dataclass
class TidyPlan:
    """What a tidy deletes, by the writer each chunk was listed with (the guard of its delete), and the
    articles those chunks belong to."""

    chunks: dict[str, list[str]] = field(default_factory=dict)
    articles: set[str] = field(default_factory=set)

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.chunks.values())


def suspects(listed: Iterable[Listed], hashes: Mapping[str, str]) -> set[str]:
    """Articles with a manifest (``hashes``: article id -> content hash) and a chunk cut from another text:
    whether that chunk is an exact span of the manifest's text needs the text."""
    return {c.article for c in listed if c.article in hashes and c.content_hash != hashes[c.article]}


def exact(chunk: Listed, content_hash: str, text: str | None, text_hash: Callable[[str], str]) -> bool | None:
    """Whether ``chunk`` is an exact span of the article text with ``content_hash`` (``text``: that text,
    None when not read: then None unless the hashes alone decide)."""
    if chunk.content_hash == content_hash:
        return True
    if text is None:
        return None
    return 0 <= chunk.start <= chunk.end <= len(text) and text_hash(text[chunk.start : chunk.end]) == (
        chunk.text_hash
    )


def plan_tidy(
    listed: Iterable[Listed],
    hashes: Mapping[str, str],
    texts: Mapping[str, str],
    live: set[str],
    text_hash: Callable[[str], str],
    keep: frozenset[str] = frozenset(),
    busy: frozenset[str] = frozenset(),
) -> TidyPlan:
    """The deletes of a tidy. ``listed``: the chunks; ``hashes``: article id -> content hash of its manifest
    (a missing article has none); ``texts``: the manifests' texts read (of ``suspects``); ``live``: writers
    whose chunks stay (live, other than this one); ``keep``: chunk ids a write is writing; ``busy``: articles
    that a write of this process is writing (left alone)."""
    plan = TidyPlan()
    for chunk in listed:
        if chunk.article in busy or chunk.id in keep or (chunk.writer and chunk.writer in live):
            continue
        if chunk.article in hashes:
            fits = exact(chunk, hashes[chunk.article], texts.get(chunk.article), text_hash)
            if fits or fits is None:  # an exact span of the manifest's text, or not known: kept
                continue
        plan.chunks.setdefault(chunk.writer, []).append(chunk.id)
        plan.articles.add(chunk.article)
    return plan


def short_articles(
    listed: Iterable[Listed],
    hashes: Mapping[str, str],
    counts: Mapping[str, int],
    texts: Mapping[str, str],
    text_hash: Callable[[str], str],
    deleted: Iterable[str] = (),
) -> set[str]:
    """Articles whose manifest lists more chunks (``counts``) than the exact spans of its text stored
    (after ``deleted`` go): a chunk lost to a race; the next ingest redoes the article."""
    gone = set(deleted)
    found: Counter[str] = Counter()
    for chunk in listed:
        if chunk.article not in hashes or chunk.id in gone:
            continue
        if exact(chunk, hashes[chunk.article], texts.get(chunk.article), text_hash) is not False:
            found[chunk.article] += 1
    return {article for article, count in counts.items() if found[article] < count}
