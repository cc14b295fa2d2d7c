"""Pure logic of the chat page: escaping, citation links, context windows, the articles table, comparisons
and their panel numbers, sessions, export and load (a fake assistant), upload names, binding rules."""

from __future__ import annotations

import re
from dataclasses import replace
from types import SimpleNamespace

import pytest

from rag.answer.values import Answer, Citation, Nearest
from rag.errors import ConfigError
from rag.index.build import IngestReport
from rag.ingest.corpus import Skipped
from rag.ui import (
    ARTICLE_HEADERS,
    ChatPage,
    ChatSession,
    answer_html,
    article_rows,
    ask_options,
    check_bind,
    citation_html,
    comparison_html,
    file_results,
    gloss_html,
    number,
    safe_name,
    save_uploads,
    sources_html,
    streaming_html,
)

ARTICLE = "First sentence is here. The minister said <img src=x onerror=alert(1)> nothing & more. Last one."


def _citation(marker: int = 1, text: str = ARTICLE) -> Citation:
    start = text.index("The minister")
    end = text.index("Last one.") - 1
    return Citation(marker, "a/b.txt", start, end, text[start:end], "Title <b>x</b>", "en", 0.73)


def test_answer_markers_link_only_to_known_citations():
    answer = Answer("He said so [1]. Unsupported [3]. <script>x()</script>", (_citation(),), False, "en")
    out = answer_html(answer, turn=4)
    assert '<a class="cite" href="#src-4-1"' in out
    assert "[3]" not in out  # a marker that resolves to nothing is not shown
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_refusal_is_marked_and_escaped():
    out = answer_html(Answer("Not in the <i>articles</i>.", (), True, "en"), turn=1)
    assert out.startswith('<div class="refusal">') and "&lt;i&gt;" in out


def test_a_refusal_shows_its_nearest_sentences_escaped_in_the_answer_language_without_markers():
    start = ARTICLE.index("The minister")
    end = ARTICLE.index("Last one.") - 1
    near = Nearest("a/b.txt", start, end, ARTICLE[start:end], "T", "en", 0.31)
    out = answer_html(Answer("Статьи молчат.", (), True, "ru", nearest=(near,)), turn=2)
    assert out.startswith('<div class="refusal">') and "Ближайшие фрагменты" in out
    assert "<img" not in out and "&lt;img" in out and f"[{start}:{end}]" in out
    assert 'class="cite"' not in out  # not a citation: nothing links to the panel
    assert "nearest" not in answer_html(Answer("Статьи молчат.", (), True, "ru"), turn=2)


def test_streaming_text_is_escaped():
    assert "<img" not in streaming_html("<img src=x onerror=alert(1)> [1]")


def test_citation_context_highlights_the_exact_span_escaped():
    c = _citation()
    out = citation_html(2, c, ARTICLE)
    assert 'id="src-2-1"' in out and f'data-start="{c.start}"' in out
    mark = re.search(r"<mark>(.*?)</mark>", out).group(1)
    assert mark == "The minister said &lt;img src=x onerror=alert(1)&gt; nothing &amp; more."
    assert "<img" not in out and "<b>x</b>" not in out
    assert "First sentence is here." in out and "Last one." in out


def test_citation_context_is_cut_at_word_boundaries():
    words = " ".join(f"word{i}" for i in range(400))
    start = words.index("word200")
    c = Citation(1, "s.txt", start, start + len("word200"), "word200", "t", "en")
    context = re.sub(r"<[^>]+>", "", citation_html(1, c, words))
    inner = context.split("… ", 1)[1].rsplit(" …", 1)[0]
    assert inner.split()[0].startswith("word") and words.find(inner) >= 0


def test_citation_of_a_changed_article_shows_the_quote_alone():
    out = citation_html(1, _citation(), "something else entirely")
    assert "First sentence" not in out and "<mark>The minister" in out


def test_sources_panel_shows_only_the_requested_turn():
    c = _citation()
    out = sources_html([(1, (c,)), (2, ())], {"a/b.txt": ARTICLE})
    assert '<section class="turn" data-turn="1">' in out
    assert '<section class="turn shown" data-turn="2">' in out
    assert "do not answer" in out
    assert "click a marker" in sources_html([], {})


