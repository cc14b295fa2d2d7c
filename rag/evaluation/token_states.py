"""Token states of many texts, computed once with the product's encoder and kept on disk (training the
reader reads the same states the answer stage computes at request time).

A ``StateStore`` is a folder: ``states.f16`` (every text's token states, float16 rows of the encoder's
width, appended), ``vectors.f32`` (each text's pooled vector) and ``index.jsonl`` (one line per text: key,
first row, rows). Encoding is resumable: texts already in the index are skipped, and each batch is
appended and indexed before the next, so an interrupted run loses at most one batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

KINDS = ("query", "document")
BATCH = 64


def text_key(kind: str, text: str) -> str:
    return hashlib.sha1(f"{kind}\x00{text}".encode()).hexdigest()[:20]


class StateStore:
    """Token states and pooled vectors by text, in a folder (see the module's docstring)."""

    def __init__(self, folder: Path, width: int = 768) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.width = width
        self._rows: dict[str, tuple[int, int, int]] = {}  # key -> (first row, rows, vector index)
        self._next_row = 0
        index = self.folder / "index.jsonl"
        if index.exists():
            for line in index.read_text(encoding="utf-8").splitlines():
                try:
                    key, first, rows, vector = json.loads(line)
                except ValueError:  # a line cut by an interrupted run: its batch is encoded again
                    break
                self._rows[key] = (first, rows, vector)
                self._next_row = max(self._next_row, first + rows)
        self._states: np.ndarray | None = None
        self._vectors: np.ndarray | None = None

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def fill(
        self,
        items: Sequence[tuple[str, str]],
        encode: Callable[[str, list[str]], tuple[np.ndarray, list[np.ndarray]]],
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Encode the (kind, text) items not yet stored; ``encode(kind, texts)`` gives (vectors, states)."""
        todo: dict[str, tuple[str, str]] = {}
        for kind, text in items:
            key = text_key(kind, text)
            if key not in self._rows:
                todo.setdefault(key, (kind, text))
        pending = sorted(todo.items(), key=lambda kv: (kv[1][0], len(kv[1][1])))
        done = 0
        for start in range(0, len(pending), BATCH):
            batch = pending[start : start + BATCH]
            for kind in KINDS:
                part = [(k, t) for k, (kd, t) in batch if kd == kind]
                if part:
                    vectors, states = encode(kind, [t for _, t in part])
                    self._append([k for k, _ in part], vectors, states)
            done += len(batch)
            if progress:
                progress(done, len(pending))
        self._states = self._vectors = None

    def _append(self, keys: list[str], vectors: np.ndarray, states: list[np.ndarray]) -> None:
        vector_base = len(self._rows)
        with open(self.folder / "states.f16", "ab") as f:
            f.seek(self._next_row * self.width * 2)
            f.truncate()
            for s in states:
                f.write(np.ascontiguousarray(s, dtype=np.float16).tobytes())
        with open(self.folder / "vectors.f32", "ab") as f:
            f.seek(vector_base * self.width * 4)
            f.truncate()
            f.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        lines = []
        for n, (key, s) in enumerate(zip(keys, states)):
            self._rows[key] = (self._next_row, len(s), vector_base + n)
            lines.append(json.dumps([key, self._next_row, len(s), vector_base + n]))
            self._next_row += len(s)
        with open(self.folder / "index.jsonl", "a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))

    def _open(self) -> tuple[np.ndarray, np.ndarray]:
        if self._states is None or self._vectors is None:
            rows = max(1, self._next_row)
            self._states = np.memmap(self.folder / "states.f16", np.float16, "r", shape=(rows, self.width))
            self._vectors = np.memmap(
                self.folder / "vectors.f32", np.float32, "r", shape=(max(1, len(self._rows)), self.width)
            )
        return self._states, self._vectors

    def states(self, kind: str, text: str) -> np.ndarray:
        first, rows, _ = self._rows[text_key(kind, text)]
        return np.asarray(self._open()[0][first : first + rows])

    def vector(self, kind: str, text: str) -> np.ndarray:
        return np.asarray(self._open()[1][self._rows[text_key(kind, text)][2]])


def encode_fn(embedder: Any) -> Callable[[str, list[str]], tuple[np.ndarray, list[np.ndarray]]]:
    """``StateStore.fill``'s encoder over an embedder that gives token states (``rag.embed.has_states``):
    documents with the document prompt, questions one at a time with the query prompt (as the answer
    stage encodes them)."""

    def encode(kind: str, texts: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        if kind == "document":
            vectors, states = embedder.document_states(texts)
            return np.asarray(vectors, dtype=np.float32), list(states)
        pairs = [embedder.query_states(t) for t in texts]
        return np.stack([v for v, _ in pairs]).astype(np.float32), [s for _, s in pairs]

    return encode
