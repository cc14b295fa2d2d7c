"""The held-out multilingual answer benchmark (``rag eval xquad-qa``): a news-like pile built from XQuAD-R.

For the articles of one split (XQuAD-R's 48 Wikipedia articles in file order: ``dev`` is articles 0-23,
for tuning and calibration; ``test`` is 24-47, for reporting only), every paragraph but one is written as
one article file in one language (the document languages rotate), and each article contributes:

- answerable questions about two of its indexed paragraphs, each asked in a language other than the
  paragraph's (the question languages rotate); the evidence is the paragraph's sentence that holds the
  answer, in the paragraph's language;
- one unanswerable question about the paragraph left out of the index (the article's topic is in the
  index, the answer is not); a question whose answer text occurs in an indexed paragraph is skipped;
- for some articles, a follow-up: a second question about the same paragraph, asked after the first one
  and its answer (the conversation history).

The pile is a corpus folder plus a data set in the ``rag eval`` JSONL format, so ``rag eval`` scores it
as any other set: an answerable question counts as correct when it is answered and cites the evidence
sentence; an unanswerable one when it is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import CorpusError
from rag.evaluation.xquad_r import DEFAULT_XQUAD

log = logging.getLogger(__name__)

SPLITS = {"dev": range(0, 24), "test": range(24, 48)}
# dev articles the reader (rag.answer.reader) is fitted on; the rest of dev is kept for calibrating the answer
# stage's decision on articles the reader never saw (a reader is over-confident on its own training data)
FIT_ARTICLES = range(0, 16)
CALIBRATION_ARTICLES = range(16, 24)
DOCUMENT_LANGUAGES = ("ru", "en", "de", "es", "zh", "ar", "vi", "tr")
QUESTION_LANGUAGES = ("en", "ru", "es", "de", "zh", "ar", "hi", "el")
ANSWERABLE_PER_ARTICLE = 2
FOLLOW_UP_EVERY = 3  # one article in this many contributes a follow-up


def load_articles(root: Path, languages: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """XQuAD-R's articles per language, in file order (parallel across languages)."""
    articles = {}
    for lang in dict.fromkeys(languages):
        path = Path(root) / f"{lang}.json"
        try:
            articles[lang] = json.loads(path.read_text(encoding="utf-8"))["data"]
        except (OSError, ValueError, KeyError) as exc:
            raise CorpusError(f"cannot read XQuAD-R file {path} ({exc}): pass --data DIR") from None
    return articles


def build_pile(
    out: Path, split: str = "dev", root: Path = DEFAULT_XQUAD, every_question: bool = False
) -> tuple[Path, Path]:
    """Write the pile of ``split`` under ``out``: (corpus folder, data set file). With ``every_question``
    (the calibration set), the same files, but every question of every indexed paragraph (answerable)
    and every usable question of the left-out ones (unanswerable), without follow-ups."""
    if split not in SPLITS:
        raise CorpusError(f"unknown split {split!r}: dev (articles 0-23) or test (24-47)")
    data = load_articles(root, (*DOCUMENT_LANGUAGES, *QUESTION_LANGUAGES))
    corpus = Path(out) / f"xquad-qa-{split}"
    corpus.mkdir(parents=True, exist_ok=True)
    rows = []
    turn = _Turns()
    for number, a in enumerate(SPLITS[split]):
        rows += _article(data, a, corpus, turn, follow_up=number % FOLLOW_UP_EVERY == 0, every=every_question)
    dataset = Path(out) / f"xquad-qa-{split}{'-all' if every_question else ''}.jsonl"
    dataset.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    log.info(
        "xquad-qa %s: %d articles, %d questions -> %s", split, len(list(corpus.iterdir())), len(rows), dataset
    )
    return corpus, dataset


