"""``rag eval qa --set NAME``: a pile of articles built from one native-speaker QA set, scored as ``rag eval``
scores any set (the same metrics as ``rag eval xquad-qa``).

From the set's split (``rag.evaluation.qa_sets``: ``dev`` to tune, ``test`` to report), the first
``passages`` passages in file order (whole documents, the last one perhaps cut) each become one article
file (its title, when the set has one, on the first line). One passage in ``LEFT_OUT_EVERY`` is left out
of the index. Questions:

- answerable: a question of an indexed passage; its evidence is the passage's sentence holding the answer;
- unanswerable, written against their passage (IDK-MRC, SQuAD-es 2.0): the topic is indexed, the answer is
  not;
- unanswerable, left out: a question of a left-out passage whose answer text no indexed passage holds
  (other passages of its document, or of the set, are the distractors).

Answerable and unanswerable questions alternate (two answerable to one unanswerable while both last), up to
``questions``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import CorpusError
from rag.evaluation.qa_sets import SETS, QAPassage, load_set
from rag.ingest.chunking import sentence_spans
from rag.settings import DEFAULT_QA

log = logging.getLogger(__name__)

LEFT_OUT_EVERY = 6
PASSAGES = 60
QUESTIONS = 90


def build_qa_pile(
    out: Path,
    name: str,
    split: str = "test",
    root: Path = DEFAULT_QA,
    passages: int = PASSAGES,
    questions: int = QUESTIONS,
) -> tuple[Path, Path]:
    """Write the pile under ``out``: (corpus folder, data set file)."""
    chosen = load_set(name, split, root)[:passages]
    if not chosen:
        raise CorpusError(f"QA set {name} ({split}) has no passages with usable questions")
    corpus = Path(out) / f"qa-{name}-{split}"
    corpus.mkdir(parents=True, exist_ok=True)
    left_out = {p.id for k, p in enumerate(chosen) if k % LEFT_OUT_EVERY == LEFT_OUT_EVERY - 1}
    indexed = [p for p in chosen if p.id not in left_out]
    files = {}
    for p in indexed:
        files[p.id] = f"{p.id.replace(':', '-')}.{p.language}.txt"
        title = f"{p.title}\n\n" if p.title else ""
        (corpus / files[p.id]).write_text(title + p.text + "\n", encoding="utf-8")
    answerable, unanswerable = _rows(chosen, left_out, files, indexed)
    rows = _interleave(answerable, unanswerable, questions)
    dataset = Path(out) / f"qa-{name}-{split}.jsonl"
    dataset.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    log.info(
        "qa %s %s: %d articles, %d questions (%d unanswerable) -> %s",
        name,
        split,
        len(files),
        len(rows),
        sum(not r["answerable"] for r in rows),
        dataset,
    )
    return corpus, dataset


def _rows(
    chosen: Sequence[QAPassage], left_out: set[str], files: dict[str, str], indexed: Sequence[QAPassage]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    indexed_text = "\n".join(p.text for p in indexed)
    answerable, unanswerable = [], []
    for p in chosen:
        for q in p.questions:
            row = {"id": f"{p.id}:{q.id}", "question": q.question, "lang": p.language, "set": p.set}
            if p.id in left_out:
                texts = [p.text[s:e] for s, e in q.answers]
                if q.impossible or not any(t in indexed_text for t in texts):
                    unanswerable.append({**row, "answerable": False, "kind": "left-out"})
            elif q.impossible:
                unanswerable.append({**row, "answerable": False, "kind": "unanswerable"})
            else:
                quote = _sentence_of(p.text, q.answers[0][0])
                evidence = [{"source": files[p.id], "quote": quote}]
                reference = p.text[q.answers[0][0] : q.answers[0][1]]
                answerable.append(
                    {
                        **row,
                        "answerable": True,
                        "kind": "answerable",
                        "evidence": evidence,
                        "reference": reference,
                    }
                )
    return answerable, unanswerable


def _sentence_of(text: str, at: int) -> str:
    """The answer stage's sentence of ``text`` holding character ``at``."""
    for s, e in sentence_spans(text, max_chars=400):
        if s <= at < e:
            return text[s:e]
    return text.strip()


def _interleave(answerable: list[dict], unanswerable: list[dict], most: int) -> list[dict]:
    rows: list[dict] = []
    a = u = 0
    while len(rows) < most and (a < len(answerable) or u < len(unanswerable)):
        take_answerable = u >= len(unanswerable) or (a < len(answerable) and len(rows) % 3 != 2)
        if take_answerable:
            rows.append(answerable[a])
            a += 1
        else:
            rows.append(unanswerable[u])
            u += 1
    return rows


def evaluate_qa_pile(
    name: str,
    split: str = "test",
    root: Path | None = None,
    retrieval_only: bool = False,
    generator: str | None = None,
    out: str | Path | None = None,
    compare: Sequence[str] = (),
    passages: int = PASSAGES,
    questions: int = QUESTIONS,
) -> dict[str, Any]:
    """Build the pile of set ``name`` in a temporary folder and run ``rag eval`` on it."""
    import tempfile

    from rag.evaluation.run import evaluate

    if name not in SETS:
        raise CorpusError(f"unknown QA set {name!r}: one of {', '.join(SETS)}")
    with tempfile.TemporaryDirectory(prefix="rag-qa-") as tmp:
        corpus, dataset = build_qa_pile(Path(tmp), name, split, root or DEFAULT_QA, passages, questions)
        return evaluate(dataset, corpus, None, retrieval_only, generator, out, compare)
