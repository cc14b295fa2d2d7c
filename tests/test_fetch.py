"""The fetcher against a real HTTP server on loopback: pages and charsets, robots.txt, redirects,
timeouts, size limits, content types, refused URLs and addresses, and the per-host delay."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest

from rag.errors import FetchError
from rag.ingest import fetch
from rag.ingest.fetch import FEED_TYPES, Fetched, Fetcher, FetchPolicy

MiB = 2**20
PIECE = 64 * 1024

Route = Callable[[BaseHTTPRequestHandler], None]


class Site:
    """What the test server serves (routes by path) and what it saw."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.routes: dict[str, Route] = {"/robots.txt": respond(b"", status=404, content_type="text/plain")}
        self.events: list[tuple] = []  # ("GET", host, path) per request; fake sleeps add theirs
        self.headers: list[dict[str, str]] = []
        self.stop = threading.Event()  # set at teardown: slow handlers give up
        self.sent = 0  # bytes a streaming handler managed to write
        self.done = threading.Event()  # a streaming handler finished

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for e in self.events if e[0] == "GET" and e[2] == path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    site: Site

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up early (refused bodies, timeouts) are what these tests do


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        site = self.server.site
        path = urlsplit(self.path).path
        site.events.append(("GET", self.headers.get("Host", "").rsplit(":", 1)[0], path))
        site.headers.append(dict(self.headers))
        route = site.routes.get(path, respond(b"not here", status=404))
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def respond(
    body: bytes = b"",
    status: int = 200,
    content_type: str | None = "text/html; charset=utf-8",
    headers: tuple[tuple[str, str], ...] = (),
) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        if content_type:
            h.send_header("Content-Type", content_type)
        for name, value in headers:
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return route


def redirect(location: str, status: int = 302) -> Route:
    return respond(status=status, content_type=None, headers=(("Location", location),))


def streamed(site: Site, size: int, framing: str) -> Route:
    """A body of ``size`` bytes written in pieces, framed by "length", "chunked" or "close"."""

    def route(h: BaseHTTPRequestHandler) -> None:
        try:
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header(*_framing(framing, size))
            h.end_headers()
            for start in range(0, size, PIECE):
                piece = b"a" * min(PIECE, size - start)
                h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece)
                site.sent += len(piece)
            if framing == "chunked":
                h.wfile.write(b"0\r\n\r\n")
            h.close_connection = framing == "close"
        finally:
            site.done.set()

    return route


def _framing(framing: str, size: int) -> tuple[str, str]:
    return {
        "length": ("Content-Length", str(size)),
        "chunked": ("Transfer-Encoding", "chunked"),
        "close": ("Connection", "close"),
    }[framing]


