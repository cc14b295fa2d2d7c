"""Pure logic of the chat page: escaping, citation links, context windows, upload names, binding rules."""

from __future__ import annotations

import re

import pytest

from rag.answer.values import Answer, Citation
from rag.errors import ConfigError
from rag.index.build import IngestReport
from rag.ingest.corpus import Skipped
from rag.ui import (
    answer_html,
    check_bind,
    citation_html,
    file_results,
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
