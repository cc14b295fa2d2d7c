"""Every way in (file, URL, feed, web archive, watch) gives the same article for the same page: real pages
of the article-extraction benchmark, served by a loopback HTTP server, ingested into a real index."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag.ingest.corpus import Article, Skipped
from rag.ingest.feeds import parse_feed
from rag.ingest.sources import Sources, canonical

PAGES = Path(__file__).resolve().parents[2] / "shared" / "bench" / "article-extraction"


def bench_pages(n: int) -> list[tuple[str, bytes]]:
    """(key, html bytes) of the first ``n`` benchmark pages."""
    truth = json.loads((PAGES / "ground-truth.json").read_text(encoding="utf-8"))
    keys = sorted(truth)[:n]
    return [(k, gzip.decompress((PAGES / "html" / f"{k}.html.gz").read_bytes())) for k in keys]


needs_pages = pytest.mark.skipif(not PAGES.is_dir(), reason="../shared/bench/article-extraction is not here")


def rss(base: str, keys: list[str]) -> str:
    items = "".join(
        f"<item><title>Story {k}</title><link>{base}/{k}.html</link>"
        f"<pubDate>Mon, 03 Oct 2016 10:00:00 GMT</pubDate></item>"
        for k in keys
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire Desk</title>{items}</channel></rss>'


def test_canonical_url_is_the_declared_one_on_the_same_host_without_the_fragment():
    assert canonical("https://www.News.example/a?id=1#top") == "https://www.news.example/a?id=1"
    assert (
        canonical("https://news.example/a?utm=x", "https://www.news.example/a")
        == "https://www.news.example/a"
    )
    # a canonical URL on another host is not trusted: the page would take another site's key
    assert canonical("https://news.example/a", "https://other.example/b") == "https://news.example/a"


def test_rss_and_atom_entries_come_with_link_date_and_source_name():
    entries = parse_feed(rss("http://h", ["a", "b"]).encode())
    assert [e.link for e in entries] == ["http://h/a.html", "http://h/b.html"]
    assert entries[0].published == "2016-10-03" and entries[0].source == "Wire Desk"
    atom = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Desk</title>'
        '<entry><title>One</title><link href="https://x.example/one"/><updated>2019-11-19T10:00:00Z</updated>'
        "</entry></feed>"
    )
    (entry,) = parse_feed(atom)
    assert (entry.link, entry.published, entry.source) == ("https://x.example/one", "2019-11-19", "Atom Desk")


def test_a_document_that_is_no_feed_is_a_clear_error():
    from rag.errors import CorpusError

    with pytest.raises(CorpusError, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body><p>just a page</p></body></html>")


def write_warc(path: Path, records: list[tuple[str, str, bytes, str]]) -> None:
    """A gzipped WARC with one response record per (uri, content type, body, status)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for uri, kind, body, status in records:
            headers = StatusAndHeaders(status, [("Content-Type", kind)], protocol="HTTP/1.1")
            record = writer.create_warc_record(
                uri,
                "response",
                payload=io.BytesIO(body),
                http_headers=headers,
                warc_headers_dict={"WARC-Date": "2016-10-04T08:00:00Z"},
            )
            writer.write_record(record)


@needs_pages
def test_a_web_archive_gives_each_html_response_as_the_same_article_a_saved_page_gives(tmp_path):
    (key, html), (key2, html2) = bench_pages(2)
    warc = tmp_path / "crawl.warc.gz"
    write_warc(
        warc,
        [
            ("https://news.example/one", "text/html; charset=utf-8", html, "200 OK"),
            ("https://news.example/logo.png", "image/png", b"\x89PNG....", "200 OK"),
            ("https://news.example/gone", "text/html", b"<html>gone</html>", "404 Not Found"),
            ("https://news.example/two", "text/html", html2, "200 OK"),
        ],
    )
    saved = tmp_path / "pages" / f"{key}.html"
    saved.parent.mkdir()
    saved.write_bytes(html)
    items = list(Sources.of([warc, saved]))
    by_source = {i.source: i for i in items}
    assert set(by_source) == {"https://news.example/one", "https://news.example/two", str(saved)}
    one, file_copy = by_source["https://news.example/one"], by_source[str(saved)]
    assert isinstance(one, Article) and isinstance(file_copy, Article)
    assert one.text == file_copy.text and len(one.text) > 200
    assert one.published  # the page's own date, else the WARC date


def test_a_broken_web_archive_is_skipped_with_a_reason(tmp_path):
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(gzip.compress(b"this is not a WARC file at all\r\n\r\n"))
    (item,) = list(Sources.of([bad]))
    assert isinstance(item, Skipped) and "web archive" in item.reason


