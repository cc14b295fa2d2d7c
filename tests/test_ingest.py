"""Incremental ingest on a real Chroma index with the real model: no-op re-ingest, updates, removal,
bad files skipped with reasons, recovery from ingests killed with SIGKILL (at a fixed point and at random
points, repeatedly), and two ingests at once serialized by the lock."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rag.errors import StoreError

from .conftest import ROOT, SEEDS


def copy_seeds(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in SEEDS.iterdir():
        shutil.copy(path, folder / path.name)
    return folder


def test_reingest_unchanged_is_a_no_op(seed_assistant):
    before = seed_assistant.store.count()
    report = seed_assistant.ingest([SEEDS])
    assert len(report.unchanged) == 2 and not report.added and not report.updated
    assert report.chunks_embedded == 0
    assert seed_assistant.store.count() == before


def test_changed_file_replaces_its_chunks_and_remove_deletes_them(make_assistant, tmp_path):
    corpus = copy_seeds(tmp_path / "corpus")
    assistant = make_assistant()
    assistant.ingest([corpus])
    english = corpus / "002_b2e3a6e9fb9339f0.txt"
    source = os.path.normpath(english)
    old = assistant.store.articles()[source]
    english.write_text("Lavrov met Kerry in Geneva on Monday. They talked about Aleppo.", encoding="utf-8")
    report = assistant.ingest([corpus])
    assert report.updated == (source,) and len(report.unchanged) == 1
    new = assistant.store.articles()[source]
    assert new.content_hash != old.content_hash and new.chunk_count == 1
    assert (
        assistant.store.count()
        == new.chunk_count
        + assistant.store.articles()[os.path.normpath(corpus / "000_1b03c4f4f3f24ebf.txt")].chunk_count
    )
    hits = assistant.search("Where did Lavrov meet Kerry?", k=1, source=source)
    assert hits[0].text == "Lavrov met Kerry in Geneva on Monday. They talked about Aleppo."

    removed = assistant.remove("002_b2e3a6e9fb9339f0.txt")  # a unique file name is enough
    assert removed.source == source
    assert [r.source for r in assistant.sources()] == [os.path.normpath(corpus / "000_1b03c4f4f3f24ebf.txt")]
    assert all(h.source != source for h in assistant.search("Lavrov Kerry Geneva", k=5))
    with pytest.raises(StoreError, match="no article"):
        assistant.remove(source)


def test_bad_files_are_skipped_and_good_ones_ingested(make_assistant, tmp_path):
    corpus = copy_seeds(tmp_path / "mixed")
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (corpus / "huge.txt").write_bytes(b"word " * 300_000)
    (corpus / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    (corpus / "russian-cp1251.txt").write_bytes(
        "Мария Захарова заявила, что Вашингтон не выполнил обещание.".encode("cp1251")
    )
    assistant = make_assistant(max_file_mb=1)
    report = assistant.ingest([corpus])
    reasons = {Path(s.source).name: s.reason for s in report.skipped}
    assert set(reasons) == {"empty.txt", "binary.txt", "huge.txt", "photo.jpg"}
    assert "empty" in reasons["empty.txt"] and "binary" in reasons["binary.txt"]
    assert "too large" in reasons["huge.txt"] and "unsupported" in reasons["photo.jpg"]
    assert len(report.added) == 3
    hits = assistant.search("Zakharova said Washington did not keep its promise", k=3, language="ru")
    assert hits and hits[0].language == "ru" and "Захарова" in hits[0].text
    assert "skipped   " in report.summary()


KILLER = textwrap.dedent("""
    import os, signal, sys
    import rag.index.build
    from rag import Assistant
    from rag.index.store import Store

    original = Store.replace_articles
    calls = []

    class DieOnManifest:
        \"\"\"Chroma's article collection, except that writing a manifest kills the process.\"\"\"

        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def upsert(self, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

    def replace(self, items, chunking="", documents=()):
        calls.append(items)
        if len(calls) == 2:  # the second group's chunks reach Chroma, then kill -9 before its manifests
            self._articles = DieOnManifest(self._articles)
        return original(self, items, chunking, documents)

    rag.index.build.GROUP_CHUNKS = 1  # one article per group
    Store.replace_articles = replace
    Assistant.open(sys.argv[1], progress=False).ingest([sys.argv[2]])
""")


def test_ingest_killed_with_sigkill_recovers(tmp_path, embedder):
    from rag import Assistant

    corpus = copy_seeds(tmp_path / "corpus")
    index = tmp_path / "index"
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(index), str(corpus)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]

    assistant = Assistant.open(index, embedder=embedder, progress=False)  # the index still opens
    assert len(assistant.sources()) == 1  # only the article whose manifest was written
    assert assistant.store.count() > assistant.sources()[0].chunk_count  # orphan chunks are there

    report = assistant.ingest([corpus])
    assert len(report.added) == 1 and len(report.unchanged) == 1
    records = assistant.sources()
    assert len(records) == 2
    assert assistant.store.count() == sum(r.chunk_count for r in records)  # no duplicates, no orphans
    assert assistant.ingest([corpus]).chunks_embedded == 0


# Each run first reports the state the previous (killed) run left, from a fresh process, then ingests.
CHECK_THEN_INGEST = textwrap.dedent("""
    import collections, json, sys
    import rag.index.build
    from rag import Assistant
    rag.index.build.GROUP_CHUNKS = 2  # many small write batches: many points to be killed between
    a = Assistant.open(sys.argv[1], progress=False)
    records = {r.source: r.chunk_count for r in a.sources()}
    chunks = a.store.all_chunks()
    spans = collections.Counter((c.source, c.start, c.end) for c in chunks)
    hits = a.search("Syria Suriah report", k=100, mode="bm25") if chunks else []
    print(json.dumps({"records": records, "chunks": collections.Counter(c.source for c in chunks),
                      "duplicates": sum(n - 1 for n in spans.values()),
                      "hit_sources": sorted({h.source for h in hits})}), flush=True)
    a.embedder.embed_query("warm up")
    print("ready", flush=True)
    report = a.ingest([sys.argv[2]])
    print(json.dumps({"added": len(report.added), "updated": len(report.updated),
                      "unchanged": len(report.unchanged)}), flush=True)
""")
ARTICLES = 12


def write_corpus(folder: Path, version: int) -> None:
    """ARTICLES articles of about two chunks each, cut from the seeds; every version changes all of them."""
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS.iterdir())).split()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(ARTICLES):
        words = text[(i * 90) % len(text) :][:150]
        (folder / f"report-{i:02d}.txt").write_text(
            f"Report {i}, version {version}\n\n{' '.join(words)}\n", encoding="utf-8"
        )


def assert_consistent(state: dict, final: bool = False) -> None:
    records, chunks = state["records"], state["chunks"]
    for source, count in records.items():  # an article listed as ingested has all its chunks
        assert chunks.get(source) == count, (source, count, chunks.get(source))
    assert state["duplicates"] == 0
    assert set(state["hit_sources"]) <= set(records)  # search never returns a chunk of an unfinished article
    if final:
        assert len(records) == ARTICLES and chunks == records  # and no orphans


def test_ingest_killed_at_random_points_repeatedly(tmp_path):
    import json
    import random
    import time

    rng = random.Random(20261121)
    index, corpus = tmp_path / "index", tmp_path / "corpus"
    command = [sys.executable, "-c", CHECK_THEN_INGEST, str(index), str(corpus)]
    delays = []
    for version in range(5):
        write_corpus(corpus, version)
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        try:
            assert_consistent(json.loads(proc.stdout.readline()))  # the index opens, consistent
            assert proc.stdout.readline().strip() == "ready"
            delays.append(rng.uniform(0.0, 4.0))
            time.sleep(delays[-1])
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=60)
    for expected in ("changed", "unchanged"):  # the next ingest completes it; the one after has nothing to do
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        state, _, report = [
            json.loads(line) if line.startswith("{") else line for line in proc.stdout.strip().splitlines()
        ]
        assert_consistent(state, final=expected == "unchanged")
        if expected == "unchanged":
            assert report == {"added": 0, "updated": 0, "unchanged": ARTICLES}, (report, delays)


def test_two_ingests_at_once_are_serialized(tmp_path):
    corpus = copy_seeds(tmp_path / "corpus")
    command = [sys.executable, "-m", "rag.cli", "--index", str(tmp_path / "index"), "ingest", str(corpus)]
    procs = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    summaries = sorted(out.splitlines()[0].split(" (")[0] for out, _ in outputs)
    assert summaries == [
        "added 0, updated 0, unchanged 2, skipped 0",
        "added 2, updated 0, unchanged 0, skipped 0",
    ]
    assert sum("waiting for another ingest" in err for _, err in outputs) == 1, outputs


def test_ingest_streams_files_through_bounded_groups(make_assistant, embedder, tmp_path, monkeypatch, caplog):
    """Files are read one at a time and embedded in groups as they come: by the time the last file is read,
    all but the last group is already written; never more than a group's articles wait in memory."""
    import logging

    import rag.index.build
    import rag.ingest.sources

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = (SEEDS / "002_b2e3a6e9fb9339f0.txt").read_text()
    sentences = [s.strip() for s in text.replace("\n", ". ").split(". ") if 40 < len(s.strip()) < 300][:18]
    for i, sentence in enumerate(sentences):
        (corpus / f"{i:02d}.txt").write_text(sentence + ".\n", encoding="utf-8")
    events: list[str] = []
    load_file = rag.ingest.sources.load_file
    monkeypatch.setattr(rag.ingest.sources, "load_file", lambda *a: events.append("load") or load_file(*a))
    monkeypatch.setattr(rag.index.build, "GROUP_CHUNKS", 4)
    monkeypatch.setattr(rag.index.build.Progress, "LOG_EVERY_S", 0.0)

    class Recording:
        def __init__(self, inner):
            self.inner, self.name, self.dimension = inner, inner.name, inner.dimension

        def embed_documents(self, texts):
            events.append(f"embed {len(texts)}")
            return self.inner.embed_documents(texts)

        def embed_query(self, text):
            return self.inner.embed_query(text)

    assistant = make_assistant()
    assistant._embedder = Recording(embedder)
    with caplog.at_level(logging.INFO, logger="rag.index.build"):
        report = assistant.ingest([corpus])

    assert len(report.added) == len(sentences) == report.chunks_embedded == assistant.store.count()
    groups = [int(e.split()[1]) for e in events if e.startswith("embed")]
    assert groups == [4, 4, 4, 4, 2]
    loaded, embedded = 0, 0
    for event in events:  # each group is embedded as soon as its files are read, before any later file
        if event == "load":
            loaded += 1
        else:
            embedded += int(event.split()[1])
            assert loaded == embedded, events
    assert f"ingest: {len(sentences)}/{len(sentences)} files, {len(sentences)} chunks embedded" in caplog.text
    assert "ETA 0:00" in caplog.text


def test_progress_eta_is_the_remaining_files_at_the_pace_so_far():
    from rag.index.build import Progress

    meter = Progress(total=40)
    assert meter.eta_seconds() is None and "ETA ?" in meter.line()
    meter.started -= 100.0  # 100 s ago
    meter.advance(files=10, chunks=25)
    assert meter.eta_seconds() == pytest.approx(300.0, rel=0.01)
    assert meter.line().startswith("ingest: 10/40 files, 25 chunks embedded (0.2/s), ETA 5:00")
    meter.started -= 3 * 3600.0
    assert "ETA 9:" in meter.line()  # hours:minutes:seconds past an hour


def test_a_passage_repeated_across_articles_is_kept_at_most_max_copies_times(make_assistant, tmp_path):
    from rag.index.build import MAX_COPIES

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    wire = "Russia's Foreign Ministry spokeswoman Maria Zakharova said the talks on Syria would continue."
    for i in range(MAX_COPIES + 2):  # the same wire story saved by several outlets
        (corpus / f"outlet-{i}.txt").write_text(wire, encoding="utf-8")
    (corpus / "own.txt").write_text("Sergey Lavrov met John Kerry in Geneva.", encoding="utf-8")
    assistant = make_assistant()
    report = assistant.ingest([corpus])

    assert len(report.added) == MAX_COPIES + 3 and report.repeats_skipped == 2
    assert "2 repeated passages left out" in report.summary()
    texts = [c.text for c in assistant.store.all_chunks()]
    assert texts.count(wire) == MAX_COPIES and len(texts) == MAX_COPIES + 1
    assert assistant.store.count() == sum(r.chunk_count for r in assistant.sources())
    hits = assistant.search("What did Zakharova say about the Syria talks?", k=3, mode="dense")
    assert [h.text for h in hits].count(wire) == MAX_COPIES

    (corpus / "outlet-0.txt").write_text(wire + " She spoke on Thursday.", encoding="utf-8")
    report = assistant.ingest([corpus])  # an article holding a copy is not counted against itself
    assert report.updated == (str(corpus / "outlet-0.txt"),) and report.repeats_skipped == 0
