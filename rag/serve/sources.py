"""The work of ``POST /v1/sources``: files uploaded as a form, or web pages and feeds named in JSON, each
ingested with a result line of its own (added, updated, unchanged, skipped with its reason)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from rag.ingest.uploads import FileResult, file_results, ingest_uploads, safe_name, too_large
from rag.serve.bodies import SourcesRequest
from rag.serve.errors import ApiError

if TYPE_CHECKING:
    from rag.api import Assistant


FILE_SCHEMA = {"type": "string", "format": "binary"}
SOURCES_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["files"],
                }
            },
            "application/json": {"schema": SourcesRequest.model_json_schema()},
        },
    }
}


async def sources_request(request: Request) -> SourcesRequest:
    try:
        body = SourcesRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
        raise ApiError(400, f"invalid request: {where}", code="invalid_request") from None
    if not body.urls and not body.feed:
        raise ApiError(400, "nothing to ingest: give 'urls' or 'feed'", code="invalid_request")
    return body


def ingest_web(assistant: Assistant, body: SourcesRequest) -> dict[str, Any]:
    """Fetch and ingest the body's URLs and feed: a result line per page, as for files."""
    report = assistant.ingest(body.urls, progress=False, feeds=[body.feed] if body.feed else [])
    return {"files": [asdict(r) for r in file_results(report, {})]}


def ingest_files(
    assistant: Assistant, files: list[UploadFile], folder: Path, max_bytes: int
) -> dict[str, Any]:
    """Copy the uploads (sanitised names) into a temp folder, then save and ingest each as the chat page
    does (``ingest_uploads``: a wrong type or size is a ``skipped`` line, never a failed request)."""
    rows: list[FileResult] = []
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
        paths, originals = [], {}
        for i, f in enumerate(files):
            original = f.filename or "upload"
            if f.size is not None and f.size > max_bytes:  # not even copied
                rows.append(FileResult(original, "skipped", too_large(f.size, max_bytes)))
                continue
            path = Path(tmp) / str(i) / safe_name(original)
            path.parent.mkdir()
            with path.open("wb") as out:
                shutil.copyfileobj(f.file, out)
            paths.append(str(path))
            originals[path.name] = original
        rows += ingest_uploads(
            lambda targets: assistant.ingest(targets, progress=False), paths, folder, max_bytes, originals
        )
    return {"files": [asdict(r) for r in rows]}