class _Turns:
    """Question languages, balanced per kind of question: the least used one that is not the document's."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, str], int] = {}
        self.offset = 0

    def next(self, kind: str, avoid: str = "") -> str:
        n = len(QUESTION_LANGUAGES)
        order = {lang: (k - self.offset) % n for k, lang in enumerate(QUESTION_LANGUAGES)}
        lang = min(
            (lang for lang in QUESTION_LANGUAGES if lang != avoid),
            key=lambda lang: (self.used.get((kind, lang), 0), order[lang]),
        )
        self.used[(kind, lang)] = self.used.get((kind, lang), 0) + 1
        self.offset += 1
        return lang


def _article(
    data: dict[str, list[dict[str, Any]]],
    a: int,
    corpus: Path,
    turn: _Turns,
    follow_up: bool,
    every: bool = False,
) -> list[dict[str, Any]]:
    """Files and questions of article ``a`` (``every``: all its questions, see ``build_pile``)."""
    paragraphs = len(data["en"][a]["paragraphs"])
    left_out = a % paragraphs
    indexed = [p for p in range(paragraphs) if p != left_out]
    doc_lang = {
        p: DOCUMENT_LANGUAGES[(a * len(indexed) + k) % len(DOCUMENT_LANGUAGES)] for k, p in enumerate(indexed)
    }
    names = {}
    for p in indexed:
        names[p] = f"a{a:02d}p{p}.{doc_lang[p]}.txt"
        (corpus / names[p]).write_text(
            data[doc_lang[p]][a]["paragraphs"][p]["context"] + "\n", encoding="utf-8"
        )
    if every:
        return _every_question(data, a, indexed, left_out, doc_lang, names, turn)
    rows: list[dict[str, Any]] = []
    asked = [indexed[(a + k) % len(indexed)] for k in range(ANSWERABLE_PER_ARTICLE)]
    for k, p in enumerate(asked):
        qas = data["en"][a]["paragraphs"][p]["qas"]
        for qi in range(min(len(qas), 2 if follow_up and k == 0 else 1)):
            lang = turn.next("answerable", doc_lang[p])
            history = []
            if qi == 1:  # the follow-up: same language as the first question, after it and its answer
                lang = rows[-1]["lang"]
                history = [[rows[-1]["question"], _answer_text(data, lang, a, p, 0)]]
            rows.append(_answerable(data, a, p, qi, lang, doc_lang[p], names[p], history))
    for qi in _unanswerables(data, a, left_out, indexed)[:1]:
        rows.append(_unanswerable_row(data, a, left_out, qi, turn.next("unanswerable")))
    return rows


def _every_question(
    data: dict[str, list[dict[str, Any]]],
    a: int,
    indexed: Sequence[int],
    left_out: int,
    doc_lang: dict[int, str],
    names: dict[int, str],
    turn: _Turns,
) -> list[dict[str, Any]]:
    """Each answerable question twice, in another language and in its paragraph's; each unanswerable one
    in a question language and in the language of one of the article's indexed paragraphs (users ask in
    their documents' language too, and cosines run higher within one language)."""
    rows = []
    for p in indexed:
        for qi in range(len(data["en"][a]["paragraphs"][p]["qas"])):
            for lang in (turn.next("answerable", doc_lang[p]), doc_lang[p]):
                rows.append(_answerable(data, a, p, qi, lang, doc_lang[p], names[p], []))
    for k, qi in enumerate(_unanswerables(data, a, left_out, indexed)):
        for lang in dict.fromkeys((turn.next("unanswerable"), doc_lang[indexed[k % len(indexed)]])):
            rows.append(_unanswerable_row(data, a, left_out, qi, lang))
    return rows


def _unanswerable_row(
    data: dict[str, list[dict[str, Any]]], a: int, p: int, qi: int, lang: str
) -> dict[str, Any]:
    return {
        "id": f"a{a:02d}p{p}q{qi}-{lang}-none",
        "question": data[lang][a]["paragraphs"][p]["qas"][qi]["question"],
        "lang": lang,
        "answerable": False,
        "article": a,
        "kind": "unanswerable",
    }


def _answer_text(data: dict[str, list[dict[str, Any]]], lang: str, a: int, p: int, qi: int) -> str:
    return data[lang][a]["paragraphs"][p]["qas"][qi]["answers"][0]["text"]


