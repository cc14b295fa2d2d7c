"""Events: the event similarity's features, incremental assignment (pure logic), and on the seeds with the
real model and index (one event of two stories)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.index.events import FEATURES, EventModel, assign_events, features, list_events, load_model
from rag.index.stories import Document, InMemoryDocuments


def doc(article_id: str, chunks: list[list[float]], language: str = "en", story: str = "") -> Document:
    rows = np.asarray(chunks, dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    mean = rows.mean(axis=0)
    return Document(article_id, language, mean / np.linalg.norm(mean), frozenset(), story or article_id, rows)


# a model that reads only the best pair of chunks: similarity 0.5 at cosine 0.8
ONLY_BEST = EventModel(
    mean=(0.0,) * len(FEATURES),
    scale=(1.0,) * len(FEATURES),
    weights=tuple(10.0 if f == "best_chunks" else 0.0 for f in FEATURES),
    bias=-8.0,
    threshold=0.5,
)


def test_features_read_document_coverage_best_pair_leads_and_language():
    a = doc("a", [[1, 0, 0], [0, 1, 0]])
    b = doc("b", [[1, 0, 0], [0, 0, 1]], language="de")
    f = dict(zip(FEATURES, features(a, b)))
    assert f["best_chunks"] == pytest.approx(1.0) and f["leads"] == pytest.approx(1.0)
    assert f["coverage"] == pytest.approx(0.5) and f["same_language"] == 0.0
    assert features(a, b)[:6] == pytest.approx(features(b, a)[:6])  # symmetric


def test_an_article_joins_the_event_it_matches_and_a_copy_the_event_of_its_story():
    known = InMemoryDocuments()
    first = assign_events([doc("a", [[1, 0, 0], [0, 1, 0]])], known, ONLY_BEST)
    known.add(first)
    assert first[0].event == "a"
    near, far = doc("b", [[0.95, 0.3, 0], [0, 0, 1]]), doc("c", [[0, 0, 1], [0, 0.2, 1]])
    placed = {d.article_id: d.event for d in assign_events([near, far], known, ONLY_BEST)}
    assert placed == {"b": "a", "c": "c"}
    # a copy that joined story "c" reports event "c", whatever its own similarity says
    copy = doc("d", [[1, 0, 0]], story="c")
    known.add([replace_event(far, "c")])
    (done,) = assign_events([copy], known, ONLY_BEST)
    assert done.event == "c"


def replace_event(d: Document, event: str) -> Document:
    from dataclasses import replace

    return replace(d, event=event)


def test_events_are_listed_newest_first_with_their_most_central_report_as_label():
    from rag.index.records import ArticleRecord

    def record(source: str, event: str, published: str | None, title: str) -> ArticleRecord:
        return ArticleRecord(
            source, source, title, "en", "h", 1, "2026-12-07T00:00:00Z", published=published, event=event
        )

    records = [
        record("a", "e1", "2016-10-03", "Talks suspended"),
        record("b", "e1", "2016-10-04", "Kerry ends talks with Lavrov"),
        record("c", "e2", "2019-11-18", "A ferry on Lake Toba"),
    ]
    vectors = {"a": np.array([1.0, 0.0]), "b": np.array([0.9, 0.1]), "c": np.array([0.0, 1.0])}
    listed = list_events(records, vectors)
    assert [e.event for e in listed] == ["e2", "e1"]
    assert listed[1].sources[0] in ("a", "b") and listed[1].label in (
        "Talks suspended",
        "Kerry ends talks with Lavrov",
    )
    assert (listed[1].first_published, listed[1].last_published) == ("2016-10-03", "2016-10-04")


def test_the_shipped_model_loads_with_its_threshold():
    model = load_model()
    assert 0.0 < model.threshold < 1.0 and len(model.weights) == len(FEATURES)


def test_the_seeds_are_one_event_of_two_stories(seed_assistant):
    (event,) = seed_assistant.events()
    assert len(event.sources) == 2 and event.stories == 2
    assert set(event.languages) == {"en", "id"}
    (english,) = seed_assistant.events(language="en")
    assert english.label.startswith("The United States stopped the talks with Russia")
    assert english.label_from.endswith("in en")
    hits = seed_assistant.search("Who did TASS quote?", k=5, event=event.event)
    assert hits and {h.source for h in hits} <= set(event.sources)
    with pytest.raises(Exception, match="no event"):
        seed_assistant.search("Who did TASS quote?", event="nope")
    compared = seed_assistant.compare(
        "Why did the US stop the talks with Russia?", event=event.event, generator="extractive"
    )
    assert {s.source for s in compared.sources} == set(event.sources)


PAIRS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "semeval2022-task8" / "pairs.csv"


@pytest.mark.skipif(not PAIRS.exists(), reason="../shared/bench/semeval2022-task8 is not here")
def test_rated_pairs_from_the_held_out_part_are_grouped_as_people_rated_them(make_assistant, tmp_path):
    from rag.evaluation.semeval import load_pairs

    held = [p for p in load_pairs(PAIRS) if p.split == "test"]
    same = next(p for p in held if p.overall <= 1.25 and p.lang1 != p.lang2)
    different = next(p for p in held if p.overall >= 3.75 and p.lang1 == p.lang2)
    names = {}
    for tag, pair in (("same", same), ("different", different)):
        for n, (lang, text) in enumerate(((pair.lang1, pair.text1), (pair.lang2, pair.text2))):
            path = tmp_path / "corpus" / f"{tag}-{n}-{lang}.txt"
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            names[path.name] = (tag, n)
    assistant = make_assistant()
    assistant.ingest([tmp_path / "corpus"])
    event_of = {Path(r.source).name: r.event for r in assistant.sources()}
    by_tag = {(tag, n): event_of[name] for name, (tag, n) in names.items()}
    assert by_tag[("same", 0)] == by_tag[("same", 1)]  # one event across languages
    assert by_tag[("different", 0)] != by_tag[("different", 1)]
