"""An OpenAI-compatible embeddings server as the embedder (``RAG_EMBEDDING_URL``); httpx is used here only
in the embedding stage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.errors import ConfigError, ModelError

GEMMA_PROMPTS = (
    "task: search result | query: ",
    "title: none | text: ",
    "task: sentence similarity | query: ",
)


class RemoteEmbedder:
    """An OpenAI-compatible ``POST {base_url}/embeddings`` endpoint (a GPU box running a text-embeddings
    server with the same model). The model's query and document prompts are prepended here, as the local
    backends do, so a server with EmbeddingGemma produces the local model's vector space."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 60.0,
        prompts: tuple[str, ...] = GEMMA_PROMPTS,
        batch_size: int = 32,
        workers: int = 2,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"RAG_EMBEDDING_URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"remote:{model}@{self.base_url}"
        self.query_prompt, self.document_prompt = prompts[:2]
        # prompts: (query, document[, similarity])
        self.similarity_prompt = prompts[2] if len(prompts) > 2 else self.document_prompt
        self.batch_size = max(1, batch_size)
        self.workers = max(1, workers)  # requests in flight at once
        self._api_key = api_key
        self._timeout = timeout

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, self.document_prompt)

    def embed_similar(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, self.similarity_prompt)

    def _embed(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        batches = [
            [prompt + t for t in texts[i : i + self.batch_size]]
            for i in range(0, len(texts), self.batch_size)
        ]
        if self.workers > 1 and len(batches) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(self.workers, len(batches)), thread_name_prefix="embed-post") as pool:
                rows = list(pool.map(self._post, batches))
        else:
            rows = [self._post(batch) for batch in batches]
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._post([self.query_prompt + text])[0]

    def _post(self, inputs: list[str]) -> np.ndarray:
        import httpx

        url = f"{self.base_url}/embeddings"
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            response = httpx.post(
                url, json={"model": self.model, "input": inputs}, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException:
            raise ModelError(
                f"the embeddings server at {url} did not answer within {self._timeout:g}s (RAG_EMBEDDING_URL)"
            ) from None
        except httpx.HTTPError as exc:
            raise ModelError(
                f"cannot reach the embeddings server at {url}: {exc} (RAG_EMBEDDING_URL)"
            ) from None
        if response.status_code >= 400:
            raise ModelError(
                f"the embeddings server at {url} answered HTTP {response.status_code}: "
                f"{response.text[:300]} (RAG_EMBEDDING_URL, RAG_EMBEDDING_NAME, RAG_EMBEDDING_API_KEY)"
            )
        try:
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            vectors = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"the embeddings server at {url} sent no OpenAI-style 'data' list: {exc!r} "
                "(RAG_EMBEDDING_URL)"
            ) from None
        if vectors.ndim != 2 or len(vectors) != len(inputs):
            raise ModelError(
                f"the embeddings server at {url} returned {len(vectors)} vectors for "
                f"{len(inputs)} texts (RAG_EMBEDDING_URL)"
            )
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
