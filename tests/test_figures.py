"""The current figures in docs/benchmarks.md are generated from docs/results (never edited by hand)."""

from __future__ import annotations

import json
from pathlib import Path

from rag.evaluation.figures import BEGIN, END, in_sync, save, update

ROOT = Path(__file__).resolve().parents[1]


def test_the_benchmarks_page_matches_the_saved_results():
    assert in_sync(ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "results"), (
        "docs/benchmarks.md is out of date or was edited: run `python -m rag.evaluation.figures render`"
    )


def test_saved_summaries_drop_rows_and_render_between_the_markers(tmp_path):
    report = {
        "config": {},
        "metrics": {"answer_accuracy": 0.5, "false_refusal_rate": 0.25, "questions": 4},
        "by_language": {"el": {"answer_accuracy": 0.5}},
        "questions": [{"id": "q1"}],
    }
    (tmp_path / "report.json").write_text(json.dumps(report))
    bench = {
        "bench": "answer",
        "generators": [
            {
                "generator": "llama-index",
                "answerable": 3,
                "correct": 1,
                "unanswerable": 1,
                "refused": 0,
                "total_s": {"p50": 2.0},
                "rows": [{"id": "q1"}],
            },
            {
                "generator": "extractive",
                "answerable": 3,
                "correct": 2,
                "unanswerable": 1,
                "refused": 1,
                "total_s": {"p50": 0.1},
                "rows": [],
            },
        ],
    }
    (tmp_path / "answer.json").write_text(json.dumps(bench))
    results = tmp_path / "results"
    kept = json.loads(save("run-a", tmp_path / "report.json", "rag eval x", results).read_text())
    assert "questions" not in kept["data"] and kept["command"] == "rag eval x"
    save("bench-b", tmp_path / "answer.json", "rag bench answer", results, generators=["llama-index"])
    doc = tmp_path / "page.md"
    doc.write_text("# Page\n\nHistory, written by hand.\n")
    assert update(doc, results) and in_sync(doc, results)
    text = doc.read_text()
    assert text.index(BEGIN) < text.index("| run-a | 4 | 0.50 | 0.25 |") < text.index(END)
    assert "| bench-b | llama-index | 1/3 | 0/1 | 2.00 |" in text and "extractive" not in text
    assert text.endswith("History, written by hand.\n")
    doc.write_text(text.replace("0.50", "0.90"))  # edited by hand
    assert not in_sync(doc, results)
