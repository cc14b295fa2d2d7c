"""Persist chunks, vectors and article texts in Chroma (index stage); the only module that imports chromadb.

Two collections live in the index folder (embedded ``PersistentClient``) or on a Chroma server:
``<name>`` holds one record per chunk (vector, text, source, span, language, title, article id, content
hash), written through llama-index's ``ChromaVectorStore``; ``<name>-articles`` holds one record per
article (its extracted text and a manifest). The manifest is written last, so an article whose manifest
is missing or stale is re-done by the next ingest: that is what makes an interrupted ingest recoverable.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from rag.chunking import Chunk
from rag.corpus import Article, sha256_text
from rag.errors import ConfigError, RagError, StoreError

log = logging.getLogger(__name__)

PAGE = 2000  # records per Chroma call


@dataclass(frozen=True)
class ArticleRecord:
    """What the index knows about one ingested article."""

    source: str
    article_id: str
    title: str
    language: str
    content_hash: str
    chunk_count: int
    ingested_at: str  # ISO 8601, UTC
    chunking: str = ""  # chunker parameters the chunks were made with


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Turn any chromadb failure into a StoreError that says what was being done."""
    try:
        yield
    except RagError:
        raise
    except Exception as exc:
        raise StoreError(f"{what} failed: {type(exc).__name__}: {exc}") from exc


