"""Remote embeddings: an OpenAI-compatible /v1/embeddings server on loopback (a real HTTP server in a
thread, serving the real local model without prompts, as a GPU text-embeddings server would), used by
the assistant for ingest and search without loading any local model."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embed.remote import RemoteEmbedder
from rag.errors import ModelError

from .conftest import SEEDS, free_port, json_server
from .test_server_mode import HAMA_RU


@pytest.fixture(scope="module")
def embeddings_server(embedder):
    """POST /v1/embeddings {"model", "input": [...]} -> {"data": [{"index", "embedding"}]}; model "broken"
    answers HTTP 500. The model runs the raw encoder: the client adds the query/document prompts."""
    if not hasattr(embedder, "_encoder"):
        pytest.skip("the test server runs the ONNX encoder (default RAG_EMBEDDING_BACKEND)")
    calls = []

    def answer(path, body):
        calls.append(body)
        if path != "/v1/embeddings" or body.get("model") == "broken":
            return 500, {"error": "model failed"}
        vectors = embedder._encoder.encode(list(body["input"]), 1)  # the raw ONNX encoder, no prompts
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        return 200, {"object": "list", "data": data[::-1], "model": body["model"]}

    with json_server(answer) as url:
        yield f"{url}/v1", calls


def test_remote_vectors_match_the_local_model(embeddings_server, embedder):
    url, calls = embeddings_server
    remote = RemoteEmbedder(url, "embeddinggemma-300m", batch_size=2)
    texts = ["Bom meledak saat perayaan pernikahan.", "Лавров заявил это.", "A third text."]
    local = embedder.embed_documents(texts)
    got = remote.embed_documents(texts)  # two requests (batch 2), answers out of order: sorted by index
    assert got.shape == local.shape and np.allclose(np.sum(got * local, axis=1), 1.0, atol=1e-4)
    assert float(remote.embed_query(HAMA_RU) @ embedder.embed_query(HAMA_RU)) > 0.9999
    assert calls[-1]["input"][0].startswith("task: search result | query: ")
    similar = remote.embed_similar(texts[:1])
    assert calls[-1]["input"][0].startswith("task: sentence similarity | query: ")
    assert float(similar[0] @ embedder.embed_similar(texts[:1])[0]) > 0.9999


def test_assistant_ingests_and_searches_through_the_server(embeddings_server, tmp_path):
    from rag import Assistant

    url, _ = embeddings_server
    # a models folder with nothing in it: any attempt to load a local embedder would fail
    assistant = Assistant.open(
        tmp_path / "index",
        progress=False,
        embedding_url=url,
        models_dir=tmp_path / "no-models",
        generator="extractive",
    )
    assert len(assistant.ingest([SEEDS]).added) == 2
    assert any("12 orang" in h.text for h in assistant.search(HAMA_RU, k=3, mode="dense"))
    answer = assistant.ask(HAMA_RU)
    assert "12 orang" in answer.text and answer.citations


def test_server_errors_name_the_setting(embeddings_server, tmp_path):
    url, _ = embeddings_server
    with pytest.raises(ModelError, match="HTTP 500.*RAG_EMBEDDING_URL"):
        RemoteEmbedder(url, "broken").embed_query("x")
    with pytest.raises(ModelError, match="cannot reach.*RAG_EMBEDDING_URL"):
        RemoteEmbedder(f"http://127.0.0.1:{free_port()}/v1", "m").embed_query("x")
