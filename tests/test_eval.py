"""Evaluation: the shipped seeds set, data set parsing, metric arithmetic, and `rag eval` end to end."""

from __future__ import annotations

import json

import pytest

from rag.errors import ConfigError
from rag.evaluation.datasets import builtin_dataset, load_dataset
from rag.evaluation.metrics import QuestionRow, summarize
from rag.evaluation.run import parse_config

from .conftest import SEEDS
from .test_cli import rag

SEED_SET = load_dataset(builtin_dataset("seeds"))


def test_seeds_set_is_big_and_varied_enough():
    qs = SEED_SET.questions
    assert len(qs) >= 60 and not SEED_SET.problems
    assert len({q.id for q in qs}) == len(qs)
    assert {q.lang for q in qs} == {"en", "id", "ru"}
    languages = {"000_1b03c4f4f3f24ebf.txt": "id", "002_b2e3a6e9fb9339f0.txt": "en"}
    cross = [q for q in qs if q.evidence and all(languages[e.source] != q.lang for e in q.evidence)]
    both = [q for q in qs if q.needs_all_sources and {e.source for e in q.evidence} == set(languages)]
    assert len(cross) >= 20 and len(both) >= 3
    assert sum(not q.answerable for q in qs) >= 12
    assert sum(bool(q.history) for q in qs) >= 3
    assert all(q.answer_any and q.evidence for q in qs if q.answerable)


@pytest.mark.parametrize("q", [q for q in SEED_SET.questions if q.evidence], ids=lambda q: q.id)
def test_every_evidence_quote_is_an_exact_substring(q):
    for item in q.evidence:
        assert item.quote in (SEEDS / item.source).read_text(encoding="utf-8"), f"{q.id}: {item.quote!r}"


