"""Training and measuring lists for the reader: a question, candidate sentences, which of them state the
answer (or none).

Two sources:

- **The native-speaker QA sets** (``rag.evaluation.qa_sets``): a question against the sentences of its own
  passage plus the sentences of other passages of the same set that are closest to it (the retrieval
  neighbours a pile of articles on one topic gives). The sentence holding an annotated answer span is the
  answer; another that holds the answer's text is left out of the loss (it may state it too). An
  unanswerable question (written against its passage) has none; so has an answerable question's list
  with its answer's sentences removed (the topic is there, the answer is not).
- **XQuAD-R** (parallel in 11 languages; splits by article, ``rag.evaluation.xquad_qa.SPLITS``): a question
  against every sentence of its article in another language; with the answer's paragraph removed, none.
  This is the only cross-lingual source, and the measure of the issue that asked for the reader.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.evaluation.qa_sets import SETS, QAPassage, load_set
from rag.evaluation.xquad_qa import FIT_ARTICLES, SPLITS
from rag.ingest.chunking import sentence_spans

MAX_SENTENCE_CHARS = 400  # as the answer stage (rag.answer.evidence)
XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "tr", "vi", "zh")  # Thai has no sentences here


@dataclass(frozen=True)
class ReaderList:
    """One question and its candidates: labels 1 (states the answer), 0 (does not), -1 (not scored)."""

    question: str
    language: str
    candidates: tuple[str, ...]
    languages: tuple[str, ...]
    labels: tuple[int, ...]
    group: str  # the set (or "xquad") it came from, for per-set figures

    @property
    def answerable(self) -> bool:
        return 1 in self.labels


def passage_sentences(text: str) -> list[tuple[int, int]]:
    """The answer stage's sentences of a passage (spans), the ones with some letters or digits."""
    return [
        (s, e)
        for s, e in sentence_spans(text, max_chars=MAX_SENTENCE_CHARS)
        if sum(ch.isalnum() for ch in text[s:e]) >= 3
    ]


def qa_lists(
    passages: Sequence[QAPassage],
    vector: Callable[[str, str], np.ndarray],
    distractors: int = 8,
    removed: float = 0.5,
    seed: int = 0,
) -> list[ReaderList]:
    """Lists of one set's split (see the module's docstring). ``vector(kind, text)`` gives pooled vectors
    (``StateStore.vector``); ``removed``: the share of answerable questions that also give an
    answer-removed list."""
    rng = random.Random(seed)
    spans = [passage_sentences(p.text) for p in passages]
    texts = [[p.text[s:e] for s, e in sp] for p, sp in zip(passages, spans)]
    owner = np.asarray([i for i, t in enumerate(texts) for _ in t])
    flat = [t for ts in texts for t in ts]
    if not flat:
        return []
    matrix = np.stack([vector("document", t) for t in flat]).astype(np.float32)
    lists = []
    for i, passage in enumerate(passages):
        for q in passage.questions:
            answers = [passage.text[s:e] for s, e in q.answers]
            scores = matrix @ vector("query", q.question).astype(np.float32)
            scores[owner == i] = -2
            near = [
                flat[k]
                for k in np.argsort(-scores)[: distractors * 3]
                if scores[k] > -2 and not any(a in flat[k] for a in answers)
            ][:distractors]
            labels = [_label(span, passage.text, q.answers, answers) for span in spans[i]]
            candidates = texts[i] + near
            labels += [0] * len(near)
            languages = (passage.language,) * len(candidates)
            lists.append(
                ReaderList(
                    q.question, passage.language, tuple(candidates), languages, tuple(labels), passage.set
                )
            )
            if 1 in labels and rng.random() < removed:
                lists.append(_without_answer(lists[-1]))
    return lists


def _label(span: tuple[int, int], text: str, spans: Sequence[tuple[int, int]], answers: Sequence[str]) -> int:
    s, e = span
    if any(a < e and b > s for a, b in spans):
        return 1
    return -1 if any(a in text[s:e] for a in answers) else 0


def _without_answer(item: ReaderList) -> ReaderList:
    keep = [k for k, label in enumerate(item.labels) if label == 0]
    return ReaderList(
        item.question,
        item.language,
        tuple(item.candidates[k] for k in keep),
        tuple(item.languages[k] for k in keep),
        (0,) * len(keep),
        item.group,
    )


def xquad_articles(root: Path, languages: Iterable[str] = XQUAD_LANGUAGES) -> dict[str, list[dict]]:
    """XQuAD-R's articles per language, in file order (parallel across languages)."""
    return {
        lang: json.loads((Path(root) / f"{lang}.json").read_text(encoding="utf-8"))["data"]
        for lang in languages
    }


def xquad_lists(
    data: dict[str, list[dict]],
    articles: Iterable[int],
    targets: int = 3,
    same_language: bool = False,
    seed: int = 0,
) -> list[ReaderList]:
    """Each question of ``articles`` in each language, against its whole article in ``targets`` other
    languages chosen at random (and in its own with ``same_language``): an answerable list, and the same
    without the answer's paragraph (none)."""
    rng = random.Random(seed)
    languages = list(data)
    lists = []
    for a in articles:
        for q_lang in languages:
            for p, paragraph in enumerate(data[q_lang][a]["paragraphs"]):
                for n, qa in enumerate(paragraph["qas"]):
                    chosen = rng.sample([x for x in languages if x != q_lang], targets)
                    for d_lang in chosen + ([q_lang] if same_language else []):
                        lists += _xquad_pair(data[d_lang][a], p, n, qa["question"].strip(), q_lang, d_lang)
    return lists


