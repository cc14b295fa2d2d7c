"""Prompt templates, kept as files in ``prompts/`` and loaded by name (answer stage).

A template is a text file ``prompts/<name>.txt`` using ``$variable`` placeholders (``string.Template``, so
braces in examples need no escaping); a per-language variant ``<name>.<lang>.txt`` wins over the plain
one. Rendering with a missing variable, or an unknown name, is a ``ConfigError`` that says which.
The templates ship inside the wheel as ``rag.templates`` (``pyproject.toml`` maps ``prompts/`` there);
every function takes the ``folder`` to read (the answerer passes its settings' ``RAG_PROMPTS_DIR``), the
shipped one when it is None.
"""

from __future__ import annotations

import string
from functools import cache, lru_cache
from pathlib import Path

from rag.errors import ConfigError


@lru_cache(maxsize=1)
def shipped_dir() -> Path:
    """The templates that came with the package: ``rag.templates`` in an installed wheel, the checkout's
    ``prompts/`` in an editable install (which cannot map a data folder into a package)."""
    from importlib.util import find_spec

    try:
        # a data-only (namespace) package: its folder is its search location
        spec = find_spec("rag.templates")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "prompts"


@cache
def _read(path: Path) -> string.Template:
    return string.Template(path.read_text(encoding="utf-8"))


def template(name: str, language: str | None = None, folder: Path | None = None) -> string.Template:
    """The template ``name`` (its ``language`` variant when there is one)."""
    folder = folder or shipped_dir()
    candidates = ([folder / f"{name}.{language}.txt"] if language else []) + [folder / f"{name}.txt"]
    for path in candidates:
        if path.is_file():
            return _read(path)
    raise ConfigError(
        f"no prompt template {name!r} in {folder} (looked for "
        f"{', '.join(p.name for p in candidates)}; RAG_PROMPTS_DIR)"
    )


def has_variant(name: str, language: str, folder: Path | None = None) -> bool:
    """Whether ``name`` has its own ``language`` file (not only the plain template)."""
    return bool(language) and ((folder or shipped_dir()) / f"{name}.{language}.txt").is_file()


def variables(name: str, language: str | None = None, folder: Path | None = None) -> set[str]:
    """Names of the ``$variables`` a template uses."""
    return placeholders(template(name, language, folder).template)


def placeholders(text: str) -> set[str]:
    """Names of the ``$variables`` in template text."""
    found = string.Template.pattern.finditer(text)
    return {m.group("named") or m.group("braced") for m in found if m.group("named") or m.group("braced")}


def render(name: str, /, language: str | None = None, folder: Path | None = None, **values: object) -> str:
    """Fill template ``name`` with ``values``; every placeholder must be given."""
    tpl = template(name, language, folder)
    try:
        return tpl.substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise ConfigError(
            f"prompt {name!r} needs the variable {exc.args[0]!r} "
            f"(given: {', '.join(sorted(values)) or 'none'})"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"prompt {name!r} is malformed: {exc}") from None
