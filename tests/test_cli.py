"""The `rag` command: instant help, JSON output with the API's field names, plain error messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from .conftest import ROOT


def rag(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def test_help_is_instant_and_lists_the_verbs():
    started = time.perf_counter()
    proc = rag("--help")
    assert proc.returncode == 0
    for verb in ("ingest", "search", "ask", "chat", "sources", "remove", "bench"):
        assert verb in proc.stdout
    heavy = "('torch', 'chromadb', 'numpy', 'gradio')"
    code = f"import sys, rag.cli; rag.cli.build_parser(); sys.exit(any(m in sys.modules for m in {heavy}))"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0, "heavy import at start-up"
    assert time.perf_counter() - started < 30  # generous: the real check is the import check above


def test_search_json_sources_and_errors(seed_index):
    proc = rag("--index", str(seed_index), "search", "Siapa yang dikutip oleh TASS?", "-k", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert len(hits) == 2
    assert {"source", "start", "end", "text", "score", "language", "title"} <= set(hits[0])
    assert "Zakharova" in hits[0]["text"]

    listing = json.loads(rag("--index", str(seed_index), "sources", "--json").stdout)
    assert {r["language"] for r in listing} == {"id", "en"}

    missing = rag("--index", str(seed_index), "remove", "nope.txt")
    assert missing.returncode == 1 and "no article 'nope.txt'" in missing.stderr
    assert "Traceback" not in missing.stderr

    empty = rag("--index", str(seed_index), "search", "  ")
    assert empty.returncode == 1 and "empty" in empty.stderr and "Traceback" not in empty.stderr


def test_ingest_reports_skips_and_bad_settings(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    proc = rag("--index", str(tmp_path / "idx"), "ingest", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["skipped"] == [{"source": str(tmp_path / "empty.txt"), "reason": "empty: no text"}]

    bad = rag("--index", str(tmp_path / "idx"), "sources", env={"RAG_TOP_K": "lots"})
    assert bad.returncode == 1 and "RAG_TOP_K" in bad.stderr and "Traceback" not in bad.stderr

    nothing = rag("--index", str(tmp_path / "idx"), "ingest", str(tmp_path / "absent"))
    assert nothing.returncode == 1 and "no such file" in nothing.stderr

    empty = rag("--index", str(tmp_path / "idx"), "search", "Who did TASS quote?")
    assert empty.returncode == 1 and "is empty: run `rag ingest PATH`" in empty.stderr

    bare = rag("--index", str(tmp_path / "idx"), "ingest")
    assert bare.returncode == 1 and "nothing to ingest" in bare.stderr
    refused = rag("--index", str(tmp_path / "idx"), "ingest", "http://127.0.0.1:9/story.html", "--json")
    assert refused.returncode == 0, refused.stderr
    (skip,) = json.loads(refused.stdout)["skipped"]
    assert "loopback" in skip["reason"] and "RAG_FETCH_ALLOW_PRIVATE" in skip["reason"]


def test_watch_runs_rounds_and_prints_one_line_each(tmp_path):
    folder = tmp_path / "desk"
    folder.mkdir()
    (folder / "a.txt").write_text(
        "Kerry and Lavrov met in Geneva on Monday to discuss Syria.", encoding="utf-8"
    )
    proc = rag("--index", str(tmp_path / "idx"), "watch", str(folder), "--rounds", "2", "--every", "0.001")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("round")]
    assert lines[0].startswith("round 1: added 1, updated 0, removed 0") and "unchanged 1" in lines[1], lines


def test_chat_refuses_a_public_address_without_credentials(tmp_path):
    proc = rag(
        "--index",
        str(tmp_path / "index"),
        "chat",
        "--host",
        "0.0.0.0",
        env={"RAG_CHAT_USER": "", "RAG_CHAT_PASSWORD": ""},
    )
    assert proc.returncode == 1
    assert "RAG_CHAT_USER and RAG_CHAT_PASSWORD" in proc.stderr and "Traceback" not in proc.stderr


def test_chat_serves_the_page_behind_credentials(seed_index):
    """The real `rag chat` command: with credentials set, the page's config needs a login."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "RAG_CHAT_USER": "ann",
        "RAG_CHAT_PASSWORD": "s3cret",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rag.cli",
            "--index",
            str(seed_index),
            "chat",
            "--port",
            str(port),
            "--generator",
            "extractive",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # printed once the page is up
        assert line.startswith(f"chat page on http://127.0.0.1:{port}"), (
            proc.stderr.read() if not line else line
        )
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/config").status_code == 401
        assert httpx.post(f"{url}/login", data={"username": "ann", "password": "wrong"}).status_code >= 400
        with httpx.Client() as client:
            assert (
                client.post(f"{url}/login", data={"username": "ann", "password": "s3cret"}).status_code == 200
            )
            assert client.get(f"{url}/config").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
