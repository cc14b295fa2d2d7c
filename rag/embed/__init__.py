"""Turn text into vectors (embedding stage). The rest of the package depends on the ``Embedder`` protocol and
``make_embedder`` / ``embedder_from`` only; the backends live in their own modules:

- ``onnx-int8`` (default, ``rag.embed.onnx``): the whole sentence-transformers pipeline exported to ONNX at
  set-up time, int8 on every weight MatMul except the MLP ``down_proj`` and the Dense heads.
- ``onnx``: the same graph in fp32 (identical vectors to torch).
- ``torch`` / ``torch-int8`` (``rag.embed.sentence_transformer``): sentence-transformers fp32, or dynamic int8
  on every Linear (lossy).
- a remote OpenAI-compatible embeddings server (``rag.embed.remote``, ``RAG_EMBEDDING_URL``).

Models load from the local models folder only (never a hub), with the model's own query and document prompts.
"""

from rag.embed.base import Embedder, TokenStates, embed_similar, embedding_space, has_states, space_from
from rag.embed.factory import embedder_from, make_embedder

__all__ = [
    "Embedder",
    "TokenStates",
    "embed_similar",
    "embedder_from",
    "embedding_space",
    "has_states",
    "make_embedder",
    "space_from",
]
