"""Several writers on one Chroma server (``rag.index.writers``): which writers are live, what a tidy may
delete, a writer that cannot beat refusing to write manifests; then against a real `chroma run`: a repair
leaves a live writer's unfinished article alone and removes an expired one's, and two `rag ingest`
processes (two index folders, one server) write overlapping folders while one of them is killed with
SIGKILL at random moments, checked from a fresh process: no duplicates, no lost articles, exact spans."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ConfigError, StoreError
from rag.index.records import text_hash
from rag.index.writers import Listed, Writer, WriterTiming, live_writers, plan_tidy, short_articles, suspects
from rag.settings import Settings

from .conftest import ROOT, json_server

SECOND = 1_000_000_000  # ns


# --- pure logic ---------------------------------------------------------------------------------------


def test_live_writers_are_judged_by_the_servers_clock():
    now = 1_800_000_000 * SECOND
    beats = {
        "fresh": {"beat": now - 2 * SECOND, "expiry_s": 30.0},
        "old": {"beat": now - 31 * SECOND, "expiry_s": 30.0},
        "patient": {"beat": now - 31 * SECOND, "expiry_s": 60.0},  # its own longer expiry counts
        "ahead": {"beat": now + 5 * SECOND},  # stamped by a clock read after ours
        "me": {"beat": now - 99 * SECOND},
    }
    live, expired = live_writers(beats, now, WriterTiming(5.0, 30.0), me="me")
    assert live == {"fresh", "patient", "ahead"} and expired == {"old"}


def _chunk(cid, article, writer, text, start, content="v1"):
    return Listed(cid, article, writer, start, start + len(text), text_hash(text), content)


def test_a_tidy_deletes_only_what_no_manifest_and_no_live_writer_needs():
    text = "Alpha beta. Gamma delta."
    listed = [
        _chunk("a1", "A", "dead", "Alpha beta.", 0),  # exact span of A's manifest: kept
        _chunk("a2", "A", "dead", "Gamma delta!", 12, "v0"),  # not an exact span, writer gone: deleted
        _chunk("a3", "A", "live", "Zeta.", 12, "v0"),  # not exact, but its writer is live: kept
        _chunk("a4", "A", "dead", "Gamma delta.", 12, "v0"),  # another version, same span and text: kept
        _chunk("b1", "B", "dead", "Orphan.", 0),  # no manifest, writer gone: deleted
        _chunk("b2", "B", "live", "In progress.", 0),  # no manifest, writer live: kept
        _chunk("c1", "C", "", "Old.", 0),  # written before writers were recorded, no manifest: deleted
        _chunk("d1", "D", "me", "Being written.", 0),  # in the write's new set: kept
        _chunk("d2", "D", "me", "Old version.", 0),  # this writer's own stale chunk: deleted
        _chunk("e1", "E", "dead", "Busy.", 0),  # an article this process is writing now: kept
    ]
    hashes = {"A": "v1"}
    assert suspects(listed, hashes) == {"A"}
    plan = plan_tidy(
        listed,
        hashes,
        {"A": text},
        live={"live"},
        text_hash=text_hash,
        keep=frozenset({"d1"}),
        busy=frozenset({"E"}),
    )
    assert plan.chunks == {"dead": ["a2", "b1"], "": ["c1"], "me": ["d2"]}
    assert plan.articles == {"A", "B", "C", "D"} and plan.count == 4
    # without the manifest's text, a chunk cut from another text is kept (it might be an exact span)
    assert plan_tidy(listed[:2], hashes, {}, set(), text_hash).count == 0


def test_short_articles_are_found():
    text = "Alpha beta. Gamma delta."
    listed = [_chunk("a1", "A", "w", "Alpha beta.", 0), _chunk("b1", "B", "w", "One.", 0)]
    hashes = {"A": "v1", "B": "v1"}
    assert short_articles(listed, hashes, {"A": 2, "B": 1}, {"A": text}, text_hash) == {"A"}
    assert short_articles(listed, hashes, {"A": 1, "B": 1}, {}, text_hash, deleted=["b1"]) == {"B"}


def test_a_writer_that_cannot_beat_refuses_to_write_manifests():
    calls = []

    def beat():
        calls.append(time.monotonic())
        if len(calls) > 1:
            raise OSError("server unreachable")

    finished, dropped = [], []
    writer = Writer(WriterTiming(0.05, 0.2), heartbeats=True)
    with writer.active(beat, finished.append, lambda: dropped.append(True)):
        writer.check()  # the first beat was stored
        with writer.writing(["A"]):
            assert writer.busy["A"] == 1
            time.sleep(0.3)
            with pytest.raises(StoreError, match="RAG_WRITER_EXPIRY_S"):
                writer.check()
        assert not writer.busy
    assert len(calls) >= 3  # the thread kept trying
    assert finished == [{"A"}] and dropped == [True]
    Writer(WriterTiming(0.05, 0.2), heartbeats=False).check()  # embedded: no heartbeat to judge


def _beat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "rag-writer-heartbeat"]


def test_ctrl_c_at_the_end_of_a_session_still_stops_the_heartbeat():
    """A KeyboardInterrupt in the body and then in the closing tidy (Ctrl+C pressed twice): the heartbeat
    thread stops and its record is dropped, so a long-lived process is not taken for a live writer."""
    before = set(_beat_threads())
    dropped = []

    def finish(written):
        raise KeyboardInterrupt

    writer = Writer(WriterTiming(0.02, 1.0), heartbeats=True)
    with pytest.raises(KeyboardInterrupt):
        with writer.active(lambda: None, finish, lambda: dropped.append(True)):
            with writer.writing(["A"]):
                raise KeyboardInterrupt
    assert dropped == [True]
    time.sleep(0.1)
    assert set(_beat_threads()) <= before and writer._thread is None
    # and the writer can start a new session afterwards
    with writer.active(lambda: None, lambda written: None, lambda: dropped.append(True)):
        assert writer._thread is not None and writer._thread.is_alive()
    assert dropped == [True, True] and writer._thread is None


def test_a_beat_stuck_on_the_server_does_not_hang_the_end_of_a_session(caplog):
    stuck, calls = threading.Event(), []

    def beat():
        calls.append(1)
        if len(calls) > 1:
            stuck.wait(30)  # an unreachable server: the call does not return

    dropped = []
    writer = Writer(WriterTiming(0.02, 0.5), heartbeats=True)
    ended = threading.Event()

    def session():
        with writer.active(beat, lambda written: None, lambda: dropped.append(True)):
            time.sleep(0.1)  # the second beat starts and sticks
        ended.set()

    try:
        threading.Thread(target=session, daemon=True).start()
        assert ended.wait(5), "the session did not end while a beat was stuck"
    finally:
        stuck.set()
    assert dropped == [True] and len(calls) == 2
    assert "did not stop within" in caplog.text


def test_writer_settings_are_checked():
    s = Settings.from_env({"RAG_WRITER_HEARTBEAT_S": "0.5", "RAG_WRITER_EXPIRY_S": "3"})
    assert WriterTiming.of(s) == WriterTiming(0.5, 3.0)
    assert WriterTiming.of(Settings.from_env({})) == WriterTiming(5.0, 30.0)
    with pytest.raises(ConfigError, match="RAG_WRITER_EXPIRY_S"):
        Settings.from_env({"RAG_WRITER_HEARTBEAT_S": "5", "RAG_WRITER_EXPIRY_S": "6"})
    with pytest.raises(ConfigError, match="RAG_WRITER_HEARTBEAT_S"):
        Settings.from_env({"RAG_WRITER_HEARTBEAT_S": "0"})


class _HashEmbedder:
    def embed_documents(self, texts):
        vectors = [np.random.default_rng(int(text_hash(t)[:8], 16)).normal(size=8) for t in texts]
        return np.asarray(vectors, dtype=np.float32)


def test_the_ingest_says_which_short_articles_it_redoes(tmp_path, caplog):
    """The repair reports every short article, but an ingest redoes only those among its own files."""
    import logging

    from rag.index.build import IngestOptions, ingest
    from rag.index.store import Store

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for stem in ("one", "two"):
        sentences = " ".join(f"Sentence {i} of article {stem} is here." for i in range(8))
        (corpus / f"{stem}.txt").write_text(f"Title {stem}\n\n{sentences}\n", encoding="utf-8")
    store = Store(tmp_path / "index")
    options = IngestOptions(120, 0, 1_000_000)
    ingest([corpus], store, _HashEmbedder, options)
    for record in store.articles().values():  # a chunk of each lost to a race
        got = store._chunks.get(where={"article_id": record.article_id}, include=[])
        store._chunks.delete(ids=got["ids"][:1])
    one, two = (os.path.normpath(corpus / f"{stem}.txt") for stem in ("one", "two"))
    with caplog.at_level(logging.INFO, logger="rag.index"):
        report = ingest([corpus / "one.txt"], store, _HashEmbedder, options)
    assert report.updated == (one,)
    assert "redoing them" not in caplog.text and "an ingest of their files redoes them" in caplog.text
    assert f"redoing {one}" in caplog.text and f"redoing {two}" not in caplog.text


# --- a real Chroma server -----------------------------------------------------------------------------


class _Refusing:
    """A Chroma collection that refuses upserts: the write dies just before its manifests."""

    def __init__(self, real):
        self.real = real

    def __getattr__(self, name):
        return getattr(self.real, name)

    def upsert(self, **kwargs):
        raise RuntimeError("killed before the manifest")


def _write_without_manifest(store, source: str, text: str) -> None:
    from rag.ingest.chunking import chunk_article
    from rag.ingest.corpus import Article, sha256_text

    article = Article(source, text, "t", "en", sha256_text(text))
    chunks = chunk_article(article, 60, 0)
    vectors = np.random.default_rng(len(source)).normal(size=(len(chunks), 8)).astype(np.float32)
    articles = store._articles
    store._articles = _Refusing(articles)
    try:
        with pytest.raises(StoreError, match="killed before the manifest"):
            store.replace_article(article, chunks, vectors)
    finally:
        store._articles = articles


def _chunks_by_source(store) -> dict[str, int]:
    counts: dict[str, int] = {}
    for chunk in store.all_chunks():
        counts[chunk.source] = counts.get(chunk.source, 0) + 1
    return counts


def test_repair_leaves_a_live_writers_article_alone_and_removes_an_expired_ones(
    chroma_server, tmp_path, monkeypatch
):
    from rag.index.store import Store

    timing = WriterTiming(0.2, 1.0)
    live, dead, repairer = (
        Store(tmp_path / name, "repair", chroma_server, timing=timing)
        for name in ("live", "dead", "repairer")
    )
    text = " ".join(f"Sentence number {i} of this article." for i in range(6))
    monkeypatch.setattr(dead, "_finish", lambda written: None)  # a killed writer neither tidies
    monkeypatch.setattr(dead, "_drop_beat", lambda: None)  # nor removes its heartbeat
    with live.writing():
        _write_without_manifest(live, "live.txt", text)
        with dead.writing():
            _write_without_manifest(dead, "dead.txt", text)
        before = _chunks_by_source(repairer)
        assert set(before) == {"live.txt", "dead.txt"} and not repairer.articles()
        assert repairer.repair().articles == 0  # the dead writer's heartbeat has not expired yet
        assert _chunks_by_source(repairer) == before
        time.sleep(1.3)
        repaired = repairer.repair()
        assert (repaired.articles, repaired.chunks) == (1, before["dead.txt"])
        assert _chunks_by_source(repairer) == {"live.txt": before["live.txt"]}  # the live one: untouched
        assert dead.writer.id not in repairer._writers.get()["ids"]  # its expired heartbeat went too
        assert live.writer.id in repairer._writers.get()["ids"]
    # the live writer's session ended: it removed its own unfinished chunks and its heartbeat
    assert repairer.count() == 0 and repairer._writers.get()["ids"] == []
    assert repairer.remove_orphans() == 0


def _article(source: str, text: str):
    from rag.ingest.chunking import chunk_article
    from rag.ingest.corpus import Article, sha256_text

    article = Article(source, text, "t", "en", sha256_text(text))
    chunks = chunk_article(article, 60, 0)
    vectors = np.random.default_rng(len(text)).normal(size=(len(chunks), 8)).astype(np.float32)
    return article, chunks, vectors


def _doc(article):
    from rag.index.stories import Document

    vector = np.ones(8, np.float32) / 8**0.5
    return Document(article.article_id, "en", vector, frozenset(), article.article_id)


def _stored(store, article_id: str) -> tuple[set[str], bool, bool]:
    """The ids of an article's stored chunks, and whether its manifest and its story document exist."""
    chunks = set(store._chunks.get(where={"article_id": article_id}, include=[])["ids"])
    has_manifest = bool(store._articles.get(ids=[article_id], include=[])["ids"])
    has_doc = bool(store._documents.get(ids=[article_id], include=[])["ids"])
    return chunks, has_manifest, has_doc


