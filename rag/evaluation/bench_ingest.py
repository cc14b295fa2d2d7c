"""``rag bench ingest``: streaming ingest at growing corpus sizes, each in a fresh ``rag ingest`` process.

Articles are made of real XQuAD-R sentences (``--sentences`` random sentences of one language each, no
combination twice), so the encoder sees real text in 11 languages and no two articles are alike. For each
size: wall time, chunks and articles per second, peak resident memory (sampled from ``/proc`` every 0.2 s,
plus the kernel's high-water mark), the index size on disk, and a second, no-op ``rag ingest`` of the
unchanged corpus (what an incremental re-run costs at that size).

Sizes listed in ``--stand-in-embeddings`` are embedded by ``StandInEmbeddings``, an OpenAI-compatible
``/embeddings`` server on loopback that returns a hash-seeded random unit vector per text, through the
real remote-embeddings client (``RAG_EMBEDDING_URL``): everything but the encoder is real, so those runs
measure the pipeline's memory and overhead at sizes the CPU encoder would take hours to reach.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rag.errors import CorpusError, RagError
from rag.evaluation.report import machine
from rag.evaluation.xquad_r import xquad_paragraphs

log = logging.getLogger(__name__)

SAMPLE_EVERY_S = 0.2


def sentence_pools(root: Path) -> dict[str, list[str]]:
    """Every XQuAD-R sentence, by language (file name stem)."""
    pools = {}
    for path in sorted(Path(root).glob("*.json")):
        pools[path.stem] = [
            p["context"][s:e].strip()
            for p in xquad_paragraphs(root, path.stem)
            for s, e in p["sentence_breaks"]
            if e - s > 20
        ]
    if not pools:
        raise CorpusError(f"no XQuAD-R files in {root} (pass --xquad DIR or set RAG_XQUAD_DIR)")
    return pools


def write_articles(pools: dict[str, list[str]], count: int, sentences: int, out: Path, seed: int = 7) -> int:
    """``count`` distinct articles under ``out/<lang>/``, languages in turn; returns the bytes written."""
    rng = random.Random(seed)
    langs = sorted(pools)
    used: set[tuple[str, tuple[int, ...]]] = set()
    written = 0
    for i in range(count):
        lang = langs[i % len(langs)]
        pick = tuple(rng.sample(range(len(pools[lang])), sentences))
        while (lang, pick) in used:
            pick = tuple(rng.sample(range(len(pools[lang])), sentences))
        used.add((lang, pick))
        folder = out / lang
        folder.mkdir(parents=True, exist_ok=True)
        data = " ".join(pools[lang][j] for j in pick).encode("utf-8")
        (folder / f"{i:06d}.txt").write_bytes(data)
        written += len(data)
    return written


class StandInEmbeddings:
    """``POST /v1/embeddings`` on a loopback port: a 768-d unit vector seeded by each text's hash."""

    DIM = 768

    def __enter__(self) -> str:
        dim = self.DIM

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import numpy as np

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                data = []
                for i, text in enumerate(body["input"]):
                    seed = int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "little")
                    data.append(
                        {"index": i, "embedding": np.random.default_rng(seed).normal(size=dim).tolist()}
                    )
                payload = json.dumps({"object": "list", "data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


def measure(command: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``command``; its stdout, wall time, and resident memory over time (MiB) from ``/proc``."""
    started = time.perf_counter()
    samples: list[tuple[float, float]] = []
    high_water = 0.0
    # output goes to files: a pipe nobody reads until the end fills up (the --json report of 10k
    # articles is ~0.5 MB) and blocks the ingest for ever
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        proc = subprocess.Popen(
            command, stdout=out_file, stderr=err_file, text=True, env={**os.environ, **(env or {})}
        )
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
                samples.append((time.perf_counter() - started, int(fields["VmRSS"].split()[0]) / 1024))
                high_water = max(high_water, int(fields["VmHWM"].split()[0]) / 1024)
            except (OSError, KeyError, ValueError):
                pass
            time.sleep(SAMPLE_EVERY_S)
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if proc.returncode:
        raise RagError(f"{' '.join(command)} failed ({proc.returncode}):\n{err[-3000:]}")
    peak = max([high_water] + [rss for _, rss in samples])
    return {
        "stdout": out,
        "wall_s": time.perf_counter() - started,
        "peak_rss_mib": round(peak, 1),
        "rss": samples,
    }


def _du_mib(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def bench_ingest(args: Any) -> dict[str, Any]:
    """Ingest ``--articles`` sizes with the model and ``--stand-in-embeddings`` sizes with stand-in vectors,
    each twice (the second run finds everything unchanged), in processes of their own."""
    pools = sentence_pools(Path(args.xquad))
    result: dict[str, Any] = {
        "bench": "ingest",
        "machine": machine(),
        "sentences_per_article": args.sentences,
        "runs": [],
    }
    plan = [(int(n), "model") for n in args.articles.split(",") if n.strip()]
    plan += [(int(n), "stand-in") for n in args.stand_in_embeddings.split(",") if n.strip()]
    with tempfile.TemporaryDirectory() as tmp, StandInEmbeddings() as stand_in_url:
        for count, embedder in plan:
            env = (
                {"RAG_EMBEDDING_URL": stand_in_url, "RAG_EMBEDDING_NAME": "stand-in"}
                if embedder != "model"
                else {}
            )
            run = _ingest_run(pools, count, args.sentences, embedder, Path(tmp), env)
            log.info("%s", {k: v for k, v in run.items() if k != "rss_timeline"})
            result["runs"].append(run)
    for kind in ("model", "stand-in"):
        runs = [r for r in result["runs"] if r["embeddings"] == kind]
        if len(runs) >= 2:
            result.setdefault("growth", {})[kind] = _growth(runs[0], runs[-1])
    return result


def _ingest_run(
    pools: dict[str, list[str]], count: int, sentences: int, embedder: str, tmp: Path, env: dict[str, str]
) -> dict[str, Any]:
    """One corpus of ``count`` articles ingested into a fresh index, then again."""
    corpus, index = tmp / f"corpus-{count}-{embedder}", tmp / f"index-{count}-{embedder}"
    corpus_bytes = write_articles(pools, count, sentences, corpus)
    command = [sys.executable, "-m", "rag.cli", "--index", str(index), "ingest", str(corpus), "--json"]
    log.info("ingesting %d articles (%.1f MiB, embeddings: %s)", count, corpus_bytes / 2**20, embedder)
    first = measure(command, env)
    report = json.loads(first["stdout"])
    again = measure(command, env)
    chunks = report["chunks_embedded"]
    return {
        "articles": len(report["added"]),
        "embeddings": embedder,
        "chunks": chunks,
        "corpus_mib": round(corpus_bytes / 2**20, 2),
        "wall_s": round(first["wall_s"], 1),
        "ingest_s": round(report["seconds"], 1),
        "chunks_per_s": round(chunks / report["seconds"], 2),
        "articles_per_s": round(len(report["added"]) / report["seconds"], 2),
        "peak_rss_mib": first["peak_rss_mib"],
        "index_mib": _du_mib(index),
        "reingest_wall_s": round(again["wall_s"], 1),
        "reingest_unchanged": len(json.loads(again["stdout"])["unchanged"]),
        "reingest_peak_rss_mib": again["peak_rss_mib"],
        "rss_timeline": [(round(t, 1), round(r, 1)) for t, r in first["rss"][::5]],
    }


def _growth(small: dict[str, Any], large: dict[str, Any]) -> dict[str, float]:
    return {
        "articles_x": round(large["articles"] / small["articles"], 1),
        "chunks_per_s_x": round(large["chunks_per_s"] / small["chunks_per_s"], 3),
        "peak_rss_x": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3),
        "index_mib_per_1k_chunks": round(1000 * large["index_mib"] / large["chunks"], 2),
    }


def ingest_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# rag bench ingest ({result['machine']['summary']})",
        "",
        f"Articles of {result['sentences_per_article']} random XQuAD-R sentences each (11 languages); "
        "each size is a fresh `rag ingest` process into a fresh index.",
        "",
        "| articles | embeddings | chunks | corpus MiB | ingest s | chunks/s | articles/s | peak RSS MiB "
        "| index MiB | no-op re-ingest s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['articles']} | {r['embeddings']} | {r['chunks']} | {r['corpus_mib']} | {r['ingest_s']} "
            f"| {r['chunks_per_s']} "
            f"| {r['articles_per_s']} | {r['peak_rss_mib']} | {r['index_mib']} | {r['reingest_wall_s']} |"
        )
    for kind, g in result.get("growth", {}).items():
        lines += [
            "",
            f"{kind} embeddings, {g['articles_x']}x the articles: throughput x{g['chunks_per_s_x']}, "
            f"peak RSS x{g['peak_rss_x']}; the index takes {g['index_mib_per_1k_chunks']} MiB per 1k chunks.",
        ]
    return "\n".join(lines) + "\n"


def ingest_plot(result: dict[str, Any], path: Path) -> None:
    from rag.evaluation.report import figure

    with figure(path, 1, 2, figsize=(10, 4)) as (left, right):
        for r in result["runs"]:
            times = [t for t, _ in r["rss_timeline"]]
            end = max(times[-1], 1e-9) if times else 1.0
            left.plot(
                [t / end for t in times],
                [m for _, m in r["rss_timeline"]],
                label=f"{r['articles']} articles ({r['embeddings']})",
            )
        left.set_xlabel("fraction of the ingest")
        left.set_ylabel("resident memory (MiB)")
        left.set_title("memory during ingest")
        left.legend(fontsize=8)
        labels = [f"{r['articles']}\n{r['embeddings']}" for r in result["runs"]]
        right.bar(labels, [r["chunks_per_s"] for r in result["runs"]], color="#37a")
        right.set_xlabel("articles")
        right.set_ylabel("chunks / s")
        right.set_title("ingest throughput")
