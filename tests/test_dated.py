"""The dated-reports benchmark (``rag eval dates``): a corpus only publication dates can answer, and the
strict "chose the right report" score."""

from __future__ import annotations

import json

from rag.evaluation.dated import build_dated, chose_right


def test_each_event_is_reported_twice_days_apart_and_asked_in_a_third_language(tmp_path, make_assistant):
    corpus, data, tolls = build_dated(tmp_path)

    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 * len({r["id"].rsplit("-", 1)[0] for r in rows}) == len(tolls)
    for row in rows:
        (evidence,) = row["evidence"]
        assert evidence["quote"] in (corpus / evidence["source"]).read_text(encoding="utf-8")
        assert row["answer_any"] == [tolls[row["id"]]["right"]] and evidence["quote"].count(
            row["answer_any"][0]
        )
        assert not evidence["source"].endswith(f"-{row['lang']}.txt")  # asked in neither report's language
    assistant = make_assistant()
    assistant.ingest([corpus])
    events: dict[str, dict[str, object]] = {}
    for record in assistant.sources():
        event, _, report = record.source.rsplit("/", 1)[-1].rpartition("-")[0].rpartition("-")
        assert record.published_from == f"front matter date: {record.published}" and record.outlet
        events.setdefault(event, {})[report] = record
    assert len(events) == len(rows) // 2
    for reports in events.values():
        assert reports["0"].published < reports["1"].published  # the first report is the earlier one


def test_choosing_means_the_right_toll_and_not_the_other():
    tolls = {
        "00-flood-first": {"right": "41", "wrong": "70"},
        "00-flood-latest": {"right": "70", "wrong": "41"},
    }

    def report(first, latest, refused=False):
        return {
            "questions": [
                {"id": "00-flood-first", "answer": first, "refused": refused},
                {"id": "00-flood-latest", "answer": latest, "refused": False},
            ]
        }

    assert chose_right(report("41 died [1].", "The toll rose to 70 [2]."), tolls)["chose_right_all"] == 1.0
    both = chose_right(report("41 died [1], later 70 [2].", "70 [1] on 2024-03-07"), tolls)
    assert both["chose_right_first"] == 0.0 and both["chose_right_latest"] == 1.0
    assert chose_right(report("141 died", "170 died"), tolls)["chose_right_all"] == 0.0  # whole numbers only
    assert chose_right(report("41 died", "70", refused=True), tolls)["chose_right_first"] == 0.0
