"""``rag bench language``: the language checks beyond XQuAD-R's own breaks.

1. **Mixed answers.** XQuAD-R's paragraphs are parallel: a sentence in language L is a clean text in L;
   the same sentence with its last third (or two thirds) of words taken from its translation in another
   language M is a mixed one. Each check (the word-level ``language_share`` at a bar, lingua's
   ``detect_multiple_languages_of`` at the same bar, and the old whole-string ``answer_language``) is
   scored by clean texts passed and mixed texts caught; the bar and the word margin are chosen on the dev
   articles (0-23) and reported on the test articles (24-47).
2. **The question's language** (``question_language``, names set aside, against the whole question) on
   the questions of every ``../shared/qa`` set and of XQuAD-R.
3. **Sentence boundaries** on the ``../shared/qa`` passages: how often a boundary cuts a gold answer
   (it never should), this project's splitter beside sentencex (per-language abbreviation lists).
4. **Short answers across languages** (``--translations N``): the local LLM translates an XQuAD-R answer
   from one language into another, as the answer stage does with the words it copied from a sentence; a
   translation is right when it holds the human translation (or is within 0.85 cosine of it). For each bar
   on the cosine between the translation and the copied words (``min_phrase_translation``): the share
   shown, right among them, right ones shown; the bar chosen on the dev articles, reported on the test.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.evaluation.xquad_r import xquad_paragraphs

log = logging.getLogger(__name__)

LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
SPLITS = {"dev": range(0, 24), "test": range(24, 48)}
BARS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))  # 0.50 .. 0.95
MARGINS = (1.0, 2.0, 3.0)
FOREIGN = (1 / 3, 2 / 3)  # the share of a mixed text's words taken from the translation


def bench_language(args: Any) -> dict[str, Any]:
    from rag.settings import Settings

    settings = Settings.from_env()
    per_language = int(getattr(args, "sentences", 60) or 60)
    result: dict[str, Any] = {
        "mixing": mixing_bench(Path(args.xquad), per_language),
        "question_language": question_bench(Path(args.xquad), settings.qa_dir, int(args.questions)),
        "boundaries": boundary_bench(settings.qa_dir, int(args.passages), Path(args.xquad)),
    }
    if getattr(args, "translations", 0):
        result["translations"] = translation_bench(Path(args.xquad), settings, int(args.translations))
    return result


# ---------------------------------------------------------------- 1. mixed answers --


def mixed_texts(root: Path, split: str, per_language: int, seed: int = 0) -> list[dict[str, Any]]:
    """Clean and mixed texts of ``split``'s articles: per language L, ``per_language`` sentences, each
    clean and mixed with a translation in a language M chosen in turn (``FOREIGN`` shares)."""
    rng = random.Random(seed)
    paragraphs = {lang: _paragraphs(root, lang, split) for lang in LANGS}
    rows: list[dict[str, Any]] = []
    for li, lang in enumerate(LANGS):
        pairs = [
            (p, s)
            for p, para in enumerate(paragraphs[lang])
            for s in range(len(para))
            if all(len(paragraphs[m][p]) == len(para) for m in LANGS)
        ]
        for k, (p, s) in enumerate(rng.sample(pairs, min(per_language, len(pairs)))):
            other = LANGS[(li + 1 + k % (len(LANGS) - 1)) % len(LANGS)]
            clean = paragraphs[lang][p][s]
            rows.append({"lang": lang, "other": other, "kind": "clean", "text": clean})
            for share in FOREIGN:
                rows.append(
                    {
                        "lang": lang,
                        "other": other,
                        "kind": f"mixed {share:.2f}",
                        "text": mix(clean, paragraphs[other][p][s], share),
                    }
                )
    return rows


def _paragraphs(root: Path, lang: str, split: str) -> list[list[str]]:
    """Sentences of each paragraph of ``split``'s articles (by XQuAD-R's own sentence breaks)."""
    import json

    data = json.loads((root / f"{lang}.json").read_text(encoding="utf-8"))["data"]
    return [
        [p["context"][a:b].strip() for a, b in p["sentence_breaks"]]
        for article in (data[i] for i in SPLITS[split])
        for p in article["paragraphs"]
    ]


def mix(clean: str, translation: str, foreign: float) -> str:
    """``clean``'s first words, then the last ``foreign`` share of ``translation``'s (by characters for
    texts written without spaces)."""
    a, b = clean.split(), translation.split()
    if len(a) < 3 or len(b) < 3:
        cut_a, cut_b = int(len(clean) * (1 - foreign)), int(len(translation) * (1 - foreign))
        return f"{clean[:cut_a]} {translation[cut_b:]}"
    keep = max(1, round(len(a) * (1 - foreign)))
    take = max(1, round(len(b) * foreign))
    return " ".join(a[:keep] + b[-take:])


def mixing_bench(root: Path, per_language: int) -> dict[str, Any]:
    """Clean passed and mixed caught per check, bar and margin fitted on dev, reported on test."""
    from rag.answer import mixing as word_level

    rows = {split: mixed_texts(root, split, per_language) for split in SPLITS}
    fitted: dict[str, Any] = {}
    shares: dict[str, list[float | None]] = {}
    shipped = word_level.WORD_MARGIN
    try:
        for margin in MARGINS:
            word_level.WORD_MARGIN = margin
            for split in SPLITS:
                shares[f"wordfreq {margin} {split}"] = [
                    word_level.language_share(r["text"], r["lang"], [r["other"]]) for r in rows[split]
                ]
    finally:
        word_level.WORD_MARGIN = shipped
    for split in SPLITS:
        shares[f"lingua {split}"] = [lingua_share(r["text"], r["lang"], r["other"]) for r in rows[split]]
    for name in [*(f"wordfreq {m}" for m in MARGINS), "lingua"]:
        bar, _ = _best_bar(rows["dev"], shares[f"{name} dev"])
        fitted[name] = {
            "bar": bar,
            "dev": _outcome(rows["dev"], shares[f"{name} dev"], bar),
            "test": _outcome(rows["test"], shares[f"{name} test"], bar),
        }
    from rag.answer.language import answer_language

    for split in SPLITS:
        verdicts = [1.0 if answer_language(r["text"], r["lang"]) == r["lang"] else 0.0 for r in rows[split]]
        fitted.setdefault("whole string (old)", {"bar": None})[split] = _outcome(rows[split], verdicts, 0.5)
    best = max((n for n in fitted if n.startswith("wordfreq")), key=lambda n: fitted[n]["dev"]["balanced"])
    return {
        "texts_per_split": {s: len(r) for s, r in rows.items()},
        "checks": fitted,
        "chosen": best,
        "by_language_test": _by_language(rows["test"], shares[f"{best} test"], fitted[best]["bar"]),
    }


def _best_bar(rows: Sequence[dict[str, Any]], shares: Sequence[float | None]) -> tuple[float, float]:
    outcomes = [(_outcome(rows, shares, bar)["balanced"], bar) for bar in BARS]
    balanced, bar = max(outcomes, key=lambda o: (o[0], -o[1]))
    return bar, balanced


def _outcome(rows: Sequence[dict[str, Any]], shares: Sequence[float | None], bar: float) -> dict[str, Any]:
    """Clean texts passed (share at least ``bar``, or nothing to tell) and mixed texts caught, per kind."""
    passed = [s is None or s >= bar for s in shares]
    by_kind: dict[str, list[bool]] = {}
    for row, ok in zip(rows, passed):
        by_kind.setdefault(row["kind"], []).append(ok if row["kind"] == "clean" else not ok)
    figures = {kind: round(sum(v) / len(v), 3) for kind, v in sorted(by_kind.items())}
    mixed = [v for kind, values in by_kind.items() if kind != "clean" for v in values]
    caught = sum(mixed) / len(mixed) if mixed else 0.0
    clean = figures.get("clean", 0.0)
    return {
        "clean_passed": clean,
        "mixed_caught": round(caught, 3),
        **{f"caught {k}": v for k, v in figures.items() if k != "clean"},
        "balanced": round((clean + caught) / 2, 3),
    }


def _by_language(
    rows: Sequence[dict[str, Any]], shares: Sequence[float | None], bar: float
) -> dict[str, dict[str, Any]]:
    out = {}
    for lang in LANGS:
        picked = [(r, s) for r, s in zip(rows, shares) if r["lang"] == lang]
        out[lang] = _outcome([r for r, _ in picked], [s for _, s in picked], bar)
    return out


@lru_cache(maxsize=128)
def _lingua(languages: tuple[str, ...]) -> Any:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    known = [Language.from_iso_code_639_1(IsoCode639_1.from_str(code)) for code in languages]
    return LanguageDetectorBuilder.from_languages(*known).build()


def lingua_share(text: str, language: str, other: str) -> float | None:
    """Share of words in the segments lingua's ``detect_multiple_languages_of`` gives ``language``
    (among the text's language, ``other`` and English), quotes, markers and names left in."""
    detector = _lingua(tuple(sorted({language, other, "en"})))
    segments = detector.detect_multiple_languages_of(text)
    total = sum(s.word_count for s in segments)
    if not total:
        return None
    inside = sum(s.word_count for s in segments if s.language.iso_code_639_1.name.lower() == language)
    return inside / total


# ---------------------------------------------------------------- 2. the question's language --


def question_bench(xquad: Path, qa_dir: Path, per_set: int) -> dict[str, Any]:
    """Accuracy of the question's language, names aside and whole, per set and per XQuAD-R language."""
    from rag.answer.language import _identify, question_language
    from rag.evaluation.qa_sets import SETS, load_set

    rng = random.Random(0)
    groups: dict[str, tuple[str, list[str]]] = {}
    for name, qa_set in SETS.items():
        questions = [
            q.question
            for split in ("dev", "test")
            for p in load_set(name, split, qa_dir)
            for q in p.questions
        ]
        groups[name] = (qa_set.language, rng.sample(questions, min(per_set, len(questions))))
    for lang in LANGS:
        questions = [qa["question"] for p in xquad_paragraphs(xquad, lang) for qa in p["qas"]]
        groups[f"xquad-{lang}"] = (lang, rng.sample(questions, min(per_set, len(questions))))
    out: dict[str, Any] = {}
    for name, (lang, questions) in groups.items():
        aside = [question_language(q) == lang for q in questions]
        whole = [_identify(q) == lang for q in questions]
        wrong = [q for q, ok in zip(questions, aside) if not ok][:3]
        out[name] = {
            "questions": len(questions),
            "names_aside": round(sum(aside) / len(aside), 3),
            "whole": round(sum(whole) / len(whole), 3),
            "misread_examples": wrong,
        }
    return out


# ---------------------------------------------------------------- 3. sentence boundaries --


def boundary_bench(qa_dir: Path, per_set: int, xquad: Path | None = None) -> dict[str, Any]:
    """Per set (and XQuAD-R language): answers cut by a boundary (ours, sentencex) and the mean sentence
    length in characters."""
    from rag.evaluation.qa_sets import SETS, load_set
    from rag.ingest.chunking import sentence_spans

    groups: dict[str, tuple[str, list[tuple[str, list[tuple[int, int]]]]]] = {}
    for name, qa_set in SETS.items():
        read = [p for split in ("dev", "test") for p in load_set(name, split, qa_dir)][:per_set]
        groups[name] = (
            qa_set.language,
            [(p.text, [span for q in p.questions for span in q.answers]) for p in read],
        )
    for lang in LANGS:
        if xquad is None:
            break
        paragraphs = xquad_paragraphs(xquad, lang)[:per_set]
        groups[f"xquad-{lang}"] = (
            lang,
            [
                (
                    p["context"],
                    [
                        (a["answer_start"], a["answer_start"] + len(a["text"]))
                        for qa in p["qas"]
                        for a in qa["answers"][:1]
                    ],
                )
                for p in paragraphs
            ],
        )
    out: dict[str, Any] = {}
    for name, (language, passages) in groups.items():
        figures = {}
        for splitter, spans_of in (
            ("ours", sentence_spans),
            ("sentencex", lambda text, lang=language: sentencex_spans(text, lang)),
        ):
            cut = answers = sentences = chars = 0
            for text, gold in passages:
                spans = spans_of(text)
                ends = [e for _, e in spans[:-1]]
                sentences += len(spans)
                chars += sum(e - s for s, e in spans)
                for a, b in gold:
                    answers += 1
                    cut += any(a < e < b for e in ends)
            figures[splitter] = {
                "answers_cut": round(cut / answers, 4) if answers else None,
                "answers": answers,
                "mean_sentence_chars": round(chars / sentences, 1) if sentences else None,
            }
        out[name] = {"language": language, "passages": len(passages), **figures}
    return out


def sentencex_spans(text: str, language: str) -> list[tuple[int, int]]:
    """sentencex's sentences as (start, end) spans of ``text`` (each found from the previous end)."""
    from sentencex import segment

    spans: list[tuple[int, int]] = []
    at = 0
    for sentence in segment(language, text):
        piece = sentence.strip()
        if not piece:
            continue
        start = text.find(piece, at)
        if start < 0:
            continue
        spans.append((start, start + len(piece)))
        at = start + len(piece)
    return spans


# ---------------------------------------------------------------- report --


# ---------------------------------------------------------------- 4. short answers across languages --

PHRASE_BARS = (0.5, 0.57, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
RIGHT = 0.85  # a translation within this cosine of the human one counts as right


def translation_bench(xquad: Path, settings: Any, per_split: int, seed: int = 5) -> dict[str, Any]:
    """The local LLM's translations of ``per_split`` XQuAD-R answers per split (see the module's
    docstring); the bar with the most right translations shown at a precision of at least 0.8 on dev."""
    import numpy as np

    from rag.answer.answerer import Answerer
    from rag.embed import embedder_from
    from rag.generate.factory import make_generator

    embedder = embedder_from(settings)
    answerer = Answerer(lambda q, k: [], embedder, make_generator(settings, "local"), settings)
    rng = random.Random(seed)
    out: dict[str, Any] = {"examples": []}
    for split, articles in SPLITS.items():
        rows = []
        for la, lb, span, gold in _answer_pairs(xquad, articles, per_split, rng):
            translation = answerer.translated_phrase(span, lb) or "-"
            v = np.asarray(embedder.embed_documents([translation, span, gold]), dtype=np.float32)
            right = gold.casefold() in translation.casefold() or translation.casefold() in gold.casefold()
            rows.append((float(v[0] @ v[1]), right or float(v[0] @ v[2]) >= RIGHT))
            if split == "dev" and len(out["examples"]) < 12:
                out["examples"].append(
                    {"from": la, "to": lb, "copied": span, "llm": translation, "human": gold}
                )
        out[split] = {"answers": len(rows), "right": round(float(np.mean([r for _, r in rows])), 3)}
        for bar in PHRASE_BARS:
            shown = [r for c, r in rows if c >= bar]
            out[split][str(bar)] = {
                "shown": round(len(shown) / len(rows), 3),
                "right_among_shown": round(float(np.mean(shown)), 3) if shown else None,
                "right_shown": round(sum(shown) / max(1, sum(r for _, r in rows)), 3),
            }
    good = [b for b in PHRASE_BARS if (out["dev"][str(b)]["right_among_shown"] or 0) >= 0.8]
    out["chosen"] = min(good) if good else max(PHRASE_BARS)
    return out


def _answer_pairs(
    xquad: Path, articles: range, n: int, rng: random.Random
) -> list[tuple[str, str, str, str]]:
    """``n`` (language, other language, answer in the first, the same answer in the second) of
    ``articles``."""
    import json

    languages = [lang for lang in LANGS if lang != "th"]
    data = {
        lang: json.loads((xquad / f"{lang}.json").read_text(encoding="utf-8"))["data"] for lang in languages
    }
    pairs = []
    for a in articles:
        for p, paragraph in enumerate(data["en"][a]["paragraphs"]):
            for k in range(len(paragraph["qas"])):
                la, lb = rng.sample(languages, 2)
                try:
                    qa, qb = (data[x][a]["paragraphs"][p]["qas"][k] for x in (la, lb))
                except IndexError:
                    continue
                pairs.append((la, lb, qa["answers"][0]["text"].strip(), qb["answers"][0]["text"].strip()))
    rng.shuffle(pairs)
    return pairs[:n]


def language_markdown(result: dict[str, Any]) -> str:
    mixing = result["mixing"]
    lines = [
        "## Mixed answers (XQuAD-R sentences, clean vs mixed with a translation; bar fitted on dev 0-23)",
        "",
        "| check | bar | dev clean passed | dev mixed caught | test clean passed | test mixed caught |"
        " test caught 1/3 foreign | test caught 2/3 foreign |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, c in mixing["checks"].items():
        t = c["test"]
        lines.append(
            f"| {name} | {c['bar']} | {c['dev']['clean_passed']} | {c['dev']['mixed_caught']} "
            f"| {t['clean_passed']} | {t['mixed_caught']} | {t.get('caught mixed 0.33')} "
            f"| {t.get('caught mixed 0.67')} |"
        )
    lines += ["", f"Kept: {mixing['chosen']} (best balanced accuracy on dev).", ""]
    lines += ["| test language | clean passed | mixed caught |", "|---|---|---|"]
    lines += [
        f"| {lang} | {o['clean_passed']} | {o['mixed_caught']} |"
        for lang, o in mixing["by_language_test"].items()
    ]
    lines += ["", "## The question's language", "", "| set | questions | names aside | whole question |"]
    lines += ["|---|---|---|---|"]
    lines += [
        f"| {name} | {g['questions']} | {g['names_aside']} | {g['whole']} |"
        for name, g in result["question_language"].items()
    ]
    lines += ["", "## Sentence boundaries: gold answers cut (never wanted)", ""]
    lines += [
        "| set | language | passages | answers | ours: cut | ours: mean chars | sentencex: cut |"
        " sentencex: mean chars |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, b in result["boundaries"].items():
        lines.append(
            f"| {name} | {b['language']} | {b['passages']} | {b['ours']['answers']} "
            f"| {b['ours']['answers_cut']} | {b['ours']['mean_sentence_chars']} "
            f"| {b['sentencex']['answers_cut']} | {b['sentencex']['mean_sentence_chars']} |"
        )
    if "translations" in result:
        t = result["translations"]
        lines += ["", "## Short answers across languages: the local LLM's translations", ""]
        lines += [
            f"Right without a check: dev {t['dev']['right']}, test {t['test']['right']}. "
            f"Chosen bar: {t['chosen']}.",
            "",
        ]
        lines += [
            "| bar | dev shown | dev right among shown | test shown | test right among shown"
            " | test right shown |"
        ]
        lines += ["|---|---|---|---|---|---|"]
        for bar in PHRASE_BARS:
            d, e = t["dev"][str(bar)], t["test"][str(bar)]
            lines.append(
                f"| {bar} | {d['shown']} | {d['right_among_shown']} | {e['shown']} "
                f"| {e['right_among_shown']} | {e['right_shown']} |"
            )
    return "\n".join(lines)


def language_plot(result: dict[str, Any], path: Path) -> None:
    from rag.evaluation.report import figure

    checks = result["mixing"]["checks"]
    names = list(checks)
    xs = range(len(names))
    with figure(path, 1, 1, figsize=(8, 4)) as ax:
        clean = [checks[n]["test"]["clean_passed"] for n in names]
        mixed = [checks[n]["test"]["mixed_caught"] for n in names]
        ax.bar([x - 0.2 for x in xs], clean, 0.4, label="clean passed")
        ax.bar([x + 0.2 for x in xs], mixed, 0.4, label="mixed caught")
        ax.set_xticks(list(xs), names, rotation=20, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title("Mixed-language answers, XQuAD-R test articles 24-47")
        ax.legend()
