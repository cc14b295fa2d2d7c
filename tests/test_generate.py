"""Generators: the OpenAI-compatible client against llama.cpp's real server on loopback, and errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rag.errors import ConfigError, ModelError
from rag.generate.server import OpenAIGenerator, _sse_text
from rag.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sse_parsing_reads_deltas_until_done():
    lines = [
        'data: {"choices":[{"delta":{"role":"assistant"}}]}',
        "",
        'data: {"choices":[{"delta":{"content":"Hel"}}]}',
        ": keep-alive",
        'data: {"choices":[{"delta":{"content":"lo"}}]}',
        "data: [DONE]",
        'data: {"choices":[{"delta":{"content":"never"}}]}',
    ]
    assert "".join(_sse_text(iter(lines))) == "Hello"
    with pytest.raises(ModelError, match="reported an error"):
        list(_sse_text(iter(['data: {"error": {"message": "model not found"}}'])))


def test_missing_or_bad_url_is_a_config_error():
    with pytest.raises(ConfigError, match="RAG_LLM_URL"):
        OpenAIGenerator("")
    with pytest.raises(ConfigError, match="http"):
        OpenAIGenerator("localhost:11434")


def test_unreachable_server_names_the_setting():
    generator = OpenAIGenerator(f"http://127.0.0.1:{free_port()}/v1", timeout=5)
    with pytest.raises(ModelError, match="cannot reach the LLM server.*RAG_LLM_URL"):
        "".join(generator.stream([{"role": "user", "content": "hi"}], 5))


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) serving the same GGUF."""
    model = Settings.from_env().llm_path
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--model_alias",
                "qwen",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp server did not start: {Path(log).read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_openai_generator_answers_through_a_real_server(llama_server, seed_index, embedder):
    from rag import Assistant
    from rag.evaluation.metrics import score_answer

    from .test_ask import QUESTIONS, assert_exact, texts_of

    assistant = Assistant.open(
        seed_index, embedder=embedder, generator="openai", llm_url=llama_server, llm_name="qwen"
    )
    question = QUESTIONS["hama-en"]
    items = list(assistant.ask_stream(question.question))
    answer = items[-1]
    assert len(items) > 2, "the server's reply should arrive in several streamed pieces"
    assert answer.generator.startswith("openai:qwen@")
    assert score_answer(question, answer, texts_of(assistant)).correct, answer.text
    assert_exact(answer, texts_of(assistant))
    refused = assistant.ask(QUESTIONS["no-election-en"].question)
    assert refused.refused and not refused.citations


def test_server_error_status_is_reported(llama_server):
    generator = OpenAIGenerator(llama_server.replace("/v1", "/nowhere"))
    with pytest.raises(ModelError, match="HTTP 404"):
        "".join(generator.stream([{"role": "user", "content": "hi"}], 5))