class Site:
    """Pages served over loopback HTTP; ``pages`` may change between requests."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.hits: list[str] = []

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.hits.append(self.path)
                kind, body = site.pages.get(self.path, ("text/plain", b""))
                self.send_response(200 if self.path in site.pages else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture
def site() -> Iterator[tuple[Site, str]]:
    s = Site()
    with s.serve() as base:
        yield s, base


@needs_pages
def test_urls_and_feeds_ingest_the_pages_once_keyed_by_url_with_exact_spans(make_assistant, site, tmp_path):
    server, base = site
    pages = bench_pages(3)
    for key, html in pages:
        server.pages[f"/{key}.html"] = ("text/html; charset=utf-8", html)
    server.pages["/robots.txt"] = ("text/plain", b"User-agent: *\nDisallow: /private/\n")
    server.pages["/private/x.html"] = ("text/html", pages[0][1])
    server.pages["/feed.xml"] = ("application/rss+xml", rss(base, [k for k, _ in pages]).encode())
    server.pages["/report.pdf"] = ("application/pdf", b"%PDF-1.4")
    assistant = make_assistant(fetch_allow_private=True, fetch_delay_s=0.0)

    first = pages[0][0]
    report = assistant.ingest([f"{base}/{first}.html", f"{base}/private/x.html", f"{base}/report.pdf"])
    assert report.added == (f"{base}/{first}.html",)
    reasons = {s.source: s.reason for s in report.skipped}
    assert "robots.txt" in reasons[f"{base}/private/x.html"]
    assert "application/pdf" in reasons[f"{base}/report.pdf"]

    fed = assistant.ingest_feed(f"{base}/feed.xml")
    assert fed.unchanged == (f"{base}/{first}.html",)  # the same page again: same key, same text
    assert len(fed.added) == 2

    saved = tmp_path / f"{first}.html"
    saved.write_bytes(pages[0][1])
    from_file = assistant.ingest([saved])
    assert assistant.article_text(f"{base}/{first}.html") == assistant.article_text(from_file.added[0])

    records = {r.source: r for r in assistant.sources()}
    assert all(records[s].outlet for s in fed.added)  # the page's site name, else the feed's
    for hit in assistant.search("the main story", k=5):
        assert assistant.article_text(hit.source)[hit.start : hit.end] == hit.text


@needs_pages
def test_a_page_fetched_again_is_updated_only_when_its_text_changed(make_assistant, site):
    server, base = site
    (key, html), (_, other) = bench_pages(2)
    server.pages["/story"] = ("text/html", html)
    assistant = make_assistant(fetch_allow_private=True, fetch_delay_s=0.0)
    assert assistant.ingest([f"{base}/story"]).added == (f"{base}/story",)
    assert assistant.ingest([f"{base}/story"]).unchanged == (f"{base}/story",)
    server.pages["/story"] = ("text/html", other)
    assert assistant.ingest([f"{base}/story"]).updated == (f"{base}/story",)


def test_a_loopback_url_is_refused_by_default_and_nothing_indexed_is_lost(make_assistant, site, tmp_path):
    server, base = site
    server.pages["/a.html"] = (
        "text/html",
        b"<html><body><p>" + b"Some words here. " * 40 + b"</p></body></html>",
    )
    assistant = make_assistant()
    kept = tmp_path / "kept.txt"
    kept.write_text("The talks ended on Monday in Geneva, officials said.", encoding="utf-8")
    assistant.ingest([kept])
    report = assistant.ingest([f"{base}/a.html"])
    (skipped,) = report.skipped
    assert "RAG_FETCH_ALLOW_PRIVATE" in skipped.reason
    assert server.hits == []  # refused before any request
    assert [r.source for r in assistant.sources()] == [str(kept)]


def test_watch_rounds_add_new_files_and_remove_gone_ones(make_assistant, tmp_path):
    folder = tmp_path / "desk"
    folder.mkdir()
    (folder / "a.txt").write_text(
        "Kerry and Lavrov met in Geneva on Monday to discuss Syria.", encoding="utf-8"
    )
    (folder / "b.txt").write_text(
        "The United States suspended the talks with Russia on Syria.", encoding="utf-8"
    )
    assistant = make_assistant()
    stop = threading.Event()
    rounds = assistant.watch([folder], every_minutes=0.001, stop=stop)
    first = next(rounds)
    assert (first.added, first.removed) == (2, 0)
    (folder / "b.txt").unlink()
    (folder / "c.txt").write_text("Zakharova said the decision was absurd, TASS reported.", encoding="utf-8")
    second = next(rounds)
    assert (second.added, second.removed, second.unchanged) == (1, 1, 1)
    assert "added 1" in second.line() and "removed 1" in second.line()
    stop.set()
    assert list(rounds) == []
    assert sorted(Path(r.source).name for r in assistant.sources()) == ["a.txt", "c.txt"]


def test_a_missing_watched_folder_removes_nothing(make_assistant, tmp_path):
    folder = tmp_path / "mounted"
    folder.mkdir()
    (folder / "a.txt").write_text(
        "Kerry and Lavrov met in Geneva on Monday to discuss Syria.", encoding="utf-8"
    )
    assistant = make_assistant()
    (done,) = assistant.watch([folder], rounds=1)
    assert done.added == 1
    (folder / "a.txt").unlink()
    folder.rmdir()  # the drive is unmounted
    (again,) = assistant.watch([folder], rounds=1)
    assert again.removed == 0 and not again.error
    assert len(assistant.sources()) == 1
