"""Uploaded files (pure, ingest stage): the upload folder, safe names, allowed types and sizes, copying
into the folder then ingesting file by file with a result line each, and removing an uploaded file with
its article. The chat page (``rag.ui.uploads`` re-exports these) and the HTTP API (``rag.serve``) share
them."""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path, PurePosixPath
from typing import Protocol

from rag.ingest.corpus import SUPPORTED_SUFFIXES

MAX_NAME_CHARS = 120


class _Skip(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def reason(self) -> str: ...


class IngestOutcome(Protocol):
    """What ``file_results`` reads of an ingest report (``rag.index.build.IngestReport``)."""

    @property
    def added(self) -> Sequence[str]: ...
    @property
    def updated(self) -> Sequence[str]: ...
    @property
    def unchanged(self) -> Sequence[str]: ...
    @property
    def skipped(self) -> Sequence[_Skip]: ...


class _HasIndexDir(Protocol):
    @property
    def index_dir(self) -> str | PathLike[str]: ...


@dataclass(frozen=True)
class FileResult:
    """What happened to one uploaded file."""

    name: str
    result: str  # added, updated, unchanged, skipped
    detail: str = ""


def upload_dir(settings: _HasIndexDir) -> Path:
    """The folder uploads are stored in: ``uploads`` in the index folder (``rag reindex`` keeps them)."""
    return Path(settings.index_dir) / "uploads"


def remove_uploaded(source: str, folder: Path) -> bool:
    """Delete ``source`` when it is a file stored in the upload ``folder`` (its article was removed)."""
    path = Path(source)
    if path.parent.resolve() != folder.resolve():
        return False
    path.unlink(missing_ok=True)
    return True


def safe_name(name: str) -> str:
    """A file name safe to write into the upload folder: no folders, no traversal, no odd characters."""
    base = PurePosixPath(unicodedata.normalize("NFKC", name).replace("\\", "/")).name
    base = re.sub(r"[^\w.\-]+", "_", base, flags=re.UNICODE).strip("._-") or "upload"
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = suffix[:10].lower()
    stem = stem[: MAX_NAME_CHARS - len(suffix) - 1] or "upload"
    return f"{stem}.{suffix}" if suffix else stem


def file_results(report: IngestOutcome, names: dict[str, str]) -> list[FileResult]:
    """Per-file lines of an ingest report; ``names`` maps a source to the name the user uploaded."""
    out = [FileResult(names.get(s, s), "added") for s in report.added]
    out += [FileResult(names.get(s, s), "updated", "new text replaced the old") for s in report.updated]
    out += [
        FileResult(names.get(s, s), "unchanged", "already indexed with the same text")
        for s in report.unchanged
    ]
    out += [FileResult(names.get(s.source, s.source), "skipped", s.reason) for s in report.skipped]
    return out


def save_uploads(
    paths: Sequence[str], folder: Path, max_bytes: int
) -> tuple[list[Path], list[FileResult], dict[str, str]]:
    """Copy uploaded temp files into ``folder`` under sanitized names; refuse wrong types and sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    saved, rejected, names = [], [], {}
    for raw in paths:
        path = Path(raw)
        original = path.name
        name = safe_name(original)
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            rejected.append(
                FileResult(
                    original,
                    "skipped",
                    f"unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}",
                )
            )
            continue
        size = path.stat().st_size
        if size > max_bytes:
            rejected.append(FileResult(original, "skipped", too_large(size, max_bytes)))
            continue
        target = folder / name
        shutil.copyfile(path, target)
        saved.append(target)
        names[str(target)] = original
    return saved, rejected, names


def too_large(size: int, max_bytes: int) -> str:
    return f"too large: {size / 2**20:.1f} MiB > {max_bytes / 2**20:.1f} MiB (RAG_MAX_FILE_MB)"


def ingest_uploads(
    ingest: Callable[[list[Path]], IngestOutcome],
    paths: Sequence[str],
    folder: Path,
    max_bytes: int,
    names: dict[str, str] | None = None,
    step: Callable[[int, int, str], None] | None = None,
    rows: list[FileResult] | None = None,
) -> list[FileResult]:
    """``save_uploads`` then ``ingest([file])`` file by file: a result line per file (refused ones first),
    appended to ``rows`` as they come (so a failure midway keeps the lines before it) and returned.
    ``names`` maps a temp file's name to the name the user uploaded (default: the file's own name);
    ``step(done, total, what)`` is told before and after each file."""
    shown = names or {}
    rows = [] if rows is None else rows
    saved, rejected, saved_names = save_uploads(paths, folder, max_bytes)
    rows += [FileResult(shown.get(r.name, r.name), r.result, r.detail) for r in rejected]
    display = {target: shown.get(name, name) for target, name in saved_names.items()}
    for i, target in enumerate(saved):
        if step is not None:
            step(i, len(saved), f"ingesting {display[str(target)]}")
        rows += file_results(ingest([target]), display)
        if step is not None:
            step(i + 1, len(saved), f"ingested {display[str(target)]}")
    return rows