@pytest.mark.parametrize("moment", ["after its manifest delete", "after its tidy read the manifests"])
def test_remove_keeps_a_new_manifest_that_a_live_writer_writes_meanwhile(
    chroma_server, tmp_path, monkeypatch, moment
):
    """Another machine ingests the file again while it is being removed: its manifest, written after the
    remove deleted the old one, keeps all its chunks (and story document): never a manifest without
    chunks."""
    from rag.index.store import Store

    name = "remove-race-" + moment.split()[-1]
    timing = WriterTiming(0.2, 5.0)
    old, new, remover = (
        Store(tmp_path / n, name, chroma_server, timing=timing) for n in ("old", "new", "remover")
    )
    text = " ".join(f"Sentence number {i} of this article." for i in range(6))
    a1, c1, v1 = _article("x.txt", text)
    a2, c2, v2 = _article("x.txt", text + " And one more sentence at its end.")
    old.replace_articles([(a1, c1, v1)], documents=[_doc(a1)])
    assert {c.id for c in c1} & {c.id for c in c2}  # the new version shares chunks with the old one

    def ingest_again():
        new.replace_articles([(a2, c2, v2)], documents=[_doc(a2)])

    with new.writing():  # the other machine's ingest: live throughout
        if moment == "after its manifest delete":
            articles = remover._articles

            class Racing:
                def __getattr__(self, attr):
                    return getattr(articles, attr)

                def delete(self, **kwargs):
                    articles.delete(**kwargs)
                    ingest_again()

            monkeypatch.setattr(remover, "_articles", Racing())
        else:
            manifests = remover._manifests

            def racing(ids):
                found = manifests(ids)
                ingest_again()
                return found

            monkeypatch.setattr(remover, "_manifests", racing)
        assert remover.remove_article("x.txt").content_hash == a1.content_hash
        monkeypatch.undo()
        chunks, has_manifest, has_doc = _stored(remover, a2.article_id)
        assert has_manifest and chunks == {c.id for c in c2} and has_doc
        assert remover.articles()["x.txt"].content_hash == a2.content_hash
        assert remover.repair().short == frozenset()
    assert _stored(remover, a2.article_id) == ({c.id for c in c2}, True, True)


