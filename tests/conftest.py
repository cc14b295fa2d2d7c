"""Shared fixtures: the real embedding model and a real Chroma index of the seed articles."""

from __future__ import annotations

import os
from pathlib import Path

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
