"""EmbeddingGemma (sentence-transformers folder) exported to ONNX and run with ONNX Runtime on the CPU.

The exported graph is the whole sentence-transformers pipeline: Gemma3 encoder (bidirectional
attention, 512-token sliding window on the "sliding_attention" layers) -> mean pooling over the
attention mask -> Dense(768->3072) -> Dense(3072->768) -> L2 normalise. Inputs ``input_ids`` and
``attention_mask`` (int64, dynamic batch and sequence axes), output ``sentence_embedding``.

``OnnxEncoder.export`` builds the files once (torch, sentence-transformers and onnx are needed only
there); ``OnnxEncoder`` itself needs only onnxruntime and tokenizers. The caller adds the model's
prompt (``task: search result | query: `` or ``title: none | text: ``).

Quantisation recipes (``quantize``), all from ``fp32.onnx``; only MatMuls with a constant weight are
touched (never attention score MatMuls, never the token-embedding Gather):

- ``fp32``: no quantisation (output identical to torch fp32, cosine > 0.99999).
- ``int8``: dynamic int8, per-channel uint8 weights (u8u8 kernels: no int16 saturation on AVX2).
- ``int8-s8``: the same with signed weights (u8s8; may saturate on AVX2 CPUs without VNNI).
- ``int8-s8rr``: u8s8 with ``reduce_range`` (7-bit weights, avoids that saturation).
- ``int8-mlp``: ``int8`` on the MLP MatMuls only (attention projections and Dense heads stay fp32).
- ``int8-mid``: ``int8`` on layers 2..21 only (first/last two layers and Dense heads stay fp32).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

QUANTIZE_RECIPES = ("fp32", "int8", "int8-s8", "int8-s8rr", "int8-mlp", "int8-mid")
_MASK_VALUE = -1e9  # additive attention mask; finite so a fully masked row cannot produce NaN


def _stamp(model_dir: Path) -> dict[str, Any]:
    """What the export depends on: the source weights (size + mtime) and the recipe format."""
    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    return {"source": str(model_dir.resolve()), "size": stat.st_size, "mtime": int(stat.st_mtime), "format": 1}


def _export_fp32(model_dir: Path, target: Path) -> None:
    """Trace the full sentence-transformers pipeline into one ONNX file (TorchScript exporter)."""
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True,
                             model_kwargs={"attn_implementation": "eager"})
    modules = [type(m).__name__ for m in st]
    if modules != ["Transformer", "Pooling", "Dense", "Dense", "Normalize"]:
        raise ValueError(f"unexpected sentence-transformers pipeline {modules}")

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = st[0].auto_model
            self.d1, self.d2 = st[2].linear, st[3].linear
            self.types = list(self.model.config.layer_types)
            self.window = int(self.model.config.sliding_window)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            m = self.model
            x = m.embed_tokens(input_ids)
            pos = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
            keep = attention_mask.to(torch.bool)[:, None, None, :]
            zero, neg = torch.tensor(0.0, dtype=x.dtype), torch.tensor(_MASK_VALUE, dtype=x.dtype)
            near = (pos[0][:, None] - pos[0][None, :]).abs() < self.window  # transformers: |q-k| < window
            masks = {"full_attention": torch.where(keep, zero, neg),
                     "sliding_attention": torch.where(keep & near[None, None], zero, neg)}
            rope = {t: m.rotary_emb(x, pos, t) for t in set(self.types)}
            for layer, kind in zip(m.layers, self.types):
                x = layer(x, attention_mask=masks[kind], position_embeddings=rope[kind], position_ids=pos)
            x = m.norm(x)
            w = attention_mask.to(x.dtype).unsqueeze(-1)
            pooled = (x * w).sum(1) / w.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(self.d2(self.d1(pooled)), p=2, dim=1)

    ids = torch.tensor([[2, 8071, 236787, 3927, 1354, 1109, 1], [2, 8071, 236787, 3927, 1, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        torch.onnx.export(Pipeline().eval(), (ids, mask), str(target), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                        "attention_mask": {0: "batch", 1: "seq"},
                                        "sentence_embedding": {0: "batch"}})


def _quantize(source: Path, target: Path, recipe: str) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    consts = {i.name for i in graph.initializer}
    weights = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in consts]

    def layer(name: str) -> int:
        return int(name.split("/layers.")[1].split("/")[0]) if "/layers." in name else -1

    nodes = {"int8-mlp": [n for n in weights if "/mlp/" in n],
             "int8-mid": [n for n in weights if 2 <= layer(n) <= 21]}.get(recipe, weights)
    signed = recipe.startswith("int8-s8")
    quantize_dynamic(str(source), str(target), per_channel=True, reduce_range=recipe == "int8-s8rr",
                     weight_type=QuantType.QInt8 if signed else QuantType.QUInt8,
                     op_types_to_quantize=["MatMul"], nodes_to_quantize=nodes)


class OnnxEncoder:
    """Batch/query encoder over an exported ONNX file; rows are float32 and L2-normalised."""

    def __init__(self, onnx_path: Path, tokenizer_dir: Path, threads: int = 2, max_length: int = 2048) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        started = time.perf_counter()
        self.tokenizer = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.name = Path(onnx_path).stem
        log.info("loaded %s in %.1fs", onnx_path, time.perf_counter() - started)

    @staticmethod
    def export(model_dir: Path, out_dir: Path, quantize: str = "int8") -> Path:
        """Create ``out_dir/<quantize>.onnx`` from a sentence-transformers folder; no-op when up to date."""
        if quantize not in QUANTIZE_RECIPES:
            raise ValueError(f"quantize must be one of {QUANTIZE_RECIPES}, not {quantize!r}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        model_dir, out_dir = Path(model_dir), Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        target, meta = out_dir / f"{quantize}.onnx", out_dir / f"{quantize}.json"
        stamp = _stamp(model_dir)
        if target.exists() and meta.exists() and json.loads(meta.read_text()) == stamp:
            return target
        fp32 = OnnxEncoder.export(model_dir, out_dir, "fp32") if quantize != "fp32" else None
        started = time.perf_counter()
        partial = out_dir / f".{quantize}.partial.onnx"
        if fp32 is None:
            _export_fp32(model_dir, partial)
        else:
            _quantize(fp32, partial, quantize)
        partial.replace(target)
        meta.write_text(json.dumps(stamp))
        log.info("exported %s (%.0f MiB) in %.1fs", target, target.stat().st_size / 2**20,
                 time.perf_counter() - started)
        return target

    def encode(self, texts: list[str], batch_size: int = 8) -> np.ndarray:
        """Embed ``texts`` (prompt already applied); batches hold texts of similar token length."""
        out = np.zeros((len(texts), self.session.get_outputs()[0].shape[1] or 768), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = np.argsort([-len(i) for i in ids], kind="stable")
        for start in range(0, len(order), max(1, batch_size)):
            chunk = order[start:start + batch_size]
            width = len(ids[chunk[0]])
            input_ids = np.zeros((len(chunk), width), dtype=np.int64)  # pad id 0, masked out
            mask = np.zeros_like(input_ids)
            for row, i in enumerate(chunk):
                input_ids[row, :len(ids[i])] = ids[i]
                mask[row, :len(ids[i])] = 1
            out[chunk] = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
        return out