def drip(site: Site) -> Route:
    """Announces 1000 bytes and sends one every 50 ms."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(1000):
            h.wfile.write(b"x")
            if site.stop.wait(0.05):
                return

    return route


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def site() -> Iterator[Site]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.site = Site(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.site
    server.site.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def fetcher_for(**policy: object) -> Fetcher:
    return Fetcher(FetchPolicy(**{"allow_private": True, "delay_s": 0.0, **policy}))


@pytest.fixture()
def fetcher() -> Iterator[Fetcher]:
    with fetcher_for() as f:
        yield f


# pages and text


def test_page_is_fetched_with_our_headers(site: Site, fetcher: Fetcher) -> None:
    site.routes["/news"] = respond("<p>Новости дня</p>".encode(), content_type="Text/HTML; Charset=UTF-8")
    page = fetcher.get(site.url("/news"))
    assert isinstance(page, Fetched)
    assert (page.url, page.final_url, page.status) == (site.url("/news"), site.url("/news"), 200)
    assert (page.content_type, page.charset) == ("text/html", "utf-8")
    assert page.text() == "<p>Новости дня</p>"
    sent = site.headers[-1]
    assert sent["User-Agent"] == FetchPolicy().user_agent
    assert "text/html" in sent["Accept"] and "application/xhtml+xml" in sent["Accept"]


def test_charset_of_the_header_decodes_a_cyrillic_page(site: Site, fetcher: Fetcher) -> None:
    body = "<p>Привет, мир! Новости из Москвы.</p>".encode("cp1251")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    site.routes["/ru"] = respond(body, content_type='text/html; charset="windows-1251"')
    page = fetcher.get(site.url("/ru"))
    assert page.charset == "windows-1251"
    assert page.text() == "<p>Привет, мир! Новости из Москвы.</p>"


def test_latin1_label_reads_windows_1252_quotes(site: Site, fetcher: Fetcher) -> None:
    site.routes["/fr"] = respond(b"\x93D\xe9j\xe0 vu\x94", content_type="text/html; charset=ISO-8859-1")
    assert fetcher.get(site.url("/fr")).text() == "“Déjà vu”"


def test_wrong_or_unknown_charset_falls_back_to_utf8(site: Site, fetcher: Fetcher) -> None:
    site.routes["/a"] = respond("Ελληνικά νέα".encode(), content_type="text/html; charset=us-ascii")
    site.routes["/b"] = respond("日本のニュース".encode(), content_type="text/html; charset=no-such-codec")
    assert fetcher.get(site.url("/a")).text() == "Ελληνικά νέα"
    assert fetcher.get(site.url("/b")).text() == "日本のニュース"


def test_missing_content_type_is_accepted(site: Site, fetcher: Fetcher) -> None:
    site.routes["/bare"] = respond(b"<html><p>plain</p></html>", content_type=None)
    page = fetcher.get(site.url("/bare"))
    assert (page.content_type, page.charset, page.body) == ("", None, b"<html><p>plain</p></html>")


def test_binary_body_text_raises_fetch_error(site: Site, fetcher: Fetcher) -> None:
    site.routes["/bin"] = respond(b"\x00\x01\x02\x00binary", content_type="text/html")
    page = fetcher.get(site.url("/bin"))
    with pytest.raises(FetchError, match="binary"):
        page.text()


# robots.txt


def test_robots_txt_is_honoured_and_fetched_once(site: Site, fetcher: Fetcher) -> None:
    site.routes["/robots.txt"] = respond(b"User-agent: *\nDisallow: /private\n", content_type="text/plain")
    site.routes["/public"] = respond(b"<p>ok</p>")
    site.routes["/public/2"] = respond(b"<p>ok too</p>")
    site.routes["/private/report"] = respond(b"<p>secret</p>")
    assert fetcher.get(site.url("/public")).body == b"<p>ok</p>"
    with pytest.raises(FetchError, match=r"disallowed by robots\.txt: .*/private/report"):
        fetcher.get(site.url("/private/report"))
    assert fetcher.get(site.url("/public/2")).status == 200
    assert site.hits("/robots.txt") == 1
    assert site.hits("/private/report") == 0
    assert site.hits("/public") == 1


def test_robots_txt_group_of_our_user_agent(site: Site) -> None:
    rules = b"User-agent: rag-news-qa\nDisallow: /\n\nUser-agent: *\nDisallow:\n"
    site.routes["/robots.txt"] = respond(rules, content_type="text/plain")
    site.routes["/page"] = respond(b"<p>page</p>")
    with fetcher_for() as ours, pytest.raises(FetchError, match="disallowed by robots.txt"):
        ours.get(site.url("/page"))
    with fetcher_for(user_agent="other-bot/2.0") as other:
        assert other.get(site.url("/page")).status == 200


def test_robots_txt_4xx_allows_everything(site: Site, fetcher: Fetcher, caplog) -> None:
    site.routes["/robots.txt"] = respond(b"forbidden", status=403, content_type="text/plain")
    site.routes["/page"] = respond(b"<p>page</p>")
    with caplog.at_level(logging.WARNING, logger="rag.ingest.fetch"):
        assert fetcher.get(site.url("/page")).status == 200
    assert not caplog.records


def test_robots_txt_5xx_allows_with_a_warning(site: Site, fetcher: Fetcher, caplog) -> None:
    site.routes["/robots.txt"] = respond(b"oops", status=503, content_type="text/plain")
    site.routes["/page"] = respond(b"<p>page</p>")
    with caplog.at_level(logging.WARNING, logger="rag.ingest.fetch"):
        assert fetcher.get(site.url("/page")).status == 200
        assert fetcher.get(site.url("/page")).status == 200
    assert site.hits("/robots.txt") == 1
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "robots.txt: HTTP 503" in caplog.records[0].getMessage()


# redirects


def test_relative_redirect_is_followed(site: Site, fetcher: Fetcher) -> None:
    site.routes["/old"] = redirect("/new?x=1", status=301)
    site.routes["/new"] = respond(b"<p>moved here</p>")
    page = fetcher.get(site.url("/old"))
    assert (page.url, page.final_url) == (site.url("/old"), site.url("/new?x=1"))
    assert page.body == b"<p>moved here</p>"
    assert [e[2] for e in site.events] == ["/robots.txt", "/old", "/new"]


def test_redirect_loop_fails(site: Site, fetcher: Fetcher) -> None:
    site.routes["/loop"] = redirect("/loop")
    with pytest.raises(FetchError, match=r"too many redirects \(more than 5\)"):
        fetcher.get(site.url("/loop"))
    assert site.hits("/loop") == 6


def test_max_redirects_is_the_limit(site: Site) -> None:
    site.routes["/a"] = redirect("/b")
    site.routes["/b"] = redirect(site.url("/c"), status=307)
    site.routes["/c"] = respond(b"<p>c</p>")
    with fetcher_for(max_redirects=2) as enough:
        assert enough.get(site.url("/a")).final_url == site.url("/c")
    with fetcher_for(max_redirects=1) as short, pytest.raises(FetchError, match=r"more than 1\)"):
        short.get(site.url("/a"))


def test_redirect_target_is_checked_against_robots_txt(site: Site) -> None:
    site.routes["/robots.txt"] = respond(b"User-agent: *\nDisallow: /hidden\n", content_type="text/plain")
    site.routes["/go"] = redirect("/hidden/page")
    site.routes["/hidden/page"] = respond(b"<p>hidden</p>")
    # even a client that would follow redirects by itself: the fetcher follows them by hand
    with httpx.Client(follow_redirects=True) as client:
        fetcher = Fetcher(FetchPolicy(allow_private=True, delay_s=0), client=client)
        with pytest.raises(FetchError, match="disallowed by robots.txt: .*/hidden/page"):
            fetcher.get(site.url("/go"))
        fetcher.close()
        assert not client.is_closed  # the caller's client stays open
    assert site.hits("/hidden/page") == 0


def test_redirect_to_another_scheme_is_refused(site: Site, fetcher: Fetcher) -> None:
    site.routes["/ftp"] = redirect("ftp://127.0.0.1/file.txt")
    with pytest.raises(FetchError, match="only http and https URLs are fetched: ftp://"):
        fetcher.get(site.url("/ftp"))


def test_redirect_to_a_private_address_is_refused(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    real = fetch._resolve

    def resolve(host: str, port: int):  # pretend 127.0.0.1 is a public site; localhost stays loopback
        return [ipaddress.ip_address("93.184.216.34")] if host == "127.0.0.1" else real(host, port)

    monkeypatch.setattr(fetch, "_resolve", resolve)
    site.routes["/jump"] = redirect(site.url("/inside", host="localhost"))
    site.routes["/inside"] = respond(b"<p>intranet</p>")
    with Fetcher(FetchPolicy(delay_s=0)) as fetcher:
        with pytest.raises(FetchError, match=r"refused: localhost resolves to .*loopback address"):
            fetcher.get(site.url("/jump"))
    assert site.hits("/jump") == 1
    assert site.hits("/inside") == 0


# timeouts, sizes, statuses, types


def test_server_dripping_bytes_times_out(site: Site) -> None:
    site.routes["/slow"] = drip(site)
    start = time.monotonic()
    with (
        fetcher_for(timeout_s=1) as fetcher,
        pytest.raises(FetchError, match=r"timed out after 1 s: .*/slow"),
    ):
        fetcher.get(site.url("/slow"))
    assert 0.9 < time.monotonic() - start < 3


def test_silent_server_times_out(site: Site) -> None:
    site.routes["/silent"] = lambda h: site.stop.wait(10) and None
    start = time.monotonic()
    with fetcher_for(timeout_s=1) as fetcher, pytest.raises(FetchError, match=r"timed out after 1 s"):
        fetcher.get(site.url("/silent"))
    assert time.monotonic() - start < 3


@pytest.mark.parametrize(
    ("framing", "reason"),
    [
        ("length", r"too large: 2 MiB > 1 MiB \(raise RAG_MAX_FILE_MB\)"),
        ("chunked", r"too large: more than 1 MiB \(raise RAG_MAX_FILE_MB\)"),
        ("close", r"too large: more than 1 MiB \(raise RAG_MAX_FILE_MB\)"),
    ],
)
def test_body_over_max_bytes_is_refused(site: Site, framing: str, reason: str) -> None:
    site.routes["/big"] = streamed(site, 2 * MiB, framing)
    with fetcher_for(max_bytes=MiB) as fetcher, pytest.raises(FetchError, match=reason):
        fetcher.get(site.url("/big"))


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_body_of_exactly_max_bytes_is_taken(site: Site, framing: str) -> None:
    site.routes["/full"] = streamed(site, MiB, framing)
    with fetcher_for(max_bytes=MiB) as fetcher:
        assert len(fetcher.get(site.url("/full")).body) == MiB


def test_huge_declared_body_is_refused_without_reading_it(site: Site) -> None:
    site.routes["/huge"] = streamed(site, 50 * MiB, "length")
    start = time.monotonic()
    with fetcher_for(max_bytes=MiB) as fetcher, pytest.raises(FetchError, match=r"too large: 50 MiB > 1 MiB"):
        fetcher.get(site.url("/huge"))
    assert time.monotonic() - start < 2
    assert site.done.wait(5)
    assert site.sent < 20 * MiB  # the server could only fill the socket buffers before the connection closed


def test_non_html_content_type_is_refused(site: Site, fetcher: Fetcher) -> None:
    site.routes["/doc"] = respond(b"%PDF-1.7", content_type="application/pdf")
    with pytest.raises(FetchError, match="not a web page: content type application/pdf"):
        fetcher.get(site.url("/doc"))


def test_feed_types(site: Site, fetcher: Fetcher) -> None:
    site.routes["/rss"] = respond(b"<rss></rss>", content_type="application/rss+xml; charset=utf-8")
    site.routes["/doc"] = respond(b"%PDF-1.7", content_type="application/pdf")
    with pytest.raises(FetchError, match="not a web page: content type application/rss"):
        fetcher.get(site.url("/rss"))
    assert fetcher.get(site.url("/rss"), accept=FEED_TYPES).content_type == "application/rss+xml"
    with pytest.raises(FetchError, match="not a feed: content type application/pdf"):
        fetcher.get(site.url("/doc"), accept=FEED_TYPES)
    assert fetcher.get(site.url("/doc"), accept=()).body == b"%PDF-1.7"


@pytest.mark.parametrize(("status", "reason"), [(404, "Not Found"), (500, "Internal Server Error")])
def test_error_status_raises(site: Site, fetcher: Fetcher, status: int, reason: str) -> None:
    site.routes["/page"] = respond(b"error page", status=status)
    with pytest.raises(FetchError, match=f"HTTP {status} {reason}: {site.url('/page')}"):
        fetcher.get(site.url("/page"))


def test_connection_refused_is_a_fetch_error(fetcher: Fetcher) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match="cannot connect to 127.0.0.1"):
        fetcher.get(f"http://127.0.0.1:{port}/")


# refused URLs and addresses


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/file.txt", "only http and https URLs are fetched: ftp://"),
        ("file:///etc/passwd", "only http and https URLs are fetched: file://"),
        ("javascript:alert(1)", "only http and https URLs are fetched"),
        ("http:///no-host", r"no host"),
        ("http://127.0.0.1:99999/", r"not a valid URL"),
    ],
)
def test_bad_urls_are_refused(site: Site, fetcher: Fetcher, url: str, reason: str) -> None:
    with pytest.raises(FetchError, match=reason):
        fetcher.get(url)
    assert site.events == []


def test_loopback_is_refused_by_default_before_any_request(site: Site) -> None:
    site.routes["/page"] = respond(b"<p>page</p>")
    with Fetcher(FetchPolicy()) as fetcher:
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(
                FetchError, match="loopback address \\(set RAG_FETCH_ALLOW_PRIVATE=1 to allow\\)"
            ):
                fetcher.get(site.url("/page", host=host))
    assert site.events == []


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback"),
        ("10.1.2.3", "10.1.2.3 is a private"),
        ("192.168.1.1", "is a private"),
        ("169.254.169.254", "is a link-local"),
        ("0.0.0.0", "is an unspecified"),
        ("224.0.0.1", "is a multicast"),
        ("[::1]", "::1 is a loopback"),
        ("[::ffff:127.0.0.1]", "is a loopback"),
        ("[fe80::1]", "is a link-local"),
        ("[fc00::1]", "is a private"),
        ("100.64.0.1", "is a non-public"),
        ("0x7f000001", "0x7f000001 resolves to 127.0.0.1, a loopback"),
    ],
)
def test_non_public_addresses_are_refused(host: str, kind: str) -> None:
    with Fetcher(FetchPolicy()) as fetcher, pytest.raises(FetchError, match=rf"refused: .*{kind} address"):
        fetcher.get(f"http://{host}/")


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with (
        Fetcher(FetchPolicy()) as fetcher,
        pytest.raises(FetchError, match="cannot resolve host news.invalid"),
    ):
        fetcher.get("https://news.invalid/story")


# politeness


class FakeTime:
    """A clock that only moves when slept on; sleeps are logged among the server's requests."""

    def __init__(self, events: list[tuple]) -> None:
        self.now = 0.0
        self.events = events

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.events.append(("sleep", round(seconds, 6)))
        self.now += seconds


