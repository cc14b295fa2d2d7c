"""Fitting the reader's network on reader lists (``rag.train.data``) and measuring any scorer on them.

The loss is listwise: a softmax over the list's candidates and a learned "none of them" score; the target
is the candidates that state the answer (their probabilities summed) or "none". Candidates labelled -1
are left out of the list.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rag.evaluation.reader_lists import ReaderList
from rag.evaluation.token_states import StateStore
from rag.train.model import ReaderNet, ReaderShape

log = logging.getLogger(__name__)


@dataclass
class Batch:
    q: torch.Tensor
    q_mask: torch.Tensor
    s: torch.Tensor
    s_mask: torch.Tensor
    owner: torch.Tensor
    cosine: torch.Tensor
    same: torch.Tensor
    labels: torch.Tensor  # [N] 1 / 0
    answerable: torch.Tensor  # [B]


def _pad(arrays: Sequence[np.ndarray], limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(1, min(limit, max(len(a) for a in arrays)))
    out = np.zeros((len(arrays), width, arrays[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(arrays), width), dtype=bool)
    for i, a in enumerate(arrays):
        n = min(len(a), width)
        out[i, :n] = a[:n]
        mask[i, :n] = True
    return torch.from_numpy(out), torch.from_numpy(mask)


def make_batch(
    items: Sequence[ReaderList], store: StateStore, shape: ReaderShape, question_kind: str = "query"
) -> Batch:
    """``items`` as tensors; a list's question is read from the store as ``question_kind`` (the support
    scorer's claims are encoded as documents)."""
    q_states, s_states, owner, cosine, same, labels = [], [], [], [], [], []
    for b, item in enumerate(items):
        q_states.append(store.states(question_kind, item.question))
        qv = store.vector(question_kind, item.question)
        for text, lang, label in zip(item.candidates, item.languages, item.labels):
            if label < 0:
                continue
            s_states.append(store.states("document", text))
            owner.append(b)
            cosine.append(float(qv @ store.vector("document", text)))
            same.append(1.0 if lang == item.language else 0.0)
            labels.append(label)
    q, q_mask = _pad(q_states, shape.question_tokens)
    s, s_mask = _pad(s_states, shape.sentence_tokens)
    return Batch(
        q,
        q_mask,
        s,
        s_mask,
        torch.tensor(owner),
        torch.tensor(cosine),
        torch.tensor(same),
        torch.tensor(labels, dtype=torch.float32),
        torch.tensor([item.answerable for item in items], dtype=torch.bool),
    )


def list_loss(net: ReaderNet, batch: Batch, scores: torch.Tensor) -> torch.Tensor:
    """Mean over the lists of -log P(target), the softmax over [none, candidates]."""
    lists = len(batch.answerable)
    big = torch.full((lists, int(torch.bincount(batch.owner, minlength=lists).max()) + 1), -1e9)
    pos = torch.zeros_like(big, dtype=torch.bool)
    slot = torch.zeros_like(batch.owner)
    counts = torch.zeros(lists, dtype=torch.long)
    for k, b in enumerate(batch.owner.tolist()):  # candidates in list order
        counts[b] += 1
        slot[k] = counts[b]
    big[:, 0] = 0.0  # "none": the scores are already relative to it
    big = big.index_put((batch.owner, slot), scores)
    pos[batch.owner, slot] = batch.labels > 0
    pos[:, 0] = ~batch.answerable
    logp = big.log_softmax(-1)
    return -(logp.masked_fill(~pos, -1e9).logsumexp(-1)).mean()


def batches(items: Sequence[ReaderList], size: int, rng: random.Random | None) -> Iterator[list[ReaderList]]:
    order = list(range(len(items)))
    if rng is not None:
        rng.shuffle(order)
    for start in range(0, len(order), size):
        yield [items[i] for i in order[start : start + size]]


def train(
    items: Sequence[ReaderList],
    store: StateStore,
    shape: ReaderShape,
    epochs: int = 3,
    batch_lists: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
    candidates: int = 16,
    question_kind: str = "query",
) -> ReaderNet:
    """Fit a network on ``items`` (each list cut to ``candidates``: its answers and a random draw of the
    rest, drawn again every epoch)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    net = ReaderNet(shape)
    steps = epochs * math.ceil(len(items) / batch_lists)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps, pct_start=0.1)
    step, started, running = 0, time.perf_counter(), 0.0
    net.train()
    for _ in range(epochs):
        for chunk in batches(items, batch_lists, rng):
            batch = make_batch(
                [subsample(item, candidates, rng) for item in chunk], store, shape, question_kind
            )
            scores = net(batch.q, batch.q_mask, batch.s, batch.s_mask, batch.owner, batch.cosine, batch.same)
            loss = list_loss(net, batch, scores)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            value = float(loss.detach())
            running = 0.98 * running + 0.02 * value if step > 1 else value
            if progress:
                progress(step, steps, running)
    log.info("trained %d steps in %.0fs", step, time.perf_counter() - started)
    net.eval()
    return net


def subsample(item: ReaderList, most: int, rng: random.Random) -> ReaderList:
    """``item`` with its answer sentences and at most ``most`` candidates in all (the rest drawn at
    random)."""
    scored = [k for k, label in enumerate(item.labels) if label >= 0]
    if len(scored) <= most:
        return item
    answers = [k for k in scored if item.labels[k] == 1]
    others = [k for k in scored if item.labels[k] == 0]
    keep = sorted(answers + rng.sample(others, max(0, most - len(answers))))
    return ReaderList(
        item.question,
        item.language,
        tuple(item.candidates[k] for k in keep),
        tuple(item.languages[k] for k in keep),
        tuple(item.labels[k] for k in keep),
        item.group,
    )


@torch.no_grad()
def score_lists(
    net: ReaderNet,
    items: Sequence[ReaderList],
    store: StateStore,
    batch_lists: int = 64,
    question_kind: str = "query",
) -> list[np.ndarray]:
    """Per list, the candidates' scores (log-odds against "none"; labels -1 scored too)."""
    out: list[np.ndarray] = []
    for chunk in batches(items, batch_lists, None):
        full = [
            ReaderList(i.question, i.language, i.candidates, i.languages, (0,) * len(i.labels), i.group)
            for i in chunk
        ]
        batch = make_batch(full, store, net.shape, question_kind)
        scores = net(batch.q, batch.q_mask, batch.s, batch.s_mask, batch.owner, batch.cosine, batch.same)
        scores = scores.numpy()
        owner = batch.owner.numpy()
        out += [scores[owner == b] for b in range(len(chunk))]
    return out


def save(net: ReaderNet, path: Path, meta: dict) -> None:
    """The weights (float32) and ``meta`` (shape, version, data, figures) in one ``.npz`` file."""
    arrays = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    meta = {**meta, "shape": net.shape.to_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez_compressed(partial, meta=np.asarray(json.dumps(meta)), **arrays)
    partial.replace(path)