@pytest.mark.parametrize(
    "name,expected",
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("/abs/path/report.PDF", "report.pdf"),
        ("we ird<>name?.html", "we_ird_name_.html"),
        ("....", "upload"),
        ("Берита 1.txt", "Берита_1.txt"),
        (".hidden.txt", "hidden.txt"),
    ],
)
def test_safe_name(name, expected):
    assert safe_name(name) == expected


def test_safe_name_is_bounded():
    assert len(safe_name("a" * 500 + ".txt")) <= 120 and safe_name("a" * 500 + ".txt").endswith(".txt")


def test_save_uploads_keeps_names_inside_the_folder_and_rejects_bad_ones(tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    good = incoming / "note.md"
    good.write_text("# Hello\nworld", encoding="utf-8")
    exe = incoming / "tool.exe"
    exe.write_bytes(b"MZ")
    big = incoming / "big.txt"
    big.write_bytes(b"x" * 2048)
    folder = tmp_path / "uploads"
    saved, rejected, names = save_uploads([str(good), str(exe), str(big)], folder, max_bytes=1024)
    assert (
        saved == [folder / "note.md"] and (folder / "note.md").read_text(encoding="utf-8") == "# Hello\nworld"
    )
    assert names == {str(folder / "note.md"): "note.md"}
    reasons = {r.name: r.detail for r in rejected}
    assert "unsupported file type .exe" in reasons["tool.exe"]
    assert "too large" in reasons["big.txt"]
    assert sorted(p.name for p in folder.iterdir()) == ["note.md"]


def test_file_results_name_what_the_user_uploaded():
    report = IngestReport(
        added=("up/a.txt",),
        updated=("up/b.txt",),
        unchanged=("up/c.txt",),
        skipped=(Skipped("up/d.txt", "empty: no text"),),
    )
    rows = file_results(report, {"up/a.txt": "A.txt", "up/d.txt": "D.txt"})
    assert [(r.name, r.result) for r in rows] == [
        ("A.txt", "added"),
        ("up/b.txt", "updated"),
        ("up/c.txt", "unchanged"),
        ("D.txt", "skipped"),
    ]
    assert rows[-1].detail == "empty: no text"


def test_binding_rules():
    assert check_bind("127.0.0.1", "", "") is None
    assert check_bind("localhost", "", "") is None
    assert check_bind("::1", "", "") is None
    assert check_bind("0.0.0.0", "ann", "secret") == ("ann", "secret")
    with pytest.raises(ConfigError, match="RAG_CHAT_USER and RAG_CHAT_PASSWORD"):
        check_bind("0.0.0.0", "", "")
    with pytest.raises(ConfigError, match="both"):
        check_bind("127.0.0.1", "ann", "")


# --- articles table, citation metadata and glosses


def _record(source: str, story: str, published: str | None = None, outlet: str | None = None):
    from rag.index.records import ArticleRecord

    return ArticleRecord(
        source, f"id-{source}", f"Title {source}", "en", "h", 3, "2026-01-02T03:04:05Z", "", published,
        "", outlet, "", story,
    )  # fmt: skip


def test_article_rows_keep_a_story_together_and_name_its_other_files():
    records = [
        _record("x/a.txt", "s1", "2016-10-04", "TASS"),
        _record("x/b.txt", "s2"),
        _record("y/c.txt", "s1"),
        _record("x/d.txt", "s3"),
    ]
    rows = article_rows(records)
    assert ARTICLE_HEADERS[:5] == ["File", "Title", "Language", "Chunks", "Ingested (UTC)"]
    assert len(rows[0]) == len(ARTICLE_HEADERS)
    assert [r[0] for r in rows] == ["x/a.txt", "y/c.txt", "x/b.txt", "x/d.txt"]  # a and c adjacent
    assert rows[0][4:8] == ["2026-01-02 03:04:05", "2016-10-04", "TASS", "also: c.txt"]
    assert rows[1][7] == "also: a.txt"
    assert rows[2][5:] == ["", "", "", ""]  # unknown date and outlet, a story of one, no event listed


def test_article_rows_follow_the_events_newest_first_and_name_each_event():
    from rag.index.events import Event

    records = [_record("x/a.txt", "s1"), _record("x/b.txt", "s2"), _record("x/c.txt", "s3")]
    events = [
        Event("e2", "Ferry on Lake Toba", "", ("x/c.txt",), 1, ("en",), (), "2019-11-18", "2019-11-18"),
        Event("e1", "Talks end", "", ("x/b.txt", "x/a.txt"), 2, ("en",), (), None, None),
    ]
    rows = article_rows(records, events)
    assert [r[0] for r in rows] == ["x/c.txt", "x/a.txt", "x/b.txt"]
    assert [r[-1] for r in rows] == ["Ferry on Lake Toba", "Talks end", "Talks end"]


def test_the_timeline_draws_a_dot_per_dated_report_escaped_and_counts_the_undated():
    from rag.index.events import Event
    from rag.ui.timeline import timeline_html

    records = [
        _record("x/a.txt", "s1", "2016-10-03", "TASS"),
        _record("x/b.txt", "s2", "2016-10-04", "<b>RIA</b>"),
        _record("x/c.txt", "s3"),
    ]
    event = Event(
        "e1", "Talks <end>", "", ("x/a.txt", "x/b.txt", "x/c.txt"), 3, ("en",), (), "2016-10-03", "2016-10-04"
    )
    out = timeline_html([event], records)
    assert out.count("<circle") == 2 and "1 undated" in out
    assert "<b>RIA" not in out and "&lt;b&gt;RIA" in out and "Talks &lt;end&gt;" in out
    assert "2016-10-03" in out and "2016-10-04" in out
    assert "No articles" in timeline_html([], [])


def test_citation_shows_outlet_date_and_a_labelled_gloss_under_the_quote():
    c = replace(_citation(), published="2016-10-04", outlet="RIA <i>", gloss="Der Minister <b>sagte</b>")
    out = citation_html(1, c, ARTICLE)
    assert '<span class="outlet">RIA &lt;i&gt;</span>' in out and "published 2016-10-04" in out
    assert out.index("<mark>The minister") < out.index('class="gloss"')  # the quote stays, gloss under it
    assert "Machine translation" in out and "Der Minister &lt;b&gt;sagte&lt;/b&gt;" in out
    assert 'class="gloss"' not in citation_html(1, _citation(), ARTICLE)
    assert gloss_html(None) == ""


# --- comparisons


def _cite(marker: int, source: str, start: int, quote: str, language: str = "en", gloss=None) -> Citation:
    return Citation(marker, source, start, start + len(quote), quote, f"T {source}", language, 0.5,
                    gloss=gloss)  # fmt: skip


def _comparison(agree: bool = True):
    from rag.answer.compare import Comparison, Point, SourceAnswer

    a1, a2 = _cite(1, "a.txt", 0, "A said <x>."), _cite(2, "a.txt", 20, "A also said.")
    b1 = _cite(1, "b.txt", 5, "B said.", "id", gloss="B berkata.")
    sources = (
        SourceAnswer("a.txt", "Title <a>", "en", "Outlet A", "2016-10-04", "s1", ("c.txt",),
                     "A: “A said <x>.” [1] “A also said.” [2] [7]", (a1, a2), False),
        SourceAnswer("b.txt", "Title B", "id", None, None, "s2", (), "B: “B said.” [1]", (b1,), False),
        SourceAnswer("d.txt", "Title D", "en", None, None, "s3", (), "The articles do not say.", (), True),
    )  # fmt: skip
    points = (
        Point("Both: “A also said.” [1] — “B said.” [2]", (replace(a2, marker=1), replace(b1, marker=2))),
    )
    return Comparison("Q?", "en", sources, points if agree else (), ())


def _hrefs(out: str) -> list[str]:
    return re.findall(r'href="#src-(\d+)-(\d+)"', out)


def test_comparison_markers_are_renumbered_to_the_panel_and_all_resolve():
    comparison = _comparison()
    numbered = number(comparison)
    assert [(c.marker, c.source, c.start) for c in numbered.citations] == [
        (1, "a.txt", 0), (2, "a.txt", 20), (3, "b.txt", 5),
    ]  # fmt: skip
    assert numbered.sources == ({1: 1, 2: 2}, {1: 3}, {})
    assert numbered.agree == ({1: 2, 2: 3},)  # the same spans keep their panel number
    out = comparison_html(comparison, turn=5)
    panel = {str(c.marker) for c in numbered.citations}
    links = _hrefs(out)
    assert links and all(turn == "5" and m in panel for turn, m in links)
    assert "[7]" not in out  # a local marker that resolves to nothing is not shown
    agree = out[out.index("cmp-agree") :]
    assert {m for _, m in _hrefs(agree)} == {"2", "3"}  # both citations of the point
    assert "\n\n" not in out


def test_comparison_shows_headers_silence_and_escapes():
    out = comparison_html(_comparison(agree=False), turn=1)
    assert len(re.findall(r'class="cmp-source[ "]', out)) == 3 and 'class="cmp-source silent"' in out
    assert "silent" in out and "Title &lt;a&gt;" in out and "A said &lt;x&gt;." in out
    assert "Outlet A" in out and "2016-10-04" in out and "also in: c.txt" in out
    assert "<x>" not in out and "<a>" not in out
    assert "No points found where the sources agree" in out and "cmp-differ" in out


def test_point_without_markers_in_its_text_still_links_both_citations():
    comparison = _comparison()
    point = replace(comparison.agree[0], text="Both say so.")
    out = comparison_html(replace(comparison, agree=(point,)), turn=2)
    assert {m for _, m in _hrefs(out[out.index("cmp-agree") :])} == {"2", "3"}


def test_comparison_without_sources_is_a_refusal():
    from rag.answer.compare import Comparison

    assert 'class="refusal"' in comparison_html(Comparison("Q?", "en", (), (), ()), turn=1)


# --- the session and the page's handlers (a fake assistant)


def test_session_keeps_turns_history_and_panel_entries():
    session = ChatSession()
    ok = Answer("Yes [1].", (_citation(),), False, "en")
    assert session.add("q1", ok) == 1
    assert session.add("q2", Answer("No.", (), True, "en")) == 2
    assert session.add_comparison("q3", _comparison()) == 3
    assert session.history == [("q1", "Yes [1].")]  # refusals and comparisons are no follow-up context
    assert [t.question for t in session.chat] == ["q1", "q2", "q3"]
    assert [len(c) for _, c in session.turns] == [1, 0, 3] and session.labels == {3: "Comparison"}
    again = ChatSession.of(session.chat)
    assert again.history == session.history and again.turns == session.turns
    messages = again.messages()
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3
    assert 'href="#src-1-1"' in messages[1]["content"] and "cmp-sources" in messages[5]["content"]


def test_ask_options_turn_empty_filters_into_none():
    assert ask_options("extractive", 3.0, [], None, " ", "", False) == {
        "generator": "extractive", "k": 3, "gloss": False, "language": None, "outlet": None,
        "since": None, "until": None,
    }  # fmt: skip
    options = ask_options("local", 5, ["en"], ["TASS"], "2016-10-01 ", "2016", True)
    assert options["since"] == "2016-10-01" and options["outlet"] == ["TASS"] and options["gloss"] is True


class _FakeAssistant:
    """What ChatPage calls, over one article, with the real export and load of a chat."""

    def __init__(self, index_dir):
        self.settings = SimpleNamespace(index_dir=index_dir, max_file_bytes=1 << 20)
        self.calls: list[dict] = []

    def ask_stream(self, question, history, **options):
        from rag.errors import QueryError

        self.calls.append(options)
        if options.get("since") == "bad":
            raise QueryError("since must be a date such as 2016-10-04")
        yield "Yes "
        yield Answer("Yes [1].", (_citation(),), False, "en")

    def compare(self, question, **options):
        self.calls.append(options)
        if options.get("until") == "boom":
            raise RuntimeError("internal detail")
        return _comparison()

    def export(self, turns, format="json"):
        from rag.answer.transcript import to_json, to_markdown

        return to_json(turns) if format == "json" else to_markdown(turns)

    def load_chat(self, text):
        from rag.answer.transcript import from_json

        return from_json(text)

    def article_text(self, source):
        return ARTICLE


def test_page_passes_the_filters_and_turns_errors_into_messages(tmp_path):
    page = ChatPage(_FakeAssistant(tmp_path))
    out = list(page.respond("q", [], None, "extractive", 4, ["en"], ["TASS"], "2016", "", True))
    chat, session = out[-1][0], out[-1][1]
    assert page.assistant.calls[-1] == {
        "generator": "extractive", "k": 4, "gloss": True, "language": ["en"], "outlet": ["TASS"],
        "since": "2016", "until": None,
    }  # fmt: skip
    assert 'href="#src-1-1"' in chat[-1]["content"] and len(session.chat) == 1
    bad = list(page.respond("q", chat, session, "extractive", 4, [], [], "bad", "", False))[-1]
    assert "since must be a date" in bad[0][-1]["content"] and len(session.chat) == 1
    boom = list(page.compare("q", chat, session, "extractive", 4, [], [], "", "boom", False))[-1]
    assert "RuntimeError" in boom[0][-1]["content"] and "internal detail" not in boom[0][-1]["content"]


def test_page_compare_adds_a_turn_whose_panel_holds_every_linked_citation(tmp_path):
    page = ChatPage(_FakeAssistant(tmp_path))
    steps = page.compare("Q?", [], None, "extractive", 4, [], [], "", "", False)
    assert "comparing" in next(steps)[0][-1]["content"]
    chat, session, panel, box = list(steps)[-1]
    assert box == "" and session.labels == {1: "Comparison"}
    ids = set(re.findall(r'id="src-(\d+-\d+)"', panel))
    assert {f"{t}-{m}" for t, m in _hrefs(chat[-1]["content"])} <= ids and len(ids) == 3
    assert "B berkata." in panel  # the gloss, under its quote


def test_page_exports_and_loads_a_chat_and_a_bad_file_keeps_the_chat(tmp_path):
    page = ChatPage(_FakeAssistant(tmp_path))
    assert page.exports(None) == (None, None)
    chat, session, *_ = list(page.respond("q1", [], None, "extractive", 4, [], [], "", "", False))[-1]
    chat, session, *_ = list(page.compare("q2", chat, session, "extractive", 4, [], [], "", "", False))[-1]
    md, js = page.exports(session)
    assert md.endswith("chat.md") and js.endswith("chat.json") and "## 2. q2" in open(md).read()

    loaded_chat, loaded, panel, notice = page.load_chat(js, [], None)
    assert "Loaded 2 turns" in notice and loaded.history == [("q1", "Yes [1].")]
    assert loaded_chat == chat and 'data-turn="2"' in panel

    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}', encoding="utf-8")
    kept = page.load_chat(str(other), chat, session)
    assert kept[0] is chat and kept[1] is session and "not a chat export" in kept[3]
    assert 'class="error-msg"' in kept[3] and "other.json" in kept[3]
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    assert "not UTF-8" in page.load_chat(str(binary), chat, session)[3]
    assert "choose a chat export" in page.load_chat(None, chat, session)[3]


def test_a_refusal_keeps_its_nearest_sentences_through_export_and_load():
    from rag.answer.transcript import Turn, from_json, to_json, to_markdown

    near = Nearest("a.txt", 0, 5, "First", "T", "en", 0.2)
    turns = [Turn("Q?", answer=Answer("The articles do not say.", (), True, "en", nearest=(near,)))]
    (back,) = from_json(to_json(turns))
    assert back.answer is not None and back.answer.nearest == (near,)
    assert "“First” — a.txt [0:5]" in to_markdown(turns)


def test_the_browser_language_is_the_first_of_accept_language():
    from types import SimpleNamespace

    from rag.ui.app import browser_language

    assert browser_language(SimpleNamespace(headers={"accept-language": "id-ID,id;q=0.9,en;q=0.8"})) == "id"
    assert browser_language(SimpleNamespace(headers={"accept-language": "*"})) is None
    assert browser_language(SimpleNamespace(headers={})) is None and browser_language(None) is None