def test_remove_removes_everything_of_an_article(chroma_server, tmp_path):
    """Plain removal, on a server (by another machine, or by the writer itself inside its session) and
    embedded: manifest, chunks and story document all go, the other article stays."""
    from rag.index.store import Store
    from rag.ingest.corpus import article_id

    timing = WriterTiming(0.2, 5.0)
    text = " ".join(f"Sentence number {i} of this article." for i in range(6))
    items = [_article(f"{s}.txt", f"{s.title()}. " + text) for s in ("one", "two", "three")]
    docs = [_doc(a) for a, _, _ in items]
    server = Store(tmp_path / "w", "remove-plain", chroma_server, timing=timing)
    other = Store(tmp_path / "o", "remove-plain", chroma_server, timing=timing)
    embedded = Store(tmp_path / "embedded")
    for store in (server, embedded):
        store.replace_articles(items, documents=docs)
    other.remove_article("one.txt")  # another machine, the writer finished
    with server.writing():
        server.replace_articles(items[1:], documents=docs[1:])
        server.remove_article("two.txt")  # its own chunks, inside its own session
    embedded.remove_article("one.txt")
    for store, gone, kept in ((other, ("one", "two"), "three"), (embedded, ("one",), "two")):
        for g in gone:
            assert _stored(store, article_id(f"{g}.txt")) == (set(), False, False)
        article, chunks, _ = next(i for i in items if i[0].source == f"{kept}.txt")
        assert _stored(store, article.article_id) == ({c.id for c in chunks}, True, True)
    assert other._writers.get()["ids"] == []  # the removes' heartbeats went with them


