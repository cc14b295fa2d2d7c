"""``python -m rag.setup [embedding|llm|llm-small|all] [--backend B]``: assemble the named models (default:
the embedding model and the LLM), then export the embedding model for the configured ONNX backend.
Both steps are no-ops when their output is already there and current."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.setup", description=__doc__)
    parser.add_argument(
        "models",
        nargs="*",
        default=["embedding", "llm"],
        help="models to assemble: embedding, llm, llm-small or all (default: embedding llm)",
    )
    parser.add_argument("--backend", help="embedding backend to prepare (default: RAG_EMBEDDING_BACKEND)")
    parser.add_argument("--no-export", action="store_true", help="assemble only; no ONNX export")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from rag.setup import models

    if models.main(list(args.models)) != 0:
        return 1
    if args.no_export:
        return 0
    from rag.setup.onnx_export import prepare

    return prepare(args.backend)


if __name__ == "__main__":
    sys.exit(main())
