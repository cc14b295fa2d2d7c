"""``rag eval`` and ``rag bench``: the evaluation verbs (they import ``rag.evaluation`` only when run)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rag.cli.common import print_json as _print_json


def eval_verbs(verbs: Any) -> None:
    """eval and bench."""
    _xquad_options(_eval_verb(verbs))
    p = verbs.add_parser("bench", help="print speed and quality figures (see docs/benchmarks.md)")
    from rag.evaluation.bench import add_arguments

    add_arguments(p)


def _eval_verb(verbs: Any) -> argparse.ArgumentParser:
    """eval: measure retrieval, citations and answers on a question set."""
    p = verbs.add_parser("eval", help="measure retrieval, citations and answers on a question set")
    p.add_argument(
        "dataset",
        metavar="DATASET",
        help="JSONL question set, or a built-in name (seeds); xquad-r for the XQuAD-R retrieval "
        "benchmark; xquad-qa for the held-out multilingual answer benchmark; qa for a pile built from a "
        "native-speaker QA set (--set); dates for questions only publication dates answer (first / latest "
        "report)",
    )
    p.add_argument(
        "--corpus", metavar="PATH", help="articles to index into a temporary index (default: seeds/)"
    )
    p.add_argument("--retrieval-only", action="store_true", help="no answers: retrieval metrics only")
    p.add_argument(
        "--generator",
        choices=("local", "openai", "extractive"),
        help="who writes the answers (default: RAG_GENERATOR or local)",
    )
    p.add_argument("--out", metavar="DIR", default="eval-out", help="report folder (default: eval-out/)")
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="NAME:KEY=VALUE,...",
        default=[],
        help="named configurations run on the same data, e.g. dense:retrieval=dense "
        "bm25:retrieval=bm25 small:chunk_chars=400,chunk_overlap_chars=80",
    )
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    return p


def _xquad_options(p: argparse.ArgumentParser) -> None:
    """The options of ``rag eval xquad-r`` and ``rag eval xquad-qa``."""
    p.add_argument(
        "--data", metavar="DIR", help="xquad-r: the XQuAD-R folder (default: ../shared/bench/xquad-r)"
    )
    p.add_argument(
        "--sample", type=int, metavar="N", help="xquad-r: only the first N paragraphs of each language"
    )
    p.add_argument(
        "--answers", type=int, default=30, metavar="N", help="xquad-r: questions answered for EM/F1"
    )
    p.add_argument(
        "--questions",
        type=int,
        metavar="N",
        help="xquad-r LAReQA: score N questions per language (evenly spread) against the whole pool",
    )
    p.add_argument(
        "--part", choices=("lareqa", "ours", "both"), default="both", help="xquad-r: which protocol"
    )
    p.add_argument(
        "--split",
        choices=("dev", "test"),
        default="dev",
        help="xquad-qa: dev (XQuAD-R articles 0-23, for tuning) or test (24-47, for reporting only)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="xquad-qa, qa: only the first N questions")
    from rag.evaluation.qa_sets import SETS

    p.add_argument(
        "--set",
        dest="qa_set",
        choices=sorted(SETS),
        help="qa: the native-speaker QA set (../shared/qa, RAG_QA_DIR) the pile is built from; --split "
        "dev or test (by document)",
    )
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="xquad-qa, dev split: rank every question's evidence with the gate open and fit the answer "
        "policy's decision",
    )
    p.add_argument(
        "--every-question",
        action="store_true",
        help="xquad-qa: ask every question of the split's articles (the calibration set; about 1,200)",
    )


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.evaluation.report import comparison_markdown, latency_table, metrics_table
    from rag.evaluation.run import evaluate

    if args.dataset == "xquad-r":
        return _eval_xquad(args)
    if args.dataset == "xquad-qa":
        from rag.evaluation.xquad_qa import evaluate_pile

        result = evaluate_pile(
            args.split,
            Path(args.data) if args.data else None,
            args.retrieval_only,
            args.generator,
            args.out,
            args.compare,
            args.limit,
            args.calibrate,
            args.every_question,
        )
        if args.calibrate:
            _print_json(result["calibration"])
            return 0
    elif args.dataset == "qa":
        from rag.errors import ConfigError
        from rag.evaluation.qa_pile import QUESTIONS, evaluate_qa_pile
        from rag.settings import Settings

        if not args.qa_set:
            raise ConfigError("rag eval qa needs --set NAME (one of the sets in ../shared/qa)")
        result = evaluate_qa_pile(
            args.qa_set,
            args.split,
            Settings.from_env().qa_dir,
            args.retrieval_only,
            args.generator,
            args.out,
            args.compare,
            questions=args.limit or QUESTIONS,
        )
    elif args.dataset == "dates":
        from rag.evaluation.dated import evaluate_dated

        result = evaluate_dated(args.generator, args.out, args.compare)
    else:
        result = evaluate(
            args.dataset, args.corpus, args.index, args.retrieval_only, args.generator, args.out, args.compare
        )
    reports = result if args.compare else {"default": result}
    if args.json:
        _print_json({name: {"metrics": r["metrics"], "latency": r["latency"]} for name, r in reports.items()})
        return 0
    if args.compare:
        print(comparison_markdown(reports))
    else:
        print(metrics_table({"all": result["metrics"]}, "set") + "\n")
        print(metrics_table(result["by_language"], "question language") + "\n")
        print(metrics_table(result["by_document_language"], "document language") + "\n")
        print(metrics_table(result["by_pair"], "pair") + "\n")
        print(latency_table(result["latency"]) + "\n")
    for name, report in reports.items():
        chosen = {k: v for k, v in report["metrics"].items() if k.startswith("chose_right")}
        if chosen:
            print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in chosen.items()))
    problems = next(iter(reports.values()))["config"]["problems"]
    for p in problems:
        print(f"skipped line {p['line']}: {p['message']}", file=sys.stderr)
    print(f"reports in {args.out}/")
    return 0


def _eval_xquad(args: argparse.Namespace) -> int:
    from rag.embed import embedder_from
    from rag.evaluation import xquad
    from rag.settings import Settings

    root = Path(args.data) if args.data else Settings.from_env().xquad_dir
    embedder = embedder_from(Settings.from_env())
    result: dict[str, Any] = {"data": str(root), "sample": args.sample}
    if args.part in ("lareqa", "both"):
        result["lareqa"] = xquad.lareqa(embedder, root, args.sample, questions_per_language=args.questions)
    if args.part in ("ours", "both"):
        result["ours"] = xquad.our_setting(embedder, root, args.sample, args.answers, args.generator)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "xquad-r.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "xquad-r.md").write_text(xquad.markdown(result), encoding="utf-8")
    if args.json:
        _print_json(result)
    else:
        print(xquad.markdown(result))
        print(f"reports in {out}/")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from rag.evaluation.bench import run

    return run(args)
