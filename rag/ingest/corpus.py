"""Read article files into ``Article`` values (corpus stage).

Owns file discovery, decoding (UTF-8 first, then detected encodings such as cp1251), text extraction
from ``.txt``/``.md``/``.html``/``.pdf``, titles and offline language detection. Bad files never stop a
load: they come back as ``Skipped`` with a reason. Offsets everywhere downstream refer to
``Article.text``, the extracted text that the index keeps.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from rag.errors import CorpusError
from rag.ingest.metadata import find_metadata

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
MAX_TITLE_CHARS = 160
PAGE_MODE = "precision"  # trafilatura's balance for web pages (RAG_PAGE_MODE; rag bench extract)


@dataclass(frozen=True)
class Article:
    """One source document as the index keeps it."""

    source: str  # path as ingested (normalised)
    text: str  # extracted text; every span points into it
    title: str
    language: str  # ISO 639-1 code, "und" when unknown
    content_hash: str  # sha256 of text
    published: str | None = None  # ISO date of publication (rag.ingest.metadata), None when not found
    published_from: str = ""  # where the date was found, quoting what was read
    outlet: str | None = None  # the outlet that published it, None when not found
    outlet_from: str = ""
    author: str | None = None  # the byline of a web page, None when not found

    @property
    def article_id(self) -> str:
        return article_id(self.source)


@dataclass(frozen=True)
class Skipped:
    """A file that was not loaded, and why."""

    source: str
    reason: str


def article_id(source: str) -> str:
    """Stable id of an article, derived from its source path."""
    return hashlib.sha1(source.encode("utf-8")).hexdigest()[:16]


def normalise_source(path: Path | str) -> str:
    return os.path.normpath(str(path))


def iter_files(paths: Iterable[Path | str], exclude: Iterable[Path] = ()) -> Iterator[Path]:
    """Files under ``paths`` (folders walked recursively, sorted, hidden entries and the folders in
    ``exclude``, such as the index itself, ignored)."""
    skip = {p.resolve() for p in exclude}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(
                    d for d in dirs if not d.startswith(".") and (Path(root) / d).resolve() not in skip
                )
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(root) / name
        elif path.exists():
            yield path
        else:
            raise CorpusError(f"no such file or folder: {path}")


def load_paths(
    paths: Iterable[Path | str], max_bytes: int, exclude: Iterable[Path] = (), page_mode: str = PAGE_MODE
) -> Iterator[Article | Skipped]:
    """Load every file under ``paths``; one ``Article`` or ``Skipped`` per file."""
    for path in iter_files(paths, exclude):
        yield load_file(path, max_bytes, page_mode)


def load_file(path: Path, max_bytes: int, page_mode: str = PAGE_MODE) -> Article | Skipped:
    source = normalise_source(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return Skipped(source, f"unsupported file type {suffix or '(none)'}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Skipped(
                source,
                f"too large: {size / 2**20:.1f} MiB > {max_bytes / 2**20:.1f} MiB (raise RAG_MAX_FILE_MB)",
            )
        data = path.read_bytes()
    except OSError as exc:
        return Skipped(source, f"unreadable: {exc.strerror or exc}")
    try:
        if suffix in (".html", ".htm"):
            return page_article(decode(data), source, page_mode=page_mode)
        text, title, declared = extract_declared(data, suffix)
    except CorpusError as exc:
        return Skipped(source, str(exc))
    if not text.strip():
        return Skipped(source, "empty: no text")
    title = shorten(title or first_line(text) or path.stem)
    language = detect_language(text)
    found = find_metadata(text, language, declared)
    return Article(
        source,
        text,
        title,
        language,
        sha256_text(text),
        found.published,
        found.published_from,
        found.outlet,
        found.outlet_from,
    )


def page_article(
    html: str,
    source: str,
    url: str | None = None,
    published: str | None = None,
    outlet: str | None = None,
    given_from: str = "",
    page_mode: str = PAGE_MODE,
    keyed: Callable[[str | None], str] | None = None,
) -> Article | Skipped:
    """The article of a web page (``rag.ingest.web``: trafilatura's main text and fields), keyed by
    ``source``; a page with no article found keeps every visible text. ``published`` and ``outlet`` (from
    a feed entry or a web archive record, ``given_from`` says which) are used when the page has none;
    the hand-written dateline rules of ``rag.ingest.metadata`` come last. ``keyed(the canonical URL
    the page declares, if any)`` gives the source instead, for pages from the web."""
    from rag.ingest.web import extract_page

    page = extract_page(html, url, page_mode)
    source = keyed(page.url if page else None) if keyed else source
    if page is None:
        text, title, declared = _extract_html(html)
        author = None
    else:
        text, title, declared, author = page.text, page.title, {}, page.author
    if not text.strip():
        return Skipped(source, "empty: no text")
    language = detect_language(text)
    found = find_metadata(text, language, declared)
    date = _first(
        (page.published, page.published_from) if page else (None, ""),
        (published, given_from),
        (found.published, found.published_from),
    )
    named = _first(
        (page.outlet, page.outlet_from) if page else (None, ""),
        (outlet, given_from),
        (found.outlet, found.outlet_from),
    )
    title = shorten(title or first_line(text) or Path(source).stem)
    return Article(source, text, title, language, sha256_text(text), *date, *named, author)


def _first(*candidates: tuple[str | None, str]) -> tuple[str | None, str]:
    return next(((v, f) for v, f in candidates if v), (None, ""))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def extract(data: bytes, suffix: str) -> tuple[str, str]:
    """Text and declared title ("" if none) of a file's bytes."""
    text, title, _ = extract_declared(data, suffix)
    return text, title


def extract_declared(data: bytes, suffix: str) -> tuple[str, str, dict[str, str]]:
    """Text, declared title and what the file declares about itself (``front matter:<key>``,
    ``meta:<name>``, ``time``: lower-case keys, for ``rag.ingest.metadata``)."""
    if suffix == ".pdf":
        return (*_extract_pdf(data), {})
    text = decode(data)
    if suffix in (".html", ".htm"):
        return _extract_html(text)
    declared = _front_matter(text)
    title = _markdown_title(text) if suffix in (".md", ".markdown") else _front_matter_title(text)
    return text, title, declared


def decode_declared(data: bytes, charset: str | None) -> str:
    """Decode a web body (a fetched page, a web archive record) by its declared ``charset`` when it is
    known and fits (a byte order mark wins; latin-1 read as windows-1252, as browsers do), else as
    ``decode`` does."""
    if charset and not data.startswith(_BOMS):
        for codec in _codecs(charset):
            try:
                return data.decode(codec)
            except (UnicodeError, LookupError):  # LookupError: a codec that is not a text encoding
                pass
        log.info("body is not %s as declared, detecting", charset)
    return decode(data)


_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _codecs(charset: str) -> list[str]:
    """Python codecs to try for a declared charset: none when unknown, windows-1252 first for latin-1
    (pages labelled ISO-8859-1 use its typographic quotes)."""
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        return []
    return ["cp1252", name] if name == "iso8859-1" else [name]


def decode(data: bytes) -> str:
    """Decode bytes as UTF-8 (with or without BOM), UTF-16 with BOM, else the detected encoding."""
    if not data.strip():
        return ""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise CorpusError("undecodable: bad UTF-16") from None
    if b"\x00" in data[:8192]:
        raise CorpusError("binary: contains NUL bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.chaos > 0.3:
        raise CorpusError("undecodable: not UTF-8 and no text encoding detected")
    log.info("decoded as %s", best.encoding)
    return str(best)


def first_line(text: str) -> str:
    """The first non-empty line after any front matter, without heading marks."""
    match = _FRONT_MATTER.match(text)
    for line in text[match.end() if match else 0 :].splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line
    return ""


def shorten(title: str, limit: int = MAX_TITLE_CHARS) -> str:
    """A title of at most ``limit`` characters: the first sentence, cut at a word boundary if needed."""
    title = " ".join(title.split())
    sentence = re.match(r".+?[.!?…。](?=\s|$)", title)
    if sentence and len(sentence.group(0)) >= 20:
        title = sentence.group(0)
    if len(title) <= limit:
        return title
    cut = title.rfind(" ", 0, limit - 1)
    return title[: cut if cut > limit // 2 else limit - 1].rstrip(" ,;:") + "…"


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_TITLE_LINE = re.compile(r"^title\s*:\s*(.+?)\s*$", re.I | re.M)


def _front_matter(text: str) -> dict[str, str]:
    """``key: value`` lines of a leading ``---`` block, as ``{"front matter:<key>": value}``."""
    match = _FRONT_MATTER.match(text)
    pairs = re.findall(r"^([A-Za-z_][\w-]*)\s*:\s*(.+?)\s*$", match.group(1), re.M) if match else []
    return {f"front matter:{key.lower()}": value.strip("\"'") for key, value in pairs}


def _front_matter_title(text: str) -> str:
    match = _FRONT_MATTER.match(text)
    found = _TITLE_LINE.search(match.group(1)) if match else None
    return found.group(1).strip("\"'") if found else ""


def _markdown_title(text: str) -> str:
    declared = _front_matter_title(text)
    if declared:
        return declared
    heading = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.M)
    return heading.group(1) if heading else ""


class _HtmlText(HTMLParser):
    """Visible text of an HTML page, with line breaks at block elements, plus its <title>."""

    SKIP = {"script", "style", "noscript", "template", "head", "svg"}
    BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "pre",
        "hr",
        "title",
        "dd",
        "dt",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.declared: dict[str, str] = {}
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("meta", "time"):
            self._declare(tag, dict(attrs))
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIP:
            self._skip += 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def _declare(self, tag: str, attrs: dict[str, str | None]) -> None:
        if tag == "time":
            if attrs.get("datetime"):
                self.declared.setdefault("time", str(attrs["datetime"]))
            return
        name = attrs.get("property") or attrs.get("name") or attrs.get("itemprop")
        if name and attrs.get("content"):
            self.declared.setdefault(f"meta:{name.lower()}", str(attrs["content"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.SKIP and self._skip:
            self._skip -= 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def _extract_html(html: str) -> tuple[str, str, dict[str, str]]:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).split("\n"))
    text = "\n".join(line for line in lines if line)
    return text, " ".join("".join(parser.title).split()), parser.declared


def _extract_pdf(data: bytes) -> tuple[str, str]:
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else "") or ""
    except Exception as exc:  # pypdf raises many types for broken files
        raise CorpusError(f"unreadable PDF: {exc}") from None
    return "\n\n".join(p.strip() for p in pages if p.strip()), str(title)


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's main language, offline (py3langid ships its model)."""
    sample = text[:5000]
    if not any(ch.isalpha() for ch in sample):
        return "und"
    import py3langid

    lang, _score = py3langid.classify(sample)
    return str(lang)
