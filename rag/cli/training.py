"""``rag train reader``, ``rag train support`` and ``rag train events``: fit the answer stage's reader and
its support scorer, and the index's event similarity (imports ``rag.train``, and torch, only when run)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rag.cli.common import print_json


def train_verbs(verbs: Any) -> None:
    p = verbs.add_parser("train", help="train a model the package ships (the reader of the answer stage)")
    what = p.add_subparsers(dest="model", required=True, metavar="MODEL")
    r = what.add_parser(
        "reader",
        help="fit the reader on ../shared/qa (dev splits) and XQuAD-R articles 0-23; report held-out figures",
    )
    r.add_argument(
        "--out", metavar="FILE", help="weights to write (default: the package's rag/answer/reader.npz)"
    )
    r.add_argument("--report", metavar="FILE", help="figures as JSON (default: beside the weights)")
    _network_flags(r, "reader")
    r.add_argument(
        "--without", default="", metavar="SET,...", help="leave these QA sets out (leave-set-out rows)"
    )
    r.add_argument(
        "--question-self",
        action="store_true",
        help="each block lets the question's tokens attend to each other",
    )
    r.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="a quick run: N lists per source, one XQuAD-R article per split",
    )
    s = what.add_parser(
        "support",
        help="fit the support scorer (does a sentence say what a claim says, across languages) on XQuAD-R "
        "articles 0-17; its bar on 18-23",
    )
    s.add_argument("--out", metavar="FILE", help="weights (default: the package's rag/answer/support.npz)")
    _network_flags(s, "scorer")
    s.add_argument("--draws", type=int, default=12, help="claims drawn per paragraph")
    e = what.add_parser(
        "events",
        help="fit the event similarity on the SemEval-2022 Task 8 rated pairs (fit part; rag bench events "
        "reports the held-out part)",
    )
    e.add_argument("--pairs", default="../shared/bench/semeval2022-task8/pairs.csv", help="the rated pairs")
    e.add_argument(
        "--out", metavar="FILE", help="model to write (default: the package's rag/index/events.json)"
    )


def _network_flags(p: argparse.ArgumentParser, model: str) -> None:
    """The flags every trained network of the answer stage takes (its state cache, fit and output)."""
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="token states of the training texts, kept between runs (default: RAG_MODELS_DIR/reader-states)",
    )
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--d", type=int, default=128, help=f"width of the {model}'s layers")
    p.add_argument("--layers", type=int, default=1, help="cross-attention blocks")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _state_embedder(settings: Any, model: str) -> Any:
    """The local encoder, which gives the token states training ``model`` reads (a remote one does not)."""
    from rag.embed import embedder_from, has_states
    from rag.errors import ConfigError

    embedder = embedder_from(settings)
    if not has_states(embedder):
        raise ConfigError(
            f"training the {model} needs the local encoder's token states: unset RAG_EMBEDDING_URL"
        )
    return embedder


def cmd_train(args: argparse.Namespace) -> int:
    if args.model == "support":
        return _train_support(args)
    if args.model == "events":
        return _train_events(args)
    from rag.answer.reader import WEIGHTS
    from rag.errors import ConfigError
    from rag.evaluation.qa_sets import SETS
    from rag.settings import Settings
    from rag.train.command import TrainOptions, run

    settings = Settings.from_env()
    without = tuple(s for s in args.without.split(",") if s)
    unknown = [s for s in without if s not in SETS]
    if unknown:
        raise ConfigError(f"--without: unknown QA set(s) {', '.join(unknown)} (one of {', '.join(SETS)})")
    embedder = _state_embedder(settings, "reader")
    options = TrainOptions(
        qa_dir=settings.qa_dir,
        xquad_dir=settings.xquad_dir,
        cache=Path(args.cache) if args.cache else settings.models_dir / "reader-states",
        out=Path(args.out) if args.out else WEIGHTS,
        without=without,
        epochs=args.epochs,
        seed=args.seed,
        d=args.d,
        layers=args.layers,
        question_self=args.question_self,
        lr=args.lr,
        limit=args.limit,
        progress=not args.no_progress,
        report=Path(args.report) if args.report else None,
    )
    report = run(options, embedder)
    if args.json:
        print_json(report)
    else:
        for name, row in report["held_out"].items():
            print(f"{name}: reader {row['reader']}  cosine {row['cosine']}")
        print(f"weights in {options.out}")
    return 0


def _train_support(args: argparse.Namespace) -> int:
    from rag.answer.reader import SUPPORT_WEIGHTS
    from rag.settings import Settings
    from rag.train.support import SupportOptions, run_support

    settings = Settings.from_env()
    embedder = _state_embedder(settings, "support scorer")
    options = SupportOptions(
        xquad_dir=settings.xquad_dir,
        cache=Path(args.cache) if args.cache else settings.models_dir / "reader-states",
        out=Path(args.out) if args.out else SUPPORT_WEIGHTS,
        epochs=args.epochs,
        seed=args.seed,
        d=args.d,
        layers=args.layers,
        lr=args.lr,
        draws=args.draws,
        progress=not args.no_progress,
    )
    report = run_support(options, embedder)
    if args.json:
        print_json(report)
    else:
        print(f"bar {report['bar']}: {json.dumps(report['calibration'])}")
        print(f"weights in {options.out}")
    return 0


def _train_events(args: argparse.Namespace) -> int:
    from rag.evaluation.semeval import load_pairs
    from rag.index.events import MODEL_FILE
    from rag.settings import Settings
    from rag.train.events import train_events

    report = train_events(load_pairs(Path(args.pairs)), Settings.from_env(), Path(args.out or MODEL_FILE))
    print_json(report)
    return 0
