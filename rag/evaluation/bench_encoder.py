"""CPU encoding speed vs quality for EmbeddingGemma-300m: torch fp32/int8/bf16 and ONNX Runtime variants.

For each variant: documents encoded in one call (passages/s, ratio vs torch fp32), single short
queries one at a time (p50/p90 ms), mean/min cosine of document and query vectors to torch fp32, and
cross-lingual retrieval on XQuAD-R (en/ru/de pool of parallel paragraphs; a question's gold is its
paragraph in any of the 3 languages): recall@1 and MRR. A second table mixes document and query
variants (docs from one, queries from another).

    rag bench encoder --quick
    rag bench encoder --variants torch-fp32,onnx-fp32,onnx-int8-nodown

torch fp32 vectors are cached under ~/.cache/rag-bench/ (keyed by the texts), so a run that leaves
``torch-fp32`` out still has its reference; ONNX files go to ``<model>-onnx/`` (see rag/embed/__init__.py).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.base import QUANTIZE_RECIPES, offline_env
from rag.embed.onnx import OnnxEncoder
from rag.errors import ConfigError
from rag.evaluation.xquad_r import xquad_paragraphs
from rag.settings import Settings
from rag.setup.onnx_export import export

QUERY_PROMPT = "task: search result | query: "
DOC_PROMPT = "title: none | text: "
POOL_LANGS = ("en", "ru", "de")
EXTRA_LANGS = ("zh", "ar", "hi", "th", "el", "tr", "vi", "es")
DEFAULT_VARIANTS = "torch-fp32,torch-int8,onnx-fp32,onnx-int8-all,onnx-int8-nodown"

Encoder = Callable[[list[str]], np.ndarray]


def load_bench(
    data: Path, n_docs: int, n_queries: int, n_extra: int
) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """Pool docs (first n_docs paragraphs per pool language, then n_extra per extra language) and questions.

    Returns doc texts, doc paragraph ids (-1 for extra passages), question texts, question paragraph ids.
    Questions take the k-th question of every pool paragraph in turn, so they spread over the pool.
    """
    docs, doc_ids, queries, query_ids = [], [], [], []
    for lang in POOL_LANGS:
        paras = xquad_paragraphs(data, lang)[:n_docs]
        docs += [p["context"] for p in paras]
        doc_ids += list(range(len(paras)))
        picked: list[tuple[int, str]] = []
        for k in range(max(len(p["qas"]) for p in paras)):
            picked += [(i, p["qas"][k]["question"]) for i, p in enumerate(paras) if k < len(p["qas"])]
        for i, q in picked[:n_queries]:
            queries.append(q)
            query_ids.append(i)
    for lang in EXTRA_LANGS:  # only for speed and cosine: more scripts and lengths
        docs += [p["context"] for p in xquad_paragraphs(data, lang)[100 : 100 + n_extra]]
        doc_ids += [-1] * n_extra
    return docs, np.array(doc_ids), queries, np.array(query_ids)


def retrieval(
    doc_vecs: np.ndarray, doc_ids: np.ndarray, q_vecs: np.ndarray, q_ids: np.ndarray
) -> tuple[float, float]:
    """recall@1 and MRR over the pool documents (extra passages excluded)."""
    pool = doc_ids >= 0
    ranked = np.argsort(-(q_vecs @ doc_vecs[pool].T), axis=1)
    hit = doc_ids[pool][ranked] == q_ids[:, None]
    first = hit.argmax(axis=1)
    return float((first == 0).mean()), float((1.0 / (first + 1)).mean())


def torch_variant(model_dir: Path, name: str, threads: int) -> tuple[Encoder, Encoder]:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    batch = 4 if "bs4" in name else 16
    kwargs: dict[str, Any] = {"model_kwargs": {"torch_dtype": torch.bfloat16}} if "bf16" in name else {}
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True, **kwargs)
    if "int8" in name:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    model.eval()

    def docs(texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(model.encode(texts, batch_size=batch, convert_to_numpy=True), dtype=np.float32)

    return docs, docs


def onnx_variant(
    model_dir: Path, onnx_dir: Path, name: str, threads: int, batch: int
) -> tuple[Encoder, Encoder]:
    recipe = name.removeprefix("onnx-")
    started = time.perf_counter()
    path = export(model_dir, onnx_dir, recipe)
    logging.info(
        "%s: export/check %.1fs, %.0f MiB", name, time.perf_counter() - started, path.stat().st_size / 2**20
    )
    enc = OnnxEncoder(path, model_dir, threads=threads)
    return (lambda texts: enc.encode(texts, batch_size=batch)), (
        lambda texts: enc.encode(texts, batch_size=1)
    )


def measure(docs_fn: Encoder, query_fn: Encoder, docs: list[str], queries: list[str]) -> dict:
    docs_fn(docs[:2])  # warm-up (allocations, lazy init)
    query_fn(queries[:2])
    load = os.getloadavg()[0]
    started = time.perf_counter()
    doc_vecs = docs_fn(docs)
    doc_s = time.perf_counter() - started
    q_vecs, lat = [], []
    for q in queries:
        t = time.perf_counter()
        q_vecs.append(query_fn([q])[0])
        lat.append(time.perf_counter() - t)
    return {
        "doc_vecs": doc_vecs,
        "q_vecs": np.stack(q_vecs),
        "pps": len(docs) / doc_s,
        "q_p50": 1000 * float(np.median(lat)),
        "q_p90": 1000 * float(np.percentile(lat, 90)),
        "load": max(load, os.getloadavg()[0]),
    }


def main(argv: list[str] | None = None) -> None:
    offline_env()
    args = _parser().parse_args(argv)
    logging.getLogger().setLevel(logging.INFO)
    for noisy in ("root", "sentence_transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    onnx_dir = args.onnx_dir or args.model.with_name(args.model.name + "-onnx")
    docs, doc_ids, queries, q_ids = _inputs(args.data, args.quick)
    key = hashlib.sha1("\n".join(docs + queries).encode()).hexdigest()[:16]
    ref_path = Path("~/.cache/rag-bench").expanduser() / f"encoder_speed_fp32_{key}.npz"
    results = _measure_variants(args, onnx_dir, docs, queries, ref_path)
    if not ref_path.exists():
        raise ConfigError(f"no torch fp32 reference yet ({ref_path}): run once with torch-fp32 in --variants")
    ref = np.load(ref_path)
    print(
        f"\n{len(docs)} passages ({int((doc_ids >= 0).sum())} pool), {len(queries)} queries, "
        f"{args.threads} threads; cosine vs torch fp32; retrieval over the en/ru/de pool"
    )
    _print_variants(results, ref, doc_ids, q_ids)
    _print_mixed(results, ref, doc_ids, q_ids)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag bench encoder", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="20 docs + 30 questions per language, 2 extra passages per extra language",
    )
    parser.add_argument(
        "--variants",
        default=DEFAULT_VARIANTS,
        help="comma list: torch-fp32, torch-fp32-bs4, torch-int8, torch-bf16, "
        f"onnx-<{'|'.join(QUANTIZE_RECIPES)}>",
    )

    parser.add_argument("--model", type=Path, default=Settings.from_env().embedding_path)
    parser.add_argument("--onnx-dir", type=Path, default=None, help="default: <model>-onnx next to the model")
    parser.add_argument("--data", type=Path, default=Settings.from_env().xquad_dir)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8, help="ONNX document batch size")
    return parser


def _inputs(data: Path, quick: bool) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """``load_bench`` at the full or ``--quick`` size, with the model's document and query prompts."""
    n_docs, n_queries, n_extra = (20, 30, 2) if quick else (60, 100, 8)
    docs, doc_ids, queries, q_ids = load_bench(data, n_docs, n_queries, n_extra)
    docs = [DOC_PROMPT + d for d in docs]
    queries = [QUERY_PROMPT + q for q in queries]
    logging.info(
        "%d docs (%d in the retrieval pool), %d queries", len(docs), int((doc_ids >= 0).sum()), len(queries)
    )
    return docs, doc_ids, queries, q_ids


