"""Settings come from RAG_* variables in one place; bad values name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.settings import Settings


def test_defaults_and_environment():
    s = Settings.from_env({})
    assert s.index_dir == Path(".rag") and s.retrieval == "hybrid" and s.top_k == 5
    s = Settings.from_env(
        {
            "RAG_INDEX_DIR": "/tmp/x",
            "RAG_TOP_K": "9",
            "RAG_MAX_FILE_MB": "0.5",
            "RAG_PROGRESS": "off",
            "RAG_RETRIEVAL": "dense",
        }
    )
    assert (s.index_dir, s.top_k, s.max_file_bytes, s.progress, s.retrieval) == (
        Path("/tmp/x"),
        9,
        512 * 1024,
        False,
        "dense",
    )


def test_overrides_win_over_environment_and_none_is_ignored():
    s = Settings.from_env({"RAG_TOP_K": "9"}, top_k=3, index_dir=None)
    assert s.top_k == 3 and s.index_dir == Path(".rag")


def test_model_path_follows_models_dir():
    s = Settings.from_env({"RAG_MODELS_DIR": "/m"})
    assert s.embedding_path == Path("/m/embeddinggemma-300m")
    assert Settings.from_env({"RAG_EMBEDDING_MODEL": "/x/model"}).embedding_path == Path("/x/model")


@pytest.mark.parametrize(
    "env,name",
    [
        ({"RAG_TOP_K": "many"}, "RAG_TOP_K"),
        ({"RAG_TOP_K": "0"}, "RAG_TOP_K"),
        ({"RAG_RETRIEVAL": "magic"}, "RAG_RETRIEVAL"),
        ({"RAG_PROGRESS": "perhaps"}, "RAG_PROGRESS"),
        ({"RAG_CHUNK_OVERLAP_CHARS": "5000"}, "RAG_CHUNK_OVERLAP_CHARS"),
        ({"RAG_EMBEDDING_BACKEND": "gpu"}, "RAG_EMBEDDING_BACKEND"),
    ],
)
def test_bad_values_name_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_unknown_override_is_an_error():
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.from_env({}, colour="blue")
