"""Fetching web pages and feeds over HTTP(S), politely and safely (corpus stage). The only module that
makes outgoing HTTP requests for the corpus; it owns the rules every such request follows:

- only ``http`` and ``https`` URLs; before every request (each redirect hop and robots.txt included) the
  host is resolved and refused when any of its addresses is private, loopback, link-local, reserved,
  multicast, unspecified or otherwise not public, unless ``FetchPolicy.allow_private``
  (``RAG_FETCH_ALLOW_PRIVATE=1``). The check is made at resolution time: a host whose DNS answer changes
  between the check and httpx's own connection (DNS rebinding) is not caught;
- robots.txt is honoured, fetched once per origin (scheme and host) and kept for the life of the
  ``Fetcher``. A robots.txt answered with 4xx allows everything (RFC 9309). A 5xx answer, a network
  failure, a timeout or any other failure to read it also allows everything but logs a warning: RFC 9309
  says to assume a full disallow, but one broken robots.txt should not make a news site unreadable, and
  the per-host delay keeps the load low either way. Every redirect target is checked against the
  robots.txt of its own origin;
- at least ``delay_s`` between the end of one request and the start of the next to the same host
  (robots.txt requests count), and one request at a time per host, even across threads;
- redirects followed by hand (at most ``max_redirects``), each hop checked like the first URL;
- each request (one hop) has ``timeout_s`` from connection to last byte: httpx's timeout bounds each
  connect and read, and the deadline is checked after every chunk of the body, so a server that drips
  bytes fails; a single stalled read can overrun the deadline by at most ``timeout_s``;
- bodies above ``max_bytes`` are refused from their Content-Length before reading, else reading stops
  as soon as the limit is passed (the limit applies to the decoded body, so a compression bomb fails too).

Every failure raises ``FetchError`` with a reason a person can read; no httpx or socket exception leaves
this module.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from rag.errors import CorpusError, FetchError
from rag.ingest.corpus import decode_declared

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (  # some servers mislabel feeds, hence text/html
    "application/rss+xml",
    "application/atom+xml",
    "application/xml",
    "text/xml",
    "application/rdf+xml",
    "text/html",
)
REDIRECTS = frozenset({301, 302, 303, 307, 308})
ALLOW_PRIVATE_HINT = "set RAG_FETCH_ALLOW_PRIVATE=1 to allow"
MAX_BYTES_HINT = "raise RAG_MAX_FILE_MB"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchPolicy:
    """How the fetcher behaves towards servers and which addresses it may reach."""

    user_agent: str = "rag-news-qa/0.1 (news question answering; honours robots.txt)"
    timeout_s: float = 20.0  # one request, connection to last byte
    delay_s: float = 1.0  # between two requests to one host (robots.txt included)
    max_redirects: int = 5
    max_bytes: int = 20 * 2**20
    allow_private: bool = False  # private, loopback, link-local, reserved, multicast, unspecified

    @classmethod
    def of(cls, settings: Any) -> FetchPolicy:
        """The policy that ``rag.settings.Settings`` describes."""
        return cls(
            user_agent=settings.fetch_user_agent,
            timeout_s=settings.fetch_timeout_s,
            delay_s=settings.fetch_delay_s,
            max_redirects=settings.fetch_max_redirects,
            max_bytes=settings.max_file_bytes,
            allow_private=settings.fetch_allow_private,
        )


@dataclass(frozen=True)
class Fetched:
    """A page or feed as the server sent it."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int
    content_type: str  # media type only, lower-case; "" when the server sent none
    charset: str | None  # from Content-Type
    body: bytes

    def text(self) -> str:
        """The body as text: the declared charset when it is known and fits, else UTF-8 or detection."""
        try:
            return decode_declared(self.body, self.charset)
        except CorpusError as exc:
            raise FetchError(f"{exc}: {self.final_url}") from None


@dataclass(frozen=True)
class _Reply:
    """One HTTP exchange; the body is read only for 2xx answers."""

    status: int
    reason: str
    content_type: str
    charset: str | None
    location: str | None
    body: bytes = b""


