"""What the verbs share: opening the index, printing JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any


def open_assistant(args: argparse.Namespace) -> Any:
    from rag.api import Assistant

    return Assistant.open(args.index)


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))
