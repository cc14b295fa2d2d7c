"""The reader (answer stage): which of the candidate sentences states the answer to a question, and
whether any does.

Two readers share one protocol. ``CosineReader`` scores a sentence by the cosine of its pooled vector to
the question's (the ranking before the reader existed; ``RAG_READER=cosine``). ``LateReader`` runs the
trained network of ``rag.train.model`` in numpy from the weights the package ships
(``rag/answer/reader.npz``, trained by ``rag train reader``; its model card is ``docs/reader.md``): the
question's token states attend to each sentence's, a learned weight per question token pools them with
each token's best cosine to the sentence, and a small head gives the sentence's score; a learned "none of
them" score (from the question alone) is subtracted, so ``sigmoid(score)`` is the probability that the
sentence, rather than none, states the answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.embed.base import Embedder, has_states
from rag.errors import ModelError

log = logging.getLogger(__name__)

WEIGHTS = Path(__file__).with_name("reader.npz")
SUPPORT_WEIGHTS = Path(__file__).with_name(
    "support.npz"
)  # the support scorer: a claim in the question's place


@dataclass(frozen=True)
class Encoded:
    """A text as the reader sees it: its pooled vector and (for readers that read tokens) token states."""

    vector: np.ndarray
    states: np.ndarray | None = None


class Reader(Protocol):
    name: str
    needs_states: bool

    def scores(self, question: Encoded, sentences: Sequence[Encoded], same: Sequence[bool]) -> np.ndarray:
        """One score per sentence (higher: states the answer); ``same``: sentence in the question's
        language."""
        ...


class CosineReader:
    """The pooled cosine (no token states)."""

    name = "cosine"
    needs_states = False

    def scores(self, question: Encoded, sentences: Sequence[Encoded], same: Sequence[bool]) -> np.ndarray:
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        return np.stack([s.vector for s in sentences]) @ question.vector


class LateReader:
    """The trained late-interaction reader, in numpy (see the module's docstring)."""

    needs_states = True

    def __init__(self, path: Path = WEIGHTS) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                self.w = {k: data[k].astype(np.float32) for k in data.files if k != "meta"}
                meta = json.loads(str(data["meta"]))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(
                f"cannot read the reader's weights {path} ({exc}): run `rag train reader`"
            ) from None
        self.shape = meta["shape"]
        self.name = f"reader:{meta.get('version', Path(path).stem)}"
        self.meta = meta
        self._layers = int(self.shape["layers"])
        self._heads = int(self.shape["heads"])

    def scores(self, question: Encoded, sentences: Sequence[Encoded], same: Sequence[bool]) -> np.ndarray:
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        if question.states is None or any(s.states is None for s in sentences):
            raise ModelError("the reader needs token states (an embedder with document_states/query_states)")
        w = self.w
        q = np.asarray(question.states[: self.shape["question_tokens"]], dtype=np.float32)
        x = _norm(q @ w["q_in.weight"].T + w["q_in.bias"], w["q_norm.weight"], w["q_norm.bias"])
        logits = (x @ w["weight.weight"].T)[:, 0] + w["weight.bias"][0]
        weight = _softmax(logits)
        none = float(w["none"] + (weight @ x) @ w["none_q.weight"][0] + w["none_q.bias"][0])
        qn = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
        out = np.zeros(len(sentences), dtype=np.float32)
        for k, (sentence, one) in enumerate(zip(sentences, same)):
            assert sentence.states is not None
            s = np.asarray(sentence.states[: self.shape["sentence_tokens"]], dtype=np.float32)
            sn = s / np.maximum(np.linalg.norm(s, axis=-1, keepdims=True), 1e-12)
            pair = qn @ sn.T
            sim = pair.max(-1)
            sp = _norm(s @ w["s_in.weight"].T + w["s_in.bias"], w["s_norm.weight"], w["s_norm.bias"])
            h = x
            for layer in range(self._layers):
                h = self._block(h, sp, pair, f"blocks.{layer}.")
            pooled = weight @ _norm(h, w["out_norm.weight"], w["out_norm.bias"])
            cosine = float(question.vector @ sentence.vector)
            features = np.asarray([cosine, float(one), float(weight @ sim), float(sim.mean())], np.float32)
            hidden = _gelu(np.concatenate([pooled, features]) @ w["head.0.weight"].T + w["head.0.bias"])
            out[k] = float(hidden @ w["head.2.weight"][0] + w["head.2.bias"][0] - none)
        return out

    def _block(self, x: np.ndarray, s: np.ndarray, cosine: np.ndarray, p: str) -> np.ndarray:
        w = self.w
        if self.shape.get("question_self"):
            a = _norm(x, w[p + "norm_a.weight"], w[p + "norm_a.bias"])
            mixed = self._attend(_lin(a, w, p + "aq"), _lin(a, w, p + "ak"), _lin(a, w, p + "av"), None)
            x = x + _lin(mixed, w, p + "ao")
        qh = _lin(_norm(x, w[p + "norm_q.weight"], w[p + "norm_q.bias"]), w, p + "q")
        sn = _norm(s, w[p + "norm_s.weight"], w[p + "norm_s.bias"])
        bias = w[p + "prior"][:, None, None] * cosine[None]
        x = x + _lin(self._attend(qh, _lin(sn, w, p + "k"), _lin(sn, w, p + "v"), bias), w, p + "o")
        up = _gelu(_lin(_norm(x, w[p + "norm_f.weight"], w[p + "norm_f.bias"]), w, p + "up"))
        return x + _lin(up, w, p + "down")

    def _attend(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        d, h = q.shape[-1], self._heads
        split = lambda m: m.reshape(len(m), h, d // h).transpose(1, 0, 2)  # noqa: E731
        logits = split(q) @ split(k).transpose(0, 2, 1) / np.sqrt(d // h)
        att = _softmax(logits if bias is None else logits + bias)
        return (att @ split(v)).transpose(1, 0, 2).reshape(len(q), d)


def reader_from(name: str) -> Reader:
    """``cosine`` or ``late`` (the shipped weights) or a path to other weights."""
    if name == "cosine":
        return CosineReader()
    if name in ("late", "", "default"):
        return LateReader(WEIGHTS)
    return LateReader(Path(name))


def _lin(x: np.ndarray, w: dict[str, np.ndarray], name: str) -> np.ndarray:
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def _norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * gain + bias


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


def choose_reader(name: str, embedder: Embedder) -> Reader:
    """The reader ``name`` asks for (``RAG_READER``); the cosine reader, logged, when it needs token states
    the embedder cannot give (a remote embeddings server)."""
    reader = reader_from(name)
    if reader.needs_states and not has_states(embedder):
        log.warning(
            "the %s reader needs the encoder's token states, which %s does not give: ranking by cosine",
            reader.name,
            getattr(embedder, "name", "this embedder"),
        )
        return CosineReader()
    return reader


def support_scorer(embedder: Embedder, path: Path = SUPPORT_WEIGHTS) -> LateReader | None:
    """The support scorer (the reader's network with a claim in the question's place, ``rag train
    support``), or None where it cannot run: no weights, or an embedder without token states."""
    if not path.exists() or not has_states(embedder):
        log.info(
            "no support scorer (%s): claims across languages are checked by meaning, names and numbers", path
        )
        return None
    return LateReader(path)
