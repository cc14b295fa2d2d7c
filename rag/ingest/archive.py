"""Kept copies of every ingested article's text, outside the Chroma store (``<index>/articles/``).

The store can be rebuilt from them (``rag reindex``) when its files break, with the same sources and the
same text, so every citation span stays exact. One JSON file per article, written aside and renamed into
place, so a crash never leaves half a copy. The uploads folder is separate again: uploaded files are the
user's originals.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from rag.ingest.corpus import Article, sha256_text

log = logging.getLogger(__name__)

FOLDER = "articles"
FIELDS = tuple(Article.__dataclass_fields__)  # copies kept before dates and outlets lack those keys


class Archive:
    """The kept article texts of one index folder."""

    def __init__(self, index_dir: Path) -> None:
        self.folder = Path(index_dir) / FOLDER

    def _path(self, article_id: str) -> Path:
        return self.folder / f"{article_id}.json"

    def put(self, article: Article) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = asdict(article)
        path = self._path(article.article_id)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        with open(partial, "w", encoding="utf-8", newline="") as handle:
            json.dump(record, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)

    def remove(self, article_id: str) -> None:
        self._path(article_id).unlink(missing_ok=True)

    def ids(self) -> set[str]:
        if not self.folder.is_dir():
            return set()
        return {p.stem for p in self.folder.glob("*.json")}

    def articles(self) -> Iterator[Article]:
        """Every kept article, by source; an unreadable or altered copy is logged and left where it is."""
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                article = Article(**{k: record[k] for k in FIELDS if k in record})
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("kept article %s is unreadable (%s): left out", path, exc)
                continue
            if sha256_text(article.text) != article.content_hash:
                log.warning("kept article %s does not match its hash: left out", path)
                continue
            yield article
