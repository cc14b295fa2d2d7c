"""`rag bench speed`, `rag bench answer` and `rag bench ingest`: real runs on small inputs write JSON,
markdown and a PNG.

Only the shape and consistency of the figures are asserted; the figures themselves are benchmarks.
"""

from __future__ import annotations

import json

import pytest

from rag.evaluation.bench import MODES
from rag.settings import DEFAULT_XQUAD

from .test_cli import rag

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(
    not (DEFAULT_XQUAD / "en.json").exists(), reason="XQuAD-R not beside the repo (../shared)"
)
def test_bench_speed_writes_json_markdown_and_plot(tmp_path):
    proc = rag(
        "bench",
        "speed",
        "--langs",
        "en,ru",
        "--paragraphs",
        "3",
        "--sizes",
        "100,400",
        "--queries",
        "6",
        "--cold-runs",
        "1",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "speed.json").read_text(encoding="utf-8"))
    ingest = result["ingest"]
    assert ingest["chunks"] > 0 and ingest["encoder_chunks_per_s"] > 0 and ingest["ingest_vs_encoder"] > 0
    sizes = sorted({r["chunks"] for r in result["search"]})
    assert len(sizes) == 2 and sizes[0] >= 100 and sizes[1] >= 400
    assert {r["mode"] for r in result["search"]} == set(MODES)
    assert all(0 < r["p50_ms"] <= r["p95_ms"] and r["queries"] == 6 for r in result["search"])
    assert result["startup"]["cold_search_median_s"] > 0
    markdown = (tmp_path / "speed.md").read_text(encoding="utf-8")
    assert "| raw encoder (best of 2) |" in markdown and f"| {sizes[1]:,} | hybrid |" in markdown
    assert (tmp_path / "speed.png").read_bytes().startswith(PNG)
    assert markdown.strip() in proc.stdout


def test_bench_answer_extractive_on_the_seeds(tmp_path):
    proc = rag("bench", "answer", "--generators", "extractive", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "answer.json").read_text(encoding="utf-8"))
    (row,) = result["generators"]
    assert row["generator"] == "extractive" and row["exact_quotes"] is True
    assert row["answerable"] + row["unanswerable"] == result["questions"] >= 60
    assert row["correct"] >= row["answerable"] * 0.6  # the quotes alone answer most questions
    assert row["first_token_s"]["p50"] is None and 0 < row["total_s"]["p50"] <= row["total_s"]["p95"]
    assert "| extractive |" in (tmp_path / "answer.md").read_text(encoding="utf-8")
    assert (tmp_path / "answer.png").read_bytes().startswith(PNG)


@pytest.mark.skipif(
    not (DEFAULT_XQUAD / "en.json").exists(), reason="XQuAD-R not beside the repo (../shared)"
)
def test_bench_ingest_stand_in_sizes_run_the_real_pipeline(tmp_path):
    # 1,500 articles: the --json report of the ingest (~90 KB) is more than a pipe holds, which once
    # blocked the measured `rag ingest` for ever
    proc = rag(
        "bench", "ingest", "--articles", "", "--stand-in-embeddings", "40,1500", "--out", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "ingest.json").read_text(encoding="utf-8"))
    small, large = result["runs"]
    assert (small["articles"], large["articles"]) == (40, 1500)
    assert all(r["embeddings"] == "stand-in" and r["chunks"] >= r["articles"] for r in result["runs"])
    assert all(r["reingest_unchanged"] == r["articles"] and r["peak_rss_mib"] > 0 for r in result["runs"])
    assert large["index_mib"] > small["index_mib"]
    assert result["growth"]["stand-in"]["articles_x"] == 37.5
    assert "| 1500 | stand-in |" in (tmp_path / "ingest.md").read_text(encoding="utf-8")
    assert (tmp_path / "ingest.png").read_bytes().startswith(PNG)


@pytest.mark.skipif(
    not (DEFAULT_XQUAD / "en.json").exists(), reason="XQuAD-R not beside the repo (../shared)"
)
def test_bench_stories_groups_parallel_paragraphs_and_runs_at_scale(tmp_path):
    args = ("--articles", "2", "--orders", "1", "--scale", "400", "--out", str(tmp_path))
    proc = rag("bench", "stories", *args)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "stories.json").read_text(encoding="utf-8"))
    dev = result["dev"]
    assert result["articles"] == dev["articles"] == 2 * 5 * 11 and "test" not in result
    assert dev["precision"] >= 0.9 and dev["recall"] >= 0.9  # 10 stories of 11 languages each
    assert [c["threshold"] for c in dev["curve"]] == sorted(c["threshold"] for c in dev["curve"])
    assert result["scale"]["articles"] == 400 and result["scale"]["grouping_articles_per_second"] > 0
    assert "| dev | 110 |" in (tmp_path / "stories.md").read_text(encoding="utf-8")
    assert (tmp_path / "stories.png").read_bytes().startswith(PNG)


