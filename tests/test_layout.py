"""The package's layout holds: imports run one way between the stages (docs/design.md), no module imports
another that imports it back (lazy imports count), and the core never imports evaluation, set-up or the UI."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "rag"

# stage -> the stages it may import (besides itself); errors and settings are open to all
ALLOWED = {
    "errors": set(),
    "settings": {"errors"},
    "ingest": set(),
    "embed": set(),
    "generate": set(),
    "index": {"ingest", "embed"},
    "answer": {"ingest", "embed", "index", "generate"},
    "api": {"ingest", "embed", "index", "generate", "answer"},
    "ui": {"api", "answer", "ingest", "index"},  # values (Answer, IngestReport) besides the api
    "serve": {"api", "answer", "ingest", "index"},  # the HTTP API: as the UI
    "setup": {"embed"},
    "evaluation": {"ingest", "embed", "index", "generate", "answer", "api", "ui", "serve", "setup"},
    "train": {"ingest", "embed", "index", "answer", "evaluation"},  # fits the models the stages ship
    "cli": {"api", "ui", "serve", "evaluation", "embed", "index", "answer", "train"},
    "__init__": {"api"},
}
OPEN = {"errors", "settings"}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _imports() -> dict[str, set[str]]:
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("rag.")}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rag":
                submodules = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
                found |= submodules  # `from pkg import module` depends on that module, not on pkg's face
                if len(submodules) < len(node.names):
                    found.add(node.module)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_stages_import_one_way():
    wrong = []
    for module, targets in _imports().items():
        stage = _stage(module)
        for target in targets:
            other = _stage(target)
            if other != stage and other not in OPEN and other not in ALLOWED[stage]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the stage order (docs/design.md):\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = _imports()
    edges = graph  # a module that imports its own package's face depends on what the face re-exports
    cycles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(trail[trail.index(target) :] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_core_never_imports_evaluation_setup_or_ui():
    core = {"ingest", "embed", "index", "generate", "answer", "api"}
    bad = [
        f"{m} -> {t}"
        for m, ts in _imports().items()
        if _stage(m) in core
        for t in ts
        if _stage(t) in {"evaluation", "setup", "ui", "serve", "cli", "train"}
    ]
    assert not bad, "\n".join(bad)