def test_malformed_lines_are_reported_with_their_number(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text(
        '{"id": "a", "question": "Who?", "extra": 1}\n\nnot json\n{"question": ""}\n[1, 2]\n'
        '{"question": "Where?", "answerable": false}\n',
        encoding="utf-8",
    )
    data = load_dataset(path)
    assert [q.id for q in data.questions] == ["a", "line6"]
    assert [p.line for p in data.problems] == [3, 4, 5]
    assert data.questions[1].answerable is False


def _row(**kw) -> QuestionRow:
    base = dict(id="q", lang="en", pair="en-en", answerable=True, query="q", evidence_items=1)
    return QuestionRow(**{**base, **kw})


def test_metric_arithmetic():
    rows = [
        _row(
            rank=1,
            evidence_found_at5=True,
            refused=False,
            correct=True,
            citations=2,
            citations_on_evidence=2,
            evidence_cited=1,
        ),
        _row(
            rank=4,
            evidence_found_at5=True,
            refused=False,
            correct=False,
            citations=2,
            citations_on_evidence=0,
            evidence_cited=0,
        ),
        _row(rank=None, evidence_found_at5=False, refused=True, correct=False),
        _row(
            rank=2,
            evidence_found_at5=False,
            refused=False,
            correct=True,
            citations=1,
            citations_on_evidence=1,
            evidence_items=2,
            evidence_cited=1,
            needs_all_sources=True,
        ),
        _row(answerable=False, evidence_items=0, refused=True, correct=True, pair="en-none"),
        _row(answerable=False, evidence_items=0, refused=False, correct=False, pair="en-none"),
    ]
    m = summarize(rows)
    assert m["hit@1"] == 0.25 and m["hit@5"] == 0.75
    assert m["mrr@10"] == pytest.approx((1 + 1 / 4 + 0 + 1 / 2) / 4)
    assert m["evidence_recall@5"] == 0.5
    assert m["citation_precision"] == pytest.approx(3 / 5)
    assert m["citation_recall"] == pytest.approx((1 + 0 + 0 + 1) / (1 + 1 + 1 + 2))
    assert m["answer_accuracy"] == 0.5 and m["false_refusal_rate"] == 0.25 and m["refusal_accuracy"] == 0.5
    only_retrieval = summarize([_row(rank=1, evidence_found_at5=True)])
    assert only_retrieval["answer_accuracy"] is None and only_retrieval["citation_precision"] is None


def test_compare_specs():
    assert parse_config("small:chunk_chars=400, chunk-overlap-chars=80") == (
        "small",
        {"chunk_chars": "400", "chunk_overlap_chars": "80"},
    )
    assert parse_config("plain") == ("plain", {})
    for bad in ("x:nosuchsetting=1", "x:retrieval", ":retrieval=bm25", "a/b:retrieval=bm25"):
        with pytest.raises(ConfigError):
            parse_config(bad)


@pytest.mark.integration  # `rag eval` in a process of its own, with the real models
def test_rag_eval_compare_retrieval_only_writes_reports_and_plots(tmp_path):
    out = tmp_path / "out"
    proc = rag(
        "eval",
        "seeds",
        "--retrieval-only",
        "--out",
        str(out),
        "--compare",
        "dense:retrieval=dense",
        "bm25:retrieval=bm25",
    )
    assert proc.returncode == 0, proc.stderr
    assert "| dense |" in proc.stdout and "| bm25 |" in proc.stdout
    summary = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    dense, bm25 = summary["dense"]["metrics"], summary["bm25"]["metrics"]
    assert dense["hit@5"] > bm25["hit@5"]  # BM25 cannot match across languages
    assert dense["hit@5"] >= 0.95 and dense["answer_accuracy"] is None
    for name in ("dense", "bm25"):
        report = json.loads((out / name / "report.json").read_text(encoding="utf-8"))
        assert set(report["metrics"]) >= {
            "hit@1",
            "hit@5",
            "mrr@10",
            "evidence_recall@5",
            "citation_precision",
            "citation_recall",
            "answer_accuracy",
            "refusal_accuracy",
            "false_refusal_rate",
        }
        assert {"en-id", "ru-en", "id-id"} <= set(report["by_pair"]) and {"en", "id", "ru"} == set(
            report["by_language"]
        )
        assert len(report["questions"]) == len(SEED_SET.questions)
        for png in ("metrics_by_pair.png", "latency.png"):
            assert (out / name / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "## By language pair" in (out / name / "report.md").read_text(encoding="utf-8")


@pytest.mark.integration  # `rag eval` in a process of its own, with the real models
def test_rag_eval_with_answers_on_a_user_set(tmp_path):
    path = tmp_path / "mine.jsonl"
    rows = [
        {
            "id": "tass",
            "question": "Кого цитировал ТАСС?",
            "lang": "ru",
            "answer_any": ["Zakharova", "Захаров"],
            "evidence": [
                {
                    "source": "000_1b03c4f4f3f24ebf.txt",
                    "quote": "TASS mengutip pernyataan juru bicara Kementerian Luar Negeri Maria Zakharova",
                }
            ],
        },
        {"id": "mars", "question": "How many people live on Mars?", "lang": "en", "answerable": False},
    ]
    path.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{broken\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    # the gate is lowered so that the cross-lingual question is answered: this test is about the report
    proc = rag(
        "eval",
        str(path),
        "--generator",
        "extractive",
        "--out",
        str(out),
        "--corpus",
        str(SEEDS),
        env={"RAG_MIN_ANSWERABLE": "0.5"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipped line 3" in proc.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    m = report["metrics"]
    assert m["questions"] == 2 and m["hit@5"] == 1.0
    assert m["citation_precision"] is not None and m["answer_accuracy"] is not None
    assert m["refusal_accuracy"] is not None and m["false_refusal_rate"] is not None
    assert report["by_pair"]["ru-id"]["hit@5"] == 1.0
    assert report["latency"]["total"]["n"] == 2 and report["config"]["problems"][0]["line"] == 3


def test_says_and_the_word_level_language_figures():
    from rag.evaluation.datasets import EvalQuestion
    from rag.evaluation.metrics import says

    q = EvalQuestion("q", "Who did TASS quote?", "en", references=("Maria Zakharova", "Марию Захарову"))
    assert says(q, "Maria  Zakharova [1]. The articles say: “TASS mengutip ...” [1]")
    assert not says(q, "The articles say: “TASS mengutip Maria Zakharova.” [1]")  # only quoted
    assert says(EvalQuestion("q", "?", "en"), "anything") is None
    rows = [
        _row(refused=False, correct=True, says=True, answer="a", language_share=1.0),
        _row(refused=False, correct=True, says=False, answer="b", language_share=0.5, other_script=True),
        _row(refused=True, correct=False, says=None, answer="c", language_share=None),
    ]
    m = summarize(rows)
    assert m["says"] == 0.5 and m["in_question_language"] == pytest.approx(2 / 3)
    assert m["mixed_script_answers"] == 1
