"""The Chroma store: broken or misplaced index folders give clear errors; embedding spaces must match."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ConfigError, StoreError
from rag.index.client import chroma_dir, forget_client
from rag.index.store import Store


def test_index_path_that_is_a_file(tmp_path):
    path = tmp_path / "index"
    path.write_text("not a folder")
    with pytest.raises(ConfigError, match="RAG_INDEX_DIR"):
        Store(path)


def test_corrupt_index_folder_is_a_clear_error_that_names_reindex(tmp_path):
    index = tmp_path / "index"
    Store(index, embedding_space="m/fp32")
    forget_client(index / "store")
    (index / "store" / "chroma.sqlite3").write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(StoreError, match="rag reindex") as raised:
        Store(index, embedding_space="m/fp32").count()
    assert "remove" not in str(raised.value) and "delete it" not in str(raised.value)


def test_an_index_of_the_old_layout_opens_and_reindex_moves_it_aside(tmp_path, embedder):
    """Chroma's files directly in the index folder (before ``store/``): still opened in place; a rebuild
    moves them into ``broken-*`` and writes the new store into ``store/``."""
    from rag import Assistant
    from tests.conftest import SEEDS

    index = tmp_path / "index"
    old = Store(index, chroma_path=index)
    assert (index / "chroma.sqlite3").exists() and chroma_dir(index) == index
    forget_client(index)
    assistant = Assistant.open(index, embedder=embedder, progress=False)
    assistant.ingest([SEEDS])
    assert old.count() == assistant.store.count() > 0  # the same files
    report = Assistant.reindex(index, embedder=embedder, progress=False)
    assert report.old_store_readable and len(report.restored) == 2
    assert chroma_dir(index) == index / "store" and not (index / "chroma.sqlite3").exists()
    aside = Path(report.moved_aside)
    assert (aside / "chroma.sqlite3").exists() and any(p.is_dir() for p in aside.iterdir())
    assert sorted(r.source for r in assistant.sources()) == sorted(report.restored)  # the old object rebinds
    assert assistant.search("Who did TASS quote?", 3)


def test_mismatched_embedding_space_is_refused(tmp_path):
    import numpy as np

    from rag.ingest.chunking import chunk_article
    from rag.ingest.corpus import Article, sha256_text

    store = Store(tmp_path / "index", embedding_space="m/fp32")
    article = Article("a.txt", "One sentence here.", "t", "en", sha256_text("One sentence here."))
    chunks = chunk_article(article, 100, 10)
    store.replace_article(article, chunks, np.ones((1, 4), dtype=np.float32) / 2)
    with pytest.raises(StoreError, match="rag reindex"):
        Store(tmp_path / "index", embedding_space="m/int8")
    assert Store(tmp_path / "index", embedding_space="m/fp32").count() == 1


def test_article_text_roundtrip_and_orphans(tmp_path):
    import numpy as np

    from rag.ingest.chunking import chunk_article
    from rag.ingest.corpus import Article, sha256_text

    text = "Первое предложение.\r\nSecond sentence! " * 20
    article = Article("dir/ru.txt", text, "t", "ru", sha256_text(text))
    chunks = chunk_article(article, 120, 30)
    store = Store(tmp_path / "index")
    store.replace_article(article, chunks, np.eye(len(chunks), 8, dtype=np.float32) + 0.1)
    assert store.article_text("dir/ru.txt") == text
    assert [c.text for c in store.all_chunks()] == [c.text for c in chunks]
    assert store.remove_orphans() == 0
    record = store.articles()["dir/ru.txt"]
    assert record.chunk_count == len(chunks) and record.language == "ru"