@pytest.mark.skipif(
    not (DEFAULT_XQUAD / "en.json").exists(), reason="XQuAD-R not beside the repo (../shared)"
)
def test_bench_compare_agreement_and_latency(tmp_path):
    args = ("--articles", "1", "--generators", "extractive", "--questions", "2", "--out", str(tmp_path))
    proc = rag("bench", "compare", *args)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "compare.json").read_text(encoding="utf-8"))
    assert set(result["agreement"]) == {"dev", "test"}
    assert all(s["pairs"] > 0 and 0 <= s["precision"] <= 1 for s in result["agreement"].values())
    (row,) = result["latency"]
    assert row["generator"] == "extractive" and row["questions"] == 2 and 0 < row["p50_s"] <= row["p95_s"]
    assert (tmp_path / "compare.png").read_bytes().startswith(PNG)
    for split in ("dev", "test"):  # two reports of one article sharing a paragraph, two questions on it
        (points,) = result["points"][split].values()
        assert points["questions"] == 2 and points["speaking"] <= points["separate"] <= 2
        assert 0 <= points["found"] <= 1 and 0 <= points["precision"] <= 1
    assert "| dev | default | 2 |" in (tmp_path / "compare.md").read_text(encoding="utf-8")


def test_points_bench_maps_a_cited_span_to_its_xquad_sentence():
    from rag.evaluation.bench_points import key_of, sentence_keys

    paragraphs = [
        {"context": "One. Two is here.", "sentence_breaks": [[0, 4], [5, 17]]},
        {"context": " Three.", "sentence_breaks": [[1, 7]]},
    ]
    text = "One. Two is here.\n\nThree.\n"
    spans = sentence_keys(text, (0, 1), paragraphs)
    assert [text[s:e] for s, e, _ in spans] == ["One.", "Two is here.", "Three."]
    assert (
        key_of(spans, 5, 12) == (0, 1) and key_of(spans, 19, 25) == (1, 0) and key_of(spans, 17, 19) is None
    )


@pytest.mark.skipif(
    not (DEFAULT_XQUAD / "en.json").exists(), reason="XQuAD-R not beside the repo (../shared)"
)
def test_bench_clauses_catches_appended_clauses_and_keeps_translations(tmp_path):
    from rag.evaluation.bench_clauses import claims

    rows = claims(DEFAULT_XQUAD, range(0, 1))
    assert rows and sum(not ok for ok, *_ in rows) * 3 == len(rows)  # one appended clause per two supported
    assert all(ok or claim.count(",") >= 1 for ok, claim, _, _ in rows)
    proc = rag("bench", "clauses", "--articles", "2", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "clauses.json").read_text(encoding="utf-8"))
    for split in result["splits"].values():
        assert split["claims"] > 0 and split["caught"] > 0.5 and split["supported_dropped"] < 0.3
        caught = [c["caught"] for c in split["curve"]]
        assert caught == sorted(caught)  # a higher bar catches more
    assert (tmp_path / "clauses.png").read_bytes().startswith(PNG)


def test_extract_scores_pages_as_the_article_extraction_benchmark_does():
    from rag.evaluation.bench_extract import _same_outlet, page_scores, shingles

    truth = "The talks between the United States and Russia ended on Monday in Geneva."
    assert page_scores(truth, truth) == (1.0, 1.0)
    assert page_scores(truth, "") == (0.0, 0.0)
    precision, recall = page_scores(truth, "Home World Sport " + truth)
    assert recall == 1.0 and 0.7 < precision < 1.0  # three menu shingles beside the article's ten
    assert sum(shingles("a b c").values()) == 1  # a text shorter than a shingle is one shingle
    assert _same_outlet("The Wall Street Journal", "Wall Street Journal")
    assert _same_outlet("CBS Sports", "CBSSports.com") and not _same_outlet("The Citizens' Voice", "Hosted")
