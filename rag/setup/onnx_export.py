"""Export the embedding model to ONNX once, at set-up time (``python -m rag.setup``, ``make models``):
the fp32 graph of the whole sentence-transformers pipeline (token table in fp16), and its int8 recipes.
The graph has two outputs: the sentence embedding, and the token states it pools (the reader of the answer
stage reads those, ``rag.answer.reader``).
The ONNX backend (``rag.embed.onnx``) only reads what this writes."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.base import QUANTIZE_RECIPES, export_files, export_is_current, export_stamp, offline_env

log = logging.getLogger(__name__)
_MASK_VALUE = -1e9  # additive attention mask; finite so a fully masked row cannot produce NaN


def _halve_token_table(path: Path) -> None:
    """Store the token-embedding table (262k x 768, two thirds of the file) in fp16 with a Cast after
    the lookup: half the bytes to read at start-up, vectors unchanged to within fp16 rounding."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if (
            node.op_type == "Gather"
            and node.input[0] in inits
            and inits[node.input[0]].data_type == TensorProto.FLOAT
        ):
            table = inits[node.input[0]]
            half = numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), table.name)
            table.CopyFrom(half)
            looked_up, widened = node.output[0], node.output[0] + "_fp32"
            for consumer in graph.node:
                consumer.input[:] = [widened if i == looked_up else i for i in consumer.input]
            graph.node.append(
                helper.make_node(
                    "Cast", [looked_up], [widened], to=TensorProto.FLOAT, name=node.name + "_to_fp32"
                )
            )
            break
    onnx.save(model, str(path))


def _traceable(st: Any) -> Any:
    """The sentence-transformers pipeline of ``st`` as one ``torch.nn.Module`` the TorchScript exporter can
    trace: Gemma's layers with explicit full and sliding-window masks, mean pooling, the two Dense heads."""
    import torch

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = st[0].auto_model
            self.d1, self.d2 = st[2].linear, st[3].linear
            self.types = list(self.model.config.layer_types)
            self.window = int(self.model.config.sliding_window)

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            m = self.model
            x = m.embed_tokens(input_ids)
            pos = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
            keep = attention_mask.to(torch.bool)[:, None, None, :]
            zero, neg = torch.tensor(0.0, dtype=x.dtype), torch.tensor(_MASK_VALUE, dtype=x.dtype)
            near = (pos[0][:, None] - pos[0][None, :]).abs() < self.window  # transformers: |q-k| < window
            masks = {
                "full_attention": torch.where(keep, zero, neg),
                "sliding_attention": torch.where(keep & near[None, None], zero, neg),
            }
            rope = {t: m.rotary_emb(x, pos, t) for t in set(self.types)}
            for layer, kind in zip(m.layers, self.types):
                x = layer(x, attention_mask=masks[kind], position_embeddings=rope[kind], position_ids=pos)
            x = m.norm(x)
            w = attention_mask.to(x.dtype).unsqueeze(-1)
            pooled = (x * w).sum(1) / w.sum(1).clamp(min=1e-9)
            vector = torch.nn.functional.normalize(self.d2(self.d1(pooled)), p=2, dim=1)
            return vector, x

    return Pipeline()


def _export_fp32(model_dir: Path, target: Path) -> None:
    """Trace the full sentence-transformers pipeline into one ONNX file (TorchScript exporter)."""
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(
        str(model_dir), device="cpu", local_files_only=True, model_kwargs={"attn_implementation": "eager"}
    )
    modules = [type(m).__name__ for m in st]
    if modules != ["Transformer", "Pooling", "Dense", "Dense", "Normalize"]:
        raise ValueError(f"unexpected sentence-transformers pipeline {modules}")

    ids = torch.tensor([[2, 8071, 236787, 3927, 1354, 1109, 1], [2, 8071, 236787, 3927, 1, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        torch.onnx.export(
            _traceable(st).eval(),
            (ids, mask),
            str(target),
            dynamo=False,
            opset_version=17,
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding", "token_embeddings"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                "sentence_embedding": {0: "batch"},
                "token_embeddings": {0: "batch", 1: "seq"},
            },
        )


def _quantize(source: Path, target: Path, recipe: str) -> None:
    """Dynamic int8 (per-channel, 7-bit weights: AVX2 without VNNI saturates u8s8 otherwise) on the
    MatMuls with constant weights; ``int8-nodown`` leaves ``down_proj`` and the Dense heads in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    consts = {i.name for i in graph.initializer}
    weights = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in consts]
    if recipe == "int8-nodown":
        kept = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj")
        weights = [n for n in weights if any(f"/{k}/" in n for k in kept)]
    quantize_dynamic(
        str(source),
        str(target),
        per_channel=True,
        reduce_range=True,
        op_types_to_quantize=["MatMul"],
        nodes_to_quantize=weights,
        weight_type=QuantType.QInt8,
    )


def export(model_dir: Path, out_dir: Path, quantize: str = "int8-nodown") -> Path:
    """Create ``out_dir/<quantize>.onnx`` from a sentence-transformers folder; no-op when up to date."""
    if quantize not in QUANTIZE_RECIPES:
        raise ValueError(f"quantize must be one of {QUANTIZE_RECIPES}, not {quantize!r}")
    offline_env()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target, meta = export_files(out_dir, quantize)
    if export_is_current(model_dir, out_dir, quantize):
        return target
    fp32 = export(model_dir, out_dir, "fp32") if quantize != "fp32" else None
    log.info("exporting %s to %s (once; about a minute)", model_dir.name, target)
    started = time.perf_counter()
    partial = out_dir / f".{quantize}.partial.onnx"
    if fp32 is None:
        _export_fp32(model_dir, partial)
        _halve_token_table(partial)
    else:
        _quantize(fp32, partial, quantize)
    partial.replace(target)
    meta.write_text(json.dumps(export_stamp(model_dir)))
    log.info(
        "exported %s (%.0f MiB) in %.1fs",
        target,
        target.stat().st_size / 2**20,
        time.perf_counter() - started,
    )
    return target


def prepare(backend: str | None = None) -> int:
    """Export the configured embedding model for ``backend`` (default: ``RAG_EMBEDDING_BACKEND``) when it is
    an ONNX backend and its export is missing or stale; 0 on success, 1 (logged) on failure."""
    from rag.embed.base import ONNX_RECIPES, onnx_dir, require_model
    from rag.errors import ConfigError
    from rag.settings import Settings

    settings = Settings.from_env(embedding_backend=backend)
    path, backend = settings.embedding_path, settings.embedding_backend
    try:
        require_model(path)
        if backend in ONNX_RECIPES:
            target = export(path, onnx_dir(path), ONNX_RECIPES[backend])
            log.info("[%s] ONNX model ready at %s", backend, target)
    except (ConfigError, OSError, ValueError, RuntimeError) as exc:
        log.error("embedding set-up failed: %s", exc)
        return 1
    return 0
