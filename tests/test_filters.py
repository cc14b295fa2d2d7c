"""Filters by language, source, outlet and publication date keep exactly what they say, in every mode."""

from __future__ import annotations

import datetime as dt

import pytest

from rag.errors import QueryError
from rag.index.filters import Filters, day_number
from rag.ingest.chunking import Chunk

ARTICLES = {
    "a.md": ("2016-10-03", "TASS", "The ministry said the talks on Syria were suspended by Washington."),
    "b.md": (
        "2016-10-04",
        "Reuters",
        "Washington suspended the talks with Moscow on Syria, the ministry said.",
    ),
    "c.md": (
        "2016-11-20",
        "tass",
        "Die Gespräche über Syrien wurden von Washington ausgesetzt, sagte das Ministerium.",
    ),
    "d.txt": (None, None, "The talks on Syria were suspended, the ministry said, without giving a date."),
}


def chunk(published=None, outlet=None, language="en", source="a.md"):
    return Chunk("id", source, "x", 0, 0, 1, "t", language, "", published, outlet)


def test_filter_values():
    f = Filters.of(since="2016-10", until="2016", outlet=["TASS"], language="en")
    assert (f.since, f.until, f.outlets, f.languages) == (20161001, 20161231, ("tass",), ("en",))
    assert f.keeps(chunk("2016-10-04", "Tass")) and not f.keeps(chunk("2016-09-30", "TASS"))
    assert not f.keeps(chunk(None, "TASS"))  # an unknown date is not inside any range
    assert not f.keeps(chunk("2016-10-04", "Reuters")) and not f.keeps(chunk("2016-10-04", "TASS", "de"))
    assert Filters.of(outlet="TASS").keeps(chunk(None, "TASS"))  # no date bound: undated articles stay
    assert not Filters() and Filters.of(since=dt.date(2016, 2, 29)).since == 20160229
    assert day_number("2016-02", "until", last=True) == 20160229


@pytest.mark.parametrize("bad", ["yesterday", "2016-13", "2016-02-30", "16-10-04"])
def test_bad_dates_are_clear_errors(bad):
    with pytest.raises(QueryError, match="since must be a date such as 2016-10-04"):
        Filters.of(since=bad)
    with pytest.raises(QueryError, match="is after until"):
        Filters.of(since="2016-10-05", until="2016-10-04")


@pytest.fixture(scope="module")
def dated(tmp_path_factory, embedder):
    from rag import Assistant

    root = tmp_path_factory.mktemp("dated")
    for name, (published, outlet, text) in ARTICLES.items():
        head = "".join(f"{k}: {v}\n" for k, v in (("date", published), ("outlet", outlet)) if v)
        (root / name).write_text(f"---\n{head}---\n{text}\n" if head else text + "\n", encoding="utf-8")
    assistant = Assistant.open(root / "index", embedder=embedder, progress=False)
    assert len(assistant.ingest([root]).added) == 4
    return assistant


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
@pytest.mark.parametrize(
    ("filters", "kept"),
    [
        ({}, {"a.md", "b.md", "c.md", "d.txt"}),
        ({"since": "2016-10-04"}, {"b.md", "c.md"}),
        ({"until": "2016-10-04"}, {"a.md", "b.md"}),
        ({"since": "2016-10-04", "until": "2016-10"}, {"b.md"}),
        ({"outlet": "tass"}, {"a.md", "c.md"}),
        ({"outlet": ["Reuters", "TASS"], "language": "en"}, {"a.md", "b.md"}),
        ({"language": "de"}, {"c.md"}),
        ({"since": "2017"}, set()),
    ],
)
def test_search_keeps_exactly_what_the_filters_say(dated, mode, filters, kept):
    hits = dated.search("talks on Syria suspended by Washington ministry", k=10, mode=mode, **filters)
    found = {h.source.rsplit("/", 1)[-1] for h in hits}
    assert found == kept  # every article shares "Washington" with the query, so BM25 ranks each too


def test_records_and_citations_carry_dates_and_outlets(dated):
    records = {r.source.rsplit("/", 1)[-1]: r for r in dated.sources()}
    assert (records["a.md"].published, records["a.md"].outlet) == ("2016-10-03", "TASS")
    assert records["a.md"].published_from == "front matter date: 2016-10-03"
    assert records["d.txt"].published is None and records["d.txt"].outlet is None
    answer = dated.ask("Who suspended the talks on Syria?", generator="extractive", outlet="Reuters")
    assert answer.citations and {c.outlet for c in answer.citations} == {"Reuters"}
    assert {c.published for c in answer.citations} == {"2016-10-04"}
