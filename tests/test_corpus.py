"""Loading files: encodings, formats, titles, languages, and bad files skipped with reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import CorpusError
from rag.ingest.corpus import (
    Article,
    Skipped,
    detect_language,
    load_file,
    load_paths,
    shorten,
)

MB = 1024 * 1024
RUSSIAN = (
    "Официальный представитель МИД России Мария Захарова заявила, что Россия сожалеет о решении "
    "Вашингтона свернуть работу групп специалистов в Женеве.\nОна добавила, что бездействие "
    "Вашингтона привело к перегруппировке боевиков."
)


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF whose content stream shows ``text`` (Latin-1) in Helvetica."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_russian_cp1251_file_is_decoded(tmp_path):
    item = load_file(write(tmp_path, "ru.txt", RUSSIAN.encode("cp1251")), MB)
    assert isinstance(item, Article)
    assert item.text == RUSSIAN
    assert item.language == "ru"
    assert item.title.startswith("Официальный представитель МИД России")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_unicode_encodings(tmp_path, encoding):
    item = load_file(write(tmp_path, "ru.txt", RUSSIAN.encode(encoding)), MB)
    assert isinstance(item, Article) and item.text == RUSSIAN


def test_seed_languages_and_titles():
    items = {Path(a.source).name: a for a in load_paths([Path(__file__).parents[1] / "seeds"], MB)}
    indonesian, english = items["000_1b03c4f4f3f24ebf.txt"], items["002_b2e3a6e9fb9339f0.txt"]
    assert (indonesian.language, english.language) == ("id", "en")
    assert indonesian.title.startswith('Koalisi "anti-ISIS"') and len(indonesian.title) <= 160
    assert english.title.startswith("The United States stopped the talks with Russia")


def test_html_text_is_extracted_without_scripts(tmp_path):
    html = (
        "<html><head><title>Kerry &amp; Lavrov</title><style>p{color:red}</style></head><body>"
        "<h1>Talks end</h1><script>alert('x')</script><p>The US stopped talks&nbsp;with Russia.</p>"
        "<p>Second   paragraph.</p></body></html>"
    )
    item = load_file(write(tmp_path, "a.html", html), MB)
    assert isinstance(item, Article)
    assert item.title == "Talks end"  # the article's heading (trafilatura), not the window title
    assert item.text == "The US stopped talks with Russia.\nSecond paragraph."
    assert "alert" not in item.text and "color" not in item.text


def test_markdown_title_from_heading_and_front_matter(tmp_path):
    md = load_file(write(tmp_path, "a.md", "\n# Syria talks\n\nBody text here."), MB)
    assert md.title == "Syria talks"
    fm = load_file(write(tmp_path, "b.md", '---\ntitle: "Declared"\n---\n# Heading\nBody.'), MB)
    assert fm.title == "Declared"


def test_pdf_text_is_extracted(tmp_path):
    item = load_file(write(tmp_path, "a.pdf", minimal_pdf("Zakharova spoke to TASS about Aleppo.")), MB)
    assert isinstance(item, Article), item
    assert "Zakharova spoke to TASS about Aleppo." in item.text


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"  \n\t\n", "empty"),
        ("binary.txt", bytes(range(256)) * 4, "binary"),
        ("image.png", b"\x89PNG\r\n\x1a\n", "unsupported file type .png"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
    ],
)
def test_bad_files_are_skipped_with_a_reason(tmp_path, name, data, reason):
    item = load_file(write(tmp_path, name, data), MB)
    assert isinstance(item, Skipped)
    assert reason in item.reason


def test_oversized_file_is_skipped(tmp_path):
    item = load_file(write(tmp_path, "big.txt", "word " * 1000), 1000)
    assert isinstance(item, Skipped) and "too large" in item.reason and "RAG_MAX_FILE_MB" in item.reason


def test_folder_walk_is_sorted_and_ignores_hidden(tmp_path):
    write(tmp_path, "b.txt", "Second article text.")
    write(tmp_path, "a.txt", "First article text.")
    write(tmp_path, ".hidden.txt", "Hidden.")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "c.md", "Third article.")
    names = [Path(i.source).name for i in load_paths([tmp_path], MB)]
    assert names == ["a.txt", "b.txt", "c.md"]


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        list(load_paths([tmp_path / "nope"], MB))


def test_language_detection():
    assert (
        detect_language("Juru bicara Departemen Luar Negeri AS mengatakan bahwa pihak Rusia diberitahu.")
        == "id"
    )
    assert detect_language(RUSSIAN) == "ru"
    assert detect_language("12345 !!!") == "und"


def test_shorten_keeps_titles_bounded():
    assert shorten("Short title") == "Short title"
    long = "word " * 100
    assert len(shorten(long)) <= 160 and shorten(long).endswith("…")


def test_excluded_folders_are_not_walked(tmp_path):
    write(tmp_path, "a.txt", "Article.")
    (tmp_path / "index").mkdir()
    write(tmp_path / "index", "chroma.txt", "Index file.")
    names = [Path(i.source).name for i in load_paths([tmp_path], MB, exclude=[tmp_path / "index"])]
    assert names == ["a.txt"]
