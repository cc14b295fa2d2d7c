"""Shared fixtures: the real embedding model and a real Chroma index of the seed articles."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedder():
    """The real multilingual model with the configured (default) backend, loaded once for the run."""
    from dataclasses import replace

    from rag.embed import embedder_from
    from rag.settings import Settings

    return embedder_from(replace(Settings.from_env(), embedding_url=""))  # local even beside a server


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder):
    """A Chroma index with the two seed articles, ingested once."""
    from rag import Assistant

    index = tmp_path_factory.mktemp("seed-index")
    assistant = Assistant.open(index, embedder=embedder, progress=False)
    report = assistant.ingest([SEEDS])
    assert len(report.added) == 2, report.summary()
    return index


@pytest.fixture()
def seed_assistant(seed_index, embedder):
    from rag import Assistant

    return Assistant.open(seed_index, embedder=embedder, progress=False)


@pytest.fixture()
def make_assistant(tmp_path, embedder):
    """A fresh, empty index sharing the loaded model."""
    from rag import Assistant

    def make(**overrides):
        return Assistant.open(tmp_path / "index", embedder=embedder, progress=False, **overrides)

    return make


@pytest.fixture(scope="session")
def llm():
    """The real local LLM (llama.cpp, Qwen2.5-Coder-1.5B GGUF), loaded once for the run."""
    from rag.answer import Answerer
    from rag.generate import make_generator
    from rag.settings import Settings

    generator = make_generator(
        Settings.from_env(), "local", [Answerer.system_message(Settings.from_env().prompts_dir)]
    )
    generator.load()
    return generator


@pytest.fixture(scope="session")
def answering(seed_index, embedder, llm):
    """An assistant over the seed index that answers with the local LLM."""
    from rag import Assistant

    return Assistant.open(seed_index, embedder=embedder, llm=llm, progress=False, generator="local")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def json_server(answer: Callable[[str, dict[str, Any]], tuple[int, Any]]) -> Iterator[str]:
    """A threaded HTTP server on a free loopback port for stand-in model servers: each POST's JSON body
    goes to ``answer(path, body)``, whose (status, payload) is sent back as JSON. Yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, reply = answer(self.path, body)
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """`chroma run` from the chromadb package, on a free loopback port, with its own data folder."""
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = open(folder / "server.log", "wb")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("chroma")),
            "run",
            "--path",
            str(folder / "data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"chroma run did not start: {(folder / 'server.log').read_text()[-2000:]}"
                ) from None
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


# Fixtures that bring up a real component: tests using them are integration tests
# (`make test-fast` skips them).
REAL_COMPONENTS = {
    "embedder",
    "seed_index",
    "seed_assistant",
    "make_assistant",
    "llm",
    "answering",
    "big_store",
    "chroma_server",
}
# files whose tests start processes, servers or a browser of their own
INTEGRATION_FILES = {
    "test_cli.py",
    "test_concurrency.py",
    "test_chat_page.py",
    "test_server_mode.py",
    "test_load.py",
    "test_bench.py",
    "test_xquad.py",
    "test_xquad_qa.py",
    "test_ingest.py",
    "test_wheel.py",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if REAL_COMPONENTS & set(item.fixturenames) or item.path.name in INTEGRATION_FILES:
            item.add_marker(pytest.mark.integration)
