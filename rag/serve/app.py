"""The HTTP API over one ``Assistant``: ``create_app(assistant)`` and its routes (the request bodies are
in ``rag.serve.bodies``, the errors in ``rag.serve.errors``, the guard in ``rag.serve.guard``).

Routes: ``POST /v1/chat/completions`` and ``GET /v1/models`` in the OpenAI format (the assistant is the
model ``rag``); ``POST /v1/search``, ``POST /v1/ask``, ``GET/POST /v1/sources`` (files as a form, or
``{"urls": [...]}`` / ``{"feed": url}`` as JSON), ``GET/DELETE /v1/sources/{name}``, ``GET /v1/events``
with the Python API's field names; ``GET /healthz``; ``GET /metrics``.

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
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from rag.answer.answerer import check_question
from rag.errors import NotFoundError, QueryError, RagError
from rag.ingest.uploads import remove_uploaded, upload_dir
from rag.serve import openai_format as oa
from rag.serve.bodies import (
    AskRequest,
    ChatRequest,
    CompareRequest,
    Filtered,
    SearchRequest,
)
from rag.serve.errors import ApiError, as_api_error, error_handlers
from rag.serve.guard import Guard
from rag.serve.limits import Busy, Limiter, Slot
from rag.serve.metrics import Metrics
from rag.serve.sources import SOURCES_BODY, ingest_files, ingest_web, sources_request

if TYPE_CHECKING:
    from rag.api import Assistant
    from rag.settings import Settings

__all__ = ["FORM_OVERHEAD", "ApiError", "as_api_error", "create_app"]

log = logging.getLogger(__name__)

FORM_OVERHEAD = 1024 * 1024  # bytes an upload request may carry beyond one file of RAG_MAX_FILE_MB
KEEPALIVE_SECONDS = 2.0  # an SSE comment at least this often while the answer is being written
QUEUE_WAIT_SECONDS = 60.0  # the longest a request waits in the line for a generation slot (then 503)
_END = object()
T = TypeVar("T")

Names = str | list[str] | None


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
    error_handlers(app)
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

    @v1.get("/events")
    def events(language: str | None = None) -> dict[str, Any]:
        """``Assistant.events``: the events, newest first, each with its reports (``Event`` fields); with
        ``language``, labels from reports in that language when an event has one."""
        return {"events": [e.to_dict() for e in assistant.events(language)]}

    @v1.get("/sources/{name:path}")
    def source(name: str) -> dict[str, Any]:
        """One article's record and its text (a citation's ``quote`` is ``text[start:end]``)."""
        found = assistant.resolve_source(name)
        record = assistant.store.articles().get(found)
        if record is None:  # removed since it was resolved
            raise NotFoundError(f"no article {name!r} in the index (see `rag sources`)")
        return asdict(record) | {"text": assistant.article_text(found)}

    @v1.post("/sources", openapi_extra=SOURCES_BODY)
    async def add_sources(request: Request) -> dict:
        """Files as a form (``files``): stored under safe names in the index's upload folder and ingested
        one by one. Or JSON ``{"urls": [...]}`` / ``{"feed": url}``: the web pages fetched and ingested (an
        RSS or Atom feed: each entry's page). A result per file or page (added, updated, unchanged,
        skipped with its reason: a wrong type, a file over RAG_MAX_FILE_MB, a page that could not be
        fetched)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            body = await sources_request(request)
            return await run_in_threadpool(ingest_web, assistant, body)
        if kind != "multipart/form-data":
            raise ApiError(
                415, f"send files as multipart/form-data or URLs as JSON, not {kind or 'no content type'}"
            )
        form = await request.form()
        files = [f for f in form.getlist("files") if isinstance(f, StarletteUpload)]
        if not files:
            raise ApiError(400, "no files: send them as the form field 'files'", code="no_files")
        try:
            return await run_in_threadpool(ingest_files, assistant, files, uploads, s.max_file_bytes)
        finally:
            await form.close()

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
