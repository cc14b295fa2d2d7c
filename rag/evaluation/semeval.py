"""SemEval-2022 Task 8 news pairs (``../shared/bench/semeval2022-task8/pairs.csv``): two articles, their
languages, and people's Overall rating (1 = the same event ... 4 = unrelated). Texts are repaired with
ftfy first (a part of them is mojibake). The pairs are split by article: pairs that share an article are
connected, and a whole connected group goes to ``fit`` or ``test`` (a third, by a hash of the group), so
no article is on both sides."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import CorpusError
from rag.index.events import features
from rag.index.stories import Document

DEFAULT_PAIRS = Path("../shared/bench/semeval2022-task8/pairs.csv")
SAME, DIFFERENT = 1.5, 3.5  # Overall at most SAME: the same event; at least DIFFERENT: different events


@dataclass(frozen=True)
class RatedPair:
    pair_id: str
    lang1: str
    lang2: str
    text1: str
    text2: str
    overall: float
    split: str  # fit or test

    @property
    def languages(self) -> str:
        return f"{self.lang1}-{self.lang2}"


def load_pairs(path: Path = DEFAULT_PAIRS) -> list[RatedPair]:
    """Every rated pair, texts repaired, each with its split."""
    import ftfy

    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise CorpusError(f"cannot read the rated pairs {path}: {exc}") from None
    group = _groups([r["pair_id"].split("_") for r in rows])
    pairs = []
    for r in rows:
        first = r["pair_id"].split("_")[0]
        held = int(hashlib.sha1(group(first).encode()).hexdigest(), 16) % 3 == 0
        pairs.append(
            RatedPair(
                r["pair_id"],
                r["lang1"],
                r["lang2"],
                ftfy.fix_text(r["text1"]).strip(),
                ftfy.fix_text(r["text2"]).strip(),
                float(r["Overall"]),
                "test" if held else "fit",
            )
        )
    return pairs


def _groups(edges: list[list[str]]):  # type: ignore[no-untyped-def]
    """The representative of each article's connected group of pairs (union-find)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for ids in edges:
        for other in ids[1:]:
            parent[find(ids[0])] = find(other)
    return find


def pair_documents(pairs: Sequence[Any], settings: Any) -> list[tuple[Document, Document]]:
    """Each pair's two articles as ingest sees them (chunked, embedded)."""
    from rag.evaluation.bench_stories import embed

    rows = [(lang, 0, 0, text) for p in pairs for lang, text in ((p.lang1, p.text1), (p.lang2, p.text2))]
    docs = embed(rows, settings)
    return [(docs[2 * i], docs[2 * i + 1]) for i in range(len(pairs))]


def feature_rows(docs: Sequence[tuple[Document, Document]]) -> np.ndarray:
    return np.stack([features(a, b) for a, b in docs])
