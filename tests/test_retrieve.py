"""Search over the real seed index: every question language finds its evidence, spans are exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import QueryError
from rag.evaluation.datasets import (
    builtin_dataset,
    evidence_spans,
    load_dataset,
    retrieval_questions,
)
from rag.evaluation.metrics import first_hit_rank
from rag.index.retrieve import fuse, rrf, tokenize
from rag.ingest.chunking import Chunk

from .conftest import SEEDS

QUESTIONS = retrieval_questions(load_dataset(builtin_dataset("seeds")).questions)


def seed_text(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("q", QUESTIONS, ids=[q.id for q in QUESTIONS])
def test_evidence_in_top3_in_every_language(seed_assistant, q):
    hits = seed_assistant.search(q.question, k=3)
    spans = evidence_spans(q, seed_text)
    assert spans, f"{q.id}: evidence quote missing from the seed file"
    assert first_hit_rank(hits, spans) is not None, (
        f"{q.question!r}: evidence not in top 3: {[(h.source, h.start) for h in hits]}"
    )


def test_questions_cover_three_languages_and_cross_lingual_cases():
    langs = {q.lang for q in QUESTIONS}
    assert langs == {"en", "id", "ru"}
    only_indonesian = [
        q
        for q in QUESTIONS
        if q.lang == "en" and {e.source for e in q.evidence} == {"000_1b03c4f4f3f24ebf.txt"}
    ]
    assert len(only_indonesian) >= 4


def test_hit_spans_are_exact(seed_assistant):
    for q in QUESTIONS[:6]:
        for hit in seed_assistant.search(q.question, k=5):
            source_text = (SEEDS / Path(hit.source).name).read_text(encoding="utf-8")
            assert source_text[hit.start : hit.end] == hit.text
            assert seed_assistant.article_text(hit.source)[hit.start : hit.end] == hit.text
            assert hit.language in ("id", "en") and hit.title


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_modes_and_filters(seed_assistant, mode):
    hits = seed_assistant.search("Zakharova TASS Washington", k=4, mode=mode, language="en")
    assert hits and all(h.language == "en" for h in hits)
    only = seed_assistant.search("Zakharova", k=3, mode=mode, source="000_1b03c4f4f3f24ebf.txt")
    assert only and all(Path(h.source).name == "000_1b03c4f4f3f24ebf.txt" for h in only)
    assert len(seed_assistant.search("Syria", k=2, mode=mode)) == 2


def test_empty_question_is_rejected(seed_assistant):
    with pytest.raises(QueryError, match="empty"):
        seed_assistant.search("   ")


def chunk(cid: str, language: str = "en") -> Chunk:
    return Chunk(cid, "s", "a", 0, 0, 1, "x", language)


def test_rrf_sums_weighted_reciprocal_ranks():
    scores = rrf([({"a": 1, "b": 2}, 1.0), ({"c": 1, "b": 2}, 0.5)], ["a", "b", "c"], rrf_k=60)
    assert scores == pytest.approx({"a": 1 / 61, "b": 1 / 62 + 0.5 / 62, "c": 0.5 / 61})


def test_fusion_keeps_a_cross_lingual_top_hit():
    """BM25 cannot see the Indonesian chunk; it must not push it below same-language chunks."""
    indonesian, e1, e2, e3 = chunk("id", "id"), chunk("e1"), chunk("e2"), chunk("e3")
    fused = fuse([indonesian, e1, e2, e3], [e3, e2], k=4, rrf_k=60, bm25_weight=1.0)
    assert [c.id for c, _ in fused] == ["id", "e1", "e3", "e2"], "BM25 still reorders within a language"
    plain = rrf([({"id": 1, "e1": 2, "e2": 3, "e3": 4}, 1.0), ({"e3": 1, "e2": 2}, 1.0)], ["id", "e3"], 60)
    assert plain["e3"] > plain["id"], "plain RRF would have demoted the cross-lingual hit"


def test_fusion_gives_each_language_the_same_lexical_bonus():
    en, ru = chunk("en"), chunk("ru", "ru")
    fused = fuse([en, ru], [en, ru], k=2, rrf_k=60, bm25_weight=0.5)
    assert fused[0][0] is en  # dense decides between the two languages' best lexical matches
    assert fused[1][1] == pytest.approx(1 / 62 + 0.5 / 61)


def test_fusion_lets_bm25_bring_in_a_chunk_dense_missed():
    a, b, lexical_only = chunk("a"), chunk("b"), chunk("x")
    fused = fuse([a, b], [lexical_only], k=3, rrf_k=60, bm25_weight=0.5)
    assert {c.id for c, _ in fused} == {"a", "b", "x"}


def test_tokenize_stems_per_language():
    assert tokenize("Serangan teroris", ["id"]) == ["serang", "oris"]  # Snowball strips the ter- prefix
    assert tokenize("Переговоры", ["ru"]) == ["переговор"]
    assert set(tokenize("attacks", ["en", "id"])) == {"attack", "attacks"}
    assert tokenize("東京 Tokyo", ["zh"]) == ["東京", "tokyo"]  # no stemmer: plain lower-cased words


def test_bm25_index_is_saved_by_revision_and_reused(make_assistant, embedder, tmp_path, caplog):
    import shutil

    from rag import Assistant

    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    first = make_assistant()
    first.ingest([corpus])
    expected = [h.chunk_id for h in first.search("Zakharova Lavrov Kerry", k=5, mode="bm25")]
    cache = first.store.index_dir / "bm25-cache"
    saved = sorted(p.name for p in cache.iterdir())
    assert saved == [f"rag_chunks-{first.store.revision()}"]

    second = Assistant.open(first.store.index_dir, embedder=embedder, progress=False)
    second.store.all_chunks = lambda: pytest.fail("the saved BM25 index should have been loaded")
    assert [h.chunk_id for h in second.search("Zakharova Lavrov Kerry", k=5, mode="bm25")] == expected

    (corpus / "extra.txt").write_text("Zakharova Lavrov Kerry met again in Geneva.", encoding="utf-8")
    second.store.all_chunks = first.store.all_chunks
    second.ingest([corpus])  # a new revision: rebuilt, the stale one removed
    assert second.search("Zakharova Lavrov Kerry Geneva", k=1, mode="bm25")[0].source.endswith("extra.txt")
    assert sorted(p.name for p in cache.iterdir()) == [f"rag_chunks-{second.store.revision()}"]

    folder = next(cache.iterdir())
    (folder / "chunks.jsonl").write_text("{not json", encoding="utf-8")  # a damaged cache is rebuilt
    third = Assistant.open(first.store.index_dir, embedder=embedder, progress=False)
    assert third.search("Zakharova Lavrov Kerry Geneva", k=1, mode="bm25")[0].source.endswith("extra.txt")
    assert "rebuilding the BM25 index" in caplog.text
