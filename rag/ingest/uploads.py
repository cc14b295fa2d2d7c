"""Uploaded files (pure, ingest stage): safe names, allowed types and sizes, copying into the upload
folder, and the per-file result lines of an ingest. The chat page (``rag.ui.uploads`` re-exports these)
and the HTTP API (``rag.serve``) share them."""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class FileResult:
    """What happened to one uploaded file."""

    name: str
    result: str  # added, updated, unchanged, skipped
    detail: str = ""


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
