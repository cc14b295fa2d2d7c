"""Publication dates and outlets are found where a reader would look, in any language CLDR knows."""

from __future__ import annotations

import pytest

from rag.ingest.corpus import extract_declared
from rag.ingest.metadata import find_metadata, parse_date


@pytest.mark.parametrize(
    ("text", "language", "iso"),
    [
        ("2016-10-04T10:00:00Z", "en", "2016-10-04"),
        ("04.10.2016", "en", "2016-10-04"),  # dots: day first, whatever the language
        ("04/10/2016", "en", "2016-04-10"),  # en's short pattern is M/d/yy
        ("04/10/2016", "id", "2016-10-04"),  # id's is dd/MM/yy
        ("25/10/2016", "en", "2016-10-25"),  # the numbers decide when one is over 12
        ("2016/10/04", "zh", "2016-10-04"),
        ("2016年10月4日", "zh", "2016-10-04"),
        ("4 October 2016", "en", "2016-10-04"),
        ("October 4th, 2016", "en", "2016-10-04"),
        ("4 октября 2016 г.", "ru", "2016-10-04"),
        ("4 Oktober 2016", "id", "2016-10-04"),
        ("4 Ekim 2016", "tr", "2016-10-04"),
        ("4 de octubre de 2016", "es", "2016-10-04"),
        ("4 Οκτωβρίου 2016", "el", "2016-10-04"),
        ("4 October 2016", "sw", "2016-10-04"),  # English month names are always known
        ("31.02.2016", "de", None),  # not a date
        ("1850-01-01", "en", None),  # out of range for news
        ("no date here", "en", None),
    ],
)
def test_parse_date(text, language, iso):
    assert parse_date(text, language) == iso


def test_date_at_the_end_of_a_text_and_not_in_the_body():
    body = "On 12.03.2015 the talks began. " * 30
    found = find_metadata(body + "\nThe talks ended 04.10.2016\n\nShare this news\n", "en")
    assert found.published == "2016-10-04" and found.published_from == "end of the text: 04.10.2016"
    # a date inside a sentence is an event, not the publication, at the start or at the end
    assert find_metadata(body + "It was signed on 9 September 2016 in Geneva.", "en").published is None


def test_dateline_date_and_outlet():
    found = find_metadata("MOSCOW, 4 October 2016 (Reuters) - The talks ended.", "en")
    assert (found.published, found.outlet) == ("2016-10-04", "Reuters")
    assert found.outlet_from.startswith("dateline: MOSCOW")


def test_front_matter_wins_over_the_text():
    data = b"---\ntitle: Talks\ndate: 2016-10-05\noutlet: TASS\n---\nMOSCOW (Reuters) - 04.10.2016 text.\n"
    text, title, declared = extract_declared(data, ".md")
    found = find_metadata(text, "en", declared)
    assert title == "Talks"
    assert (found.published, found.published_from) == ("2016-10-05", "front matter date: 2016-10-05")
    assert (found.outlet, found.outlet_from) == ("TASS", "front matter outlet: TASS")


def test_html_meta_tags_and_time():
    html = (
        b'<html><head><meta property="article:published_time" content="2016-10-04T08:00:00+03:00">'
        b'<meta property="og:site_name" content="RIA Novosti"><title>T</title></head>'
        b"<body><p>Text of the story.</p></body></html>"
    )
    text, _, declared = extract_declared(html, ".html")
    found = find_metadata(text, "en", declared)
    assert found.published == "2016-10-04" and found.published_from.startswith("meta article:published_time")
    assert found.outlet == "RIA Novosti"
    timed = b"<html><body><time datetime='2016-10-03'>Monday</time><p>Story.</p></body></html>"
    text, _, declared = extract_declared(timed, ".html")
    assert find_metadata(text, "en", declared).published_from == "html <time>: 2016-10-03"