def _answerable(
    data: dict[str, list[dict[str, Any]]],
    a: int,
    p: int,
    qi: int,
    lang: str,
    doc: str,
    name: str,
    history: list[list[str]],
) -> dict[str, Any]:
    para = data[doc][a]["paragraphs"][p]
    qa = para["qas"][qi]
    start = qa["answers"][0]["answer_start"]
    s, e = next(((s, e) for s, e in para["sentence_breaks"] if s <= start < e), (0, len(para["context"])))
    quote = para["context"][s:e].strip()
    return {
        "id": f"a{a:02d}p{p}q{qi}-{lang}-{doc}",
        "question": data[lang][a]["paragraphs"][p]["qas"][qi]["question"],
        "lang": lang,
        "answerable": True,
        "evidence": [{"source": name, "quote": quote}],
        "history": history,
        "article": a,
        "kind": "follow-up" if history else "answerable",
        "reference": qa["answers"][0]["text"],
        "references": list(dict.fromkeys([qa["answers"][0]["text"], _answer_text(data, lang, a, p, qi)])),
    }


def _unanswerables(
    data: dict[str, list[dict[str, Any]]], a: int, p: int, indexed: Sequence[int]
) -> list[int]:
    """Indexes of the questions of the left-out paragraph ``p`` whose (English) answer no indexed paragraph
    contains."""
    others = " ".join(data["en"][a]["paragraphs"][q]["context"].lower() for q in indexed)
    return [
        qi
        for qi, qa in enumerate(data["en"][a]["paragraphs"][p]["qas"])
        if qa["answers"][0]["text"].lower() not in others
    ]


def _calibrates(row: dict[str, Any]) -> bool:
    """Whether a calibration row is on an article the shipped reader was not fitted on (with the cosine
    reader: every row)."""
    if "reader" not in (row.get("scores") or {}):
        return True
    return int(row["id"][1:3]) in CALIBRATION_ARTICLES


def evaluate_pile(
    split: str = "dev",
    root: Path | None = None,
    retrieval_only: bool = False,
    generator: str | None = None,
    out: str | Path | None = None,
    compare: Sequence[str] = (),
    limit: int | None = None,
    calibrate: bool = False,
    every_question: bool = False,
) -> dict[str, Any]:
    """Build the pile of ``split`` in a temporary folder and run ``rag eval`` on it (``limit``: only the
    first N questions, for quick looks; ``every_question``: the calibration set of ``build_pile``). With
    ``calibrate`` (development split only), every question of the
    split's articles (``build_pile(every_question=True)``) is ranked with the gate open (the decision reads
    no generated text, so no LLM runs) and the report gains ``calibration``: the fitted policy values
    (``rag.evaluation.calibrate``), also written to ``<out>/calibration.json``."""
    import tempfile

    from rag.evaluation.run import evaluate

    if calibrate and split != "dev":
        raise CorpusError(
            "--calibrate fits thresholds: only on the dev split (the test split is for reporting)"
        )
    with tempfile.TemporaryDirectory(prefix="rag-xquad-qa-") as tmp:
        corpus, dataset = build_pile(
            Path(tmp), split, root or DEFAULT_XQUAD, every_question=calibrate or every_question
        )
        if limit:
            lines = dataset.read_text(encoding="utf-8").splitlines(keepends=True)[:limit]
            dataset.write_text("".join(lines), encoding="utf-8")
        if not calibrate:
            return evaluate(dataset, corpus, None, retrieval_only, generator, out, compare)
        from rag.evaluation.calibrate import OPEN_GATES, fit

        spec = "calibration:" + ",".join(f"{k}={v}" for k, v in OPEN_GATES.items())
        report = evaluate(dataset, corpus, None, False, "extractive", None, [spec])["calibration"]
    rows = report["questions"] = [r for r in report["questions"] if _calibrates(r)]
    report["calibration"] = fit(rows, group=lambda row: row["id"].split("p")[0])  # folds by article
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "calibration.json").write_text(
            json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    return report
