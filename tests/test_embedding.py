"""The real multilingual embedder: normalised vectors, the model's prompts, cross-lingual similarity, and
the llama-index wrapper working against our Chroma store."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import ConfigError
from rag.evaluation.baseline import as_llama_index


def test_vectors_are_normalised_and_batch_independent(embedder):
    texts = [
        "Maria Zakharova commented on the decision.",
        "Мария Захарова прокомментировала решение.",
        "Bom meledak saat perayaan pernikahan.",
    ]
    batch = embedder.embed_documents(texts)
    assert batch.shape == (3, embedder.dimension) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-4)
    single = embedder.embed_documents(texts[2:])
    assert float(single[0] @ batch[2]) > 0.999
    assert embedder.embed_documents([]).shape == (0, embedder.dimension)


def test_query_prompt_differs_from_document_prompt_and_crosses_languages(embedder):
    query = embedder.embed_query("How many people died at the wedding?")
    as_document = embedder.embed_documents(["How many people died at the wedding?"])[0]
    assert float(query @ as_document) < 0.99, "query and document prompts must differ"
    docs = embedder.embed_documents(
        ["Bom meledak saat perayaan pernikahan, menewaskan 22 orang.", "Lavrov gave an interview to the BBC."]
    )
    related, unrelated = docs @ query
    assert related > unrelated + 0.1


def test_similarity_vectors_tell_a_translation_from_an_association(embedder):
    from rag.embed import embed_similar

    white, putih, putin, russia = embed_similar(embedder, ["White", "Putih", "Putin", "Russia"])
    assert float(white @ putih) > float(putin @ russia) + 0.08
    assert np.allclose(np.linalg.norm(np.stack([white, putin]), axis=1), 1.0, atol=1e-4)


def test_embedders_without_similarity_vectors_give_document_vectors():
    from rag.embed import embed_similar

    class DocumentsOnly:
        name = "documents-only"

        def embed_documents(self, texts):
            return np.ones((len(texts), 2), dtype=np.float32)

        def embed_query(self, text):
            raise AssertionError("not a query")

    assert embed_similar(DocumentsOnly(), ["a", "b"]).shape == (2, 2)


def test_llama_index_wrapper_retrieves_from_our_store(seed_assistant, embedder):
    from llama_index.core import VectorStoreIndex

    index = VectorStoreIndex.from_vector_store(
        seed_assistant.store._vectors, embed_model=as_llama_index(embedder)
    )
    question = "Berapa orang tewas dalam ledakan bom di pesta pernikahan?"
    nodes = index.as_retriever(similarity_top_k=1).retrieve(question)
    ours = seed_assistant.search(question, k=1, mode="dense")
    assert nodes[0].node.node_id == ours[0].chunk_id
    assert nodes[0].node.metadata["start"] == ours[0].start


def test_backends_share_one_vector_space(embedder):
    """Documents indexed with one backend are searchable with another (same space name, same vectors)."""
    from rag.embed import embedding_space
    from rag.embed.sentence_transformer import SentenceTransformerEmbedder
    from rag.settings import Settings

    path = Settings.from_env().embedding_path
    reference = SentenceTransformerEmbedder(path, "torch")
    texts = [
        "TASS mengutip pernyataan juru bicara Kementerian Luar Negeri Maria Zakharova.",
        "“I saw these statements. This made me shake my head,” said Mark Toner.",
        "Официальный представитель МИД России Мария Захарова заявила о сожалении.",
    ]
    cosines = np.sum(reference.embed_documents(texts) * embedder.embed_documents(texts), axis=1)
    assert cosines.min() > 0.98, cosines
    query = "Who did TASS quote?"
    assert float(reference.embed_query(query) @ embedder.embed_query(query)) > 0.98
    assert (
        embedding_space(path, "torch") == embedding_space(path, "onnx-int8") == embedding_space(path, "onnx")
    )
    assert embedding_space(path, "torch-int8") != embedding_space(path, "torch")


def test_missing_model_folder_names_the_setting(tmp_path):
    from rag.embed import make_embedder

    for backend in ("torch", "onnx-int8"):
        with pytest.raises(ConfigError, match="RAG_EMBEDDING_MODEL"):
            make_embedder(tmp_path / "nothing-here", backend)


def test_parallel_encoding_gives_the_sequential_vectors_in_order(embedder):
    encoder = getattr(embedder, "_encoder", None)
    if encoder is None:
        pytest.skip("the configured backend is not ONNX")
    texts = [
        "Maria Zakharova spoke on Thursday.",
        "Лавров",
        "Juru bicara Kementerian Luar Negeri Rusia " * 5,
        "The talks in Geneva.",
        "Сирия и США",
        "Kerry",
    ]
    sequential = encoder.encode(texts, 1, 1)
    parallel = encoder.encode(texts, 1, 2)
    assert np.allclose(sequential, parallel, atol=1e-6)
    assert np.allclose(parallel[1], encoder.encode(["Лавров"], 1, 1)[0], atol=1e-6)


def test_a_missing_or_stale_onnx_export_names_the_set_up_command(tmp_path):
    import json

    from rag.embed.base import export_stamp, onnx_dir
    from rag.embed.onnx import OnnxEmbedder
    from rag.errors import ModelError

    model = tmp_path / "model"
    model.mkdir()
    (model / "modules.json").write_text("[]")
    (model / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(ModelError, match=r"no ONNX export .*python -m rag\.setup"):
        OnnxEmbedder(model, "onnx-int8")
    exports = onnx_dir(model)
    exports.mkdir()
    (exports / "int8-nodown.onnx").write_bytes(b"not really onnx")
    (exports / "int8-nodown.json").write_text(json.dumps({**export_stamp(model), "size": 1}))
    with pytest.raises(ModelError, match=r"other weights .*python -m rag\.setup"):
        OnnxEmbedder(model, "onnx-int8")
    # nothing was exported at run time
    assert sorted(p.name for p in exports.iterdir()) == ["int8-nodown.json", "int8-nodown.onnx"]
