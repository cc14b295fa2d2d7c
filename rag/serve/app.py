"""The HTTP API over one ``Assistant`` (FastAPI; with ``rag.serve.runner``, the only fastapi importer).

Routes: ``POST /v1/chat/completions`` and ``GET /v1/models`` in the OpenAI format (the assistant is the
model ``rag``); ``POST /v1/search``, ``POST /v1/ask``, ``GET/POST /v1/sources``, ``GET/DELETE
/v1/sources/{name}`` with the Python API's field names; ``GET /healthz``; ``GET /metrics``.

* **Answers.** The last user message is the question and the earlier user/assistant turns its follow-up
  history. The text keeps its ``[n]`` markers; ``citations`` and ``refused`` ride at the top level of the
  completion (and of the last streamed chunk). A stream sends the role chunk at once, SSE keep-alive
  comments while the model writes, then the *verified* text (the raw model text is checked before any of
  it is sent, so every marker resolves), the last chunk with the citations, and ``data: [DONE]``.
* **The line.** Answers pass one ``rag.serve.limits.Limiter``: ``RAG_SERVE_GENERATIONS`` at once,
  ``RAG_SERVE_QUEUE`` waiting (on the event loop, no thread held; at most ``QUEUE_WAIT_SECONDS``, then 503);
  more get 429 (503 while shutting down) with ``Retry-After``. Only generation runs on worker threads.
* **Guard.** With ``RAG_API_KEY`` set, every ``/v1`` route, ``/metrics`` and ``/openapi.json`` need
  ``Authorization: Bearer``; without it, only a ``Host`` of localhost, 127.0.0.1 or [::1] is answered and a
  request with an ``Origin`` not in ``RAG_CORS_ORIGINS`` is refused (403: web pages and DNS rebinding
  cannot reach the loopback API). Request bodies are size-limited as they are read, chunked ones too (an
  upload request to ``RAG_MAX_FILE_MB`` plus 1 MiB of form, JSON to 1 MiB; a larger file of an upload is
  skipped with a result line of its own); CORS only for the origins in ``RAG_CORS_ORIGINS``.
* **Errors** are JSON in the OpenAI shape ``{"error": {"message", "type", "code"}}``, never a traceback;
  a stream that fails ends with an error event and ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.answer.answerer import check_question
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
from rag.ingest.uploads import FileResult, ingest_uploads, remove_uploaded, safe_name, too_large, upload_dir
from rag.serve import openai_format as oa
from rag.serve.auth import bearer_ok, is_loopback
from rag.serve.limits import Busy, Limiter, Slot
from rag.serve.metrics import Metrics

if TYPE_CHECKING:
    from rag.api import Assistant
    from rag.settings import Settings

log = logging.getLogger(__name__)

JSON_LIMIT = 1024 * 1024  # bytes of a JSON request body
FORM_OVERHEAD = 1024 * 1024  # bytes an upload request may carry beyond one file of RAG_MAX_FILE_MB
KEEPALIVE_SECONDS = 2.0  # an SSE comment at least this often while the answer is being written
QUEUE_WAIT_SECONDS = 60.0  # the longest a request waits in the line for a generation slot (then 503)
FILTER_KEYS = ("language", "source", "outlet", "since", "until")
_END = object()
T = TypeVar("T")

Names = str | list[str] | None


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


# -- request bodies -------------------------------------------------------------------------------------


class Filtered(BaseModel):
    """The filters of ``Assistant.search`` / ``ask`` (``rag.index.filters``): a value or a list each."""

    model_config = ConfigDict(extra="ignore")

    language: Names = None
    source: Names = None
    outlet: Names = None
    since: str | None = Field(None, description="ISO date, inclusive (2016-10-04, 2016-10, 2016)")
    until: str | None = Field(None, description="ISO date, inclusive")

    def filters(self) -> dict[str, Any]:
        return {k: v for k in FILTER_KEYS if (v := getattr(self, k)) is not None}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(Filtered):
    """An OpenAI chat request; sampling options are accepted and ignored (the answer stage fixes them)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"model": "rag", "messages": [{"role": "user", "content": "Who did TASS quote?"}]}]
        },
    )

    model: str = Field(oa.MODEL_ID, description="the assistant's model id: rag (the default)")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    k: int | None = Field(None, ge=1, le=50, description="passages to read (default RAG_TOP_K)")
    gloss: bool = False


