"""The held-out answer benchmark's pile (`rag eval xquad-qa`): split by article, one language per paragraph,
cross-lingual questions, unanswerable questions from left-out paragraphs; and `rag eval` on a few of them."""

from __future__ import annotations

import collections
import json

import pytest

from rag.errors import CorpusError
from rag.evaluation.xquad_qa import QUESTION_LANGUAGES, build_pile
from rag.settings import DEFAULT_XQUAD

pytestmark = pytest.mark.skipif(
    not (DEFAULT_XQUAD / "en.json").exists(), reason="XQuAD-R not beside the repo"
)


def pile(tmp_path, split):
    corpus, dataset = build_pile(tmp_path, split)
    rows = [json.loads(line) for line in dataset.read_text(encoding="utf-8").splitlines()]
    return corpus, rows


def test_the_splits_hold_disjoint_articles_each_paragraph_once_in_one_language(tmp_path):
    dev_corpus, dev = pile(tmp_path / "dev", "dev")
    test_corpus, test = pile(tmp_path / "test", "test")
    assert {r["article"] for r in dev} == set(range(24)) and {r["article"] for r in test} == set(
        range(24, 48)
    )
    for corpus in (dev_corpus, test_corpus):
        names = [p.name for p in corpus.iterdir()]
        paragraphs = [n.split(".")[0] for n in names]  # a07p2.de.txt -> a07p2
        assert len(names) == 96 and len(set(paragraphs)) == 96  # 4 of 5 paragraphs of 24 articles, once each


def test_questions_are_cross_lingual_with_exact_evidence_and_unanswerable_ones_left_out(tmp_path):
    corpus, rows = pile(tmp_path, "dev")
    kinds = collections.Counter(r["kind"] for r in rows)
    assert kinds == {"answerable": 48, "unanswerable": 24, "follow-up": 8}
    indexed = {p.name.split(".")[0] for p in corpus.iterdir()}
    for r in rows:
        paragraph = r["id"].split("q")[0]
        if r["answerable"]:
            (evidence,) = r["evidence"]
            assert evidence["quote"] in (corpus / evidence["source"]).read_text(encoding="utf-8")
            assert r["lang"] != evidence["source"].split(".")[1]  # asked in another language
            assert paragraph in indexed
        else:
            assert paragraph not in indexed and "evidence" not in r
        assert bool(r["history"] if r["answerable"] else False) == (r["kind"] == "follow-up")
    by_language = collections.Counter(r["lang"] for r in rows if r["kind"] == "answerable")
    assert set(by_language) == set(QUESTION_LANGUAGES) and min(by_language.values()) >= 5


def test_the_calibration_set_asks_every_question_of_the_same_files(tmp_path):
    corpus, rows = pile(tmp_path / "sample", "dev")
    every_corpus, every_dataset = build_pile(tmp_path / "every", "dev", every_question=True)
    every = [json.loads(line) for line in every_dataset.read_text(encoding="utf-8").splitlines()]
    assert sorted(p.name for p in corpus.iterdir()) == sorted(p.name for p in every_corpus.iterdir())
    kinds = collections.Counter(r["kind"] for r in every)
    assert (
        set(kinds) == {"answerable", "unanswerable"}
        and kinds["answerable"] > 400
        and kinds["unanswerable"] > 80
    )
    assert len({r["id"] for r in every}) == len(every) and {r["article"] for r in every} == set(range(24))
    same = [r["lang"] == r["evidence"][0]["source"].split(".")[1] for r in every if r["answerable"]]
    assert sum(same) * 2 == len(same)  # each answerable question in another language and in its own
    # every unanswerable question of the sample is in the calibration set (maybe in another language)
    assert {r["id"].split("-")[0] for r in rows if not r["answerable"]} <= {
        r["id"].split("-")[0] for r in every
    }


def test_an_unknown_split_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="dev .*test"):
        build_pile(tmp_path, "all")


def test_calibration_refuses_the_test_split():
    from rag.evaluation.xquad_qa import evaluate_pile

    with pytest.raises(CorpusError, match="only on the dev split"):
        evaluate_pile("test", calibrate=True)


def test_rag_eval_xquad_qa_reports_by_language_and_pair(tmp_path):
    from .test_cli import rag

    proc = rag(
        "eval",
        "xquad-qa",
        "--split",
        "dev",
        "--limit",
        "4",
        "--generator",
        "extractive",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["metrics"]["questions"] == 4 and report["by_document_language"] and report["by_pair"]
    assert report["metrics"]["in_question_language"] is not None
    assert all(q["exact_quotes"] is not False for q in report["questions"])
    assert "By document language" in (tmp_path / "report.md").read_text(encoding="utf-8")