LANGUAGES = {
    "en": ("In {city}, {n} residents attended meeting {tag} on Monday.", "Officials approved plan {tag}."),
    "id": (
        "Di {city}, {n} warga menghadiri rapat {tag} pada hari Senin.",
        "Pejabat menyetujui rencana {tag}.",
    ),
    "ru": ("В городе {city} {n} жителей пришли на собрание {tag}.", "Чиновники одобрили план {tag}."),
    "de": ("In {city} kamen {n} Einwohner zur Versammlung {tag}.", "Die Behörden billigten Plan {tag}."),
    "fr": ("À {city}, {n} habitants ont assisté à la réunion {tag}.", "Les élus ont approuvé le plan {tag}."),
    "es": (
        "En {city}, {n} vecinos asistieron a la reunión {tag}.",
        "Las autoridades aprobaron el plan {tag}.",
    ),
}
CITIES = ("Jakarta", "Kazan", "Lyon", "Bremen", "Sevilla", "Leeds", "Bandung", "Tomsk")


def write_article(path: Path, i: int, version: int, rng: random.Random) -> None:
    """A small article of 2-4 chunks (at 200 characters) whose every sentence is unique."""
    lang = list(LANGUAGES)[i % len(LANGUAGES)]
    first, second = LANGUAGES[lang]
    sentences = [
        (first if k % 2 == 0 else second).format(
            city=rng.choice(CITIES), n=rng.randint(10, 999), tag=f"{i}.{version}.{k}"
        )
        for k in range(rng.randint(4, 8))
    ]
    path.write_text(f"Report {i}.{version}\n\n{' '.join(sentences)}\n", encoding="utf-8")


