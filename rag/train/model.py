"""The reader's network in torch, for training (``rag train reader``); the answer stage runs the same
arithmetic in numpy from the saved weights (``rag.answer.reader``), and a test checks the two agree.

Per (question, sentence): the encoder's token states of both (frozen, computed once per text), projected
to ``d`` dimensions. Each question token attends to the sentence's tokens (``layers`` cross-attention
blocks); a learned weight per question token (how much it matters: names and numbers more than "the")
pools the result and the token's best raw cosine to the sentence's tokens (MaxSim). A small head reads
that, the pooled cosine and whether the two are in one language, and gives the sentence's score. A
"none of them" score, learned from the question alone (some questions score low against everything),
is subtracted: a sentence's score is its log-odds against "none", and the candidates of a list compete
with "none" (score 0) in a listwise softmax.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ReaderShape:
    width: int = 768  # the encoder's token states
    d: int = 128
    heads: int = 4
    layers: int = 1
    hidden: int = 256
    question_tokens: int = 48
    sentence_tokens: int = 96
    question_self: int = 0  # 1: each block first lets the question's tokens attend to each other

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    heads: int,
    bias: torch.Tensor | None,
    mask: torch.Tensor,
) -> torch.Tensor:
    """Multi-head attention of ``q`` [N, Lq, d] over ``k``/``v`` [N, L, d] (``mask`` [N, L]: True = a
    token; ``bias`` [N, heads, Lq, L] added to the logits)."""
    n, lq, d = q.shape
    split = lambda t: t.view(n, -1, heads, d // heads).transpose(1, 2)  # noqa: E731
    att = (split(q) @ split(k).transpose(-1, -2)) / (d // heads) ** 0.5
    if bias is not None:
        att = att + bias
    att = att.masked_fill(~mask[:, None, None, :], -1e9).softmax(-1)
    return (att @ split(v)).transpose(1, 2).reshape(n, lq, d)


class Cross(nn.Module):
    """(With ``question_self``: the question's tokens attend to each other, then) the question's tokens
    attend to the sentence's tokens, then a feed-forward block (pre-norm, residual)."""

    def __init__(self, d: int, heads: int, hidden: int, question_self: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.question_self = question_self
        if question_self:
            self.norm_a = nn.LayerNorm(d)
            self.aq, self.ak, self.av, self.ao = (nn.Linear(d, d) for _ in range(4))
        self.norm_q, self.norm_s, self.norm_f = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.up, self.down = nn.Linear(d, hidden), nn.Linear(hidden, d)
        self.prior = nn.Parameter(torch.zeros(heads))  # per head: weight of the encoder's own token cosine

    def forward(
        self,
        x: torch.Tensor,
        s: torch.Tensor,
        s_mask: torch.Tensor,
        cosine: torch.Tensor,
        q_mask: torch.Tensor,
    ) -> torch.Tensor:
        # x: [N, Lq, d], s: [N, Ls, d], s_mask: [N, Ls] (True = a token),
        # cosine: [N, Lq, Ls] the encoder's own token cosines, q_mask: [N, Lq]
        if self.question_self:
            a = self.norm_a(x)
            x = x + self.ao(attend(self.aq(a), self.ak(a), self.av(a), self.heads, None, q_mask))
        sn = self.norm_s(s)
        bias = self.prior[None, :, None, None] * cosine[:, None]
        x = x + self.o(attend(self.q(self.norm_q(x)), self.k(sn), self.v(sn), self.heads, bias, s_mask))
        return x + self.down(torch.nn.functional.gelu(self.up(self.norm_f(x)), approximate="tanh"))


class ReaderNet(nn.Module):
    FEATURES = 4  # pooled cosine, same language, weighted MaxSim, mean MaxSim

    def __init__(self, shape: ReaderShape) -> None:
        super().__init__()
        self.shape = shape
        d = shape.d
        self.q_in, self.s_in = nn.Linear(shape.width, d), nn.Linear(shape.width, d)
        self.q_norm, self.s_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.weight = nn.Linear(d, 1)  # how much each question token matters
        self.blocks = nn.ModuleList(
            Cross(d, shape.heads, shape.hidden, bool(shape.question_self)) for _ in range(shape.layers)
        )
        self.out_norm = nn.LayerNorm(d)
        self.head = nn.Sequential(
            nn.Linear(d + self.FEATURES, shape.hidden), nn.GELU("tanh"), nn.Linear(shape.hidden, 1)
        )
        self.none = nn.Parameter(torch.zeros(()))
        self.none_q = nn.Linear(d, 1)  # the question's own "none" score

    def question(self, q: torch.Tensor, q_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected question tokens [B, Lq, d] and their pooling weights [B, Lq] (sum 1)."""
        x = self.q_norm(self.q_in(q))
        w = self.weight(x).squeeze(-1).masked_fill(~q_mask, -1e9).softmax(-1)
        return x, w

    def sentence(self, s: torch.Tensor) -> torch.Tensor:
        return self.s_norm(self.s_in(s))

    def forward(
        self,
        q: torch.Tensor,  # [B, Lq, width] the questions' raw token states
        q_mask: torch.Tensor,  # [B, Lq] True = a token
        s: torch.Tensor,  # [N, Ls, width] the candidates' raw token states
        s_mask: torch.Tensor,  # [N, Ls]
        owner: torch.Tensor,  # [N] which question each candidate is scored against
        cosine: torch.Tensor,  # [N] pooled cosine
        same: torch.Tensor,  # [N] 1.0 when question and candidate share a language
    ) -> torch.Tensor:
        """The candidates' scores [N], each minus its question's "none" score."""
        x, w = self.question(q, q_mask)
        none = self.none + self.none_q((w[..., None] * x).sum(1)).squeeze(-1)  # [B]
        x, w, qm = x[owner], w[owner], q_mask[owner]
        qn = torch.nn.functional.normalize(q, dim=-1)[owner]
        sn = torch.nn.functional.normalize(s, dim=-1)
        pair = qn @ sn.transpose(1, 2)  # [N, Lq, Ls]
        sim = pair.masked_fill(~s_mask[:, None, :], -1.0).amax(-1)  # [N, Lq]
        weighted = (w * sim).sum(-1)
        plain = (sim * qm).sum(-1) / qm.sum(-1).clamp(min=1)
        sp = self.sentence(s)
        for block in self.blocks:
            x = block(x, sp, s_mask, pair, qm)
        pooled = (w[..., None] * self.out_norm(x)).sum(1)
        features = torch.stack([cosine, same, weighted, plain], -1)
        return self.head(torch.cat([pooled, features], -1)).squeeze(-1) - none[owner]
