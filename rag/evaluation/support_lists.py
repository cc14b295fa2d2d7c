"""Lists that teach the support scorer whether a sentence says what a claim says (``rag train support``).

A list is a claim (``ReaderList.question``) against the sentences of one XQuAD-R paragraph in a language
drawn at random (the claim's own a third of the time, as in ``rag bench faithfulness``). The claim is:

- a sentence of the paragraph in its language, or a clause of a long one, or a question followed by its
  answer: the sentence that holds it is the answer (label 1), the others are not (0);
- the same claim perturbed (another name of the paragraph swapped in, a number changed, a denial, a cause or
  a time order the paragraph does not state, halves of two sentences fused, a question followed by another
  question's answer): no sentence supports it, the list's answer is "none".

The denial, cause and time phrases here are not the benchmark's (``bench_faithfulness.PHRASES``): the
benchmark measures the scorer on phrasings it never saw. Articles: ``FIT`` to train on, ``CALIBRATE`` (dev,
never trained on) to choose the bar, XQuAD-R test articles 24-47 only in the benchmark.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from rag.evaluation.bench_faithfulness import XQUAD_LANGS, perturbations
from rag.evaluation.reader_lists import ReaderList, xquad_articles

FIT = range(0, 18)
CALIBRATE = range(18, 24)
EVIDENCE = 8
LONG = 120  # characters: a longer sentence also gives a clause as a claim

# per language: (denial, cause, time order): other words than the benchmark's
TRAIN_PHRASES = {
    "en": ("It is false that {c}", "{c}, since {o}", "{c} before {o}"),
    "es": ("Es falso que {c}", "{c}, ya que {o}", "{c} antes de que {o}"),
    "de": ("Es ist falsch, dass {c}", "{c}, da {o}", "{c}, bevor {o}"),
    "ru": ("Ложно, что {c}", "{c}, так как {o}", "{c} до того, как {o}"),
    "zh": ("{c}是错误的", "{c}，由于{o}", "在{o}之前，{c}"),
    "ar": ("من الخطأ أن {c}", "{c} بسبب أن {o}", "{c} قبل أن {o}"),
    "vi": ("Sai khi nói rằng {c}", "{c} do {o}", "{c} trước khi {o}"),
    "tr": ("{c} yanlış", "{c}, zira {o}", "{o} önce {c}"),
    "el": ("Είναι ψέμα ότι {c}", "{c}, διότι {o}", "{c} πριν {o}"),
    "hi": ("यह गलत है कि {c}", "{c} चूंकि {o}", "{o} से पहले {c}"),
    "th": ("เป็นเท็จที่{c}", "{c} เนื่องจาก{o}", "{c} ก่อน{o}"),
}


def support_lists(root: Path, articles: Iterable[int], seed: int = 0, draws: int = 12) -> list[ReaderList]:
    """The lists of ``articles`` (see the module's docstring): ``draws`` times per paragraph, a sentence
    and a language pair drawn at random; each list's ``group`` is "kind:index of the claim's sentence"."""
    data = xquad_articles(root, XQUAD_LANGS)
    rng = random.Random(seed)
    lists: list[ReaderList] = []
    for a in articles:
        for p in range(len(data["en"][a]["paragraphs"])):
            for _ in range(draws):
                said_lang = rng.choice(XQUAD_LANGS)
                source = said_lang if rng.random() < 1 / 3 else rng.choice(XQUAD_LANGS)
                lists += _paragraph_lists(data, a, p, said_lang, source, rng)
    return lists


def _sentences(paragraph: dict) -> list[str]:
    return [paragraph["context"][s:e].strip("\ufeff \n") for s, e in paragraph["sentence_breaks"]]


def _paragraph_lists(
    data: dict[str, list[dict]], a: int, p: int, said_lang: str, source: str, rng: random.Random
) -> list[ReaderList]:
    said_para, evidence_para = data[said_lang][a]["paragraphs"][p], data[source][a]["paragraphs"][p]
    said, evidence = _sentences(said_para)[:EVIDENCE], _sentences(evidence_para)[:EVIDENCE]
    if len(said) != len(evidence) or len(said) < 2:
        return []
    out: list[ReaderList] = []

    def add(claim: str, kind: str, cited: int, supported: bool) -> None:
        labels = tuple(1 if supported and k == cited else 0 for k in range(len(evidence)))
        group = f"{kind}:{cited}"  # the kind of claim and the sentence it was made from
        out.append(ReaderList(claim, said_lang, tuple(evidence), (source,) * len(evidence), labels, group))

    i = rng.randrange(len(said))
    others = [s for k, s in enumerate(said) if k != i]
    add(said[i], "supported", i, True)
    if len(said[i]) > LONG:
        add(_clause(said[i], rng), "clause", i, True)
    phrases = TRAIN_PHRASES.get(said_lang)
    for kind, text in perturbations(said[i], said_lang, others, rng, phrases).items():
        add(text, kind, i, False)
    qas = [qa for qa in said_para["qas"] if qa["answers"]]
    if qas:
        qa = rng.choice(qas)
        where = _holding(said_para, qa["answers"][0]["answer_start"])
        if where is not None and where < len(evidence):
            answer = qa["answers"][0]["text"].strip()
            add(f"{qa['question'].strip()} {answer}", "answer", where, True)
            wrong = _other_answer(data[said_lang][a], answer, rng)
            if wrong:
                add(f"{qa['question'].strip()} {wrong}", "wrong answer", where, False)
    return out


def _clause(sentence: str, rng: random.Random) -> str:
    from rag.answer.checks import _clause_spans

    spans = [(s, e) for s, e in _clause_spans(sentence, 40) if e - s >= 20]
    if len(spans) < 2:
        return sentence
    s, e = rng.choice(spans)
    return sentence[s:e]


def _holding(paragraph: dict, at: int) -> int | None:
    return next((k for k, (s, e) in enumerate(paragraph["sentence_breaks"]) if s <= at < e), None)


def _other_answer(article: dict, answer: str, rng: random.Random) -> str:
    """Another question's answer from the same article (a plausible, wrong one)."""
    answers = [
        qa["answers"][0]["text"].strip()
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
        if qa["answers"]
    ]
    answers = [
        x for x in answers if x.casefold() != answer.casefold() and x.casefold() not in answer.casefold()
    ]
    return rng.choice(answers) if answers else ""


def texts_of(lists: Sequence[ReaderList]) -> list[tuple[str, str]]:
    """What the state store must hold: every claim and sentence, all encoded as documents (a claim is a
    statement, and the answer stage encodes its claims as documents)."""
    seen = {("document", x.question) for x in lists}
    seen |= {("document", c) for x in lists for c in x.candidates}
    return sorted(t for t in seen if t[1])
