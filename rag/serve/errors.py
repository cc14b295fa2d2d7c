"""Errors of the HTTP API: ``ApiError`` (an HTTP status and the OpenAI error body) and the handlers that
turn every exception into one, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    AmbiguousSourceError,
    ConfigError,
    CorpusError,
    EmptyIndexError,
    ModelError,
    NotFoundError,
    QueryError,
    RagError,
    ServiceError,
    StoreError,
)
from rag.serve import openai_format as oa

log = logging.getLogger("rag.serve.app")


class ApiError(ServiceError):
    """An error response: HTTP ``status`` and the OpenAI error body."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(oa.error_body(self.message, self.type, self.code), self.status, self.headers)


def as_api_error(exc: BaseException) -> ApiError:
    """The response of any exception: its own for ``ApiError``; 4xx/503 for a ``RagError`` by kind, with its
    message; 500 with a generic message (and the traceback in the log) for anything else."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RagError):
        message = str(exc)
        if isinstance(exc, QueryError):
            return ApiError(400, message, code="invalid_request")
        if isinstance(exc, CorpusError):
            return ApiError(400, message, code="unreadable_file")
        if isinstance(exc, NotFoundError):
            return ApiError(404, message, code="source_not_found")
        if isinstance(exc, AmbiguousSourceError):
            return ApiError(409, message, code="ambiguous_source")
        if isinstance(exc, EmptyIndexError):
            return ApiError(409, message, code="empty_index")
        if isinstance(exc, (ModelError, StoreError, ConfigError)):
            log.warning("%s: %s", type(exc).__name__, message)
            return ApiError(503, message, "server_error", "unavailable")
        log.warning("%s: %s", type(exc).__name__, message)
        return ApiError(500, message, "server_error", "internal_error")
    log.error("unexpected error while serving a request", exc_info=exc)
    return ApiError(
        500, f"internal error ({type(exc).__name__}); see the server log", "server_error", "internal_error"
    )


def error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        return as_api_error(exc).response()

    async def invalid(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        if any(e.get("type") == "json_invalid" for e in errors):
            message = "the request body is not valid JSON"
        else:
            parts = [f"{_where(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors[:5]]
            message = "invalid request: " + ("; ".join(parts) or "the body does not match the schema")
        return ApiError(400, message, code="invalid_request").response()

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        detail = exc.detail if isinstance(exc, StarletteHTTPException) else ""
        if status == 404:
            message = f"no route {request.method} {request.url.path}"
        elif status == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(detail) or "request failed"
        type_ = "invalid_request_error" if status < 500 else "server_error"
        headers = getattr(exc, "headers", None) or {}
        return ApiError(
            status, message, type_, {404: "not_found", 405: "method_not_allowed"}.get(status), headers
        ).response()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RagError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, api_error)


def _where(loc: Any) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"
