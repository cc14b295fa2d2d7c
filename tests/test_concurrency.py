"""Many processes, one index folder: creating, opening, writing and reading at once never fails.

Real processes on a real Chroma store. Each worker imports the package once, then opens a fresh folder
per round at the same moment as the others (a file barrier), so the race Chroma has when creating its
tables is hit in every round rather than by luck of start-up times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np

from tests.conftest import ROOT

ROUNDS = 20
WORKERS = 3
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the checkout's package, whatever is installed

WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import numpy as np
    from rag.ingest.chunking import chunk_article
    from rag.ingest.corpus import Article, sha256_text
    from rag.index.store import Store

    root, me, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    results = []
    for r in range(rounds):
        (root / f"ready-{r}-{me}").touch()
        while not (root / f"go-{r}").exists():
            time.sleep(0.002)
        try:
            store = Store(root / f"index-{r}", embedding_space="test/fp32")
            text = f"Article {me} of round {r}. It has two sentences."
            article = Article(f"w{me}.txt", text, "t", "en", sha256_text(text))
            chunks = chunk_article(article, 200, 20)
            rng = np.random.default_rng(me)
            vectors = rng.normal(size=(len(chunks), 8)).astype(np.float32)
            store.replace_article(article, chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
            found = store.query(vectors[0], 1)[0][0].source
            results.append({"round": r, "ok": found == article.source, "error": ""})
        except Exception as exc:
            results.append({"round": r, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps(results))
""")


