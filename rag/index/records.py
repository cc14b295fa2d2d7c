"""The shapes of what the store keeps in Chroma (index stage): an article's manifest record, a chunk's
metadata, a document's record for story grouping. Chroma keeps no None, so unknown values are left out
and come back as the defaults."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rag.index.filters import day_number
from rag.index.stories import Document
from rag.ingest.chunking import Chunk
from rag.ingest.corpus import Article, sha256_text


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
    published: str | None = None  # ISO date of publication, None when not found
    published_from: str = ""  # where it was found (``rag.ingest.metadata``)
    outlet: str | None = None
    outlet_from: str = ""
    story: str = ""  # the story group (``rag.index.stories``): copies and translations of one story
    author: str | None = None  # the byline of a web page
    event: str = ""  # the event it reports (``rag.index.events``): holds its story; "" before events


RECORD_FIELDS = tuple(ArticleRecord.__dataclass_fields__)


def text_hash(text: str) -> str:
    return sha256_text(text)[:20]


def manifest(
    article: Article, chunks: int, now: str, chunking: str, story: str, event: str = ""
) -> dict[str, Any]:
    record = ArticleRecord(
        article.source,
        article.article_id,
        article.title,
        article.language,
        article.content_hash,
        chunks,
        now,
        chunking,
        article.published,
        article.published_from,
        article.outlet,
        article.outlet_from,
        story or article.article_id,
        article.author,
        event or story or article.article_id,
    )
    return {k: v for k, v in asdict(record).items() if v is not None}  # Chroma keeps no None


def chunk_meta(chunk: Chunk, article: Article) -> dict[str, Any]:
    dated = {"published": article.published, "published_day": day_number(article.published, "published")}
    outlet = {"outlet": article.outlet, "outlet_key": article.outlet.casefold()} if article.outlet else {}
    return (
        (dated if article.published else {})
        | outlet
        | {
            "source": chunk.source,
            "article_id": chunk.article_id,
            "index": chunk.index,
            "start": chunk.start,
            "end": chunk.end,
            "language": chunk.language,
            "title": chunk.title,
            "content_hash": article.content_hash,
            "text_hash": text_hash(chunk.text),
        }
    )


def to_chunk(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(
        chunk_id,
        meta["source"],
        meta["article_id"],
        int(meta["index"]),
        int(meta["start"]),
        int(meta["end"]),
        text,
        meta.get("language", "und"),
        meta.get("title", ""),
        meta.get("published"),
        meta.get("outlet"),
    )


def document_meta(doc: Document, source: str) -> dict[str, Any]:
    return {
        "source": source,
        "story": doc.story,
        "event": doc.event or doc.article_id,
        "language": doc.language,
        "numbers": " ".join(sorted(doc.numbers)),
    }


def to_document(article_id: str, vector: Any, meta: dict[str, Any], chunks: Any = ()) -> Document:
    """A stored document; ``chunks``: its chunk vectors, when read (for coverage)."""
    numbers = frozenset(str(meta.get("numbers", "")).split())
    vector = np.asarray(vector, dtype=np.float32)
    rows = np.asarray(chunks, dtype=np.float32).reshape(len(chunks), -1) if len(chunks) else np.zeros((0, 0))
    rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12) if rows.size else rows
    story = str(meta.get("story", article_id))
    event = str(meta.get("event", story))  # documents stored before events: their story is their event
    language = str(meta.get("language", "und"))
    return Document(article_id, language, vector, numbers, story, rows.astype(np.float32), event)


def chunk_records(
    items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]], writer: str
) -> list[tuple[str, list[float], dict[str, Any], str]]:
    """(id, vector, metadata, text) of the chunks of ``items``, in llama-index's ``ChromaVectorStore``
    layout (what its ``add`` writes), each with its ``writer``."""
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
    from llama_index.core.vector_stores.utils import node_to_metadata_dict

    records = []
    for article, chunks, vectors in items:
        for c, v in zip(chunks, vectors):
            node = TextNode(
                id_=c.id,
                text=c.text,
                metadata=chunk_meta(c, article) | {"writer": writer},
                start_char_idx=c.start,
                end_char_idx=c.end,
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=article.article_id)},
            )
            meta = node_to_metadata_dict(node, remove_text=True, flat_metadata=True)
            records.append(
                (
                    c.id,
                    np.asarray(v, dtype=np.float32).tolist(),
                    {k: "" if x is None else x for k, x in meta.items()},
                    c.text,
                )
            )
    return records