def test_delay_between_requests_to_one_host(site: Site) -> None:
    for path in ("/a", "/b", "/c"):
        site.routes[path] = respond(b"<p>x</p>")
    fake = FakeTime(site.events)
    policy = FetchPolicy(allow_private=True, delay_s=1.0)
    with Fetcher(policy, clock=fake.clock, sleep=fake.sleep) as fetcher:
        fetcher.get(site.url("/a"))
        fake.now += 0.25  # time passes between two calls
        fetcher.get(site.url("/b"))
        fetcher.get(site.url("/c", host="localhost"))  # another host: no wait before its first request
    assert site.events == [
        ("GET", "127.0.0.1", "/robots.txt"),
        ("sleep", 1.0),  # robots.txt counts as a request
        ("GET", "127.0.0.1", "/a"),
        ("sleep", 0.75),
        ("GET", "127.0.0.1", "/b"),
        ("GET", "localhost", "/robots.txt"),
        ("sleep", 1.0),
        ("GET", "localhost", "/c"),
    ]


def test_one_request_at_a_time_per_host(site: Site, fetcher: Fetcher) -> None:
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def slow(h: BaseHTTPRequestHandler) -> None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        respond(b"<p>slow</p>")(h)

    site.routes["/slow"] = slow
    errors: list[BaseException] = []

    def work() -> None:
        try:
            fetcher.get(site.url("/slow"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert site.hits("/slow") == 4
    assert state["most"] == 1
    assert site.hits("/robots.txt") == 1


def test_policy_of_settings() -> None:
    from rag.settings import Settings

    settings = Settings.from_env(
        {},
        fetch_user_agent="bot/1",
        fetch_timeout_s=5.0,
        fetch_delay_s=0.5,
        fetch_max_redirects=2,
        max_file_mb=3.0,
        fetch_allow_private=True,
    )
    assert FetchPolicy.of(settings) == FetchPolicy("bot/1", 5.0, 0.5, 2, 3 * MiB, True)
    assert FetchPolicy.of(Settings.from_env({})) == FetchPolicy()
