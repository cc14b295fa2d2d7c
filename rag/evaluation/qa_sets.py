"""The native-speaker QA sets of ``../shared/qa`` (``RAG_QA_DIR``) read into one shape, split by document.

Each set is SQuAD-style JSON (IDK-MRC: a list of ``{context, qas}`` records). A ``QAPassage`` is one context
with its questions; a ``QAQuestion`` carries its answer spans (repaired where a set's ``answer_start`` is
off: the answer text is looked up in the context, nearest the given start; a question whose answer cannot
be found is left out) or is unanswerable (``impossible``: written against its own passage).

Splits are by document, never by question: ``dev`` (fit and calibrate) and ``test`` (report only). IDK-MRC
ships its own: its train file is ``dev``, its valid file ``test``. For the other sets, the set's articles
(``data[]`` entries, in file order) go to ``test`` when their index modulo 10 is 7, 8 or 9.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import CorpusError
from rag.settings import DEFAULT_QA

SPLITS = ("dev", "test")
TEST_REMAINDERS = frozenset({7, 8, 9})  # article index mod 10 -> the test split


@dataclass(frozen=True)
class QASet:
    """One set: its files (for IDK-MRC one per split), language and licence."""

    name: str
    language: str
    files: tuple[str, ...]
    licence: str


SETS = {
    s.name: s
    for s in (
        QASet("idk-mrc", "id", ("idk_mrc-train.json", "idk_mrc-valid.json"), "CC BY-SA 4.0"),
        QASet("squad-es", "es", ("squad_es_v2-dev-small.json",), "CC BY 4.0"),
        QASet("arcd", "ar", ("arcd.json",), "MIT"),
        QASet("jsquad", "ja", ("jsquad-valid-v1.3.json",), "CC BY-SA 4.0"),
        QASet("korquad", "ko", ("korquad-v1.0-dev.json",), "CC BY-ND 2.0 KR"),
        QASet("cmrc", "zh", ("cmrc2018-dev.json",), "CC BY-SA 4.0"),
        QASet("mlqa-vi", "vi", ("mlqa-dev-vi.json",), "CC BY-SA 3.0"),
        QASet("vinewsqa", "vi", ("vinewsqa-dev.json",), "research use"),
    )
}


@dataclass(frozen=True)
class QAQuestion:
    id: str
    question: str
    answers: tuple[tuple[int, int], ...]  # (start, end) in the passage's text; empty when impossible
    impossible: bool = False


@dataclass(frozen=True)
class QAPassage:
    set: str
    language: str
    document: str  # the article it belongs to (splits and distractors are by document)
    id: str
    title: str
    text: str
    questions: tuple[QAQuestion, ...]


def load_set(name: str, split: str, root: Path = DEFAULT_QA) -> list[QAPassage]:
    """The passages (with their usable questions) of one set's split."""
    if name not in SETS:
        raise CorpusError(f"unknown QA set {name!r}: one of {', '.join(SETS)}")
    if split not in SPLITS:
        raise CorpusError(f"unknown split {split!r}: dev or test")
    qa_set = SETS[name]
    if len(qa_set.files) == 2:  # its own train / valid files
        records = _records(Path(root) / qa_set.files[SPLITS.index(split)])
        return list(_passages(qa_set, records, keep=lambda _: True))
    records = _records(Path(root) / qa_set.files[0])
    test = split == "test"
    return list(_passages(qa_set, records, keep=lambda index: (index % 10 in TEST_REMAINDERS) == test))


def _records(path: Path) -> list[dict[str, Any]]:
    """``data[]`` articles (IDK-MRC's records become one-paragraph articles)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"cannot read QA set file {path} ({exc}): set RAG_QA_DIR") from None
    if isinstance(data, list):
        return [{"title": "", "paragraphs": [record]} for record in data]
    return list(data["data"])


def _passages(qa_set: QASet, articles: list[dict[str, Any]], keep: Any) -> Iterator[QAPassage]:
    for index, article in enumerate(articles):
        if not keep(index):
            continue
        title = str(article.get("title", "")).replace("_", " ")
        for number, paragraph in enumerate(article["paragraphs"]):
            text, shift, own_title = _context(paragraph["context"])
            questions = tuple(
                q for q in (_question(raw, text, shift) for raw in paragraph["qas"]) if q is not None
            )
            if questions:
                yield QAPassage(
                    qa_set.name,
                    qa_set.language,
                    f"{qa_set.name}:{index}",
                    f"{qa_set.name}:{index}:{number}",
                    own_title or title,
                    text,
                    questions,
                )


def _context(context: str) -> tuple[str, int, str]:
    """(text, characters cut from the front, title): JSQuAD contexts start with ``title [SEP] ``."""
    head, sep, rest = context.partition(" [SEP] ")
    if sep and len(head) < 200:
        return rest, len(head) + len(sep), head
    return context, 0, ""


def _question(raw: dict[str, Any], text: str, shift: int) -> QAQuestion | None:
    question = " ".join(str(raw.get("question", "")).split()).strip(" -")
    if not question:
        return None
    if raw.get("is_impossible"):
        return QAQuestion(str(raw["id"]), question, (), True)
    spans = []
    for answer in raw.get("answers", []):
        span = find_answer(text, str(answer.get("text", "")), int(answer.get("answer_start", 0)) - shift)
        if span is not None and span not in spans:
            spans.append(span)
    return QAQuestion(str(raw["id"]), question, tuple(spans)) if spans else None


def find_answer(text: str, answer: str, start: int) -> tuple[int, int] | None:
    """The answer's span in ``text``: at ``start`` when it is there, else its occurrence nearest ``start``."""
    answer = answer.strip()
    if not answer:
        return None
    if text[start : start + len(answer)] == answer:
        return start, start + len(answer)
    found, at = [], text.find(answer)
    while at >= 0:
        found.append(at)
        at = text.find(answer, at + 1)
    if not found:
        return None
    best = min(found, key=lambda a: abs(a - start))
    return best, best + len(answer)
