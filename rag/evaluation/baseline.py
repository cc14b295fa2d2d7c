"""The peer baseline for ``rag bench answer``: a plain llama-index ``CitationQueryEngine`` over the same
articles, with the same embedding model and the same LLM (evaluation stage).

Plain means llama-index's defaults as its documentation shows them: an in-memory vector index of
256-token chunks, the top 4 chunks, its own citation prompt, no refusal gate and no verification. Its
answers are turned into ``Answer`` values (a ``[n]`` marker cites source node n, located in its article),
so the same scoring applies. llama-index's query engine is used here only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rag.answer import Answer, Citation, question_language

if TYPE_CHECKING:
    from llama_index.core.base.response.schema import Response

TOP_K = 4
CHUNK_TOKENS = 256
_SOURCE_PREFIX = re.compile(r"^Source \d+:\s*")


def citation_engine(assistant: Any, generator: Any) -> Callable[[str], Answer]:
    """A function answering a question with llama-index's CitationQueryEngine over ``assistant``'s
    articles."""
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.query_engine import CitationQueryEngine

    texts = {Path(r.source).name: assistant.article_text(r.source) for r in assistant.sources()}
    documents = [Document(text=text, metadata={"file_name": name}) for name, text in texts.items()]
    embed_model = as_llama_index(assistant.embedder)
    index = VectorStoreIndex.from_documents(
        documents,
        embed_model=embed_model,
        transformations=[SentenceSplitter(chunk_size=CHUNK_TOKENS, chunk_overlap=20)],
    )
    engine = CitationQueryEngine.from_args(
        index, llm=_llm(generator), similarity_top_k=TOP_K, citation_chunk_size=CHUNK_TOKENS
    )

    def ask(question: str) -> Answer:
        started = time.perf_counter()
        # not streaming (from_args default), so query() returns a plain Response
        response = cast("Response", engine.query(question))
        text = str(response.response or "").strip()
        citations = []
        for n in dict.fromkeys(int(m) for m in re.findall(r"\[(\d+)\]", text)):
            if 1 <= n <= len(response.source_nodes):
                node = response.source_nodes[n - 1].node
                citation = _locate(n, node.metadata.get("file_name", ""), node.get_content(), texts)
                if citation is not None:
                    citations.append(citation)
        return Answer(
            text=text,
            citations=tuple(citations),
            refused=not text,
            language=question_language(question),
            question=question,
            generator="llama-index CitationQueryEngine",
            timings={"total": round(time.perf_counter() - started, 4)},
        )

    return ask


def _locate(marker: int, name: str, chunk: str, texts: dict[str, str]) -> Citation | None:
    """The cited chunk as a span of its article (llama-index prefixes it with "Source n:")."""
    body = _SOURCE_PREFIX.sub("", chunk).strip()
    article = texts.get(name, "")
    start = article.find(body) if body else -1
    if start < 0:
        return None
    return Citation(marker, name, start, start + len(body), body, name, "")


def _llm(generator: Any) -> Any:
    """Our generator as a llama-index LLM (completion prompts sent as one user message)."""
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.core.llms.callbacks import llm_completion_callback
    from pydantic import Field

    class GeneratorLLM(CustomLLM):
        generator: Any = Field(default=None, exclude=True)
        max_tokens: int = 160

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(
                context_window=2048, num_output=self.max_tokens, model_name=self.generator.name
            )

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            text = "".join(self.generator.stream([{"role": "user", "content": prompt}], self.max_tokens))
            return CompletionResponse(text=text)

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            yield self.complete(prompt, formatted)

    return GeneratorLLM(generator=generator)


def as_llama_index(embedder: Any) -> Any:
    """A llama-index ``BaseEmbedding`` that delegates to ``embedder`` (so llama-index never picks its own)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class _Wrapped(BaseEmbedding):
        _inner: Any = PrivateAttr()

        def __init__(self, inner: Any) -> None:
            super().__init__(model_name=inner.name, embed_batch_size=64)
            self._inner = inner

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._inner.embed_query(query).tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._inner.embed_documents([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._inner.embed_documents(texts).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        async def _aget_text_embedding(self, text: str) -> list[float]:
            return self._get_text_embedding(text)

    return _Wrapped(embedder)
