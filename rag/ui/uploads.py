"""Uploaded files: the pure parts live in ``rag.ingest.uploads`` (the HTTP API shares them); re-exported
here for the chat page."""

from __future__ import annotations

from rag.ingest.uploads import (
    MAX_NAME_CHARS,
    FileResult,
    file_results,
    ingest_uploads,
    remove_uploaded,
    safe_name,
    save_uploads,
    too_large,
    upload_dir,
)

__all__ = [
    "MAX_NAME_CHARS",
    "FileResult",
    "file_results",
    "ingest_uploads",
    "remove_uploaded",
    "safe_name",
    "save_uploads",
    "too_large",
    "upload_dir",
]
