"""XQuAD-R evaluation (``rag eval xquad-r``): the LAReQA protocol and this project's own retrieval setting.

(a) **LAReQA.** Candidate pool: every sentence of every paragraph in all 11 languages; each question's
relevant set: its answer sentence in all 11 languages; mean average precision over all questions (the
published mBERT figures on the same pool: En-En 0.29, X-X 0.23, X-X-mono 0.52, X-Y 0.66). Sentences are
encoded as documents and questions as queries by the configured embedder. ``sample`` keeps the first N
paragraphs (in every language), a smaller and easier pool for quick runs.

(b) **Our setting.** English and Russian paragraphs ingested as articles through the chunker and store;
English and Russian questions searched in hybrid, dense and BM25 mode: recall@1/@5 and MRR@10 where a hit
is a chunk covering at least half of the answer sentence in either language; the same restricted to the
other language (cross-language); language bias (share of top-1 hits in the question's language). Then
answers for a fixed sample of questions scored with SQuAD's exact match and F1.
"""

from __future__ import annotations

import collections
import logging
import re
import string
import tempfile
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation.xquad_r import DEFAULT_XQUAD, answer_sentence, xquad_paragraphs

log = logging.getLogger(__name__)

LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
PUBLISHED_MAP = {"En-En": 0.29, "X-X": 0.23, "X-X-mono": 0.52, "X-Y": 0.66}


# ---------------------------------------------------------------- (a) LAReQA --


def lareqa(
    embedder: Any,
    root: Path = DEFAULT_XQUAD,
    sample: int | None = None,
    langs: Sequence[str] = LANGS,
    questions_per_language: int | None = None,
) -> dict[str, Any]:
    """mAP of ``embedder`` on the LAReQA XQuAD-R pool (see module docstring); with
    ``questions_per_language``, the pool stays whole and that many questions of each language, evenly
    spread over the paragraphs, are scored."""
    paragraphs = {lang: xquad_paragraphs(root, lang)[:sample] for lang in langs}
    sentences, keys, questions, gold = [], [], [], []
    for lang in langs:
        for p_index, para in enumerate(paragraphs[lang]):
            for s_index, sentence in enumerate(para["sentences"]):
                sentences.append(sentence)
                keys.append((p_index, s_index))
            for qa in para["qas"]:
                answer_index = answer_sentence(para, qa)
                if answer_index is not None:
                    questions.append((lang, qa["question"]))
                    gold.append((p_index, answer_index))
    if questions_per_language:
        questions, gold = _spread(questions, gold, questions_per_language)
    relevant: dict[tuple[int, int], list[int]] = collections.defaultdict(list)
    for i, key in enumerate(keys):
        relevant[key].append(i)
    started = time.perf_counter()
    docs = np.asarray(embedder.embed_documents(sentences), dtype=np.float32)
    queries = np.asarray([embedder.embed_query(q) for _, q in questions], dtype=np.float32)
    seconds = time.perf_counter() - started
    aps = average_precisions(queries, docs, [relevant[g] for g in gold])
    by_lang = collections.defaultdict(list)
    for (lang, _), ap in zip(questions, aps):
        by_lang[lang].append(ap)
    return {
        "map": float(np.mean(aps)),
        "questions": len(questions),
        "candidates": len(sentences),
        "languages": list(langs),
        "paragraphs_per_language": len(paragraphs[langs[0]]),
        "questions_per_language": questions_per_language,
        "map_by_question_language": {k: float(np.mean(v)) for k, v in sorted(by_lang.items())},
        "published_map": PUBLISHED_MAP,
        "encode_seconds": seconds,
    }