class Store:
    """Chunk vectors and article texts in one Chroma database."""

    def __init__(self, index_dir: Path, collection: str = "rag_chunks", chroma_url: str = "",
                 embedding_space: str = "") -> None:
        self.index_dir = Path(index_dir)
        self.name = collection
        self.embedding_space = embedding_space
        self._client = self._connect(chroma_url)
        with _translated(f"opening index collections in {self.where}"):
            self._chunks = self._client.get_or_create_collection(
                collection, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None,
                metadata={"embedding_space": embedding_space or "unknown"})
            self._articles = self._client.get_or_create_collection(
                f"{collection}-articles", embedding_function=None)
            self._revisions = self._client.get_or_create_collection(
                f"{collection}-revision", embedding_function=None)
        self._check_space()
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self._vectors = ChromaVectorStore(chroma_collection=self._chunks)

    def _connect(self, chroma_url: str) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False)
        if chroma_url:
            self.where = chroma_url
            from urllib.parse import urlparse

            url = urlparse(chroma_url)
            with _translated(f"connecting to the Chroma server {chroma_url} (RAG_CHROMA_URL)"):
                return chromadb.HttpClient(host=url.hostname or "localhost", port=url.port or 8000,
                                           ssl=url.scheme == "https", settings=settings)
        self.where = str(self.index_dir)
        if self.index_dir.exists() and not self.index_dir.is_dir():
            raise ConfigError(f"index path {self.index_dir} is a file, not a folder (RAG_INDEX_DIR)")
        with _translated(f"opening the index at {self.index_dir} (remove it or set RAG_INDEX_DIR)"):
            self.index_dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.index_dir), settings=settings)

    def _check_space(self) -> None:
        stored = (self._chunks.metadata or {}).get("embedding_space", "unknown")
        if self.embedding_space and stored not in ("unknown", self.embedding_space) and self.count():
            raise StoreError(f"the index at {self.where} was built with embeddings {stored!r} but "
                             f"{self.embedding_space!r} is configured: re-ingest into a new index "
                             "(RAG_INDEX_DIR) or set RAG_EMBEDDING_BACKEND to match")

    # --- reading ---------------------------------------------------------------------------------

    def count(self) -> int:
        with _translated("counting chunks"):
            return int(self._chunks.count())

    def articles(self) -> dict[str, ArticleRecord]:
        """Manifest of every completely ingested article, by source."""
        records: dict[str, ArticleRecord] = {}
        with _translated("listing articles"):
            for offset in range(0, int(self._articles.count()), PAGE):
                got = self._articles.get(include=["metadatas"], limit=PAGE, offset=offset)
                for meta in got["metadatas"]:
                    record = ArticleRecord(**{k: meta[k] for k in ArticleRecord.__dataclass_fields__ if k in meta})
                    records[record.source] = record
        return records

    def text_copies(self, texts: Sequence[str], other_than: Sequence[str] = ()) -> dict[str, int]:
        """How many stored chunks, of articles whose id is not in ``other_than``, have each of ``texts``
        (matched by the ``text_hash`` written with every chunk)."""
        by_hash = {text_hash(t): t for t in texts}
        counts = dict.fromkeys(by_hash.values(), 0)
        if not by_hash:
            return counts
        with _translated("counting repeated passages"):
            got = self._chunks.get(where={"text_hash": {"$in": sorted(by_hash)}}, include=["metadatas"])
        skip = set(other_than)
        for meta in got["metadatas"]:
            if meta.get("article_id") not in skip and meta.get("text_hash") in by_hash:
                counts[by_hash[meta["text_hash"]]] += 1
        return counts

    def revision(self) -> str:
        """A stamp that changes with every write by any process sharing this index or server (so a
        worker knows when its in-memory lexical index is stale); empty before the first write."""
        with _translated("reading the index revision"):
            got = self._revisions.get(ids=["revision"], include=["metadatas"])
        return str(got["metadatas"][0]["stamp"]) if got["ids"] else ""

    def _touch(self) -> None:
        import uuid

        self._revisions.upsert(ids=["revision"], embeddings=[[1.0]], metadatas=[{"stamp": uuid.uuid4().hex}])

    def article_text(self, source: str) -> str:
        from rag.corpus import article_id

        with _translated(f"reading article {source}"):
            got = self._articles.get(ids=[article_id(source)], include=["documents"])
        if not got["ids"]:
            raise StoreError(f"no article {source!r} in the index")
        return str(got["documents"][0])

    def all_chunks(self) -> list[Chunk]:
        """Every chunk (for the lexical index), in a stable order."""
        chunks: list[Chunk] = []
        with _translated("reading chunks"):
            for offset in range(0, self.count(), PAGE):
                got = self._chunks.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
                chunks.extend(_to_chunk(i, d, m) for i, d, m in zip(got["ids"], got["documents"],
                                                                     got["metadatas"]))
        return sorted(chunks, key=lambda c: (c.source, c.index))

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of the given chunk ids."""
        found: dict[str, np.ndarray] = {}
        with _translated("reading vectors"):
            for offset in range(0, len(ids), PAGE):
                got = self._chunks.get(ids=list(ids[offset:offset + PAGE]), include=["embeddings"])
                found.update((i, np.asarray(v, dtype=np.float32)) for i, v in zip(got["ids"], got["embeddings"]))
        return found

    def query(self, vector: np.ndarray, k: int, languages: Sequence[str] = (),
              sources: Sequence[str] = ()) -> list[tuple[Chunk, float]]:
        """The ``k`` nearest chunks to ``vector`` with their cosine similarity, best first."""
        from llama_index.core.vector_stores.types import VectorStoreQuery

        k = min(k, self.count())
        if k <= 0:
            return []
        query = VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=k,
                                 filters=_filters(languages, sources))
        with _translated("vector search"):
            result = self._vectors.query(query)
        pairs = []
        for node, sim in zip(result.nodes or [], result.similarities or []):
            cosine = 1.0 + float(np.log(max(sim, 1e-12)))  # llama-index reports exp(-distance)
            pairs.append((_to_chunk(node.node_id, node.get_content(), node.metadata), cosine))
        return pairs

    # --- writing ---------------------------------------------------------------------------------

    def replace_article(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray,
                        chunking: str = "") -> None:
        self.replace_articles([(article, chunks, vectors)], chunking)

    def replace_articles(self, items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]],
                         chunking: str = "") -> None:
        """Make each article's chunks its only chunks, then record the articles as complete.

        One batch of Chroma calls for the whole group: manifests out, old chunks out, new chunks in,
        manifests in (last, so an interruption anywhere leaves articles that the next ingest redoes).
        """
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

        if not items:
            return
        ids = [article.article_id for article, _, _ in items]
        nodes = [TextNode(id_=c.id, text=c.text, embedding=v.tolist(), metadata=_chunk_meta(c, article),
                          start_char_idx=c.start, end_char_idx=c.end,
                          relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=article.article_id)})
                 for article, chunks, vectors in items for c, v in zip(chunks, vectors)]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        manifests = [ArticleRecord(a.source, a.article_id, a.title, a.language, a.content_hash, len(chunks),
                                   now, chunking).__dict__ for a, chunks, _ in items]
        with _translated(f"writing {len(items)} article(s) ({items[0][0].source}...)"):
            self._articles.delete(ids=ids)
            self._chunks.delete(where={"document_id": {"$in": ids}})
            if nodes:
                self._vectors.add(nodes)
            self._articles.upsert(ids=ids, embeddings=[[1.0]] * len(ids),
                                  documents=[article.text for article, _, _ in items], metadatas=manifests)
            self._touch()

    def remove_article(self, source: str) -> ArticleRecord:
        record = self.articles().get(source)
        if record is None:
            raise StoreError(f"no article {source!r} in the index (see `rag sources`)")
        with _translated(f"removing {source}"):
            self._articles.delete(ids=[record.article_id])
            self._chunks.delete(where={"document_id": record.article_id})
            self._touch()
        return record

    def remove_orphans(self) -> int:
        """Delete chunks whose article has no manifest (left by an interrupted ingest)."""
        complete = {r.article_id for r in self.articles().values()}
        orphans: set[str] = set()
        with _translated("checking for interrupted ingests"):
            for offset in range(0, self.count(), PAGE):
                got = self._chunks.get(include=["metadatas"], limit=PAGE, offset=offset)
                orphans.update(m["article_id"] for m in got["metadatas"] if m["article_id"] not in complete)
            if orphans:
                self._chunks.delete(where={"document_id": {"$in": sorted(orphans)}})
                self._touch()
        return len(orphans)


def text_hash(text: str) -> str:
    return sha256_text(text)[:20]


def _chunk_meta(chunk: Chunk, article: Article) -> dict[str, Any]:
    return {"source": chunk.source, "article_id": chunk.article_id, "index": chunk.index,
            "start": chunk.start, "end": chunk.end, "language": chunk.language, "title": chunk.title,
            "content_hash": article.content_hash, "text_hash": text_hash(chunk.text)}


def _to_chunk(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(chunk_id, meta["source"], meta["article_id"], int(meta["index"]), int(meta["start"]),
                 int(meta["end"]), text, meta.get("language", "und"), meta.get("title", ""))


def _filters(languages: Sequence[str], sources: Sequence[str]) -> Any:
    from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

    filters = [MetadataFilter(key=key, value=list(values), operator=FilterOperator.IN)
               for key, values in (("language", languages), ("source", sources)) if values]
    return MetadataFilters(filters=filters) if filters else None
