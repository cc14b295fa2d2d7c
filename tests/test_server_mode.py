"""Server mode: ingest, search and ask against a real `chroma run` server process on loopback, and
two workers (two assistants, as two `rag chat` processes would be) sharing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import RagError

from .conftest import SEEDS, free_port
from .test_ask import assert_exact, texts_of
from .test_cli import rag

HAMA_RU = "Сколько человек погибло при взрыве в Хаме?"


def worker(tmp_path, name, url, embedder, **kw):
    from rag import Assistant

    return Assistant.open(tmp_path / name, embedder=embedder, progress=False, chroma_url=url, **kw)


def test_ingest_search_and_ask_on_a_chroma_server(chroma_server, tmp_path, embedder, llm):
    one = worker(tmp_path, "w1", chroma_server, embedder, collection="seeds_one", llm=llm, generator="local")
    report = one.ingest([SEEDS])
    assert len(report.added) == 2 and report.chunks_embedded > 0
    assert not list((tmp_path / "w1").rglob("chroma.sqlite3"))  # no local store: only the kept texts
    assert len(list((tmp_path / "w1" / "articles").glob("*.json"))) == 2
    assert len(one.ingest([SEEDS]).unchanged) == 2
    hits = one.search(HAMA_RU, k=3)  # Russian question, Indonesian evidence
    assert any("12 orang" in h.text for h in hits)
    answer = one.ask(HAMA_RU)
    assert not answer.refused and "12" in answer.text, answer.text
    assert_exact(answer, texts_of(one))


def test_two_workers_share_one_server(chroma_server, tmp_path, embedder):
    one = worker(tmp_path, "w1", chroma_server, embedder, collection="shared")
    two = worker(tmp_path, "w2", chroma_server, embedder, collection="shared")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "jakarta.txt").write_text(
        "Floods in Jakarta\n\nHeavy rain flooded Jakarta on Monday and 412 families left their homes.\n",
        encoding="utf-8",
    )
    one.ingest([SEEDS])
    assert {Path(r.source).name for r in two.sources()} == {p.name for p in SEEDS.iterdir()}
    assert any("12 orang" in h.text for h in two.search(HAMA_RU, k=3))  # builds two's BM25 index
    one.ingest([corpus])  # worker one adds an article: worker two's lexical index must notice
    for mode in ("bm25", "hybrid"):
        assert two.search("How many families left their homes in Jakarta?", k=1, mode=mode)[0].text.count(
            "412"
        )
    two.remove("jakarta.txt")  # and worker one must stop finding it
    hits = one.search("How many families left their homes in Jakarta?", k=5, mode="bm25")
    assert hits and not any("412" in h.text for h in hits)
    answer = two.ask(HAMA_RU, generator="extractive")
    assert "12 orang" in answer.text
    assert_exact(answer, texts_of(two))


def test_unreachable_server_is_a_clear_error(tmp_path, embedder):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RagError, match="RAG_CHROMA_URL"):
        worker(tmp_path, "w", url, embedder).sources()
    proc = rag("--index", str(tmp_path / "cli"), "sources", env={"RAG_CHROMA_URL": url})
    assert proc.returncode == 1 and "RAG_CHROMA_URL" in proc.stderr and "Traceback" not in proc.stderr