def _measure_variants(
    args: argparse.Namespace, onnx_dir: Path, docs: list[str], queries: list[str], ref_path: Path
) -> dict[str, dict]:
    """``measure`` every ``--variants`` entry in turn; torch fp32 vectors are saved to ``ref_path``."""
    results: dict[str, dict] = {}
    for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
        if name.startswith("torch-"):
            docs_fn, query_fn = torch_variant(args.model, name, args.threads)
        elif name.startswith("onnx-"):
            docs_fn, query_fn = onnx_variant(args.model, onnx_dir, name, args.threads, args.batch_size)
        else:
            raise ConfigError(f"unknown variant {name}")
        results[name] = measure(docs_fn, query_fn, docs, queries)
        del docs_fn, query_fn
        r = results[name]
        logging.info(
            "%s: %.2f passages/s, query p50 %.1f ms (load avg %.1f)", name, r["pps"], r["q_p50"], r["load"]
        )
        if name == "torch-fp32":
            ref_path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(ref_path, docs=r["doc_vecs"], queries=r["q_vecs"], pps=r["pps"])
    return results


def _print_variants(results: dict[str, dict], ref: Any, doc_ids: np.ndarray, q_ids: np.ndarray) -> None:
    """One row per variant: speed, cosine to torch fp32 and retrieval (the cached reference if unmeasured)."""
    base_pps = results["torch-fp32"]["pps"] if "torch-fp32" in results else float(ref["pps"])
    header = (
        f"{'variant':16s} {'pass/s':>7s} {'x fp32':>6s} {'q p50':>7s} {'q p90':>7s} "
        f"{'doc cos mean/min':>17s} {'qry cos mean/min':>17s} {'R@1':>6s} {'MRR':>6s} {'load':>5s}"
    )
    print(header + "\n" + "-" * len(header))
    rows = [("torch-fp32 (ref)", None)] if "torch-fp32" not in results else []
    for name, r in [(n, results[n]) for n in results] + rows:  # type: ignore[misc]
        if r is None:
            r1, mrr = retrieval(ref["docs"], doc_ids, ref["queries"], q_ids)
            print(f"{name:16s} {float(ref['pps']):7.2f}   (cached reference)  {'':>38s} {r1:6.3f} {mrr:6.3f}")
            continue
        dc = (r["doc_vecs"] * ref["docs"]).sum(1)
        qc = (r["q_vecs"] * ref["queries"]).sum(1)
        r1, mrr = retrieval(r["doc_vecs"], doc_ids, r["q_vecs"], q_ids)
        print(
            f"{name:16s} {r['pps']:7.2f} {r['pps'] / base_pps:6.2f} {r['q_p50']:6.1f}ms {r['q_p90']:6.1f}ms "
            f"{dc.mean():8.5f}/{dc.min():.5f} "
            f"{qc.mean():8.5f}/{qc.min():.5f} {r1:6.3f} {mrr:6.3f} {r['load']:5.1f}"
        )


def _print_mixed(results: dict[str, dict], ref: Any, doc_ids: np.ndarray, q_ids: np.ndarray) -> None:
    """Retrieval with documents from one variant and queries from another (torch fp32 from the cache)."""
    vec = {n: (results[n]["doc_vecs"], results[n]["q_vecs"]) for n in results}
    vec.setdefault("torch-fp32", (ref["docs"], ref["queries"]))
    names = list(vec)
    print("\nmixed retrieval, R@1 / MRR (rows: documents encoded by, columns: queries encoded by)")
    print(f"{'docs / queries':16s} " + " ".join(f"{n[:15]:>15s}" for n in names))
    for d in names:
        cells = []
        for q in names:
            r1, mrr = retrieval(vec[d][0], doc_ids, vec[q][1], q_ids)
            cells.append(f"{r1:.3f}/{mrr:.3f}".rjust(15))
        print(f"{d[:16]:16s} " + " ".join(cells))


if __name__ == "__main__":
    main()