def _xquad_pair(article: dict, p: int, n: int, question: str, q_lang: str, d_lang: str) -> list[ReaderList]:
    """(the answerable list, the list without paragraph ``p``) of question ``n`` of paragraph ``p``."""
    candidates, labels, own = [], [], []
    for k, paragraph in enumerate(article["paragraphs"]):
        context = paragraph["context"]
        answer = None
        if k == p and n < len(paragraph["qas"]):
            start = paragraph["qas"][n]["answers"][0]["answer_start"]
            answer = next(
                (i for i, (s, e) in enumerate(paragraph["sentence_breaks"]) if s <= start < e), None
            )
        for i, (s, e) in enumerate(paragraph["sentence_breaks"]):
            text = context[s:e].strip()
            if sum(ch.isalnum() for ch in text) < 3:
                continue
            candidates.append(text)
            labels.append(1 if i == answer else 0)
            own.append(k == p)
    if 1 not in labels:
        return []
    full = ReaderList(
        question, q_lang, tuple(candidates), (d_lang,) * len(candidates), tuple(labels), "xquad"
    )
    keep = [k for k, mine in enumerate(own) if not mine]
    rest = ReaderList(
        question, q_lang, tuple(candidates[k] for k in keep), (d_lang,) * len(keep), (0,) * len(keep), "xquad"
    )
    return [full, rest]


# -- the sources as a whole: what training reads, what is held out, what must be encoded first --------------


@dataclass(frozen=True)
class Sources:
    """Where the lists come from: the QA sets (``without`` left out of training) and XQuAD-R; ``limit``
    (quick runs, tests): at most that many lists per source, half as many passages, one XQuAD-R article
    per split."""

    qa_dir: Path
    xquad_dir: Path
    without: tuple[str, ...] = ()
    limit: int | None = None
    seed: int = 0
    sets: tuple[str, ...] = field(default_factory=lambda: tuple(SETS))

    def articles(self, split: str) -> range:
        """XQuAD-R articles of ``split`` (``fit``: the dev articles the reader is trained on)."""
        found = FIT_ARTICLES if split == "fit" else SPLITS[split]
        return range(found.start, found.start + 1) if self.limit else found

    def passages(self, name: str, split: str) -> list[QAPassage]:
        passages = load_set(name, split, self.qa_dir)
        return passages[: max(1, self.limit // 2)] if self.limit else passages


Vector = Callable[[str, str], np.ndarray]


def training_lists(sources: Sources, vector: Vector) -> list[ReaderList]:
    """XQuAD-R dev articles ``FIT_ARTICLES`` (each question against its article in two other languages
    drawn at random: the cross-lingual lists) and the dev split of every QA set not in ``without``
    (same-language lists by native speakers)."""
    xquad = xquad_articles(sources.xquad_dir)
    lists = xquad_lists(xquad, sources.articles("fit"), targets=2, seed=sources.seed + 1)
    for name in sources.sets:
        if name in sources.without:
            continue
        found = qa_lists(sources.passages(name, "dev"), vector, seed=sources.seed + 2)
        lists += found[: sources.limit] if sources.limit else found
    return lists


def held_out_lists(sources: Sources, vector: Vector) -> dict[str, list[ReaderList]]:
    """The measure's lists: XQuAD-R test (articles 24-47, each question against its article in three
    other languages, and the same without the answer's paragraph) and each QA set's test split (every
    answerable list also without its answer)."""
    xquad = xquad_articles(sources.xquad_dir)
    out = {"xquad-test": xquad_lists(xquad, sources.articles("test"), targets=3, seed=sources.seed + 3)}
    for name in sources.sets:
        out[name] = qa_lists(sources.passages(name, "test"), vector, seed=sources.seed + 4, removed=1.0)
    if sources.limit:
        out = {k: v[: sources.limit] for k, v in out.items()}
    return out


def needed_texts(sources: Sources) -> list[tuple[str, str]]:
    """Every (kind, text) the lists can hold: the questions and sentences of both splits of every source
    (distractors are chosen by pooled vectors, so a split's sentences are all encoded first)."""
    items: list[tuple[str, str]] = []
    for articles in xquad_articles(sources.xquad_dir).values():
        for a in [*sources.articles("dev"), *sources.articles("test")]:
            for paragraph in articles[a]["paragraphs"]:
                context = paragraph["context"]
                items += [("document", context[s:e].strip()) for s, e in paragraph["sentence_breaks"]]
                items += [("query", qa["question"].strip()) for qa in paragraph["qas"]]
    for split in ("dev", "test"):
        for name in sources.sets:
            for p in sources.passages(name, split):
                items += [("document", p.text[s:e]) for s, e in passage_sentences(p.text)]
                items += [("query", q.question) for q in p.questions]
    return [item for item in items if item[1]]
