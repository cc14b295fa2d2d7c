"""`rag serve`: the HTTP API. Unit tests of the OpenAI builders, the generation line and the key (with a fake
assistant in process), then a real uvicorn server over a real index of the seeds: the real `openai` client
(with the real local LLM, two answers), plain httpx for the other routes, the key, the bind refusal, and a
schemathesis fuzz of the OpenAPI schema with a fast stand-in LLM."""

from __future__ import annotations

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

from rag.answer.values import Answer, Citation
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
    assert refusal["refused"] is True and refusal["citations"] == []
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
    first = limiter.acquire()
    got = []
    waiter = threading.Thread(target=lambda: got.append(limiter.acquire()))
    waiter.start()
    while limiter.waiting == 0:
        time.sleep(0.01)
    with pytest.raises(Busy) as full:
        limiter.acquire()
    assert full.value.status == 429 and full.value.retry_after >= 1 and "RAG_SERVE_QUEUE" in str(full.value)
    first.release()
    first.release()  # idempotent
    waiter.join(5)
    assert len(got) == 1 and limiter.active == 1 and limiter.waiting == 0
    got[0].release()
    assert changes[-1] == (0, 0) and (1, 1) in changes
    limiter.close()
    with pytest.raises(Busy) as closed:
        limiter.acquire()
    assert closed.value.status == 503


def test_a_dropped_slot_is_given_back():
    limiter = Limiter(1, 0)
    limiter.acquire()  # never released by hand: dropped at once
    limiter.acquire().release()
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
    return TestClient(create_app(assistant), raise_server_exceptions=False), assistant


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
    held = client.app.state.limiter.acquire()
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
        examples = 12 if operation.path in ("/v1/chat/completions", "/v1/ask", "/v1/sources") else 25

        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            database=None,
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
