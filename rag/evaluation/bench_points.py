"""``rag bench compare``'s points section: does a comparison find what two reports of one story agree on,
and does it claim agreement where there is none?

Built from XQuAD-R (``rag.evaluation.xquad_qa.load_articles``): for each article, two *reports* in two
languages that share one paragraph (report A: paragraphs 0-2 in one language, report B: paragraphs 2-4
in another, both with the same sentence count in the shared paragraph), questions about the shared
paragraph asked in a third language. A point of agreement is *right* when its two sentences are the
same sentence of the shared paragraph in the two languages; ``found`` is the share of questions both
reports answer (shown as two sources, neither silent) with an agreement on the sentence that holds the
answer; ``precision`` the share of all agreement points that are right; ``differ`` counts difference
points (the reports are translations: none is real). Run on the dev articles (0-23, where
``compare_depth`` / ``compare_sentences`` were chosen) and the held-out test articles (24-47).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from rag.evaluation.xquad_qa import DOCUMENT_LANGUAGES, QUESTION_LANGUAGES, load_articles

REPORTS = ((0, 1, 2), (2, 3, 4))  # paragraphs of report A and report B: they share paragraph 2
SHARED = 2
QUESTIONS_PER_ARTICLE = 2

Key = tuple[int, int]  # (paragraph, sentence) of an article


Data = dict[str, list[dict[str, Any]]]  # XQuAD-R's articles per language


def write_reports(data: Data, articles: range, corpus: Path) -> list[dict[str, Any]]:
    """Two reports per article of ``data`` (XQuAD-R per language) under ``corpus``; the questions about
    their shared paragraph."""
    rows = []
    for a in articles:
        langs = _languages(data, a)
        if langs is None:
            continue
        x, y, z = langs
        files = []
        for name, lang, paragraphs in (("a", x, REPORTS[0]), ("b", y, REPORTS[1])):
            text = "\n\n".join(data[lang][a]["paragraphs"][p]["context"].strip() for p in paragraphs)
            path = corpus / f"r{a:02d}{name}.{lang}.txt"
            path.write_text(text + "\n", encoding="utf-8")
            files.append(path.name)
        qas = data[z][a]["paragraphs"][SHARED]["qas"]
        for qi in range(min(QUESTIONS_PER_ARTICLE, len(qas))):
            answer = [_answer_sentence(data[lang][a]["paragraphs"][SHARED], qi) for lang in (x, y)]
            rows.append({"article": a, "question": qas[qi]["question"], "files": files, "answer": answer})
    return rows


def _languages(data: Data, a: int) -> tuple[str, str, str] | None:
    """(report A's, report B's, the question's language): rotating, A and B with equal sentence counts."""
    n = len(DOCUMENT_LANGUAGES)
    x = DOCUMENT_LANGUAGES[a % n]
    count = len(data[x][a]["paragraphs"][SHARED]["sentences"])
    others = [DOCUMENT_LANGUAGES[(a + 3 + k) % n] for k in range(n)]
    y = next(
        (
            lang
            for lang in others
            if lang != x and len(data[lang][a]["paragraphs"][SHARED]["sentences"]) == count
        ),
        None,
    )
    if y is None:
        return None
    m = len(QUESTION_LANGUAGES)
    z = next(
        QUESTION_LANGUAGES[(a + k) % m] for k in range(m) if QUESTION_LANGUAGES[(a + k) % m] not in (x, y)
    )
    return x, y, z


def _answer_sentence(paragraph: dict[str, Any], qi: int) -> int:
    start = paragraph["qas"][qi]["answers"][0]["answer_start"]
    breaks = paragraph["sentence_breaks"]
    return next((i for i, (s, e) in enumerate(breaks) if s <= start < e), len(breaks) - 1)


def sentence_keys(
    text: str, paragraphs: tuple[int, ...], data_paragraphs: list[dict[str, Any]]
) -> list[tuple[int, int, Key]]:
    """(start, end, (paragraph, sentence)) of every XQuAD-R sentence in a report's ``text``."""
    spans, at = [], 0
    for p in paragraphs:
        context = data_paragraphs[p]["context"].strip()
        offset = text.find(context, at)
        if offset < 0:
            continue
        lead = len(data_paragraphs[p]["context"]) - len(data_paragraphs[p]["context"].lstrip())
        for i, (s, e) in enumerate(data_paragraphs[p]["sentence_breaks"]):
            spans.append((offset + s - lead, offset + e - lead, (p, i)))
        at = offset + len(context)
    return spans


def key_of(spans: list[tuple[int, int, Key]], start: int, end: int) -> Key | None:
    """The XQuAD-R sentence a cited span overlaps most."""
    best = max(spans, key=lambda t: min(end, t[1]) - max(start, t[0]), default=None)
    if best is None or min(end, best[1]) - max(start, best[0]) <= 0:
        return None
    return best[2]


def points(root: Path, articles: range, embedder: Any, configs: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The figures of each configuration (``Settings`` overrides, as ``rag eval --compare`` takes them) on
    the reports of ``articles``."""
    from rag.api import Assistant
    from rag.settings import Settings

    data = load_articles(root, (*DOCUMENT_LANGUAGES, *QUESTION_LANGUAGES))
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "reports"
        corpus.mkdir()
        rows = write_reports(data, articles, corpus)
        index = Path(tmp) / "index"
        Assistant.open(index, embedder=embedder, progress=False).ingest([corpus])
        results = {}
        for name, overrides in configs.items():
            env = {**os.environ, **{f"RAG_{k.upper()}": str(v) for k, v in overrides.items()}}
            settings = Settings.from_env(env, index_dir=index, progress=False)
            assistant = Assistant.open(settings=settings, embedder=embedder)
            spans = _spans(assistant, data)
            results[name] = _score(assistant, rows, spans) | {"settings": overrides}
        return results


def _spans(assistant: Any, data: Data) -> dict[str, tuple[int, list]]:
    """source -> (article, its sentences' spans and keys)."""
    found = {}
    for record in assistant.sources():
        name = Path(record.source).name  # r07a.de.txt
        a, report, lang = int(name[1:3]), "ab".index(name[3]), name.split(".")[1]
        text = assistant.article_text(record.source)
        found[record.source] = (a, sentence_keys(text, REPORTS[report], data[lang][a]["paragraphs"]))
    return found


def _score(assistant: Any, rows: list[dict[str, Any]], spans: dict[str, tuple[int, list]]) -> dict[str, Any]:
    separate = speaking = found = agree = right = differ = 0
    for row in rows:
        result = assistant.compare(row["question"], generator="extractive")
        sides = {Path(v.source).name: v for v in result.sources}
        shown = [sides.get(f) for f in row["files"]]
        separate += all(shown)
        both = all(v is not None and not v.silent for v in shown)
        speaking += both
        differ += len(result.differ)
        hit = False
        for point in result.agree:
            (a1, k1), (a2, k2) = (_where(spans, c) for c in point.citations[:2])
            right += a1 == a2 and k1 == k2 and k1 is not None  # one sentence, in two languages
            agree += 1
            ends = {Path(c.source).name: _where(spans, c)[1] for c in point.citations}
            hit = hit or ends == {f: (SHARED, i) for f, i in zip(row["files"], row["answer"])}
        found += both and hit
    return {
        "questions": len(rows),
        "separate": separate,  # both reports shown, as two sources (not grouped as one story)
        "speaking": speaking,  # ... and neither silent
        "found": round(found / max(speaking, 1), 4),
        "agree_points": agree,
        "precision": round(right / max(agree, 1), 4),
        "differ_points": differ,
    }


def _where(spans: dict[str, tuple[int, list]], citation: Any) -> tuple[int, Key | None]:
    article, keys = spans[citation.source]
    return article, key_of(keys, citation.start, citation.end)
