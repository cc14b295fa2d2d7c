"""The guard in front of the HTTP API (plain ASGI, so streams are timed to their end): metrics, the key,
the Host and Origin rules, body sizes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from rag.serve.auth import bearer_ok, is_loopback
from rag.serve.errors import ApiError
from rag.serve.metrics import Metrics

JSON_LIMIT = 1024 * 1024  # bytes of a JSON request body
UPLOAD_PATH = ("POST", "/v1/sources")  # the one route that takes files

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _BodyTooLarge(Exception):
    """Raised into the app by ``Guard``'s ``receive`` once a body passes its limit (the 413 replaces the
    app's answer)."""


class Guard:
    """Times every request for the metrics and refuses, before the app sees it: a wrong Host or Origin
    without a key (403), a missing or wrong key (401), a body over its limit (413, by Content-Length or
    counted as it is read, so a chunked body cannot pass)."""

    def __init__(
        self,
        app: Any,
        metrics: Metrics,
        api_key: str,
        upload_limit: int,
        origins: list[str] | tuple[str, ...] = (),
    ) -> None:
        self.app, self.metrics, self.api_key, self.upload_limit = app, metrics, api_key, upload_limit
        self.origins = set(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]
        method, path = scope["method"], scope["path"]
        limit = self._limit(method, path)
        begun, over, read = [False], [False], [0]

        async def forward(message: Message) -> None:
            if message["type"] == "http.response.start":
                begun[0], status[0] = True, message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self._observe(scope, method, status[0], started)

        async def sending(message: Message) -> None:
            if over[0] and not begun[0]:
                return  # the app's answer to a body cut off: the 413 below replaces it
            await forward(message)

        async def receiving() -> Message:
            if over[0]:
                raise _BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                read[0] += len(message.get("body") or b"")
                if read[0] > limit:
                    over[0] = True  # stop reading: the rest of the body is never taken in
                    raise _BodyTooLarge()
            return message

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(method, path, headers, limit)
        if refusal is not None:
            await refusal.response()(scope, receive, forward)
            return
        try:
            await self.app(scope, receiving, sending)
        except BaseException:
            if not (over[0] and not begun[0]):
                self._observe(scope, method, 500, started)
                raise
        if over[0] and not begun[0]:
            await self._too_large(None, limit).response()(scope, receive, forward)

    def _limit(self, method: str, path: str) -> int:
        return self.upload_limit if (method, path) == UPLOAD_PATH else JSON_LIMIT

    def _too_large(self, length: int | None, limit: int) -> ApiError:
        size = "more than" if length is None else f"{length / 2**20:.1f} MiB >"
        return ApiError(
            413,
            f"the request body is too large: {size} {limit / 2**20:.1f} MiB"
            + (" (one file of RAG_MAX_FILE_MB per upload request)" if limit == self.upload_limit else ""),
            code="request_too_large",
        )

    def _refusal(self, method: str, path: str, headers: dict[str, str], limit: int) -> ApiError | None:
        if not self.api_key:  # a loopback server: no web page may reach it, by rebinding or cross-origin
            host = headers.get("host")
            if host is not None and not local_host(host):
                return ApiError(
                    403,
                    f"the Host {host!r} is not this machine: without RAG_API_KEY the API answers only "
                    "localhost, 127.0.0.1 and [::1]",
                    code="forbidden_host",
                )
            origin = headers.get("origin")
            if origin is not None and origin not in self.origins:
                return ApiError(
                    403,
                    f"requests from the web origin {origin!r} are refused: list it in RAG_CORS_ORIGINS",
                    code="forbidden_origin",
                )
        if method == "OPTIONS":
            return None
        guarded = path.startswith("/v1/") or path in ("/metrics", "/openapi.json")
        if guarded and not bearer_ok(headers.get("authorization"), self.api_key):
            return ApiError(
                401,
                "missing or wrong API key: send the header 'Authorization: Bearer <RAG_API_KEY>'",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            return self._too_large(int(length), limit)
        return None

    def _observe(self, scope: Scope, method: str, status: int, started: float) -> None:
        route = scope.get("route")
        name = getattr(route, "path", None) or "unmatched"
        self.metrics.observe(method, name, status, time.perf_counter() - started)


def local_host(host: str) -> bool:
    """Whether a ``Host`` header names this machine (``is_loopback``), with any port."""
    host = host.strip()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name, port = name + "]", rest.removeprefix(":")
    else:
        name, _, port = host.partition(":")
    return is_loopback(name) and (not port or port.isdigit())