def test_processes_creating_one_index_at_once_all_succeed(tmp_path):
    """20 rounds of 3 processes opening a new index folder at the same moment: every open, write and
    search succeeds, and each folder ends whole (before the fix about 1 in 20 opens failed with
    "table collections already exists")."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), str(i), str(ROUNDS)],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WORKERS)
    ]
    deadline = time.monotonic() + 600
    for r in range(ROUNDS):
        while not all((tmp_path / f"ready-{r}-{i}").exists() for i in range(WORKERS)):
            assert time.monotonic() < deadline, "workers never got ready"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.005)
        (tmp_path / f"go-{r}").touch()
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * WORKERS, outputs
    results = [row for out, _ in outputs for row in json.loads(out.splitlines()[-1])]
    failures = [row for row in results if not row["ok"]]
    assert not failures, failures
    assert len(results) == ROUNDS * WORKERS

    from rag.index.store import Store

    for r in range(ROUNDS):
        store = Store(tmp_path / f"index-{r}", embedding_space="test/fp32")
        assert sorted(store.articles()) == [f"w{i}.txt" for i in range(WORKERS)]
        assert store.remove_orphans() == 0


def test_a_long_lived_reader_sees_another_process_write(tmp_path):
    """A store kept open (the chat page's) finds vectors another process wrote and never returns the
    ones it deleted: an embedded Chroma client alone sees neither."""
    from rag.index.store import Store

    reader = Store(tmp_path / "index", embedding_space="test/fp32")
    writer = textwrap.dedent("""
        import sys
        import numpy as np
        from rag.ingest.chunking import chunk_article
        from rag.ingest.corpus import Article, sha256_text
        from rag.index.store import Store

        store = Store(sys.argv[1], embedding_space="test/fp32")
        seed = int(sys.argv[2])
        rng = np.random.default_rng(seed)
        for n in range(12):
            text = " ".join(f"Sentence {i} of article {n}." for i in range(30))
            article = Article(f"s{seed}-{n}.txt", text, "t", "en", sha256_text(text))
            chunks = chunk_article(article, 120, 0)
            vectors = rng.normal(size=(len(chunks), 16)).astype(np.float32)
            store.replace_article(article, chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
            if n >= 2:
                store.remove_article(f"s{seed}-{n - 2}.txt")
        np.save(sys.argv[3], vectors)
    """)
    script = tmp_path / "writer.py"
    script.write_text(writer, encoding="utf-8")
    for seed in range(3):
        saved = tmp_path / f"last-{seed}.npy"
        subprocess.run(
            [sys.executable, str(script), str(tmp_path / "index"), str(seed), str(saved)],
            cwd=ROOT,
            env=ENV,
            check=True,
            capture_output=True,
            timeout=300,
        )
        last = np.load(saved)
        found = [reader.query(v, 3) for v in last]
        assert all(hits[0][0].source == f"s{seed}-11.txt" for hits in found), seed
        live = set(reader.articles())
        assert all(chunk.source in live for hits in found for chunk, _ in hits)


def _sentence_files(folder, count):
    """``count`` one-sentence articles cut from the English seed."""
    from tests.conftest import SEEDS

    text = (SEEDS / "002_b2e3a6e9fb9339f0.txt").read_text(encoding="utf-8")
    sentences = [s.strip() for s in text.replace("\n", ". ").split(". ") if 40 < len(s.strip()) < 300]
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{i:03d}.txt").write_text(
            f"Report {i}: {sentences[i % len(sentences)]}.\n", encoding="utf-8"
        )
    return folder


def test_searches_while_an_ingest_writes_never_fail(tmp_path, embedder):
    """`rag search` processes and a long-lived assistant search while `rag ingest` writes 80 articles:
    every search succeeds with hits, every hit is an exact span of a complete article, and the long-lived
    assistant finds the new articles once the ingest is done."""
    from rag import Assistant
    from tests.conftest import SEEDS

    index = tmp_path / "index"
    rag = [sys.executable, "-m", "rag.cli", "--index", str(index)]
    subprocess.run(
        [*rag, "ingest", "--no-progress", str(SEEDS)],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
        timeout=600,
    )
    reader = Assistant.open(index, embedder=embedder, progress=False)
    assert reader.search("Who did TASS quote?", 3)
    corpus = _sentence_files(tmp_path / "more", 80)
    ingest = subprocess.Popen(
        [*rag, "ingest", "--no-progress", str(corpus)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    searches, in_process = [], []
    deadline = time.monotonic() + 600
    while ingest.poll() is None and time.monotonic() < deadline:
        search = subprocess.Popen(
            [*rag, "search", "--json", "-k", "5", "What did the State Department say?"],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        while search.poll() is None:
            in_process.append(reader.search("Why did the United States stop the talks?", 5))
            time.sleep(0.2)
        searches.append((search.returncode, *search.communicate()))
    out, err = ingest.communicate(timeout=600)
    assert ingest.returncode == 0, err
    assert searches and in_process
    assert all(rc == 0 for rc, _, _ in searches), searches
    texts: dict[str, str] = {}
    for hits in [[h for h in json.loads(o)] for _, o, _ in searches] + [
        [h.to_dict() for h in x] for x in in_process
    ]:
        assert hits
        for hit in hits:
            text = texts.setdefault(hit["source"], reader.article_text(hit["source"]))
            assert text[hit["start"] : hit["end"]] == hit["text"]
    hits = reader.search("Report 79", 80, mode="bm25")
    assert any(h.source.endswith("079.txt") for h in hits)
    assert len(reader.sources()) == 82


def test_reindex_rebuilds_a_corrupt_store_with_every_article_and_upload(tmp_path, embedder):
    """chroma.sqlite3 overwritten: opening names `rag reindex` (and never advises deleting anything);
    `rag reindex` brings back every article and upload with exact spans, the old files moved aside."""
    from rag import Assistant
    from rag.errors import StoreError
    from tests.conftest import SEEDS

    index = tmp_path / "index"
    assistant = Assistant.open(index, embedder=embedder, progress=False)
    assistant.ingest([SEEDS])
    uploads = index / "uploads"
    uploads.mkdir()
    (uploads / "rain.txt").write_text(
        "Hujan deras turun di Jakarta pada hari Senin pagi.\n", encoding="utf-8"
    )
    (uploads / "never-kept.txt").write_text(
        "Die Sitzung endete am Dienstag ohne Einigung.\n", encoding="utf-8"
    )
    assistant.ingest([uploads / "rain.txt"])
    before = {r.source: (r.content_hash, assistant.article_text(r.source)) for r in assistant.sources()}
    (index / "store" / "chroma.sqlite3").write_bytes(b"not a database " * 500)

    rag = [sys.executable, "-m", "rag.cli", "--index", str(index)]
    broken = subprocess.run([*rag, "sources"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert broken.returncode == 1 and "rag reindex" in broken.stderr
    assert "Traceback" not in broken.stderr and "remove it" not in broken.stderr
    done = subprocess.run(
        [*rag, "reindex", "--json"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(report["restored"]) == sorted(before)
    assert report["old_store_readable"] is False and report["moved_aside"]
    assert [s for s in report["uploads"]["added"]] == [str(uploads / "never-kept.txt")]
    assert (tmp_path / "index" / report["moved_aside"].split("/")[-1] / "store" / "chroma.sqlite3").exists()

    fresh = Assistant.open(index, embedder=embedder, progress=False)
    after = {r.source: (r.content_hash, fresh.article_text(r.source)) for r in fresh.sources()}
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) == set(before) | {str(uploads / "never-kept.txt")}
    for question in ("Who did TASS quote?", "Hujan di Jakarta", "Wann endete die Sitzung?"):
        for hit in fresh.search(question, 5):
            assert after[hit.source][1][hit.start : hit.end] == hit.text
    answer = fresh.ask("Siapa yang dikutip oleh TASS?", generator="extractive")
    assert answer.citations, answer.scores
    for c in answer.citations:
        assert after[c.source][1][c.start : c.end] == c.quote
    try:
        Assistant.open(tmp_path / "missing" / "index", embedder=embedder).sources()
    except StoreError as exc:  # a new folder is created, not an error
        raise AssertionError(exc) from exc
