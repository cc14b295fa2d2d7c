"""The reader: the numpy network the answer stage runs equals the torch network it was trained as; the
training lists, the loss and the measure (pure logic, random weights and small arrays)."""

from __future__ import annotations

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rag.answer.reader import CosineReader, Encoded, LateReader  # noqa: E402
from rag.evaluation.bench_reader import auc, measure  # noqa: E402
from rag.evaluation.qa_sets import QAPassage, QAQuestion, find_answer  # noqa: E402
from rag.evaluation.reader_lists import ReaderList, qa_lists  # noqa: E402
from rag.train import fit  # noqa: E402
from rag.train.model import ReaderNet, ReaderShape  # noqa: E402


def _states(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    return rng.normal(size=(n, width)).astype(np.float16)


@pytest.mark.parametrize(("layers", "question_self"), [(1, 0), (2, 0), (2, 1)])
def test_the_numpy_reader_scores_as_the_torch_network(tmp_path, layers, question_self):
    torch.manual_seed(3)
    shape = ReaderShape(
        width=16,
        d=8,
        heads=2,
        layers=layers,
        hidden=12,
        question_tokens=6,
        sentence_tokens=7,
        question_self=question_self,
    )
    net = ReaderNet(shape)
    with torch.no_grad():  # move every parameter off its initial value (LayerNorm gains, the priors, none)
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    path = tmp_path / "r.npz"
    fit.save(net, path, {"version": "t"})
    reader = LateReader(path)
    rng = np.random.default_rng(0)
    q = _states(rng, 9, 16)  # longer than question_tokens: cut
    sentences = [_states(rng, n, 16) for n in (3, 7, 11)]
    qv = rng.normal(size=16).astype(np.float32)
    qv /= np.linalg.norm(qv)
    vectors = [v / np.linalg.norm(v) for v in rng.normal(size=(3, 16)).astype(np.float32)]
    same = [True, False, True]
    got = reader.scores(Encoded(qv, q), [Encoded(v, s) for v, s in zip(vectors, sentences)], same)

    def padded(a: np.ndarray, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.tensor(a[:n].astype(np.float32))
        out, mask = torch.zeros(n, a.shape[1]), torch.zeros(n, dtype=torch.bool)
        out[: len(a)], mask[: len(a)] = a, True
        return out, mask

    qt, qm = padded(q, 6)
    rows = [padded(s, 7) for s in sentences]
    with torch.no_grad():
        want = net(
            qt[None],
            qm[None],
            torch.stack([r[0] for r in rows]),
            torch.stack([r[1] for r in rows]),
            torch.zeros(3, dtype=torch.long),
            torch.tensor([float(qv @ v) for v in vectors]),
            torch.tensor([1.0, 0.0, 1.0]),
        )
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4)


def test_the_cosine_reader_is_the_pooled_cosine():
    q = Encoded(np.array([1.0, 0.0], np.float32))
    got = CosineReader().scores(q, [Encoded(np.array([0.6, 0.8], np.float32))], [True])
    assert got.tolist() == pytest.approx([0.6])


def test_unreadable_weights_name_the_command(tmp_path):
    from rag.errors import ModelError

    bad = tmp_path / "r.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="rag train reader"):
        LateReader(bad)


def test_qa_lists_label_the_answer_sentence_and_make_an_answer_removed_list():
    text = "Utrecht is a city. Leiden University is in Leiden. The answer 1575 appears here."
    start = text.index("Leiden.")
    passage = QAPassage(
        "s",
        "en",
        "s:0",
        "s:0:0",
        "",
        text,
        (QAQuestion("q", "Where is Leiden University?", ((start, start + 6),)),),
    )
    other = QAPassage("s", "en", "s:1", "s:1:0", "", "Another passage about Leiden.", ())
    rng = np.random.default_rng(1)
    vectors: dict[tuple[str, str], np.ndarray] = {}

    def vector(kind: str, t: str) -> np.ndarray:
        return vectors.setdefault((kind, t), rng.normal(size=4).astype(np.float32))

    lists = qa_lists([passage, other], vector, distractors=2, removed=1.0)
    full, removed = lists
    assert full.labels[:3] == (0, 1, 0)
    assert (
        "Another passage about Leiden." not in full.candidates
    )  # it holds the answer text: never a negative
    assert not removed.answerable and "Leiden University is in Leiden." not in removed.candidates


def test_find_answer_repairs_an_offset_and_gives_up_when_the_text_is_absent():
    assert find_answer("abc Paris def", "Paris", 0) == (4, 9)
    assert find_answer("Paris x Paris", "Paris", 7) == (8, 13)
    assert find_answer("abc", "Paris", 0) is None


def test_the_loss_prefers_the_answer_and_none_for_a_list_without_one():
    shape = ReaderShape(width=8, d=4, heads=2, hidden=8)
    net = ReaderNet(shape)
    batch = fit.Batch(
        q=torch.zeros(2, 1, 8),
        q_mask=torch.ones(2, 1, dtype=torch.bool),
        s=torch.zeros(3, 1, 8),
        s_mask=torch.ones(3, 1, dtype=torch.bool),
        owner=torch.tensor([0, 0, 1]),
        cosine=torch.zeros(3),
        same=torch.zeros(3),
        labels=torch.tensor([1.0, 0.0, 0.0]),
        answerable=torch.tensor([True, False]),
    )
    good = fit.list_loss(net, batch, torch.tensor([5.0, -5.0, -5.0]))
    bad = fit.list_loss(net, batch, torch.tensor([-5.0, 5.0, 5.0]))
    assert good < 0.1 < bad


def test_subsample_keeps_every_answer():
    item = ReaderList("q", "en", tuple("abcdefgh"), ("en",) * 8, (0, 0, 1, 0, -1, 0, 1, 0), "x")
    cut = fit.subsample(item, 4, random.Random(0))
    assert len(cut.candidates) == 4 and cut.labels.count(1) == 2 and -1 not in cut.labels


def test_measure_reads_first_place_auc_and_false_refusals():
    items = [
        ReaderList("a", "en", ("x", "y"), ("en", "en"), (1, 0), "s"),
        ReaderList("b", "en", ("x", "y"), ("en", "en"), (0, 1), "s"),
        ReaderList("c", "en", ("x",), ("en",), (0,), "s"),
    ]
    scores = [np.array([2.0, 1.0]), np.array([3.0, 0.0]), np.array([0.5])]
    got = measure(items, scores)
    assert got["right_first"] == 0.5 and got["auc"] == 1.0
    assert auc([1.0, 0.0], [0.5]) == 0.5 and auc([1.0, 0.5], [0.5]) == 0.75
