"""`rag serve`: the HTTP API. Unit tests of the OpenAI builders, the generation line and the key (with a fake
assistant in process), then a real uvicorn server over a real index of the seeds: the real `openai` client
(with the real local LLM, two answers), plain httpx for the other routes, the key, the bind refusal, and a
schemathesis fuzz of the OpenAPI schema with a fast stand-in LLM."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from rag.answer.values import Answer, Citation, Nearest
from rag.errors import ConfigError, ModelError, QueryError
from rag.evaluation.datasets import builtin_dataset, load_dataset
from rag.serve import openai_format as oa
from rag.serve.auth import bearer_ok, check_bind, is_loopback
from rag.serve.limits import Busy, Limiter
from rag.settings import Settings

from .conftest import ROOT, SEEDS

QUESTIONS = {q.id: q.question for q in load_dataset(builtin_dataset("seeds")).questions}
CITATION_FIELDS = {"marker", "source", "start", "end", "quote", "title", "language", "score", "also_in"}


def an_answer(text: str = "Twelve died [1].", refused: bool = False) -> Answer:
    citation = Citation(1, "a.txt", 0, 12, "Twelve died.", "Convoy", "en", 0.9)
    return Answer(text, () if refused else (citation,), refused, "en", question="q")


# -- pure builders -----------------------------------------------------------------------------------------


def test_completion_and_chunks_carry_the_text_citations_and_refused():
    answer = an_answer("Twelve people died in the attack on the convoy near the border town [1].")
    done = oa.chat_completion(answer, created=7)
    assert done["object"] == "chat.completion" and done["created"] == 7 and done["model"] == "rag"
    assert done["choices"][0]["message"] == {"role": "assistant", "content": answer.text}
    assert done["refused"] is False and set(done["citations"][0]) >= CITATION_FIELDS
    chunks = oa.answer_chunks(answer, "chatcmpl-x", 7, piece_words=4)
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-x" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == answer.text
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop" and last["choices"][0]["delta"] == {}
    assert last["citations"] == done["citations"] and last["refused"] is False
    assert "citations" not in chunks[0]
    refusal = oa.chat_completion(an_answer("The articles do not say.", refused=True))
    assert refusal["refused"] is True and refusal["citations"] == [] and refusal["nearest"] == []
    near = Nearest("a.txt", 0, 12, "Twelve died.", "Convoy", "en", 0.2)
    shown = oa.chat_completion(replace(an_answer("The articles do not say.", refused=True), nearest=(near,)))
    assert shown["nearest"] == [
        {
            "source": "a.txt",
            "start": 0,
            "end": 12,
            "quote": "Twelve died.",
            "title": "Convoy",
            "language": "en",
            "score": 0.2,
        }
    ]
    assert oa.error_body("bad", code="x") == {
        "error": {"message": "bad", "type": "invalid_request_error", "code": "x", "param": None}
    }
    assert oa.sse({"a": "é"}) == 'data: {"a": "é"}\n\n' and oa.SSE_DONE == "data: [DONE]\n\n"
    assert oa.model_list(5)["data"] == [{"id": "rag", "object": "model", "created": 5, "owned_by": "rag"}]


def test_the_last_user_message_is_the_question_and_earlier_turns_the_history():
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "Who is Zakharova?"},
        {"role": "assistant", "content": "A spokeswoman [1]."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "What did"}, {"type": "text", "text": "she say?"}],
        },
    ]
    question, history = oa.question_and_history(messages)
    assert question == "What did\nshe say?"
    assert history == [("Who is Zakharova?", "A spokeswoman [1].")]
    assert oa.question_and_history([{"role": "assistant", "content": "hi"}]) == ("", [])
    unanswered = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    assert oa.question_and_history(unanswered) == ("b", [("a", "")])


# -- the line and the key ----------------------------------------------------------------------------------


def test_the_line_serves_waits_and_turns_away_then_closes():
    changes = []
    limiter = Limiter(1, 1, lambda active, waiting: changes.append((active, waiting)))

    async def line():
        first = await limiter.wait()
        waiter = asyncio.ensure_future(limiter.wait())
        while limiter.waiting == 0:
            await asyncio.sleep(0.01)
        with pytest.raises(Busy) as full:
            await limiter.wait()
        assert full.value.status == 429 and full.value.retry_after >= 1
        assert "RAG_SERVE_QUEUE" in str(full.value)
        threading.Thread(target=first.release).start()  # released from a worker thread, as the API does
        second = await asyncio.wait_for(waiter, 5)
        first.release()  # idempotent
        assert limiter.active == 1 and limiter.waiting == 0
        second.release()
        assert changes[-1] == (0, 0) and (1, 1) in changes
        limiter.close()
        with pytest.raises(Busy) as closed:
            await limiter.wait()
        assert closed.value.status == 503

    asyncio.run(line())


def test_a_dropped_slot_is_given_back():
    limiter = Limiter(1, 0)
    asyncio.run(limiter.wait())  # never released by hand: dropped at once
    asyncio.run(limiter.wait()).release()
    assert limiter.active == 0


def test_keys_and_binds():
    assert (
        bearer_ok(None, "")
        and bearer_ok("Bearer s3cret", "s3cret")
        and bearer_ok("bearer  s3cret ", "s3cret")
    )
    assert not bearer_ok(None, "s3cret") and not bearer_ok("Bearer nope", "s3cret")
    assert not bearer_ok("Basic s3cret", "s3cret")
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.0.0.2"))
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    check_bind("127.0.0.1", "")
    check_bind("0.0.0.0", "s3cret")
    with pytest.raises(ConfigError, match="RAG_API_KEY"):
        check_bind("0.0.0.0", "")


def test_serve_settings_come_from_the_environment():
    s = Settings.from_env(
        {
            "RAG_API_KEY": "k",
            "RAG_CORS_ORIGINS": "http://a, http://b",
            "RAG_SERVE_QUEUE": "0",
            "RAG_SERVE_PORT": "9",
        }
    )
    assert (s.api_key, s.cors_origin_list, s.serve_queue, s.serve_port) == (
        "k",
        ["http://a", "http://b"],
        0,
        9,
    )
    assert (Settings().serve_host, Settings().serve_port, Settings().serve_generations) == (
        "127.0.0.1",
        8080,
        1,
    )
    with pytest.raises(ConfigError, match="RAG_SERVE_GENERATIONS"):
        Settings.from_env({"RAG_SERVE_GENERATIONS": "0"})


# -- the app in process, over a fake assistant -------------------------------------------------------------


class FakeAssistant:
    """What the routes call, scripted: ``outcome`` is an Answer to give or an exception to raise."""

    def __init__(self, settings: Settings, outcome=None) -> None:
        self.settings = settings
        self.outcome = outcome or an_answer()
        self.calls = []

    def filters(self, **filters):
        if filters.get("since") == "never":
            raise QueryError("since: not a date")

    def _result(self):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    def ask(self, question, history=None, **options):
        self.calls.append((question, list(history or []), options))
        return self._result()

    def ask_stream(self, question, history=None, **options):
        self.calls.append((question, list(history or []), options))
        yield "raw "
        yield self._result()

    def sources(self):
        return []


def fake_client(tmp_path, outcome=None, **settings):
    from fastapi.testclient import TestClient

    from rag.serve.app import create_app

    assistant = FakeAssistant(Settings(index_dir=tmp_path, **settings), outcome)
    client = TestClient(create_app(assistant), base_url="http://127.0.0.1", raise_server_exceptions=False)
    return client, assistant


def chat(question="Who died?", **extra):
    return {"model": "rag", "messages": [{"role": "user", "content": question}], **extra}


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"message", "type", "code"} <= set(body["error"]), body
    assert "Traceback" not in response.text
    return body["error"]


def test_requests_are_checked_and_errors_are_openai_json(tmp_path):
    client, assistant = fake_client(tmp_path)
    ok = client.post("/v1/chat/completions", json=chat(k=3, language="en"))
    assert ok.status_code == 200 and ok.json()["citations"][0]["quote"] == "Twelve died."
    assert assistant.calls[-1] == ("Who died?", [], {"k": 3, "gloss": False, "language": "en"})
    bad_json = client.post(
        "/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and "not valid JSON" in error_of(bad_json)["message"]
    unknown = client.post("/v1/chat/completions", json={**chat(), "model": "gpt-4"})
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "model_not_found"
    empty = client.post("/v1/chat/completions", json=chat("   "))
    assert empty.status_code == 400 and "empty" in error_of(empty)["message"]
    no_messages = client.post("/v1/chat/completions", json={"model": "rag", "messages": []})
    assert no_messages.status_code == 400 and "messages" in error_of(no_messages)["message"]
    bad_date = client.post("/v1/ask", json={"question": "Who?", "since": "never"})
    assert bad_date.status_code == 400 and "since" in error_of(bad_date)["message"]
    nowhere = client.get("/v1/nothing")
    assert nowhere.status_code == 404 and error_of(nowhere)["code"] == "not_found"
    assert client.get("/v1/models").json()["data"][0]["id"] == "rag"
    assert client.get("/v1/models/other").status_code == 404


@pytest.mark.parametrize(
    "raised,status,words",
    [
        (QueryError("the question is too long"), 400, "too long"),
        (ModelError("the GGUF file is missing"), 503, "GGUF"),
        (RuntimeError("secret internals"), 500, "internal error"),
    ],
)
def test_assistant_failures_map_to_status_codes_never_tracebacks(tmp_path, raised, status, words):
    client, _ = fake_client(tmp_path, raised)
    response = client.post("/v1/chat/completions", json=chat())
    assert response.status_code == status and words in error_of(response)["message"]
    assert "secret internals" not in response.text
    stream = client.post("/v1/chat/completions", json=chat(stream=True))
    assert stream.status_code == 200
    events = [line[6:] for line in stream.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and '"error"' in events[-2] and words in events[-2]
    assert "secret internals" not in stream.text


def test_a_stream_sends_the_verified_text_and_ends_with_citations(tmp_path):
    import json

    client, _ = fake_client(tmp_path)
    stream = client.post("/v1/chat/completions", json=chat(stream=True))
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in stream.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Twelve died [1]." and "raw" not in text  # the raw model text is never sent
    assert chunks[-1]["citations"][0]["marker"] == 1 and chunks[-1]["refused"] is False


def test_the_key_guards_v1_and_metrics_but_not_healthz(tmp_path):
    client, _ = fake_client(tmp_path, api_key="s3cret")
    for response in (client.get("/v1/models"), client.get("/metrics"), client.post("/v1/ask", content=b"{")):
        assert response.status_code == 401 and error_of(response)["code"] == "invalid_api_key"
        assert response.headers["www-authenticate"] == "Bearer"
    wrong = client.get("/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/healthz").json()["status"] == "ok"


def test_a_full_line_answers_429_with_retry_after_and_metrics_count_it(tmp_path):
    client, _ = fake_client(tmp_path, serve_generations=1, serve_queue=0)
    held = asyncio.run(client.app.state.limiter.wait())
    busy = client.post("/v1/chat/completions", json=chat())
    stream = client.post("/v1/chat/completions", json=chat(stream=True))
    held.release()
    for response in (busy, stream):
        assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
        assert error_of(response)["type"] == "rate_limit_exceeded"
    assert client.post("/v1/chat/completions", json=chat()).status_code == 200
    metrics = client.get("/metrics").text
    assert 'rag_rejected_total{status="429"} 2.0' in metrics
    assert 'rag_http_requests_total{method="POST",route="/v1/chat/completions",status="429"} 2.0' in metrics
    assert 'rag_answers_total{outcome="answered"} 1.0' in metrics and "rag_queue_waiting 0.0" in metrics


def test_oversize_requests_are_refused_before_reading(tmp_path):
    client, _ = fake_client(tmp_path, max_file_mb=0.01)
    big = client.post("/v1/sources", files={"files": ("big.txt", b"x" * 2_000_000, "text/plain")})
    assert big.status_code == 413 and "RAG_MAX_FILE_MB" in error_of(big)["message"]
    huge_json = client.post("/v1/ask", json={"question": "x" * 2_000_000})
    assert huge_json.status_code == 413


def test_cors_only_for_configured_origins(tmp_path):
    client, _ = fake_client(tmp_path)
    assert (
        "access-control-allow-origin" not in client.get("/v1/models", headers={"Origin": "http://a"}).headers
    )
    client, _ = fake_client(tmp_path, cors_origins="http://a")
    allowed = client.get("/v1/models", headers={"Origin": "http://a"})
    assert allowed.headers["access-control-allow-origin"] == "http://a"
    assert (
        "access-control-allow-origin" not in client.get("/v1/models", headers={"Origin": "http://b"}).headers
    )


# -- a real server over a real index -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_index(tmp_path_factory, embedder):
    """A throwaway index of the seeds (uploads and removals here never touch the shared seed index)."""
    from rag import Assistant

    index = tmp_path_factory.mktemp("serve-index")
    assert len(Assistant.open(index, embedder=embedder, progress=False).ingest([SEEDS]).added) == 2
    return index


@pytest.fixture(scope="module")
def real_api(api_index, embedder, llm):
    """A uvicorn server on a free loopback port: the real assistant with the real local LLM."""
    from rag import Assistant
    from rag.serve import create_app, running

    assistant = Assistant.open(api_index, embedder=embedder, llm=llm, progress=False, generator="local")
    with running(create_app(assistant)) as url:
        yield url, assistant


def assert_citations_resolve(text: str, citations: list[dict], article) -> None:
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", text)}
    assert markers, text
    by_marker = {c["marker"]: c for c in citations}
    assert markers <= set(by_marker), (text, citations)
    for c in citations:
        assert article(c["source"])[c["start"] : c["end"]] == c["quote"]


@pytest.mark.integration
def test_the_openai_client_gets_cited_answers_plain_and_streamed(real_api):
    import openai

    url, _ = real_api
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    texts: dict[str, str] = {}

    def article(source: str) -> str:
        if source not in texts:
            texts[source] = httpx.get(f"{url}/v1/sources/{source}").json()["text"]
        return texts[source]

    assert [m.id for m in client.models.list().data] == ["rag"]
    done = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": QUESTIONS["hasakah-en"]}]
    )
    extra = done.model_extra or {}
    assert extra["refused"] is False
    assert_citations_resolve(done.choices[0].message.content, extra["citations"], article)

    pieces, last = [], None
    for part in client.chat.completions.create(
        model="rag",
        stream=True,
        messages=[{"role": "user", "content": QUESTIONS["pause-id"]}],
    ):
        if part.choices and part.choices[0].delta.content:
            pieces.append(part.choices[0].delta.content)
        last = part
    assert last is not None and last.choices[0].finish_reason == "stop"
    extra = last.model_extra or {}
    assert extra["refused"] is False
    assert_citations_resolve("".join(pieces), extra["citations"], article)

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": " "}])


@pytest.mark.integration
def test_search_sources_upload_remove_health_and_metrics_over_http(real_api, tmp_path):
    url, assistant = real_api
    http = httpx.Client(base_url=url, timeout=120)
    hits = http.post("/v1/search", json={"query": "Siapa yang dikutip oleh TASS?", "k": 2, "language": "id"})
    assert hits.status_code == 200
    assert len(hits.json()["hits"]) == 2 and {h["language"] for h in hits.json()["hits"]} == {"id"}
    assert {"source", "start", "end", "text", "score", "title"} <= set(hits.json()["hits"][0])
    before = {r["source"] for r in http.get("/v1/sources").json()["sources"]}
    assert len(before) == 2
    assert http.post("/v1/search", json={"query": "x", "source": "nope.txt"}).status_code == 404

    files = [
        (
            "files",
            (
                "../../evil name.txt",
                b"A ferry sank off Lombok on Tuesday; 14 people were rescued.",
                "text/plain",
            ),
        ),
        ("files", ("notes.exe", b"MZ", "application/octet-stream")),
    ]
    uploaded = http.post("/v1/sources", files=files)
    assert uploaded.status_code == 200, uploaded.text
    results = {r["name"]: r for r in uploaded.json()["files"]}
    assert results["../../evil name.txt"]["result"] == "added"
    assert results["notes.exe"]["result"] == "skipped" and "unsupported" in results["notes.exe"]["detail"]
    (stored,) = {r["source"] for r in http.get("/v1/sources").json()["sources"]} - before
    assert (
        Path(stored).name == "evil_name.txt"
        and Path(stored).parent == assistant.settings.index_dir / "uploads"
    )
    assert (
        http.post("/v1/search", json={"query": "ferry Lombok", "k": 1}).json()["hits"][0]["source"] == stored
    )

    removed = http.delete("/v1/sources/evil_name.txt")
    assert removed.status_code == 200 and removed.json()["removed"]["source"] == stored
    assert not Path(stored).exists()
    missing = http.delete("/v1/sources/evil_name.txt")
    assert missing.status_code == 404 and "no article" in error_of(missing)["message"]
    assert {r["source"] for r in http.get("/v1/sources").json()["sources"]} == before

    assert http.get("/healthz").json()["status"] == "ok"
    metrics = http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'rag_http_requests_total{method="POST",route="/v1/search",status="200"}' in metrics.text
    assert 'route="/v1/sources/{name:path}",status="404"' in metrics.text
    assert "rag_http_request_seconds_bucket" in metrics.text


@pytest.mark.integration
def test_with_a_key_the_real_server_wants_it(api_index, embedder):
    from rag import Assistant
    from rag.serve import create_app, running

    assistant = Assistant.open(api_index, embedder=embedder, progress=False, generator="extractive")
    with running(create_app(assistant, replace(assistant.settings, api_key="s3cret"))) as url:
        assert httpx.get(f"{url}/v1/sources").status_code == 401
        assert httpx.get(f"{url}/healthz").status_code == 200
        good = httpx.get(f"{url}/v1/sources", headers={"Authorization": "Bearer s3cret"})
        assert good.status_code == 200 and len(good.json()["sources"]) == 2


@pytest.mark.integration
def test_rag_serve_refuses_a_public_bind_without_a_key(tmp_path):
    env = {**os.environ, "RAG_API_KEY": "", "RAG_GENERATOR": "extractive"}
    refused = subprocess.run(
        [sys.executable, "-m", "rag.cli", "--index", str(tmp_path), "serve", "--host", "0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert refused.returncode == 2 and "RAG_API_KEY" in refused.stderr and "Traceback" not in refused.stderr


@pytest.fixture(scope="module")
def fuzz_api(api_index, embedder):
    """A server over the throwaway index whose LLM is the fast stand-in of `rag bench serve`."""
    from rag import Assistant
    from rag.evaluation.bench_serve import QuoteGenerator
    from rag.serve import create_app, running

    fast = QuoteGenerator()
    assistant = Assistant.open(
        api_index, embedder=embedder, llm=fast, progress=False, generator="local", serve_queue=32
    )
    with running(create_app(assistant)) as url:
        yield url, assistant


@pytest.mark.integration
def test_the_stand_in_llm_answers_with_verified_citations(fuzz_api):
    url, assistant = fuzz_api
    body = {"question": "Who did TASS quote?", "history": [["What happened in Hama?", "An attack [1]."]]}
    answer = httpx.post(f"{url}/v1/ask", json=body, timeout=60).json()
    assert answer["refused"] is False and answer["citations"], answer
    for c in answer["citations"]:
        assert assistant.article_text(c["source"])[c["start"] : c["end"]] == c["quote"]


@pytest.mark.integration
def test_sources_by_url_over_http_get_a_result_line_each_and_bad_bodies_a_clear_error(fuzz_api):
    url, assistant = fuzz_api
    before = {r.source for r in assistant.sources()}
    refused = httpx.post(f"{url}/v1/sources", json={"urls": ["http://127.0.0.1:9/story.html"]}, timeout=60)
    assert refused.status_code == 200, refused.text
    (row,) = refused.json()["files"]
    assert row["result"] == "skipped" and "RAG_FETCH_ALLOW_PRIVATE" in row["detail"]
    for body, status in (({"urls": ["ftp://example.com/a"]}, 400), ({}, 400), ({"feed": "nope"}, 400)):
        bad = httpx.post(f"{url}/v1/sources", json=body, timeout=30)
        assert bad.status_code == status and bad.json()["error"]["message"], bad.text
    plain = httpx.post(f"{url}/v1/sources", content=b"http://x", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and "multipart/form-data" in plain.json()["error"]["message"]
    assert {r.source for r in assistant.sources()} == before


@pytest.mark.integration
def test_events_over_http_and_the_event_filter(fuzz_api):
    url, assistant = fuzz_api
    events = httpx.get(f"{url}/v1/events", timeout=30).json()["events"]
    assert events and {"event", "label", "sources", "stories", "languages", "outlets"} <= set(events[0])
    body = {"query": "Who did TASS quote?", "event": events[0]["event"]}
    hits = httpx.post(f"{url}/v1/search", json=body, timeout=30).json()["hits"]
    assert hits and {h["source"] for h in hits} <= set(events[0]["sources"])
    missing = httpx.post(f"{url}/v1/search", json={"query": "Who?", "event": "nope"}, timeout=30)
    assert missing.status_code == 404 and "no event" in missing.json()["error"]["message"]


@pytest.mark.integration
def test_compare_over_http_lists_each_source_with_exact_citations(fuzz_api):
    url, assistant = fuzz_api
    body = {"question": "What did Zakharova say about the decision of Washington?"}
    result = httpx.post(f"{url}/v1/compare", json=body, timeout=120).json()
    assert (
        set(result) >= {"question", "sources", "agree", "differ"} and result["question"] == body["question"]
    )
    assert {s["source"] for s in result["sources"]} == {r.source for r in assistant.sources()}
    cited = [c for item in result["sources"] + result["agree"] + result["differ"] for c in item["citations"]]
    assert cited and all(
        assistant.article_text(c["source"])[c["start"] : c["end"]] == c["quote"] for c in cited
    )
    assert all(len(p["citations"]) == 2 for p in result["agree"] + result["differ"])  # both sides
    empty = httpx.post(f"{url}/v1/compare", json={"question": " "}, timeout=30)
    assert empty.status_code == 400 and error_of(empty)["code"] == "empty_question"


@pytest.mark.integration
def test_fuzzing_the_schema_finds_no_server_error_and_loses_no_article(fuzz_api):
    import hypothesis
    import schemathesis

    url, assistant = fuzz_api
    before = {r.source for r in assistant.sources()}
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures, seen = [], Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "DELETE":  # removals are tested above; the fuzz must lose nothing
            continue
        slow = ("/v1/chat/completions", "/v1/ask", "/v1/compare", "/v1/sources")
        examples = 12 if operation.path in slow else 25

        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases every run: a run of all-invalid chat requests never flakes
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=operation.as_strategy())
        def fuzz(case):
            response = case.call(base_url=url, timeout=60)
            seen[(case.method, case.path, response.status_code // 100)] += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.path}: {response.status_code} {response.text[:300]}")
            elif response.status_code >= 400:
                error = response.json()["error"]
                assert error["message"] and error["type"], response.text

        fuzz()
    print(sorted(seen.items()))
    assert sum(seen.values()) > 50 and seen[("POST", "/v1/chat/completions", 2)] > 0, seen
    assert not failures, "\n".join(failures[:10])
    after = {r.source for r in assistant.sources()}
    assert before <= after  # uploads may add articles; nothing was lost
    for source in after - before:
        assistant.remove(source)


# -- the line off the threads, the guard's Host/Origin/body rules, uploads, errors by type -----------------


class SlowAssistant(FakeAssistant):
    """A fake whose answers take ``seconds`` (on the worker thread, as the real LLM would)."""

    def __init__(self, settings: Settings, seconds: float = 0.05, first_token: bool = True) -> None:
        super().__init__(settings)
        self.seconds, self.first_token = seconds, first_token

    def ask(self, question, history=None, **options):
        time.sleep(self.seconds)
        return super().ask(question, history, **options)

    def ask_stream(self, question, history=None, **options):
        time.sleep(self.seconds)  # no token at all before the answer: keep-alives must flow anyway
        yield self.outcome


class Report:
    def __init__(self, added=()):
        self.added, self.updated, self.unchanged, self.skipped = list(added), [], [], []


class UploadingAssistant(FakeAssistant):
    def ingest(self, paths, progress=False):
        return Report(str(p) for p in paths)


def test_waiting_is_async_and_bounded_and_the_errors_are_rag_errors():
    from rag.errors import RagError
    from rag.serve.app import ApiError

    assert issubclass(Busy, RagError) and issubclass(ApiError, RagError)
    limiter = Limiter(1, 5, max_wait=0.1)
    held = asyncio.run(limiter.wait())

    async def two():
        with pytest.raises(Busy) as late:
            await limiter.wait()
        assert late.value.status == 503 and late.value.retry_after >= 1 and "timed out" in str(late.value)
        task = asyncio.ensure_future(limiter.wait())
        await asyncio.sleep(0.02)
        assert limiter.waiting == 1
        held.release()  # handed to the waiter in line
        return await task

    slot = asyncio.run(two())
    assert limiter.active == 1 and limiter.waiting == 0
    slot.release()
    assert limiter.active == 0


@pytest.mark.integration
def test_a_big_queue_of_clients_never_locks_the_server_up(tmp_path):
    """50 clients, a line of 60, one slow generation at a time: before, waiting held every worker thread
    and the holder could not get one (nor /healthz) — everything hung."""
    from rag.serve import create_app, running

    assistant = SlowAssistant(Settings(index_dir=tmp_path, serve_queue=60, serve_generations=1), 0.04)
    statuses, health = [], []
    with running(create_app(assistant, max_wait=30)) as url:

        def client():
            try:
                r = httpx.post(f"{url}/v1/ask", json={"question": "Who died?"}, timeout=25)
                statuses.append(r.status_code)
            except httpx.HTTPError as exc:
                statuses.append(type(exc).__name__)

        threads = [threading.Thread(target=client) for _ in range(50)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            started = time.monotonic()
            try:
                ok = httpx.get(f"{url}/healthz", timeout=3).status_code == 200
            except httpx.HTTPError:
                ok = False
            health.append((ok, time.monotonic() - started))
            time.sleep(0.1)
        for t in threads:
            t.join()
    assert len(statuses) == 50 and set(statuses) <= {200, 429, 503}, Counter(statuses)
    assert statuses.count(200) >= 40, Counter(statuses)
    assert health and all(ok and took < 2 for ok, took in health), health


def test_chunked_bodies_are_counted_and_cut_off_at_the_limit(tmp_path):
    client, _ = fake_client(tmp_path, max_file_mb=0.01)

    def chunks(n, size=64 * 1024):
        yield b'{"question": "'
        for _ in range(n):
            yield b"x" * size
        yield b'"}'

    chunked = client.post("/v1/ask", content=chunks(40), headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and error_of(chunked)["code"] == "request_too_large"
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    upload = client.post(
        "/v1/sources",
        content=(c for c in [head, *chunks(40)]),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert upload.status_code == 413 and error_of(upload)["code"] == "request_too_large"
    assert "RAG_MAX_FILE_MB" in error_of(upload)["message"]
    small = client.post("/v1/ask", content=chunks(1, 10), headers={"content-type": "application/json"})
    assert small.status_code == 200  # small chunked bodies pass


def test_the_guard_stops_reading_a_body_past_the_limit(tmp_path):
    """At the ASGI level: an endless chunked upload is read only up to the limit, then answered 413."""
    import asyncio
    import json

    from rag.serve.app import FORM_OVERHEAD, create_app

    app = create_app(FakeAssistant(Settings(index_dir=tmp_path, max_file_mb=0.01)))
    limit, size, read, sent = int(0.01 * 2**20) + FORM_OVERHEAD, 64 * 1024, [0], []
    head = b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\n'

    async def receive():
        read[0] += 1
        body = head if read[0] == 1 else b"x" * size
        return {"type": "http.request", "body": body, "more_body": read[0] < 10_000}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/sources",
        "raw_path": b"/v1/sources",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080"), (b"content-type", b"multipart/form-data; boundary=b")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8080),
    }
    asyncio.run(app(scope, receive, send))
    assert read[0] <= limit // size + 3, read[0]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 413 and json.loads(body)["error"]["code"] == "request_too_large"


def test_without_a_key_only_local_hosts_and_listed_origins_get_in(tmp_path):
    client, _ = fake_client(tmp_path, cors_origins="http://ok.example")
    rebound = client.get("/healthz", headers={"Host": "evil.example"})
    assert rebound.status_code == 403 and error_of(rebound)["code"] == "forbidden_host"
    assert client.get("/v1/models", headers={"Host": "evil.example:8080"}).status_code == 403
    assert client.get("/v1/models", headers={"Host": "127.0.0.1.evil.example"}).status_code == 403
    for host in ("localhost", "localhost:8080", "127.0.0.1:9", "[::1]", "[::1]:8080"):
        assert client.get("/v1/models", headers={"Host": host}).status_code == 200, host
    upload = client.post(
        "/v1/sources",
        files={"files": ("a.txt", b"text", "text/plain")},
        headers={"Origin": "http://evil.example"},
    )
    assert upload.status_code == 403 and error_of(upload)["code"] == "forbidden_origin"
    assert client.get("/v1/models", headers={"Origin": "null"}).status_code == 403
    listed = client.get("/v1/models", headers={"Origin": "http://ok.example"})
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == "http://ok.example"
    keyed, _ = fake_client(tmp_path, api_key="s3cret")
    far = keyed.get("/v1/models", headers={"Host": "api.example", "Authorization": "Bearer s3cret"})
    assert far.status_code == 200  # with a key the server may be reached by any name


def test_with_a_key_the_schema_is_guarded_too(tmp_path):
    keyed, _ = fake_client(tmp_path, api_key="s3cret")
    assert keyed.get("/openapi.json").status_code == 401
    assert keyed.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    open_, _ = fake_client(tmp_path)
    assert open_.get("/openapi.json").status_code == 200


def test_an_oversized_file_is_a_skipped_line_not_a_failed_upload(tmp_path):
    client, _ = fake_client(tmp_path, max_file_mb=0.01)
    client.app.state.assistant.__class__ = UploadingAssistant
    files = [
        ("files", ("big.txt", b"x" * 20_000, "text/plain")),
        ("files", ("small.txt", b"A ferry sank.", "text/plain")),
    ]
    uploaded = client.post("/v1/sources", files=files)
    assert uploaded.status_code == 200, uploaded.text
    rows = {r["name"]: r for r in uploaded.json()["files"]}
    assert rows["big.txt"]["result"] == "skipped" and "RAG_MAX_FILE_MB" in rows["big.txt"]["detail"]
    assert rows["small.txt"]["result"] == "added"
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == ["small.txt"]


def test_the_upload_helpers_are_shared(tmp_path):
    from rag.ingest.uploads import ingest_uploads, remove_uploaded, upload_dir

    folder = upload_dir(Settings(index_dir=tmp_path))
    assert folder == tmp_path / "uploads"
    (tmp_path / "in").mkdir()
    for name, size in (("a.txt", 5), ("b.exe", 5), ("c.txt", 50)):
        (tmp_path / "in" / name).write_bytes(b"x" * size)
    steps = []
    rows = ingest_uploads(
        lambda paths: Report(str(p) for p in paths),
        [str(tmp_path / "in" / n) for n in ("a.txt", "b.exe", "c.txt")],
        folder,
        10,
        names={"a.txt": "../my a.txt"},
        step=lambda done, total, what: steps.append((done, total, what)),
    )
    assert [(r.name, r.result) for r in rows] == [
        ("b.exe", "skipped"),
        ("c.txt", "skipped"),
        ("../my a.txt", "added"),
    ]
    assert steps == [(0, 1, "ingesting ../my a.txt"), (1, 1, "ingested ../my a.txt")]
    assert remove_uploaded(str(folder / "a.txt"), folder) and not (folder / "a.txt").exists()
    elsewhere = tmp_path / "in" / "a.txt"
    assert not remove_uploaded(str(elsewhere), folder) and elsewhere.exists()


def test_store_errors_map_to_status_by_type(tmp_path):
    from types import SimpleNamespace

    from rag.api import Assistant
    from rag.errors import AmbiguousSourceError, EmptyIndexError, NotFoundError, StoreError

    store = SimpleNamespace(articles=lambda: {"a/x.txt": 1, "b/x.txt": 1})
    with pytest.raises(AmbiguousSourceError, match="matches several"):
        Assistant.resolve_source(SimpleNamespace(store=store), "x.txt")
    with pytest.raises(NotFoundError, match="no article"):
        Assistant.resolve_source(SimpleNamespace(store=store), "y.txt")
    assert all(issubclass(e, StoreError) for e in (AmbiguousSourceError, EmptyIndexError, NotFoundError))
    for raised, status, code in (
        (NotFoundError("the text is gone"), 404, "source_not_found"),
        (AmbiguousSourceError("two of them"), 409, "ambiguous_source"),
        (EmptyIndexError("nothing yet"), 409, "empty_index"),
        (StoreError("no article at all, but a broken store"), 503, "unavailable"),
    ):
        client, _ = fake_client(tmp_path, raised)
        response = client.post("/v1/ask", json={"question": "Who?"})
        assert (response.status_code, error_of(response)["code"]) == (status, code), raised


def test_a_source_removed_between_resolve_and_lookup_is_404(tmp_path):
    from types import SimpleNamespace

    client, assistant = fake_client(tmp_path)
    assistant.resolve_source = lambda name: name
    assistant.store = SimpleNamespace(articles=lambda: {})
    gone = client.get("/v1/sources/a.txt")
    assert gone.status_code == 404 and error_of(gone)["code"] == "source_not_found"


def test_a_stream_keeps_alive_before_the_first_token(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from rag.serve import app as app_module

    monkeypatch.setattr(app_module, "KEEPALIVE_SECONDS", 0.05)
    assistant = SlowAssistant(Settings(index_dir=tmp_path), 0.5)
    client = TestClient(app_module.create_app(assistant), base_url="http://127.0.0.1")
    stream = client.post("/v1/chat/completions", json=chat(stream=True))
    assert stream.text.count(oa.SSE_KEEPALIVE) >= 4, stream.text
    assert stream.text.endswith(oa.SSE_DONE) and "Twelve died" in stream.text


@pytest.mark.integration
def test_a_stream_cut_off_is_counted_and_frees_its_slot(tmp_path, monkeypatch):
    from rag.serve import app as app_module
    from rag.serve import create_app, running

    monkeypatch.setattr(app_module, "KEEPALIVE_SECONDS", 0.05)
    app = create_app(SlowAssistant(Settings(index_dir=tmp_path), 1.0))
    with running(app) as url:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=chat(stream=True), timeout=10) as r:
            lines = r.iter_lines()
            assert next(lines).startswith("data: ")  # the role chunk; then hang up mid-answer
        deadline = time.monotonic() + 5
        while "rag_streams_cancelled_total 1.0" not in (text := httpx.get(f"{url}/metrics").text):
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
        while app.state.limiter.active:  # freed once the piece being written is done
            assert time.monotonic() < deadline + 3
            time.sleep(0.05)
        assert "rag_streams_cancelled_total 1.0" in text


def test_runner_brackets_ipv6_and_closes_its_socket_when_start_fails(monkeypatch):
    from rag.serve import runner

    assert runner.url_of("::1", 8080) == "http://[::1]:8080"
    assert (
        runner.url_of("[::1]", 1) == "http://[::1]:1"
        and runner.url_of("127.0.0.1", 2) == "http://127.0.0.1:2"
    )
    socks = []
    real_listen = runner.listen
    monkeypatch.setattr(
        runner, "listen", lambda host, port: socks.append(real_listen(host, port)) or socks[-1]
    )

    class Broken:
        settings = Settings()

        def warm(self):
            raise ModelError("the GGUF file is missing")

    with pytest.raises(ModelError):
        runner.serve(Broken(), "127.0.0.1", 0)
    assert socks and socks[0].fileno() == -1
