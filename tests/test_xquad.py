"""XQuAD-R protocols: average precision and SQuAD scoring (pure), and `rag eval xquad-r` on a small sample."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.evaluation.xquad import (
    average_precisions,
    exact_match,
    f1_score,
    normalize_answer,
)
from rag.settings import DEFAULT_XQUAD

from .test_cli import rag


def test_average_precision_over_the_pool():
    docs = np.eye(4, dtype=np.float32)
    query = np.array([[0.9, 0.1, 0.5, 0.0]], dtype=np.float32)  # ranking: doc0, doc2, doc1, doc3
    assert average_precisions(query, docs, [[0, 2]]) == [pytest.approx(1.0)]
    assert average_precisions(query, docs, [[1]]) == [pytest.approx(1 / 3)]
    assert average_precisions(query, docs, [[1, 3]]) == [pytest.approx((1 / 3 + 2 / 4) / 2)]


def test_squad_scoring():
    assert normalize_answer("The  Panthers' defense!") == "panthers defense"
    assert normalize_answer("«Нусра»,  группа.") == "нусра группа"
    assert exact_match("the 308 points.", "308 points") == 1.0
    assert f1_score("gave up 308 points", "308") == pytest.approx(2 * (1 / 4) * 1 / (1 / 4 + 1))
    assert f1_score("nothing", "308") == 0.0


@pytest.mark.skipif(
    not (DEFAULT_XQUAD / "en.json").exists(), reason="XQuAD-R not beside the repo (../shared)"
)
def test_rag_eval_xquad_r_on_a_sample(tmp_path):
    proc = rag(
        "eval",
        "xquad-r",
        "--sample",
        "3",
        "--answers",
        "2",
        "--generator",
        "extractive",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "xquad-r.json").read_text(encoding="utf-8"))
    a = result["lareqa"]
    assert a["paragraphs_per_language"] == 3 and len(a["languages"]) == 11
    assert a["questions"] >= 11 * 3 and 0.3 < a["map"] <= 1.0
    ours = result["ours"]["retrieval"]
    assert ours["dense"]["cross_recall@5"] >= 0.8  # en <-> ru across languages
    assert ours["bm25"]["cross_recall@5"] < ours["dense"]["cross_recall@5"]
    assert result["ours"]["answers"]["questions"] == 2
    assert "LAReQA protocol" in (tmp_path / "xquad-r.md").read_text(encoding="utf-8")