@pytest.fixture()
def hash_embeddings():
    """An OpenAI-compatible /v1/embeddings server with deterministic 16-d vectors from a hash of each
    text, answering after 30 ms (so an ingest lasts long enough to be killed in the middle)."""

    def answer(path, body):
        data = []
        for i, text in enumerate(body["input"]):
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)
            v = np.random.default_rng(seed).normal(size=16)
            data.append({"index": i, "embedding": (v / np.linalg.norm(v)).tolist()})
        time.sleep(0.03)
        return 200, {"data": data}

    with json_server(answer) as url:
        yield f"{url}/v1"


@pytest.fixture()
def far_chroma(chroma_server):
    """The Chroma server as seen from another machine: a TCP proxy that delays every piece of data by
    LATENCY_S each way, so each write of a group of articles takes long enough to be overlapped."""
    import socket
    from urllib.parse import urlparse

    upstream = urlparse(chroma_server)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                time.sleep(LATENCY_S)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection((upstream.hostname, upstream.port))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


LATENCY_S = 0.01

# `rag ingest` with many small write batches (many points to be killed between)
INGEST = "import rag.index.build as b; b.GROUP_CHUNKS = 4; from rag.cli import main; sys.exit(main())"
DUMP = textwrap.dedent("""
    import json, sys
    from rag.index.store import Store
    store = Store(sys.argv[1], sys.argv[2], sys.argv[3])
    records = store.articles()
    print(json.dumps({
        "articles": {s: [r.content_hash, r.chunk_count, store.article_text(s)] for s, r in records.items()},
        "chunks": [[c.id, c.source, c.start, c.end, c.text] for c in store.all_chunks()],
    }))
""")


