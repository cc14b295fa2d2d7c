"""``rag bench faithfulness``: does the answer stage's verification drop claims that say more than, or
other than, their cited sentence?

Claims are built from sentences with a question about them: XQuAD-R's parallel paragraphs (the claim in
one language, the evidence, the paragraph's sentences, in the same or another language) and the native
``../shared/qa`` sets (the claim and the evidence in the set's language). A *supported* claim is the
sentence that answers the question (XQuAD-R: the sentence in the claim's language, a translation of
the evidence's; the QA sets: the clause of a long sentence that holds the answer). Its perturbations,
each of which the cited sentence does not state:

- ``entity``: a name in it replaced by another name of the same paragraph;
- ``number``: a number in it changed;
- ``negation``: its statement denied ("It is not true that ...", in each language);
- ``cause``: another sentence of the paragraph appended as its cause ("... because ...");
- ``time``: another sentence of the paragraph appended as what came first ("... after ...");
- ``fused``: its first half joined to the second half of another sentence of the paragraph.

Each claim is verified as the answer stage verifies a reply citing the sentence (``Answerer.verify``
over the paragraph's sentences); *caught* is a perturbation dropped, *dropped* a supported claim
dropped. The phrase lists below only make the benchmark's claims; the checks never read them.
Reported on the dev articles and piles (where anything is tuned) and the held-out test ones.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("supported", "entity", "number", "negation", "cause", "time", "fused")
XQUAD_LANGS = ("en", "es", "de", "ru", "zh", "ar", "vi", "tr", "el", "hi", "th")
EVIDENCE = 8  # sentences of the paragraph given as evidence, at most

# per language: (denial, cause, time order, clause joiner); {c}: the claim, {o}: another sentence
PHRASES = {
    "en": ("It is not true that {c}", "{c} because {o}", "{c} after {o}"),
    "es": ("No es cierto que {c}", "{c} porque {o}", "{c} después de que {o}"),
    "de": ("Es stimmt nicht, dass {c}", "{c}, weil {o}", "{c}, nachdem {o}"),
    "ru": ("Неверно, что {c}", "{c}, потому что {o}", "{c} после того, как {o}"),
    "zh": ("并非{c}", "{c}，因为{o}", "在{o}之后，{c}"),
    "ja": ("{c}というのは事実ではない", "{c}、なぜなら{o}", "{o}の後、{c}"),
    "ko": ("{c}는 사실이 아니다", "{c}, 왜냐하면 {o}", "{o} 이후에 {c}"),
    "ar": ("ليس صحيحا أن {c}", "{c} لأن {o}", "{c} بعد أن {o}"),
    "vi": ("Không đúng rằng {c}", "{c} vì {o}", "{c} sau khi {o}"),
    "tr": ("{c} doğru değil", "{c}, çünkü {o}", "{o} sonra {c}"),
    "el": ("Δεν είναι αλήθεια ότι {c}", "{c} επειδή {o}", "{c} αφού {o}"),
    "hi": ("यह सच नहीं है कि {c}", "{c} क्योंकि {o}", "{o} के बाद {c}"),
    "th": ("ไม่จริงที่ว่า{c}", "{c} เพราะ{o}", "{c} หลังจาก{o}"),
    "id": ("Tidak benar bahwa {c}", "{c} karena {o}", "{c} setelah {o}"),
}
_NUMBER = re.compile(r"\d+")
_CAPITALISED = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-ZÀ-ÖØ-ÞА-ЯЁΑ-Ω][\w'’-]{2,}")


@dataclass(frozen=True)
class Case:
    """One claim to verify: its kind, text and language, the question, the evidence sentences, which of
    them it cites, and the evidence's language."""

    kind: str
    claim: str
    language: str
    question: str
    evidence: tuple[str, ...]
    cited: int
    evidence_language: str
    source: str  # xquad-dev, korquad-test ...