class Fetcher:
    """Fetches URLs under a ``FetchPolicy``; safe to share between threads. Close it (or use ``with``)
    to release the connections of the client it made itself; a client passed in stays the caller's."""

    def __init__(
        self,
        policy: FetchPolicy,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self._own_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=httpx.Timeout(policy.timeout_s))
        self._clock = clock
        self._sleep = sleep
        self._guard = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._last: dict[str, float] = {}  # host -> clock() at the end of its last request
        self._robots: dict[str, RobotFileParser] = {}  # origin -> its parsed robots.txt

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def get(self, url: str, accept: tuple[str, ...] = HTML_TYPES) -> Fetched:
        """Fetch ``url`` (following redirects) and return its body; ``accept`` lists the media types
        taken (an empty tuple takes any). Raises ``FetchError``."""
        final_url, reply = self._follow(url, accept, check_robots=True)
        if reply.status >= 300:
            status_line = f"HTTP {reply.status} {reply.reason}".strip()
            raise FetchError(f"{status_line}: {final_url}")
        return Fetched(url, final_url, reply.status, reply.content_type, reply.charset, reply.body)

    # requests

    def _follow(self, url: str, accept: tuple[str, ...], check_robots: bool) -> tuple[str, _Reply]:
        current = url
        for _ in range(self.policy.max_redirects + 1):
            self._check_target(current)
            if check_robots:
                self._check_robots(current)
            reply = self._exchange(current, accept)
            if reply.status not in REDIRECTS:
                return current, reply
            if not reply.location:
                raise FetchError(f"HTTP {reply.status} redirect without a Location: {current}")
            current = urljoin(current, reply.location)
            log.debug("redirected to %s", current)
        raise FetchError(f"too many redirects (more than {self.policy.max_redirects}): {url}")

    def _exchange(self, url: str, accept: tuple[str, ...]) -> _Reply:
        headers = {"User-Agent": self.policy.user_agent, "Accept": ", ".join(accept) or "*/*"}
        timeout = self.policy.timeout_s
        with self._turn(_host(url)):
            deadline = self._clock() + timeout
            try:
                with self._client.stream(
                    "GET", url, headers=headers, follow_redirects=False, timeout=httpx.Timeout(timeout)
                ) as response:
                    log.debug("GET %s -> %d", url, response.status_code)
                    return self._reply(response, url, accept, deadline)
            except httpx.TimeoutException:
                raise FetchError(f"timed out after {timeout:g} s: {url}") from None
            except httpx.ConnectError as exc:
                raise FetchError(f"cannot connect to {_host(url)}: {exc}") from None
            except httpx.InvalidURL as exc:
                raise FetchError(f"not a valid URL ({exc}): {url}") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{type(exc).__name__}: {exc or 'request failed'}: {url}") from None
            except OSError as exc:
                raise FetchError(f"network error: {exc}: {url}") from None

    def _reply(self, response: httpx.Response, url: str, accept: tuple[str, ...], deadline: float) -> _Reply:
        media, charset = _content_type(response.headers.get("content-type", ""))
        reply = _Reply(
            response.status_code, response.reason_phrase, media, charset, response.headers.get("location")
        )
        if not response.is_success:
            return reply
        if accept and media and media not in accept:
            raise FetchError(f"not {_wanted(accept)}: content type {media}")
        return _Reply(reply.status, reply.reason, media, charset, None, self._read(response, url, deadline))

    def _read(self, response: httpx.Response, url: str, deadline: float) -> bytes:
        limit = self.policy.max_bytes
        length = response.headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > limit:
            raise FetchError(f"too large: {_mib(int(length))} MiB > {_mib(limit)} MiB ({MAX_BYTES_HINT})")
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > limit:
                raise FetchError(f"too large: more than {_mib(limit)} MiB ({MAX_BYTES_HINT})")
            if self._clock() > deadline:
                raise FetchError(f"timed out after {self.policy.timeout_s:g} s: {url}")
            chunks.append(chunk)
        return b"".join(chunks)

    @contextmanager
    def _turn(self, host: str) -> Iterator[None]:
        """This host's turn: one request at a time, ``delay_s`` after the end of the previous one."""
        with self._lock(self._host_locks, host):
            last = self._last.get(host)
            if last is not None:
                wait = self.policy.delay_s - (self._clock() - last)
                if wait > 0:
                    log.debug("waiting %.2f s before the next request to %s", wait, host)
                    self._sleep(wait)
            try:
                yield
            finally:
                self._last[host] = self._clock()

    def _lock(self, table: dict[str, threading.Lock], key: str) -> threading.Lock:
        with self._guard:
            return table.setdefault(key, threading.Lock())

    # checks

    def _check_target(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise FetchError(f"not a valid URL ({exc}): {url}") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise FetchError(f"only http and https URLs are fetched: {url}")
        if not parts.hostname:
            raise FetchError(f"not a valid URL (no host): {url}")
        if not self.policy.allow_private:
            default = 443 if parts.scheme.lower() == "https" else 80
            _check_addresses(parts.hostname, port or default)

    def _check_robots(self, url: str) -> None:
        if not self._robots_for(_origin(url)).can_fetch(self.policy.user_agent, url):
            raise FetchError(f"disallowed by robots.txt: {url}")

    def _robots_for(self, origin: str) -> RobotFileParser:
        with self._lock(self._robots_locks, origin):
            parser = self._robots.get(origin)
            if parser is None:
                parser = self._robots[origin] = self._load_robots(origin)
            return parser

    def _load_robots(self, origin: str) -> RobotFileParser:
        """The robots.txt of ``origin``; one that cannot be read parses as empty (everything allowed)."""
        url = origin + "/robots.txt"
        parser = RobotFileParser(url)
        parser.parse(self._robots_lines(url))
        return parser

    def _robots_lines(self, url: str) -> list[str]:
        try:
            _, reply = self._follow(url, (), check_robots=False)
        except FetchError as exc:
            log.warning("cannot read %s (%s): fetching as if it allowed everything", url, exc)
            return []
        if 200 <= reply.status < 300:
            return reply.body.decode("utf-8", errors="replace").splitlines()
        if 400 <= reply.status < 500:
            log.debug("%s: HTTP %d, everything allowed", url, reply.status)
        else:
            log.warning("%s: HTTP %d, fetching as if it allowed everything", url, reply.status)
        return []


def _resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to (IPv6 zone ids dropped)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host}: {exc}") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _check_addresses(host: str, port: int) -> None:
    for address in _resolve(host, port):
        kind = _forbidden_kind(address)
        if kind:
            article = "an" if kind[0] in "aeiou" else "a"
            where = f"{host} is" if _is_literal(host, address) else f"{host} resolves to {address},"
            raise FetchError(f"refused: {where} {article} {kind} address ({ALLOW_PRIVATE_HINT})")


def _is_literal(host: str, address: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(host) == address
    except ValueError:
        return False


def _forbidden_kind(address: IPAddress) -> str | None:
    """Why ``address`` may not be fetched from, None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    kinds = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    )
    return next((kind for kind, forbidden in kinds if forbidden), None)


def _content_type(header: str) -> tuple[str, str | None]:
    """The media type (lower-case, "" when none) and charset of a Content-Type header."""
    media, *params = header.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip("\"'"):
            charset = value.strip().strip("\"'").lower()
    return media.strip().lower(), charset


def _wanted(accept: tuple[str, ...]) -> str:
    if accept == HTML_TYPES:
        return "a web page"
    if accept == FEED_TYPES:
        return "a feed"
    return f"an accepted type ({', '.join(accept)})"


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f}".removesuffix(".0")


__all__ = ["FEED_TYPES", "HTML_TYPES", "FetchPolicy", "Fetched", "Fetcher"]
