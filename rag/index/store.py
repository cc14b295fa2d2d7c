"""Persist chunks, vectors and article texts in Chroma (index stage), through the shared client of
``rag.index.client``.

Two collections live in the index folder (embedded ``PersistentClient``) or on a Chroma server:
``<name>`` holds one record per chunk (vector, text, source, span, language, title, article id, content
hash, writer), in llama-index's ``ChromaVectorStore`` layout; ``<name>-articles`` holds one record per
article (its extracted text and a manifest). The manifest is written last, so an article whose manifest
is missing or stale is re-done by the next ingest: that is what makes an interrupted ingest recoverable.
On a Chroma server, ``<name>-writers`` holds the heartbeats of the writers at work, so that several
ingests (on several machines) can write at once without a lock: ``rag.index.writers`` has the protocol
and why it is safe. Writing sessions and the tidy of what no manifest needs are in ``rag.index.tidy``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rag.errors import ConfigError, NotFoundError, StoreError
from rag.index.client import _REINDEX_HINT, _Shared, _translated, chroma_dir
from rag.index.filters import Filters
from rag.index.locks import file_lock
from rag.index.records import (
    RECORD_FIELDS,
    ArticleRecord,
    chunk_records,
    document_meta,
    manifest,
    text_hash,
    to_chunk,
    to_document,
)
from rag.index.stories import Document
from rag.index.tidy import Tidying, batches, pages
from rag.index.writers import (
    Writer,
    WriterTiming,
)
from rag.ingest.chunking import Chunk
from rag.ingest.corpus import Article

log = logging.getLogger(__name__)

PAGE = 2000  # records per Chroma call
T = TypeVar("T")


NO_FILTERS = Filters()


class Store(Tidying):
    """Chunk vectors and article texts in one Chroma database.

    Every Store on one index folder in a process shares one client (``_Shared``). A vector search first
    compares the index revision with the one this process last saw: when another process wrote since,
    the client is reopened, because an embedded Chroma client never sees another process's vector writes
    (measured: 0 of 64 new vectors found, and deleted ones still returned until "Error finding id").
    """

    def __init__(
        self,
        index_dir: Path,
        collection: str = "rag_chunks",
        chroma_url: str = "",
        embedding_space: str = "",
        chroma_path: Path | None = None,
        timing: WriterTiming | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.name = collection
        self.embedding_space = embedding_space
        self.chroma_path: Path | None = None
        if chroma_url:
            self.where = chroma_url
        else:
            if self.index_dir.exists() and not self.index_dir.is_dir():
                raise ConfigError(f"index path {self.index_dir} is a file, not a folder (RAG_INDEX_DIR)")
            self.chroma_path = Path(chroma_path) if chroma_path else chroma_dir(self.index_dir)
            self.where = str(self.index_dir)
        self._url = chroma_url
        self._layout_fixed = chroma_path is not None  # else the layout is looked up again (reindex moves it)
        self._generation = -1
        self._timing = timing  # default: RAG_WRITER_HEARTBEAT_S and RAG_WRITER_EXPIRY_S, at the first write
        self._writer: Writer | None = None
        with self._current().creating(), self._use():  # collections are created once, under the store lock
            pass
        self._check_space()

    @property
    def _shared(self) -> _Shared:
        return self._current(check=False)

    def _current(self, check: bool = True) -> _Shared:
        """The shared client of the store's files (looked up again: a rebuild moves an old layout's files),
        with ``check`` reopened first when another process swapped in a rebuilt store."""
        if not self._url and not self._layout_fixed:
            self.chroma_path = chroma_dir(self.index_dir)
        return _Shared.get(self._url, self.chroma_path, self.index_dir, check=check)

    @contextlib.contextmanager
    def _use(self) -> Iterator[None]:
        """Read the shared client; (re)bind this store's collections when it was reopened."""
        shared = self._shared
        with shared.lock.reading():
            if self._generation != shared.generation:
                self._bind(shared)
            yield

    def _bind(self, shared: _Shared) -> None:
        client = shared.client
        with _translated(f"opening index collections in {self.where}{_REINDEX_HINT}"):
            self._chunks = client.get_or_create_collection(
                self.name,
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
                metadata={"embedding_space": self.embedding_space or "unknown"},
            )
            self._articles = client.get_or_create_collection(f"{self.name}-articles", embedding_function=None)
            self._revisions = client.get_or_create_collection(
                f"{self.name}-revision", embedding_function=None
            )
            self._documents = client.get_or_create_collection(
                f"{self.name}-documents", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )
            if self._url:  # heartbeats of the writers at work (server mode only: rag.index.writers)
                self._writers = client.get_or_create_collection(
                    f"{self.name}-writers", embedding_function=None
                )
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self._vectors = ChromaVectorStore(chroma_collection=self._chunks)
        self._generation = shared.generation

    def _check_space(self) -> None:
        stored = (self._chunks.metadata or {}).get("embedding_space", "unknown")
        if self.embedding_space and stored not in ("unknown", self.embedding_space) and self.count():
            raise StoreError(
                f"the index at {self.where} was built with embeddings {stored!r} but "
                f"{self.embedding_space!r} is configured: `rag reindex` re-embeds every article with "
                "the configured model, or set RAG_EMBEDDING_BACKEND to match"
            )

    # --- reading ---------------------------------------------------------------------------------

    def count(self) -> int:
        with self._use(), _translated("counting chunks"):
            return int(self._chunks.count())

    def articles(self) -> dict[str, ArticleRecord]:
        """Manifest of every completely ingested article, by source."""
        records: dict[str, ArticleRecord] = {}
        with self._use(), _translated("listing articles"):
            for got in pages(self._articles, ["metadatas"]):
                for meta in got["metadatas"]:
                    record = ArticleRecord(**{k: meta[k] for k in RECORD_FIELDS if meta.get(k) is not None})
                    records[record.source] = record
        return records

    def text_copies(self, texts: Sequence[str], other_than: Sequence[str] = ()) -> dict[str, int]:
        """How many stored chunks, of articles whose id is not in ``other_than``, have each of ``texts``
        (matched by the ``text_hash`` written with every chunk)."""
        by_hash = {text_hash(t): t for t in texts}
        counts = dict.fromkeys(by_hash.values(), 0)
        if not by_hash:
            return counts
        with self._use(), _translated("counting repeated passages"):
            got = self._chunks.get(where={"text_hash": {"$in": sorted(by_hash)}}, include=["metadatas"])
        skip = set(other_than)
        for meta in got["metadatas"]:
            if meta.get("article_id") not in skip and meta.get("text_hash") in by_hash:
                counts[by_hash[meta["text_hash"]]] += 1
        return counts

    def revision(self) -> str:
        """A stamp that changes with every write by any process sharing this index or server (so a
        worker knows when its in-memory lexical index is stale); empty before the first write."""
        self._current()
        with self._use(), _translated("reading the index revision"):
            stamp = self._stamp()
        self._shared.follow(stamp)
        return stamp

    def _stamp(self) -> str:
        got = self._revisions.get(ids=["revision"], include=["metadatas"])
        return str(got["metadatas"][0]["stamp"]) if got["ids"] else ""

    def _touch(self) -> None:
        """Stamp a new revision after a write (inside ``_use``)."""
        import uuid

        before, stamp = self._stamp(), uuid.uuid4().hex
        self._revisions.upsert(ids=["revision"], embeddings=[[1.0]], metadatas=[{"stamp": stamp}])
        self._shared.wrote(before, stamp)

    def article_text(self, source: str) -> str:
        from rag.ingest.corpus import article_id

        with self._use(), _translated(f"reading article {source}"):
            got = self._articles.get(ids=[article_id(source)], include=["documents"])
        if not got["ids"]:
            raise NotFoundError(f"no article {source!r} in the index")
        return str(got["documents"][0])

    def all_chunks(self) -> list[Chunk]:
        """Every chunk (for the lexical index), in a stable order."""
        chunks: list[Chunk] = []
        with self._use(), _translated("reading chunks"):
            for got in pages(self._chunks, ["documents", "metadatas"]):
                chunks.extend(
                    to_chunk(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])
                )
        return sorted(chunks, key=lambda c: (c.source, c.index))

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of the given chunk ids."""
        found: dict[str, np.ndarray] = {}
        with self._use(), _translated("reading vectors"):
            for batch in batches(ids):
                got = self._chunks.get(ids=batch, include=["embeddings"])
                found.update(
                    (i, np.asarray(v, dtype=np.float32)) for i, v in zip(got["ids"], got["embeddings"])
                )
        return found

    def nearest(self, vectors: np.ndarray, k: int) -> list[list[Document]]:
        """The ``k`` stored documents nearest to each of ``vectors`` (``rag.index.stories.Documents``)."""
        with self._use(), _translated("finding related articles"):
            total = int(self._documents.count())
            if not total or not len(vectors):
                return [[] for _ in vectors]
            got = self._documents.query(
                query_embeddings=np.asarray(vectors).tolist(),
                n_results=min(k, total),
                include=["embeddings", "metadatas"],
            )
        return [
            [to_document(i, v, m) for i, v, m in zip(ids, vecs, metas)]
            for ids, vecs, metas in zip(got["ids"], got["embeddings"], got["metadatas"])
        ]

    def document_vectors(self) -> dict[str, np.ndarray]:
        """Every stored document vector (the normalised mean of an article's chunks), by article id."""
        found: dict[str, np.ndarray] = {}
        with self._use(), _translated("reading document vectors"):
            for got in pages(self._documents, ["embeddings"]):
                found.update(
                    (i, np.asarray(v, dtype=np.float32)) for i, v in zip(got["ids"], got["embeddings"])
                )
        return found

    def members(self, stories: Collection[str]) -> dict[str, list[Document]]:
        """The stored documents of each story in ``stories``, with their chunk vectors."""
        return self._grouped("story", stories)

    def event_members(self, events: Collection[str]) -> dict[str, list[Document]]:
        """The stored documents of each event in ``events`` (``rag.index.events.EventDocuments``)."""
        return self._grouped("event", events)

    def _grouped(self, key: str, groups: Collection[str]) -> dict[str, list[Document]]:
        """The stored documents whose ``key`` (story or event) is in ``groups``, with their chunk vectors in
        chunk order. A document stored before events has its story as its event."""
        found: dict[str, list[Document]] = {}
        if not groups:
            return found
        wanted = sorted(groups)
        where: Any = {key: {"$in": wanted}}
        if key == "event":
            where = {"$or": [where, {"story": {"$in": wanted}}]}
        with self._use(), _translated(f"reading {key} groups"):
            got = self._documents.get(where=where, include=["embeddings", "metadatas"])
            chunks = self._chunks.get(
                where={"article_id": {"$in": list(got["ids"]) or [""]}}, include=["embeddings", "metadatas"]
            )
        by_article: dict[str, list[tuple[int, Any]]] = {}
        for vector, meta in zip(chunks["embeddings"], chunks["metadatas"]):
            by_article.setdefault(meta["article_id"], []).append((int(meta.get("index", 0)), vector))
        for i, v, m in zip(got["ids"], got["embeddings"], got["metadatas"]):
            rows = [vector for _, vector in sorted(by_article.get(i, []), key=lambda r: r[0])]
            doc = to_document(i, v, m, rows)
            group = doc.story if key == "story" else doc.event
            if group in groups:
                found.setdefault(group, []).append(doc)
        return found

    def query(self, vector: np.ndarray, k: int, filters: Filters = NO_FILTERS) -> list[tuple[Chunk, float]]:
        """The ``k`` nearest chunks to ``vector`` that ``filters`` keeps, with their cosine, best first."""
        from llama_index.core.vector_stores.types import VectorStoreQuery

        self.revision()  # reopens the client when another process wrote since
        k = min(k, self.count())
        if k <= 0:
            return []
        query = VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=k, filters=filters.where())
        with self._use(), _translated("vector search"):
            result = self._vectors.query(query)
        pairs = []
        for node, sim in zip(result.nodes or [], result.similarities or []):
            cosine = 1.0 + float(np.log(max(sim, 1e-12)))  # llama-index reports exp(-distance)
            pairs.append((to_chunk(node.node_id, node.get_content(), node.metadata), cosine))
        return pairs

    # --- writing ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Embedded store: one write at a time across the processes and threads sharing the folder
        (``<index>/write.lock``), each starting from the latest revision. Chroma's embedded files have one
        writer's view at a time: two processes writing at once could each persist a vector index that lacks
        the other's vectors. A server serialises writes itself (no lock there: ``rag.index.writers``)."""
        if self._url:
            yield
            return
        with file_lock(self.index_dir / "write.lock", f"writing to {self.index_dir}", level=logging.DEBUG):
            self.revision()  # reopens the client when another process wrote since
            yield

    def replace_article(
        self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray, chunking: str = ""
    ) -> None:
        self.replace_articles([(article, chunks, vectors)], chunking)

    def replace_articles(
        self,
        items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]],
        chunking: str = "",
        documents: Sequence[Document] = (),
    ) -> None:
        """Make each article's chunks its only chunks, then record the articles as complete, with their
        story groups (``documents``, from ``rag.index.stories.assign``; an article without one is a story
        of its own).

        One batch of Chroma calls for the whole group: manifests out, then a tidy of the articles' other
        chunks (only those of this writer or of writers gone: ``rag.index.writers``), new chunks upserted
        (their ids are deterministic), story documents, manifests in (last, so an interruption anywhere
        leaves articles that the next ingest redoes), and the new chunks read back.
        """
        if not items:
            return
        ids = [article.article_id for article, _, _ in items]
        writer = self.writer
        records = chunk_records(items, writer.id)
        new_ids = [chunk_id for chunk_id, _, _, _ in records]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        stories = {d.article_id: d.story for d in documents}
        events = {d.article_id: d.event for d in documents}
        sources = {a.article_id: a.source for a, _, _ in items}
        manifests = [
            manifest(
                a, len(chunks), now, chunking, stories.get(a.article_id, ""), events.get(a.article_id, "")
            )
            for a, chunks, _ in items
        ]
        with (
            self.writing(),
            writer.writing(ids),
            self._exclusive(),
            self._use(),
            _translated(f"writing {len(items)} article(s) ({items[0][0].source}...)"),
        ):
            self._articles.delete(ids=ids)
            self._tidy(ids, keep=frozenset(new_ids))
            self._upsert_chunks(records)
            if documents:
                self._documents.upsert(
                    ids=[d.article_id for d in documents],
                    embeddings=[d.vector.tolist() for d in documents],
                    metadatas=[
                        document_meta(d, sources[d.article_id]) | {"writer": writer.id} for d in documents
                    ],
                )
            chunkless = sorted(set(ids) - {d.article_id for d in documents})
            if chunkless:
                self._documents.delete(ids=chunkless)
            writer.check()
            self._articles.upsert(
                ids=ids,
                embeddings=[[1.0]] * len(ids),
                documents=[article.text for article, _, _ in items],
                metadatas=manifests,
            )
            self._read_back(records)
            self._touch()

    def _upsert_chunks(self, records: Sequence[tuple[str, list[float], dict[str, Any], str]]) -> None:
        for page in batches(records):
            self._chunks.upsert(
                ids=[r[0] for r in page],
                embeddings=[r[1] for r in page],
                metadatas=[r[2] for r in page],
                documents=[r[3] for r in page],
            )

    def _read_back(self, records: Sequence[tuple[str, list[float], dict[str, Any], str]]) -> None:
        """Upsert again any chunk of ``records`` that is not stored (a tidy of another writer took it in
        the instant between its listing and its delete: ``rag.index.writers``)."""
        found: set[str] = set()
        for page in batches(records):
            got = self._chunks.get(ids=[r[0] for r in page], include=[])
            found.update(got["ids"])
        missing = [r for r in records if r[0] not in found]
        if missing:
            log.warning("%d chunk(s) were removed while being written: writing them again", len(missing))
            self._upsert_chunks(missing)

    def remove_article(self, source: str) -> ArticleRecord:
        record = self.articles().get(source)
        if record is None:
            raise NotFoundError(f"no article {source!r} in the index (see `rag sources`)")
        # a writing session: its manifest out, then a tidy of the article (not a delete of all its chunks:
        # another machine may be ingesting the same file now, and a manifest it writes after ours went
        # keeps its chunks, the live writer's and every exact span of it; the story document goes only
        # when no manifest is there then: ``rag.index.writers``)
        with self.writing(), self._exclusive(), self._use(), _translated(f"removing {source}"):
            self._articles.delete(ids=[record.article_id])
            self._tidy([record.article_id], own=False)
            self._touch()
        return record


def _groups_of(article_id: str, stories: dict[str, str], events: dict[str, str]) -> tuple[str, str]:
    return stories.get(article_id, ""), events.get(article_id, "")
