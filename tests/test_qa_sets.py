"""The native-speaker QA sets (`../shared/qa`): split by document, spans repaired or the question left out;
the pile of `rag eval qa` (indexed passages, unanswerable questions written against their passage or from
left-out passages, exact evidence); and `rag eval qa` itself on a few questions."""

from __future__ import annotations

import collections
import json

import pytest

from rag.errors import CorpusError
from rag.evaluation.qa_pile import build_qa_pile
from rag.evaluation.qa_sets import SETS, load_set
from rag.settings import DEFAULT_QA

pytestmark = pytest.mark.skipif(
    not (DEFAULT_QA / "README.md").exists(), reason="../shared/qa not beside the repo"
)


def _squad(path, articles):
    path.write_text(json.dumps({"data": articles}), encoding="utf-8")


def test_a_set_splits_by_document_and_repairs_or_drops_spans(tmp_path):
    text = "Paris is the capital. It has a tower."
    articles = [
        {
            "title": f"a{i}",
            "paragraphs": [
                {
                    "context": text,
                    "qas": [
                        {
                            "id": f"{i}a",
                            "question": "Capital?",
                            "answers": [{"text": "Paris", "answer_start": 3}],
                        },
                        {
                            "id": f"{i}b",
                            "question": "Lost?",
                            "answers": [{"text": "Rome", "answer_start": 0}],
                        },
                        {"id": f"{i}c", "question": "None?", "answers": [], "is_impossible": True},
                    ],
                }
            ],
        }
        for i in range(10)
    ]
    _squad(tmp_path / SETS["squad-es"].files[0], articles)
    dev, test = load_set("squad-es", "dev", tmp_path), load_set("squad-es", "test", tmp_path)
    assert [p.title for p in test] == ["a7", "a8", "a9"] and len(dev) == 7
    (paris, none) = dev[0].questions
    assert paris.answers == ((0, 5),) and none.impossible and not none.answers  # "Rome": not in the text


def test_jsquad_titles_are_cut_from_the_context_and_spans_shifted():
    passage = load_set("jsquad", "dev")[0]
    assert "[SEP]" not in passage.text and passage.title
    for q in passage.questions:
        for s, e in q.answers:
            assert passage.text[s:e]


def test_unknown_set_or_split_is_a_clear_error():
    with pytest.raises(CorpusError, match="unknown QA set"):
        load_set("nope", "dev")
    with pytest.raises(CorpusError, match="unknown split"):
        load_set("arcd", "train")


@pytest.mark.parametrize("name", ["idk-mrc", "korquad"])
def test_the_pile_has_exact_evidence_and_both_kinds_of_unanswerable_question(tmp_path, name):
    corpus, dataset = build_qa_pile(tmp_path, name, "test", DEFAULT_QA, passages=24, questions=60)
    rows = [json.loads(line) for line in dataset.read_text(encoding="utf-8").splitlines()]
    kinds = collections.Counter(r["kind"] for r in rows)
    assert kinds["answerable"] >= 20 and len(rows) - kinds["answerable"] >= 10
    assert kinds["left-out"] >= 1
    if name == "idk-mrc":  # written against their own (indexed) passage
        assert kinds["unanswerable"] >= 1
    files = {p.name: p.read_text(encoding="utf-8") for p in corpus.iterdir()}
    for r in rows:
        if r["answerable"]:
            (evidence,) = r["evidence"]
            assert evidence["quote"] in files[evidence["source"]]
            assert r["reference"] in evidence["quote"] or evidence["quote"] in r["reference"]
        elif r["kind"] == "left-out":
            passage = r["id"].rsplit(":", 1)[0].replace(":", "-")
            assert f"{passage}.{r['lang']}.txt" not in files


def test_rag_eval_qa_reports_a_pile(tmp_path):
    from .test_cli import rag

    args = ("eval", "qa", "--set", "arcd", "--split", "test", "--limit", "3", "--generator", "extractive")
    proc = rag(*args, "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["metrics"]["questions"] == 3 and report["by_language"]["ar"]
    assert rag("eval", "qa", "--generator", "extractive").returncode != 0  # --set is required