def _spread(questions: list, gold: list, per_language: int) -> tuple[list, list]:
    """``per_language`` questions of each language, evenly spaced in file order."""
    kept = []
    for lang in dict.fromkeys(lang for lang, _ in questions):
        index = [i for i, (q_lang, _) in enumerate(questions) if q_lang == lang]
        step = max(1, len(index) // per_language)
        kept += index[::step][:per_language]
    return [questions[i] for i in kept], [gold[i] for i in kept]


def average_precisions(
    queries: np.ndarray, docs: np.ndarray, relevant: Sequence[Sequence[int]], block: int = 256
) -> list[float]:
    """AP of each query over the whole pool (ties broken against the relevant items)."""
    out = []
    for lo in range(0, len(queries), block):
        scores = queries[lo : lo + block] @ docs.T
        for row, rel in zip(scores, relevant[lo : lo + block]):
            rel_scores = np.sort(row[list(rel)])[::-1]
            ranks = np.array([(row >= s).sum() for s in rel_scores])  # 1-based rank of each relevant item
            ranks = np.maximum.accumulate(np.maximum(ranks, np.arange(1, len(ranks) + 1)))
            out.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
    return out


# ---------------------------------------------------------------- (b) our setting --


def our_setting(
    embedder: Any,
    root: Path = DEFAULT_XQUAD,
    paragraphs: int | None = None,
    answers: int = 30,
    generator: str | None = None,
    langs: Sequence[str] = ("en", "ru"),
) -> dict[str, Any]:
    """Retrieval over our chunker and store (hybrid, dense, BM25) and SQuAD EM/F1 on ``answers`` questions."""
    from rag.api import Assistant

    data = {lang: xquad_paragraphs(root, lang)[:paragraphs] for lang in langs}
    result: dict[str, Any] = {"languages": list(langs), "paragraphs_per_language": len(data[langs[0]])}
    with tempfile.TemporaryDirectory(prefix="rag-xquad-") as tmp:
        folder = Path(tmp) / "articles"
        _write_articles(folder, data)
        questions = _parallel_questions(data, langs)
        overrides: dict[str, Any] = {"generator": generator} if generator else {}
        assistant = Assistant.open(Path(tmp) / "index", embedder=embedder, progress=False, **overrides)
        started = time.perf_counter()
        assistant.ingest([folder])
        result["ingest_seconds"] = time.perf_counter() - started
        result["chunks"] = assistant.store.count()
        result["questions"] = len(questions)
        result["retrieval"] = {}
        for mode in ("hybrid", "dense", "bm25"):
            result["retrieval"][mode] = _mode_retrieval(assistant, questions, langs, mode)
            log.info("xquad-r %s: %s", mode, result["retrieval"][mode])
        if answers:
            result["answers"] = _answers(assistant, questions, answers, generator)
    return result


def _write_articles(folder: Path, data: dict[str, list[dict]]) -> None:
    """Each paragraph as an article ``<folder>/<lang>/<lang>-<j>.txt``."""
    for lang, paras in data.items():
        (folder / lang).mkdir(parents=True)
        for j, para in enumerate(paras):
            (folder / lang / f"{lang}-{j:03d}.txt").write_text(para["context"], encoding="utf-8")


def _parallel_questions(data: dict[str, list[dict]], langs: Sequence[str]) -> list[tuple]:
    """(lang, question, gold spans in every language, answer texts) for each question whose answer
    sentence is found in every language's copy of its paragraph."""
    questions = []
    for j in range(len(data[langs[0]])):
        spans: dict[str, list] = {}
        for lang in langs:
            para = data[lang][j]
            for qa in para["qas"]:
                sentence = answer_sentence(para, qa)
                if sentence is not None:
                    spans.setdefault(qa["id"], []).append(
                        (f"{lang}-{j:03d}.txt", *para["sentence_breaks"][sentence])
                    )
        for lang in langs:
            for qa in data[lang][j]["qas"]:
                if len(spans.get(qa["id"], ())) == len(langs):
                    questions.append(
                        (lang, qa["question"], spans[qa["id"]], [a["text"] for a in qa["answers"]])
                    )
    return questions


def _mode_retrieval(assistant: Any, questions: Sequence[tuple], langs: Sequence[str], mode: str) -> dict:
    """Rank metrics of one search mode over any language and the other languages only (cross), and the
    share of top-1 hits in the question's language."""
    from rag.evaluation.metrics import first_hit_rank, rank_metrics

    rows: dict[str, list] = {"any": [], "cross": []}
    top1_same = []
    for lang, question, spans, _ in questions:
        hits = assistant.search(question, k=10, mode=mode)
        rows["any"].append(first_hit_rank(hits, spans))
        if hits:
            top1_same.append(hits[0].language == lang)
        others = [o for o in langs if o != lang]
        cross = assistant.search(question, k=10, mode=mode, language=others)
        rows["cross"].append(first_hit_rank(cross, [s for s in spans if not s[0].startswith(lang)]))
    return {
        **{f"{scope}_{k}": v for scope, ranks in rows.items() for k, v in rank_metrics(ranks).items()},
        "top1_in_question_language": float(np.mean(top1_same)) if top1_same else None,
    }


def _answers(assistant: Any, questions: Sequence[tuple], count: int, generator: str | None) -> dict[str, Any]:
    """EM/F1 (SQuAD normalisation) on a fixed, evenly spread sample of questions of every language."""
    step = max(1, len(questions) // count)
    sample = list(questions[::step])[:count]
    assistant.warm(generator)
    em, f1, refused = [], [], 0
    for _lang, question, _, golds in sample:
        answer = assistant.ask(question, generator=generator)
        text = re.sub(r"\[\d+\]", "", answer.text)
        refused += answer.refused
        em.append(max(exact_match(text, g) for g in golds))
        f1.append(max(f1_score(text, g) for g in golds))
    return {
        "questions": len(sample),
        "exact_match": float(np.mean(em)),
        "f1": float(np.mean(f1)),
        "refused": refused,
        "generator": generator or assistant.settings.generator,
    }


def normalize_answer(text: str) -> str:
    """SQuAD normalisation (lower case, no punctuation, no English articles, single spaces), made
    Unicode-aware: punctuation is every Unicode P* character."""
    text = text.lower()
    text = "".join(
        ch for ch in text if ch not in string.punctuation and not unicodedata.category(ch).startswith("P")
    )
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if not same:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def markdown(result: dict[str, Any]) -> str:
    parts = ["# XQuAD-R"]
    if "lareqa" in result:
        a = result["lareqa"]
        parts += [
            f"## LAReQA protocol ({a['paragraphs_per_language']} paragraphs x {len(a['languages'])} "
            f"languages: {a['candidates']} candidate sentences, {a['questions']} questions"
            + (
                f", {a['questions_per_language']} per language evenly spread"
                if a.get("questions_per_language")
                else ""
            )
            + ")",
            f"mAP **{a['map']:.3f}** (published mBERT: "
            + ", ".join(f"{k} {v}" for k, v in a["published_map"].items())
            + ")",
            "| question language | mAP |\n|---|---|\n"
            + "\n".join(f"| {k} | {v:.3f} |" for k, v in a["map_by_question_language"].items()),
        ]
    if "ours" in result:
        b = result["ours"]
        keys = [
            "any_recall@1",
            "any_recall@5",
            "any_mrr@10",
            "cross_recall@1",
            "cross_recall@5",
            "cross_mrr@10",
            "top1_in_question_language",
        ]
        parts += [
            f"## Our setting ({'/'.join(b['languages'])}, {b['paragraphs_per_language']} paragraphs each, "
            f"{b['chunks']} chunks, {b['questions']} questions)",
            "| mode | "
            + " | ".join(keys)
            + " |\n|---|"
            + "---|" * len(keys)
            + "\n"
            + "\n".join(
                f"| {mode} | " + " | ".join(f"{m[k]:.3f}" if m[k] is not None else "-" for k in keys) + " |"
                for mode, m in b["retrieval"].items()
            ),
        ]
        if "answers" in b:
            ans = b["answers"]
            parts.append(
                f"Answers ({ans['generator']}, {ans['questions']} questions): exact match "
                f"{ans['exact_match']:.3f}, F1 {ans['f1']:.3f}, refused {ans['refused']}"
            )
    return "\n\n".join(parts) + "\n"