class AskRequest(Filtered):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"question": "Who did TASS quote?", "k": 5}]}
    )

    question: str
    history: list[tuple[str, str]] = Field(default_factory=list, description="[[question, answer], ...]")
    k: int | None = Field(None, ge=1, le=50)
    gloss: bool = False


class CompareRequest(Filtered):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"question": "Why did the US stop the talks with Russia?"}]},
    )

    question: str
    k: int | None = Field(None, ge=1, le=50)
    gloss: bool = False


class SearchRequest(Filtered):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"query": "Who did TASS quote?", "language": "id"}]}
    )

    query: str
    k: int | None = Field(None, ge=1, le=100)
    mode: Literal["hybrid", "dense", "bm25"] | None = None


# -- the app --------------------------------------------------------------------------------------------


def create_app(
    assistant: Assistant, settings: Settings | None = None, max_wait: float | None = QUEUE_WAIT_SECONDS
) -> FastAPI:
    """The API over ``assistant`` (settings default to the assistant's); a request waits at most
    ``max_wait`` seconds for a generation slot (None: as long as it takes)."""
    s = settings or assistant.settings
    metrics = Metrics()
    limiter = Limiter(s.serve_generations, s.serve_queue, metrics.queue, max_wait=max_wait)
    created = int(time.time())
    uploads = upload_dir(s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        limiter.close()

    app = FastAPI(
        title="rag",
        summary="Multilingual news question answering with verified citations",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # the Swagger page loads scripts from a CDN; /openapi.json stays
        redoc_url=None,
    )
    app.state.assistant, app.state.limiter, app.state.metrics = assistant, limiter, metrics
    _error_handlers(app)
    app.add_middleware(
        Guard,
        metrics=metrics,
        api_key=s.api_key,
        upload_limit=s.max_file_bytes + FORM_OVERHEAD,
        origins=s.cors_origin_list,
    )
    if s.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=s.cors_origin_list,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    v1 = APIRouter(prefix="/v1")

    async def acquire() -> Slot:
        try:
            return await limiter.wait()  # on the event loop: waiting holds no worker thread
        except Busy as exc:
            metrics.rejected.labels(str(exc.status)).inc()
            type_ = "rate_limit_exceeded" if exc.status == 429 else "server_error"
            raise ApiError(
                exc.status,
                str(exc),
                type_,
                type_ if exc.status == 429 else "unavailable",
                {"Retry-After": str(exc.retry_after)},
            ) from None

    def checked_filters(body: Filtered) -> dict[str, Any]:
        """The body's filters, validated now (bad dates, unknown sources) rather than mid-answer."""
        filters = body.filters()
        assistant.filters(**filters)
        return filters

    @v1.get("/models")
    def models() -> dict[str, Any]:
        return oa.model_list(created)

    @v1.get("/models/{model}")
    def model(model: str) -> dict[str, Any]:
        _known_model(model)
        return oa.model_card(model, created)

    @v1.post("/chat/completions", response_model=None)
    async def chat_completions(body: ChatRequest) -> dict[str, Any] | StreamingResponse:
        _known_model(body.model)
        messages = [m.model_dump() for m in body.messages]
        if not any(m["role"] == "user" for m in messages):
            raise ApiError(400, "no user message: the last one is the question", code="empty_question")
        question, history = oa.question_and_history(messages)
        _check_question(question, "the last user message")
        filters = await run_in_threadpool(checked_filters, body)
        options = dict(k=body.k, gloss=body.gloss, **filters)
        slot = await acquire()
        if not body.stream:
            answer = await generated(slot, assistant.ask, question, history, **options)
            metrics.answered(answer.refused)
            return oa.chat_completion(answer, body.model)
        events = _stream(assistant, metrics, slot, question, history, options, body.model)
        return StreamingResponse(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @v1.post("/ask")
    async def ask(body: AskRequest) -> dict[str, Any]:
        """``Assistant.ask``: the answer as ``Answer.to_dict`` (text with markers, citations, refused)."""
        question = _check_question(body.question, "the question")
        filters = await run_in_threadpool(checked_filters, body)
        answer = await generated(
            await acquire(), assistant.ask, question, body.history, k=body.k, gloss=body.gloss, **filters
        )
        metrics.answered(answer.refused)
        return answer.to_dict()

    @v1.post("/compare")
    async def compare(body: CompareRequest) -> dict[str, Any]:
        """``Assistant.compare``: each source's own cited answer (or ``silent``), then ``agree`` and
        ``differ`` points citing both sides (``Comparison.to_dict``, as ``rag compare --json``)."""
        question = _check_question(body.question, "the question")
        filters = await run_in_threadpool(checked_filters, body)
        comparison = await generated(
            await acquire(), assistant.compare, question, k=body.k, gloss=body.gloss, **filters
        )
        return comparison.to_dict()

    @v1.post("/search")
    def search(body: SearchRequest) -> dict[str, Any]:
        """``Assistant.search``: passages, best first (``Hit`` fields)."""
        query = _check_question(body.query, "the query")
        hits = assistant.search(query, body.k, mode=body.mode, **checked_filters(body))
        return {"query": query, "hits": [h.to_dict() for h in hits]}

    @v1.get("/sources")
    def sources() -> dict[str, Any]:
        """``Assistant.sources``: the ingested articles (``ArticleRecord`` fields)."""
        return {"sources": [asdict(r) for r in assistant.sources()]}

    @v1.get("/sources/{name:path}")
    def source(name: str) -> dict[str, Any]:
        """One article's record and its text (a citation's ``quote`` is ``text[start:end]``)."""
        found = assistant.resolve_source(name)
        record = assistant.store.articles().get(found)
        if record is None:  # removed since it was resolved
            raise NotFoundError(f"no article {name!r} in the index (see `rag sources`)")
        return asdict(record) | {"text": assistant.article_text(found)}

    @v1.post("/sources")
    async def upload(files: list[UploadFile] = File(..., description=".txt .md .html .pdf files")) -> dict:
        """Store the files under safe names in the index's upload folder and ingest them one by one; a
        result per file (added, updated, unchanged, skipped: a wrong type or a file over RAG_MAX_FILE_MB)."""
        return await run_in_threadpool(_ingest_uploads, assistant, files, uploads, s.max_file_bytes)

    @v1.delete("/sources/{name:path}")
    def remove(name: str) -> dict[str, Any]:
        """``Assistant.remove`` (and the uploaded file, when the API or the chat page stored it)."""
        record = assistant.remove(assistant.resolve_source(name))
        remove_uploaded(record.source, uploads)
        return {"removed": asdict(record)}

    app.include_router(v1)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:  # on the event loop: answers even when every thread is busy
        body = {
            "status": "shutting down" if limiter.closed else "ok",
            "generations_active": limiter.active,
            "queue_waiting": limiter.waiting,
        }
        return JSONResponse(body, 503 if limiter.closed else 200)

    @app.get("/metrics")
    async def prometheus() -> Response:
        content, media_type = metrics.text()
        return Response(content, media_type=media_type)

    return app


def _known_model(model: str) -> None:
    if model != oa.MODEL_ID:
        raise ApiError(
            404,
            f"unknown model {model!r}: this server answers as {oa.MODEL_ID!r} (GET /v1/models)",
            code="model_not_found",
        )


def _check_question(text: str, what: str) -> str:
    """``check_question``'s rules (empty, too long), its error naming ``what`` of the request was wrong."""
    try:
        return check_question(text)
    except QueryError as exc:
        code = "invalid_request" if (text or "").strip() else "empty_question"
        raise ApiError(400, f"{what}: {exc}", code=code) from exc


async def generated(slot: Slot, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``work(*args, **kwargs)`` on a worker thread while ``slot`` is held; the slot is released after."""
    try:
        return await run_in_threadpool(work, *args, **kwargs)
    finally:
        slot.release()


async def _stream(
    assistant: Assistant,
    metrics: Metrics,
    slot: Slot,
    question: str,
    history: list[tuple[str, str]],
    options: dict[str, Any],
    model: str,
) -> AsyncIterator[str]:
    """The SSE events of one streamed answer: a keep-alive comment every ``KEEPALIVE_SECONDS`` while the
    model writes (from the first token on, and before it). The slot is released however the stream ends;
    a stream cut off before its end (the client went away) is counted."""
    cid, created = oa.completion_id(), int(time.time())
    pieces: Any = None  # the answer stage's generator (closed at the end)
    pending: asyncio.Future[Any] | None = None  # the next piece, being computed on a worker thread
    finished = False
    try:
        try:
            yield oa.sse(oa.chunk(cid, created, model, role=True, content=""))
            pieces = assistant.ask_stream(question, history, **options)
            answer: Any = None
            beat = time.monotonic()
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(run_in_threadpool(next, pieces, _END))
                left = KEEPALIVE_SECONDS - (time.monotonic() - beat)
                done, _ = await asyncio.wait({pending}, timeout=max(0.0, left))
                if not done:
                    beat = time.monotonic()
                    yield oa.SSE_KEEPALIVE
                    continue
                item, pending = pending.result(), None
                if item is _END:
                    break
                if not isinstance(item, str):
                    answer = item
            if answer is None:
                raise RagError("the answer stage ended without an answer")
            slot.release()
            metrics.answered(answer.refused)
            for c in oa.answer_chunks(answer, cid, created, model):
                yield oa.sse(c)
        except Exception as exc:  # the stream ends with an error event, never a broken connection
            error = as_api_error(exc)
            yield oa.sse(oa.error_body(error.message, error.type, error.code))
        yield oa.SSE_DONE
        finished = True
    finally:
        if not finished:
            metrics.streams_cancelled.inc()
        _end_stream(pieces, pending, slot)


def _end_stream(pieces: Any, pending: asyncio.Future[Any] | None, slot: Slot) -> None:
    """Close the answer stage and free the slot; when a piece is still being computed on its thread (the
    stream was cut off meanwhile), once that piece is done (a running generator cannot be closed)."""

    def close(_: object = None) -> None:
        if pending is not None and pending.done() and not pending.cancelled():
            pending.exception()  # retrieved: an abandoned piece's failure is not an unhandled error
        if pieces is not None:
            try:
                pieces.close()  # GeneratorExit through the answer stage: the LLM's lock is let go
            except Exception:
                log.debug("closing an abandoned answer stream failed", exc_info=True)
        slot.release()

    if pending is not None and not pending.done():
        pending.add_done_callback(close)
    else:
        close()


def _ingest_uploads(
    assistant: Assistant, files: list[UploadFile], folder: Path, max_bytes: int
) -> dict[str, Any]:
    """Copy the uploads (sanitised names) into a temp folder, then save and ingest each as the chat page
    does (``ingest_uploads``: a wrong type or size is a ``skipped`` line, never a failed request)."""
    rows: list[FileResult] = []
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
        paths, originals = [], {}
        for i, f in enumerate(files):
            original = f.filename or "upload"
            if f.size is not None and f.size > max_bytes:  # not even copied
                rows.append(FileResult(original, "skipped", too_large(f.size, max_bytes)))
                continue
            path = Path(tmp) / str(i) / safe_name(original)
            path.parent.mkdir()
            with path.open("wb") as out:
                shutil.copyfileobj(f.file, out)
            paths.append(str(path))
            originals[path.name] = original
        rows += ingest_uploads(
            lambda targets: assistant.ingest(targets, progress=False), paths, folder, max_bytes, originals
        )
    return {"files": [asdict(r) for r in rows]}


# -- errors ---------------------------------------------------------------------------------------------


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


def _error_handlers(app: FastAPI) -> None:
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


# -- the guard: metrics, the key, body sizes (plain ASGI, so streams are timed to their end) -----------

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
        return self.upload_limit if (method, path) == ("POST", "/v1/sources") else JSON_LIMIT

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