def test_two_ingests_on_one_server_with_one_killed_at_random(
    chroma_server, far_chroma, hash_embeddings, tmp_path
):
    """Two `rag ingest` processes (own index folders, one server, heartbeat 0.5 s, expiry 3 s) ingest
    folders that share 14 files, some rewritten while they run; in each of 4 rounds one of them is killed
    with SIGKILL at a random moment and the other completes. After each round, from a fresh process: no
    duplicate chunks and every manifest's chunks all there and exact. After the killed writer expired,
    one more run of both: every file has its manifest and exactly its chunks, no orphans."""
    from rag.index.build import IngestOptions
    from rag.ingest.corpus import load_file

    rng = random.Random(19_02)
    corpus = tmp_path / "corpus"
    folders = {name: corpus / name for name in ("shared", "one", "two")}
    files: list[Path] = []
    for name, count, first in (("shared", 14, 0), ("one", 9, 100), ("two", 9, 200)):
        folders[name].mkdir(parents=True)
        for i in range(first, first + count):
            files.append(folders[name] / f"{i:03d}.txt")
            write_article(files[-1], i, 0, rng)
    shared = [f for f in files if f.parent == folders["shared"]]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAG_CHROMA_URL": far_chroma,
        "RAG_COLLECTION": "writers",
        "RAG_EMBEDDING_URL": hash_embeddings,
        "RAG_EMBEDDING_NAME": "hash16",
        "RAG_WRITER_HEARTBEAT_S": "0.5",
        "RAG_WRITER_EXPIRY_S": "3",
        "RAG_CHUNK_CHARS": "200",
        "RAG_CHUNK_OVERLAP_CHARS": "40",
        "RAG_PROGRESS": "0",
    }

    def start(name: str, order: list[Path]) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", f"import sys; {INGEST}", "--index", str(tmp_path / name), "ingest"]
            + [str(p) for p in order],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def dump() -> dict:
        proc = subprocess.run(
            [sys.executable, "-c", DUMP, str(tmp_path / "check"), "writers", chroma_server],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)

    def check(state: dict) -> dict[str, list[str]]:
        """No duplicates; every manifest's chunks present and exact. Returns chunk ids by source."""
        ids = [c[0] for c in state["chunks"]]
        assert len(ids) == len(set(ids))
        spans = [(c[1], c[2], c[3]) for c in state["chunks"]]
        assert len(spans) == len(set(spans)), "two chunks of one article with the same span"
        by_source: dict[str, list[str]] = {}
        exact: dict[str, int] = {}
        for cid, source, start, end, text in state["chunks"]:
            by_source.setdefault(source, []).append(cid)
            if source in state["articles"] and state["articles"][source][2][start:end] == text:
                exact[source] = exact.get(source, 0) + 1
        for source, (_, count, _) in state["articles"].items():
            assert exact.get(source, 0) == count, (source, count, exact.get(source))
        return by_source

    kills, started_all = [], time.monotonic()
    for round_ in range(4):
        for path in rng.sample(shared, 3):  # rewritten before the round
            write_article(path, int(path.stem), round_ + 1, rng)
        orders = {
            "one": [folders["shared"], folders["one"]],
            "two": [folders["two"], folders["shared"]] if round_ % 2 else [folders["shared"], folders["two"]],
        }
        first, second = rng.sample(sorted(orders), 2)
        procs, began = {first: start(first, orders[first])}, {first: time.monotonic()}
        time.sleep(rng.uniform(0.5, 4.0))  # so the second one's repair runs while the first one writes
        procs[second], began[second] = start(second, orders[second]), time.monotonic()
        name = rng.choice([first, second])
        victim, survivor = procs[name], procs[second if name == first else first]
        delay = rng.uniform(2.5, 8.0)  # after its start, of which start-up is about 2-4 s
        rewrite_at = rng.uniform(1.0, 5.0)
        rewritten = False
        while time.monotonic() - began[name] < delay and victim.poll() is None:
            if not rewritten and time.monotonic() - began[second] > rewrite_at:
                for path in rng.sample(shared, 2):  # rewritten while both may be reading it
                    write_article(path, int(path.stem), 10 + round_, rng)
                rewritten = True
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        _, err = victim.communicate(timeout=60)
        kills.append((round(delay, 2), victim.returncode))
        out, err = survivor.communicate(timeout=300)
        assert survivor.returncode == 0, err[-3000:]
        check(dump())
    assert any(rc == -signal.SIGKILL for _, rc in kills), kills  # at least one was killed mid-way

    time.sleep(3.5)  # the killed writer's heartbeat expires
    final = [
        start("one", [folders["shared"], folders["one"]]),
        start("two", [folders["shared"], folders["two"]]),
    ]
    for proc in final:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    state = dump()
    by_source = check(state)
    options = IngestOptions(200, 40, 20 * 1024 * 1024)
    expected = {}
    for path in files:
        article = load_file(path, options.max_bytes)
        expected[article.source] = article
    assert set(state["articles"]) == set(expected), "an article was lost (or one too many)"
    assert set(by_source) == set(expected), "chunks of an article with no manifest"
    for source, article in expected.items():
        content_hash, count, text = state["articles"][source]
        assert (content_hash, text) == (article.content_hash, article.text), source
        assert sorted(by_source[source]) == sorted(c.id for c in options.chunks(article)), source
        assert count == len(by_source[source])
    print(f"kills {kills}, {time.monotonic() - started_all:.0f}s")