def perturbations(
    claim: str,
    language: str,
    others: Sequence[str],
    rng: random.Random,
    phrases: tuple[str, str, str] | None = None,
) -> dict[str, str]:
    """The perturbed claims of ``claim`` that can be made (``others``: the paragraph's other sentences in
    the claim's language; ``phrases``: denial, cause and time templates, default ``PHRASES``)."""
    stem = claim.rstrip(" .。!?！？")
    out: dict[str, str] = {}
    names = [m for m in _CAPITALISED.finditer(stem)]
    elsewhere = {m.group(0) for o in others for m in _CAPITALISED.finditer(o)} - {m.group(0) for m in names}
    if names and elsewhere:
        pick = rng.choice(names)
        out["entity"] = stem[: pick.start()] + rng.choice(sorted(elsewhere)) + stem[pick.end() :]
    numbers = list(_NUMBER.finditer(stem))
    if numbers:
        pick = rng.choice(numbers)
        value = int(pick.group(0))
        changed = value + rng.choice((2, 3, 7)) if value > 31 else value + 1
        out["number"] = stem[: pick.start()] + str(changed) + stem[pick.end() :]
    phrases = phrases or PHRASES.get(language)
    if phrases and others:
        other = rng.choice(list(others)).rstrip(" .。!?！？")
        denial, cause, after = phrases
        out["negation"] = denial.format(c=stem)
        out["cause"] = cause.format(c=stem, o=other)
        out["time"] = after.format(c=stem, o=other)
    if others:
        a, b = stem.split(), rng.choice(list(others)).split()
        if len(a) >= 4 and len(b) >= 4:
            out["fused"] = " ".join(a[: len(a) // 2] + b[len(b) // 2 :])
        elif len(stem) >= 8:  # unspaced scripts: by characters
            other = rng.choice(list(others))
            out["fused"] = stem[: len(stem) // 2] + other[len(other) // 2 :]
    return out


def answer_clause(sentence: str, at: int, long_sentence: int = 160) -> str:
    """The claim a short answer makes: the sentence, or for a long one the clause holding the answer
    (character ``at`` of the sentence), as the answer stage cuts clauses."""
    from rag.answer.checks import _clause_spans

    if len(sentence) <= long_sentence:
        return sentence
    spans = _clause_spans(sentence, 40)
    a, b = next(((a, b) for a, b in spans if a <= at < b), (0, len(sentence)))
    return sentence[a:b]


def xquad_cases(root: Path, articles: range, split: str, seed: int = 11) -> list[Case]:
    """Cases from XQuAD-R ``articles``: one question per paragraph, the claim in one language and the
    evidence in the same one (a third of the time) or another."""
    from rag.evaluation.xquad_r import answer_sentence

    data = {
        lang: json.loads((Path(root) / f"{lang}.json").read_text(encoding="utf-8"))["data"]
        for lang in XQUAD_LANGS
    }
    rng = random.Random(seed)
    cases: list[Case] = []
    for a in articles:
        for p in range(len(data["en"][a]["paragraphs"])):
            claim_lang = rng.choice(XQUAD_LANGS)
            source = claim_lang if rng.random() < 1 / 3 else rng.choice(XQUAD_LANGS)
            said_para, evidence_para = data[claim_lang][a]["paragraphs"][p], data[source][a]["paragraphs"][p]
            said = [s.strip("\ufeff ") for s in said_para["sentences"]][:EVIDENCE]
            evidence = [s.strip("\ufeff ") for s in evidence_para["sentences"]][:EVIDENCE]
            if len(said) != len(evidence) or len(said) < 2 or not said_para["qas"]:
                continue
            qa = rng.choice(said_para["qas"])
            i = answer_sentence(said_para, qa)
            if i is None or i >= len(said):
                continue
            cases += _cases_of(said[i], claim_lang, qa["question"], evidence, i, source, said, rng, split)
    return cases


def qa_cases(name: str, split: str, qa_dir: Path, limit: int, seed: int = 11) -> list[Case]:
    """Cases from a native QA set: the claim is the answer's sentence, the evidence its passage's."""
    from rag.evaluation.qa_sets import SETS, load_set
    from rag.ingest.chunking import sentence_spans

    rng = random.Random(seed)
    language = SETS[name].language
    passages = load_set(name, split, qa_dir)
    rng.shuffle(passages)
    cases: list[Case] = []
    for passage in passages:
        questions = [q for q in passage.questions if q.answers]
        if not questions:
            continue
        spans = sentence_spans(passage.text)[:EVIDENCE]
        sentences = [passage.text[s:e] for s, e in spans]
        q = rng.choice(questions)
        start = q.answers[0][0]
        i = next((k for k, (s, e) in enumerate(spans) if s <= start < e), None)
        if i is None or len(sentences) < 2:
            continue
        cases += _cases_of(
            answer_clause(sentences[i], start - spans[i][0]),
            language,
            q.question,
            sentences,
            i,
            language,
            sentences,
            rng,
            f"{name}-{split}",
        )
        if len({c.claim for c in cases if c.kind == "supported"}) >= limit:
            break
    return cases


def _cases_of(
    claim: str,
    language: str,
    question: str,
    evidence: Sequence[str],
    cited: int,
    evidence_language: str,
    said: Sequence[str],
    rng: random.Random,
    source: str,
) -> list[Case]:
    others = [s for k, s in enumerate(said) if k != cited]
    made = {"supported": claim, **perturbations(claim, language, others, rng)}
    return [
        Case(kind, text, language, question, tuple(evidence), cited, evidence_language, source)
        for kind, text in made.items()
    ]


def without_word_check(answerer: Any) -> Any:
    """A copy of ``answerer`` (sharing its models) whose word check and support scorer let every claim
    through."""
    from dataclasses import replace

    policy = replace(answerer.settings.policy, max_unsupported_words=10**6, min_claim_support=0.0)
    off = replace(answerer.settings, policy=policy)
    clone = answerer.with_search(answerer.search, answerer.settings.top_k)
    clone.settings = off
    return clone


Outcome = tuple[bool, "int | None", "float | None"]


def verified(
    cases: Sequence[Case], answerer: Any, quotes: list[list[str]] | None = None, scorer: Any = None
) -> list[Outcome]:
    """Per case: whether ``answerer`` (``without_word_check``) keeps the claim (citing any sentence), how
    many of its content words its cited sentences and the question lack (None: across languages, where
    the word check does not apply) and, across languages, the support scorer's probability (``scorer``:
    the answerer with its scorer on; None without one)."""
    out: list[Outcome] = []
    for case in cases:
        chosen = _sentences(case)
        base = {
            "question": case.question,
            "standalone_question": case.question,
            "language": case.language,
            "generator": "bench",
        }
        answer = answerer.verify(
            f"{case.claim} [{case.cited + 1}].",
            chosen,
            base,
            {},
            time.perf_counter(),
            " ".join(case.evidence),
        )
        kept = not answer.refused and not answer.dropped
        if quotes is not None:
            quotes.append([c.quote for c in answer.citations] if kept else [case.evidence[case.cited]])
        missing = None
        if kept:
            cited = [c for c in chosen if c.text in {q.quote for q in answer.citations}]
            missing = answerer.unsupported(case.claim, cited, case.question, case.language)
        scored = None
        if kept and missing is None and scorer is not None:
            scored = scorer.scored_support(case.claim, cited)
        out.append((kept, missing, scored))
    return out


def llm_claims(cases: Sequence[Case], answerer: Any, limit: int) -> list[dict[str, Any]]:
    """The claims the answer stage's LLM writes for the supported cases' questions (given the evidence
    as its sources), each with whether verification keeps it (word check off) and the words its cited
    sentences and the question lack: the sample to label by reading."""
    from rag.answer.claims import split_claims

    rows: list[dict[str, Any]] = []
    checker = without_word_check(answerer)
    asked = [c for c in cases if c.kind == "supported"][:limit]
    for case in asked:
        chosen = _sentences(case)
        messages = answerer.messages(case.question, chosen, case.language)
        reply = "".join(answerer._generate(messages, case.language))
        for claim in split_claims(reply):
            cited = next((m - 1 for m in claim.markers if 1 <= m <= len(chosen)), case.cited)
            made = Case(
                "llm",
                claim.text,
                case.language,
                case.question,
                case.evidence,
                cited,
                case.evidence_language,
                case.source,
            )
            cited_quotes: list[list[str]] = []
            ((kept, missing, scored),) = verified([made], checker, cited_quotes, answerer)
            rows.append(
                {
                    "source": case.source,
                    "language": case.language,
                    "evidence_language": case.evidence_language,
                    "question": case.question,
                    "claim": claim.text,
                    "cited": cited_quotes[0],
                    "kept_without_word_check": kept,
                    "missing_words": missing,
                    "support_score": scored,
                }
            )
    return rows


def _sentences(case: Case) -> list[Any]:
    """The case's evidence as the answer stage's sentences, each its own source: the answer stage caches
    vectors by source and span, and sentences of different cases must never share a key."""
    from rag.answer.values import Sentence

    return [
        Sentence(
            f"bench/{hashlib.sha1(t.encode()).hexdigest()[:16]}",
            0,
            len(t),
            t,
            "",
            case.evidence_language,
            relevance=1.0,
        )
        for t in case.evidence
    ]


def labelled_rates(
    rows: Sequence[dict[str, Any]], labels: dict[str, bool], bar: float = 0.0
) -> dict[str, Any]:
    """On the LLM's claims labelled by reading: supported ones dropped and unsupported ones caught, per
    number of unsupported words allowed (with the support scorer's ``bar`` across languages; off: no
    check)."""
    picked = [r for r in rows if r["claim"] in labels]
    out: dict[str, Any] = {
        "labelled": len(picked),
        "unsupported": sum(not labels[r["claim"]] for r in picked),
    }
    for t in TOLERANCES:
        outcomes = [
            (r["kept_without_word_check"], r["missing_words"], r.get("support_score")) for r in picked
        ]
        kept = kept_at(outcomes, t, bar if t != TOLERANCES[-1] else 0.0)
        good = [k for r, k in zip(picked, kept) if labels[r["claim"]]]
        bad = [k for r, k in zip(picked, kept) if not labels[r["claim"]]]
        out["off" if t == TOLERANCES[-1] else str(t)] = {
            "supported_dropped": round(sum(not k for k in good) / len(good), 3) if good else None,
            "unsupported_caught": round(sum(not k for k in bad) / len(bad), 3) if bad else None,
        }
    return out


def kept_at(outcomes: Sequence[Outcome], tolerance: int, bar: float = 0.0) -> list[bool]:
    """Whether each claim is kept with at most ``tolerance`` unsupported words and, across languages, a
    support score of at least ``bar``."""
    return [
        kept and (missing is None or missing <= tolerance) and (scored is None or scored >= bar)
        for kept, missing, scored in outcomes
    ]


TOLERANCES = (0, 1, 2, 3, 10**6)


def rates(cases: Sequence[Case], kept: Sequence[bool]) -> dict[str, Any]:
    """Per kind: claims, and the share caught (perturbations) or dropped (supported)."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        picked = [k for c, k in zip(cases, kept) if c.kind == kind]
        if picked:
            share = sum(not k for k in picked) / len(picked)
            out[kind] = {
                "claims": len(picked),
                ("dropped" if kind == "supported" else "caught"): round(share, 3),
            }
    return out


def bench_faithfulness(args: Any) -> dict[str, Any]:
    from rag.answer.answerer import Answerer
    from rag.embed import embedder_from
    from rag.evaluation.qa_sets import SETS
    from rag.evaluation.xquad_qa import SPLITS
    from rag.settings import Settings

    settings = Settings.from_env()
    answerer = Answerer(lambda q, k: [], embedder_from(settings), None, settings)
    checker = without_word_check(answerer)
    result: dict[str, Any] = {"bench": "faithfulness", "splits": {}}
    tolerance, bar = settings.policy.max_unsupported_words, settings.policy.min_claim_support
    result["max_unsupported_words"] = tolerance
    result["min_claim_support"] = bar if answerer.scorer is not None else None
    for split, articles in SPLITS.items():
        groups = {"xquad": xquad_cases(Path(args.xquad), articles[: args.articles or None], f"xquad-{split}")}
        for name in SETS:
            groups[name] = qa_cases(name, split, settings.qa_dir, args.per_set)
        figures: dict[str, Any] = {}
        every: list[tuple[Case, Outcome]] = []
        for name, cases in groups.items():
            outcomes = verified(cases, checker, scorer=answerer)
            every += list(zip(cases, outcomes))
            figures[name] = rates(cases, kept_at(outcomes, tolerance, bar))
        cases_all = [c for c, _ in every]
        outcomes_all = [o for _, o in every]
        cross = [(c, o) for c, o in every if c.language != c.evidence_language]
        same = [(c, o) for c, o in every if c.language == c.evidence_language]
        figures["all"] = rates(cases_all, kept_at(outcomes_all, tolerance, bar))
        figures["same language"] = rates([c for c, _ in same], kept_at([o for _, o in same], tolerance, bar))
        figures["across languages"] = rates(
            [c for c, _ in cross], kept_at([o for _, o in cross], tolerance, bar)
        )
        figures["word check off"] = rates(cases_all, kept_at(outcomes_all, 10**6))  # and the scorer off
        figures["scorer off"] = rates(cases_all, kept_at(outcomes_all, tolerance))
        figures["across languages, scorer off"] = rates(
            [c for c, _ in cross], kept_at([o for _, o in cross], tolerance)
        )
        figures["tolerance curve"] = {
            str(t): rates(cases_all, kept_at(outcomes_all, t, bar)) for t in TOLERANCES[:-1]
        }
        figures["missed examples"] = [
            {"kind": c.kind, "claim": c.claim, "cited": c.evidence[c.cited]}
            for c, k in zip(cases_all, kept_at(outcomes_all, tolerance, bar))
            if k and c.kind != "supported"
        ][:12]
        if args.llm and split == "dev":
            figures["llm claims"] = _llm_stage(args, settings, answerer, groups)
        result["splits"][split] = figures
    return result


def _llm_stage(args: Any, settings: Any, answerer: Any, groups: dict[str, list[Case]]) -> dict[str, Any]:
    """The local LLM's own claims on dev questions (``--llm`` per source), with figures where labelled."""
    from rag.answer.answerer import Answerer
    from rag.generate.factory import make_generator

    generator = make_generator(settings, "local", [Answerer.system_message(settings.prompts_dir)])
    writer = Answerer(lambda q, k: [], answerer.embedder, generator, settings)
    rows = [row for cases in groups.values() for row in llm_claims(cases, writer, args.llm)]
    labels: dict[str, bool] = {}
    if args.labels:
        for line in Path(args.labels).read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                labels[item["claim"]] = bool(item["supported"])
    bar = settings.policy.min_claim_support
    return {"claims": rows, "figures": labelled_rates(rows, labels, bar) if labels else None}


def faithfulness_markdown(result: dict[str, Any]) -> str:
    lines: list[str] = []
    for split, figures in result["splits"].items():
        lines += [
            f"## {split}",
            "",
            "| claims from | supported dropped | " + " | ".join(f"{k} caught" for k in KINDS[1:]) + " |",
            "|---|---|" + "---|" * (len(KINDS) - 1),
        ]
        for name, f in figures.items():
            if name in ("missed examples", "tolerance curve"):
                continue
            cells = [f.get("supported", {}).get("dropped", "")]
            cells += [f"{f[k]['caught']} ({f[k]['claims']})" if k in f else "" for k in KINDS[1:]]
            lines.append(f"| {name} | " + " | ".join(str(c) for c in cells) + " |")
        lines += ["", f"Unsupported words allowed, {split} (all claims):", ""]
        for t, f in figures["tolerance curve"].items():
            caught = ", ".join(f"{k} {f[k]['caught']}" for k in KINDS[1:] if k in f)
            lines.append(f"- {t}: supported dropped {f['supported']['dropped']}; caught: {caught}")
        lines.append("")
    return "\n".join(lines)


def faithfulness_plot(result: dict[str, Any], path: Path) -> None:
    from rag.evaluation.report import figure

    with figure(path, 1, 1, figsize=(7, 4)) as ax:
        for offset, (split, figures) in enumerate(result["splits"].items()):
            f = figures["all"]
            values = [1 - f["supported"]["dropped"]] + [f[k]["caught"] for k in KINDS[1:] if k in f]
            xs = [k + 0.4 * offset for k in range(len(values))]
            ax.bar(xs, values, 0.4, label=split)
        ax.set_xticks([k + 0.2 for k in range(len(KINDS))], ["supported kept", *KINDS[1:]], rotation=20)
        ax.set_ylim(0, 1)
        ax.legend()
