"""Find the chunks that answer a question (retrieval stage): dense, BM25 and their fusion.

Dense search asks the vector store; BM25 runs over an in-memory lexical index of every chunk, built on
first use, with Snowball stemming in each chunk's own language (the query is stemmed in every corpus
language, since a short query's language is unreliable). Hybrid fuses the two rankings with weighted
reciprocal rank fusion, BM25 weighted lower so it cannot pull the cross-lingual dense ranking back
toward same-language matches.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed import Embedder
from rag.errors import EmptyIndexError, QueryError
from rag.index.filters import Filters
from rag.index.records import ArticleRecord
from rag.index.store import NO_FILTERS, Store
from rag.ingest.chunking import Chunk

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w+", re.UNICODE)
_STEMMERS = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ms": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "nb": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}


@dataclass(frozen=True)
class Hit:
    """One retrieved passage: an exact span of an ingested article."""

    source: str
    start: int
    end: int
    text: str
    score: float
    language: str
    title: str
    chunk_id: str = ""
    published: str | None = None  # the article's publication date (ISO), when known
    outlet: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def _stemmer(language: str) -> Any:
    import Stemmer

    name = _STEMMERS.get(language)
    return Stemmer.Stemmer(name) if name else None


def tokenize(text: str, languages: Sequence[str]) -> list[str]:
    """Lower-cased word tokens, stemmed in each of ``languages`` (duplicates kept once per language)."""
    words = _WORD.findall(text.lower())
    tokens: list[str] = []
    stemmers = [s for s in (_stemmer(lang) for lang in dict.fromkeys(languages)) if s is not None]
    if not stemmers:
        return words
    for stemmer in stemmers:
        tokens.extend(stemmer.stemWords(words))
    return tokens


class LexicalIndex:
    """BM25 (bm25s) over a fixed list of chunks; ``save``/``load`` keep it on disk (no pickle)."""

    def __init__(self, chunks: Sequence[Chunk], bm25: Any = None) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.chunks = list(chunks)
        self.languages = sorted({c.language for c in self.chunks})
        self._by_language = {
            lang: np.array([i for i, c in enumerate(self.chunks) if c.language == lang])
            for lang in self.languages
        }
        self._bm25 = bm25 or bm25s.BM25()
        if self.chunks and bm25 is None:
            self._bm25.index(
                [tokenize(c.text, [c.language]) or [""] for c in self.chunks], show_progress=False
            )

    def save(self, folder: Path) -> None:
        """Write the index to a new ``folder`` (written aside, then renamed into place)."""
        partial = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        self._bm25.save(str(partial), show_progress=False)
        with open(partial / "chunks.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in self.chunks)
        try:
            partial.rename(folder)
        except OSError:  # another process saved the same revision first
            shutil.rmtree(partial, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        import bm25s

        with open(folder / "chunks.jsonl", encoding="utf-8") as handle:
            chunks = [Chunk(**json.loads(line)) for line in handle]
        return cls(chunks, bm25s.BM25.load(str(folder), show_progress=False))

    def search(
        self, query: str, k: int, mask: np.ndarray | None = None, per_language: bool = False
    ) -> list[tuple[Chunk, float]]:
        """The ``k`` best chunks with a positive score (``k`` per language with ``per_language``)."""
        tokens = list(dict.fromkeys(tokenize(query, self.languages)))
        if not self.chunks or not tokens:  # a query of punctuation alone has no words to match
            return []
        scores = self._bm25.get_scores(tokens)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        groups = self._by_language.values() if per_language else [np.arange(len(self.chunks))]
        found = [i for group in groups for i in _top(scores, group, k)]
        found.sort(key=lambda i: (-scores[i], i))
        return [(self.chunks[i], float(scores[i])) for i in found]

    def mask(self, filters: Filters) -> np.ndarray | None:
        """Which chunks ``filters`` keeps (None: all)."""
        return np.array([filters.keeps(c) for c in self.chunks], dtype=bool) if filters else None


def _top(scores: np.ndarray, candidates: np.ndarray, k: int) -> list[int]:
    """Indices among ``candidates`` of the ``k`` highest positive scores."""
    positive = candidates[scores[candidates] > 0]
    if len(positive) > k:
        positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
    return positive.tolist()


def rrf(rankings: Sequence[tuple[dict[str, int], float]], ids: Sequence[str], rrf_k: int) -> dict[str, float]:
    """Weighted reciprocal rank fusion: for each id, the sum over rankings of weight / (rrf_k + rank)."""
    return {
        cid: sum(weight / (rrf_k + ranks[cid]) for ranks, weight in rankings if cid in ranks) for cid in ids
    }


def fuse(
    dense: Sequence[Chunk], sparse: Sequence[Chunk], k: int, rrf_k: int, bm25_weight: float
) -> list[tuple[Chunk, float]]:
    """Language-fair hybrid ranking of a dense list and a BM25 list (both best first).

    Plain RRF lets BM25 push same-language chunks above a better cross-lingual match: chunks in other
    languages share no words with the query, so they never get a BM25 rank. Here BM25 ranks count within
    each language (its best chunk in every language earns the same bonus), and a chunk BM25 did not match
    takes its dense rank in the BM25 term: missing lexical evidence is neutral, never a penalty.
    Measured on XQuAD-R (6 languages): recall@5 0.978 -> 0.987 over dense with mAP unchanged (0.896 ->
    0.892), where plain-style demotion of unmatched chunks cost 4-8 points of mAP.
    """
    by_id = {c.id: c for c in [*dense, *sparse]}
    missing = len(dense) + 1
    dense_rank = {cid: missing for cid in by_id} | {c.id: rank for rank, c in enumerate(dense, start=1)}
    lexical_rank = dict(dense_rank)
    seen: dict[str, int] = {}
    for c in sparse:
        seen[c.language] = seen.get(c.language, 0) + 1
        lexical_rank[c.id] = seen[c.language]
    scores = rrf([(dense_rank, 1.0), (lexical_rank, bm25_weight)], list(by_id), rrf_k)
    best = sorted(scores, key=lambda cid: (-scores[cid], cid))[:k]
    return [(by_id[cid], scores[cid]) for cid in best]


class Retriever:
    """Dense, BM25 or hybrid search over one store."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        mode: str = "hybrid",
        rrf_k: int = 60,
        bm25_weight: float = 0.5,
        cache_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.cache_dir = cache_dir  # where BM25 indexes are kept by revision (None: build every time)
        self.embedder = embedder
        self.mode = mode
        self.rrf_k = rrf_k
        self.bm25_weight = bm25_weight
        self._lexical: LexicalIndex | None = None
        self._complete: dict[str, ArticleRecord] | None = None
        self._revision: str | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Forget the cached views of the store (after it changed)."""
        with self._lock:
            self._lexical, self._complete, self._revision = None, None, None

    def _refresh(self) -> None:
        """Drop the cached views when the store's revision changed: a write by this or any other process
        (another chat worker on the same Chroma server, a `rag ingest`)."""
        revision = self.store.revision()
        with self._lock:
            if revision != self._revision:
                self._lexical, self._complete, self._revision = None, None, revision

    def lexical(self) -> LexicalIndex:
        """The BM25 index of the store's chunks (as of the last ``_refresh``): loaded from ``cache_dir``
        when it holds the current revision's (measured at 100k chunks: building takes ~35 s), else built
        and saved there."""
        with self._lock:
            if self._lexical is None:
                self._lexical = self._cached_lexical()
            return self._lexical

    def _cached_lexical(self) -> LexicalIndex:
        folder = (
            self.cache_dir / f"{self.store.name}-{self._revision}"
            if self.cache_dir and self._revision
            else None
        )
        if folder is not None and folder.is_dir():
            try:
                return LexicalIndex.load(folder)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("rebuilding the BM25 index: the saved one in %s is unreadable (%s)", folder, exc)
                shutil.rmtree(folder, ignore_errors=True)
        lexical = LexicalIndex(self.store.all_chunks())
        if folder is not None and self.cache_dir is not None and lexical.chunks:
            try:
                for old in self.cache_dir.glob(f"{self.store.name}-*"):  # other revisions are stale
                    shutil.rmtree(old, ignore_errors=True)
                lexical.save(folder)
            except OSError as exc:
                log.warning("could not save the BM25 index to %s: %s", folder, exc)
        return lexical

    def complete_sources(self) -> frozenset[str]:
        """Sources whose ingest finished (a chunk of any other was left by an interrupted ingest)."""
        return frozenset(self.records())

    def records(self) -> dict[str, ArticleRecord]:
        """The store's article records (as of the last ``_refresh``), by source."""
        with self._lock:
            if self._complete is None:
                self._complete = self.store.articles()
            return self._complete

    def search(
        self,
        query: str,
        k: int = 5,
        mode: str | None = None,
        filters: Filters = NO_FILTERS,
    ) -> list[Hit]:
        query = (query or "").strip()
        if not query:
            raise QueryError("the question is empty")
        if k < 1:
            raise QueryError(f"k must be >= 1, got {k}")
        mode = mode or self.mode
        if mode not in ("hybrid", "dense", "bm25"):
            raise QueryError(f"unknown retrieval mode {mode!r}: use hybrid, dense or bm25")
        if self.store.count() == 0:
            raise EmptyIndexError(f"the index at {self.store.where} is empty: run `rag ingest PATH` first")
        depth = max(4 * k, 20)
        self._refresh()
        if mode == "dense":
            ranked = self.store.query(self.embedder.embed_query(query), k, filters)
        elif mode == "bm25":
            lexical = self.lexical()
            ranked = lexical.search(query, k, lexical.mask(filters))
        else:
            dense, lexical = self._dense_and_lexical(query, depth, filters)
            sparse = lexical.search(query, depth, lexical.mask(filters), per_language=True)
            ranked = fuse([c for c, _ in dense], [c for c, _ in sparse], k, self.rrf_k, self.bm25_weight)
        complete = self.complete_sources()
        return [_hit(chunk, score) for chunk, score in ranked if chunk.source in complete][:k]

    def _dense_and_lexical(
        self, query: str, depth: int, filters: Filters
    ) -> tuple[list[tuple[Chunk, float]], LexicalIndex]:
        """Dense hits and the lexical index; on a cold start the index is built in a thread while the
        encoder loads and embeds the query (about 2 s saved at 10k chunks)."""
        if self._lexical is not None:
            return self.store.query(self.embedder.embed_query(query), depth, filters), self._lexical
        with ThreadPoolExecutor(max_workers=1) as pool:
            lexical_future = pool.submit(self.lexical)
            dense = self.store.query(self.embedder.embed_query(query), depth, filters)
            return dense, lexical_future.result()


def _hit(chunk: Chunk, score: float) -> Hit:
    return Hit(
        chunk.source,
        chunk.start,
        chunk.end,
        chunk.text,
        round(score, 6),
        chunk.language,
        chunk.title,
        chunk.id,
        chunk.published,
        chunk.outlet,
    )
