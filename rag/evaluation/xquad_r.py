"""Reading the XQuAD-R benchmark (``../shared/bench/xquad-r`` or ``RAG_XQUAD_DIR``): paragraphs in file
order, parallel across its 11 languages, with the sentence that holds each question's answer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import CorpusError
from rag.settings import DEFAULT_XQUAD

__all__ = ["DEFAULT_XQUAD", "XQuadSample", "answer_sentence", "xquad_paragraphs", "xquad_sample"]


@dataclass(frozen=True)
class XQuadSample:
    """Paragraph files written to a folder, and questions with their gold spans in every language."""

    folder: Path
    questions: list[tuple[str, str, list[tuple[str, int, int]]]]  # (lang, question, gold spans)


def xquad_paragraphs(root: Path, lang: str) -> list[dict[str, Any]]:
    """All XQuAD-R paragraphs of one language, in file order (parallel across languages)."""
    path = Path(root) / f"{lang}.json"
    if not path.exists():
        raise CorpusError(f"XQuAD-R file missing: {path} (pass --xquad DIR or set RAG_XQUAD_DIR)")
    return [
        p for article in json.loads(path.read_text(encoding="utf-8"))["data"] for p in article["paragraphs"]
    ]


def answer_sentence(para: dict[str, Any], qa: dict[str, Any]) -> int | None:
    """Index of the sentence of ``para`` that holds ``qa``'s (first) answer."""
    start = qa["answers"][0]["answer_start"]
    return next((i for i, (s, e) in enumerate(para["sentence_breaks"]) if s <= start < e), None)


def xquad_sample(
    root: Path, langs: Sequence[str], paragraphs: int, per_paragraph: int, out: Path
) -> XQuadSample:
    """Write the first ``paragraphs`` XQuAD-R paragraphs of each language as articles under ``out``."""
    data = {lang: xquad_paragraphs(root, lang)[:paragraphs] for lang in langs}
    gold: dict[str, list[tuple[str, int, int]]] = {}
    for lang, paras in data.items():
        (out / lang).mkdir(parents=True, exist_ok=True)
        for j, para in enumerate(paras):
            name = f"{lang}-{j:03d}.txt"
            (out / lang / name).write_text(para["context"], encoding="utf-8")
            for qa in para["qas"][:per_paragraph]:
                sentence = answer_sentence(para, qa)
                if sentence is not None:
                    gold.setdefault(qa["id"], []).append((name, *para["sentence_breaks"][sentence]))
    questions = [
        (lang, qa["question"], gold[qa["id"]])
        for lang, paras in data.items()
        for para in paras
        for qa in para["qas"][:per_paragraph]
        if qa["id"] in gold
    ]
    return XQuadSample(out, questions)
