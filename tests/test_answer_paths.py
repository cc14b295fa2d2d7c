"""Every decision and fallback path of the answer stage, with a scripted fake generator and a word-hashing
fake embedder (pure logic: the real-model paths are tested in test_ask.py and by `rag eval`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np
import pytest

from rag.answer import prompts
from rag.answer.answerer import Answerer
from rag.answer.language import answer_language
from rag.answer.phrases import NEUTRAL, Phrases, acceptable
from rag.answer.values import Sentence
from rag.evaluation.calibrate import fit
from rag.index.retrieve import Hit, tokenize
from rag.settings import AnswerPolicy, Settings

ARTICLE = (
    "The convoy was attacked on 19 September near Aleppo. Twelve people died in the attack. "
    "Maria Zakharova said the claims were absurd."
)


class WordEmbedder:
    """Bag of stemmed words hashed into 256 dimensions: texts sharing words are close."""

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(256, dtype=np.float32)
        for word in tokenize(text, ["en"]):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


class Scripted:
    """A generator whose replies are scripted: ``reply`` is what it writes (``translation`` when asked to
    translate); every prompt is recorded."""

    name = "scripted"

    def __init__(self, reply: str = "", translation: str = "") -> None:
        self.reply, self.translation = reply, translation
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def stream(self, messages: Sequence[dict], max_tokens: int) -> Iterator[str]:
        self.prompts.append(messages[-1]["content"])
        text = self.translation if messages[-1]["content"].startswith("Translate") else self.reply
        for k, word in enumerate(text.split(" ")):
            yield word if k == 0 else " " + word


SCORES = {"relevance", "margin", "same_language", "answerable"}  # what the decision reads, in Answer.scores


def answerer(generator, tmp_path, **policy) -> Answerer:
    """An answerer over ARTICLE; the gate is open unless ``policy`` says otherwise (the word-hashing
    embedder's relevances are not EmbeddingGemma's, which the default policy is calibrated on)."""
    hit = Hit("a.txt", 0, len(ARTICLE), ARTICLE, 1.0, "en", "Convoy")
    settings = Settings(
        index_dir=tmp_path, policy=replace(AnswerPolicy(), **{"min_answerable": 0.0, **policy})
    )
    return Answerer(lambda q, k: [hit], WordEmbedder(), generator, settings)


def test_a_low_answerable_probability_refuses_before_any_answer_is_written(tmp_path):
    model = Scripted("Twelve people died [1].")
    closed = answerer(model, tmp_path, answerable_bias=-50.0, min_answerable=0.5)
    answer = closed.ask("How many people died in the attack?")
    assert (
        answer.refused and answer.citations == () and answer.text == prompts.render("refusal", "en").strip()
    )
    assert set(answer.scores) == SCORES and answer.scores["answerable"] < 0.5
    assert model.prompts == []  # the decision reads no generated text: nothing was asked


def test_a_supported_claim_is_answered_with_its_sentence_cited(tmp_path):
    answer = answerer(Scripted("Twelve people died in the attack [2]."), tmp_path).ask(
        "How many people died?"
    )
    assert not answer.refused and answer.text == "Twelve people died in the attack [1]."
    assert [c.quote for c in answer.citations] == ["Twelve people died in the attack."]
    assert all(ARTICLE[c.start : c.end] == c.quote for c in answer.citations)


def test_a_claim_that_only_restates_the_question_is_dropped_and_the_evidence_quoted(tmp_path):
    question = "Who said the claims were absurd?"
    answer = answerer(Scripted("The one who said the claims were absurd [3]."), tmp_path).ask(question)
    assert not answer.refused and answer.dropped == ("The one who said the claims were absurd.",)
    assert answer.text.startswith("The articles say: “Maria Zakharova said the claims were absurd.”")


def test_a_reply_with_no_claim_quotes_the_evidence_when_the_question_is_answerable(tmp_path):
    for reply in ("NOT FOUND", "", "[1]"):
        answer = answerer(Scripted(reply), tmp_path).ask("How many people died in the attack?")
        assert (
            not answer.refused and answer.citations and "“Twelve people died in the attack.”" in answer.text
        )


def test_an_unsupported_claim_is_dropped_and_the_evidence_quoted(tmp_path):
    answer = answerer(Scripted("Fifteen soldiers died in 2015 [2]."), tmp_path).ask("How many people died?")
    assert answer.dropped == ("Fifteen soldiers died in 2015.",) and not answer.refused
    assert "“Twelve people died in the attack.”" in answer.text


def test_a_claim_with_an_unsupported_clause_is_dropped_though_the_whole_claim_passes(tmp_path):
    reply = (
        "Twelve people died in the attack near Aleppo, and the government promised money to every family [2]."
    )
    strict = answerer(Scripted(reply), tmp_path).ask("How many people died?")
    assert strict.dropped == (reply.replace(" [2]", ""),) and "“Twelve people died" in strict.text
    lenient = answerer(Scripted(reply), tmp_path, min_clause_support=0.0, max_unsupported_words=99).ask(
        "How many people died?"
    )
    assert lenient.dropped == () and lenient.text.startswith("Twelve people died")  # the whole claim passes


def test_a_claim_joining_two_sentences_cites_both(tmp_path):
    reply = "Twelve people died in the attack, and Maria Zakharova said the claims were absurd [2]."
    answer = answerer(Scripted(reply), tmp_path).ask(
        "How many people died and what did Zakharova say about the claims?"
    )
    assert not answer.dropped and {c.quote for c in answer.citations} == {
        "Twelve people died in the attack.",
        "Maria Zakharova said the claims were absurd.",
    }
    # the same claim when Zakharova's sentence was not given to the model: its clause has no support
    narrow = answerer(Scripted(reply), tmp_path).ask("What happened in the attack?")
    assert narrow.dropped and "Zakharova" not in narrow.text


def test_an_answer_in_another_language_is_replaced_by_quotes_in_the_question_language(tmp_path):
    model = Scripted("Twelve people died in the attack [2].")
    # the word-hashing embedder scores a Spanish question low against English text: the gate is opened
    answer = answerer(model, tmp_path).ask("¿Cuántas personas murieron en el ataque del convoy?")
    assert answer.language == "es" and answer.text.startswith("Los artículos dicen: “")


def test_without_a_model_the_same_gate_decides(tmp_path):
    assert answerer(None, tmp_path).ask("How many people died in the attack?").citations
    closed = answerer(None, tmp_path, answerable_bias=-50.0, min_answerable=0.5)
    answer = closed.ask("How many people died in the attack?")
    assert answer.refused and set(answer.scores) == SCORES


def test_the_margin_is_the_best_relevance_over_the_mean_of_the_next_sentences(tmp_path):
    a = answerer(None, tmp_path, answerable_bias=-1.0, relevance_weight=2.0, margin_weight=4.0, margin_of=2)
    ranked = [Sentence("a.txt", 0, 1, "x", "", "en", relevance=r) for r in (0.8, 0.4, 0.2, 0.0)]
    scores = a.answerability(ranked)
    assert scores["relevance"] == 0.8 and scores["margin"] == pytest.approx(0.5)
    assert scores["answerable"] == pytest.approx(1 / (1 + np.exp(-(-1.0 + 2.0 * 0.8 + 4.0 * 0.5))), abs=1e-4)
    assert a.answerability(ranked[:1])["margin"] == 0.0  # nothing to stand out from
    assert a.answerability(ranked, "en")["same_language"] == 1.0 and scores["same_language"] == 0.0
    malay = [replace(s, language="ms") for s in ranked]
    assert a.answerability(malay, "id")["same_language"] == 1.0  # langid's Malay is Indonesian
    assert a.answerability([])["answerable"] == 0.0


def test_a_language_with_no_shipped_phrase_gets_a_checked_translation_kept_once(tmp_path):
    model = Scripted(translation="Nakala hazisemi hivyo.")
    a = answerer(model, tmp_path)
    a.phrases.template("refusal", "sw")
    kept = tmp_path / "phrases" / "refusal.sw.txt"
    # py3langid reads this short Swahili line as Swahili: kept on disk, asked once
    if answer_language("Nakala hazisemi hivyo.", "") == "sw":
        assert kept.read_text(encoding="utf-8").strip() == "Nakala hazisemi hivyo."
        assert Phrases(tmp_path / "phrases").template("refusal", "sw") == "Nakala hazisemi hivyo."
    translations = [p for p in model.prompts if p.startswith("Translate")]
    a.phrases.template("refusal", "sw")
    assert len([p for p in model.prompts if p.startswith("Translate")]) == len(translations) == 1


def test_a_translation_in_the_wrong_language_or_without_placeholders_falls_back_to_neutral(tmp_path):
    english = Phrases(tmp_path, translate=lambda plain, lang: "The articles do not say.")
    assert english.template("refusal", "sw") == NEUTRAL["refusal"]  # still English: rejected
    lost = Phrases(tmp_path, translate=lambda plain, lang: "Makala zinasema nini kuhusu hili")
    assert lost.template("extractive", "sw") == NEUTRAL["extractive"]  # $quotes lost: rejected
    assert Phrases(None).render("extractive", "sw", quotes="“x” [1]") == "“x” [1]"
    assert not acceptable("The articles say: $quotes", "Die Artikel: $quotes $extra", "de")


@pytest.mark.parametrize("lang", ["ar", "de", "el", "en", "es", "hi", "id", "ru", "th", "tr", "vi", "zh"])
def test_refusals_and_quote_lead_ins_are_shipped_for_every_benchmark_language(lang):
    assert answer_language(prompts.render("refusal", lang), "?") == lang
    assert answer_language(prompts.render("extractive", lang, quotes="“Quoted text.” [1]"), "?") == lang
    assert answer_language(prompts.render("nearest", lang), "?") == lang


def test_answer_language_ignores_quotes_markers_and_names():
    assert answer_language("Темы включают Abtreibung, Rundfunkpolitik [1].", "ru") == "ru"
    assert answer_language("“Бронкос победил в раунде” [1]", "en") == "en"  # only a quote: nothing to tell
    assert answer_language("黑豹队的防守丢了308分 [1]。") == "zh"
    assert answer_language("Η Ρωσία είπε ότι δεν ήταν αλήθεια [1].") == "el"


def test_calibration_fits_a_threshold_that_separates_the_dev_questions():
    rows = [
        {"answerable": True, "scores": {"relevance": r, "margin": m}}
        for r, m in [(0.6, 0.3), (0.5, 0.25), (0.45, 0.3), (0.55, 0.2)]
    ]
    rows += [
        {"answerable": False, "scores": {"relevance": r, "margin": m}}
        for r, m in [(0.3, 0.05), (0.5, 0.02), (0.25, 0.1)]
    ]  # (0.5, 0.02): relevant, but nothing stands out
    fitted = fit(rows)
    assert fitted["questions"] == 7 and fitted["relevance_weight"] > 0 and fitted["margin_weight"] > 0
    policy = replace(AnswerPolicy(), **{k: v for k, v in fitted.items() if k != "questions"})
    for row in rows:
        s = row["scores"]
        assert (policy.answerable(s["relevance"], s["margin"]) >= policy.min_answerable) == row["answerable"]
    with pytest.raises(ValueError):
        fit(rows[:4])


def test_calibration_reports_what_to_expect_on_articles_it_was_not_fitted_on():
    rows = []
    for article in range(8):  # per article: two clear answerable questions, one clear unanswerable one
        rows += [
            {
                "id": f"a{article}-{k}",
                "answerable": True,
                "correct": k == 0,
                "scores": {"relevance": 0.6 + 0.01 * article, "margin": 0.3},
            }
            for k in range(2)
        ]
        rows.append(
            {"id": f"a{article}-none", "answerable": False, "scores": {"relevance": 0.3, "margin": 0.05}}
        )
    checked = fit(rows, group=lambda row: row["id"].split("-")[0])["cross_validated"]
    assert checked == {"folds": 4, "answered_right": 0.5, "false_refusals": 0.0, "unanswerable_refused": 1.0}
    assert "cross_validated" not in fit(rows)


def test_policy_fields_are_read_from_the_environment_and_overrides():
    settings = Settings.from_env({"RAG_MIN_SUPPORT": "0.5", "RAG_TOP_K": "3"}, min_answerable=0.7)
    assert (
        settings.policy.min_support == 0.5 and settings.policy.min_answerable == 0.7 and settings.top_k == 3
    )


def test_the_readers_sentence_score_is_fitted_on_its_own_features():
    from rag.evaluation.calibrate import READER

    def row(answerable, p, r):
        return {
            "answerable": answerable,
            "scores": {"reader": p, "reader_relevance": r, "reader_margin": 5.0},
        }

    rows = [row(True, p, r) for p, r in [(0.9, 0.6), (0.7, 0.5), (0.6, 0.55), (0.8, 0.4)]]
    rows += [row(False, p, r) for p, r in [(0.3, 0.5), (0.7, 0.2), (0.2, 0.45)]]  # (0.7, 0.2): far from it
    fitted = fit(rows)  # rows with no cosine decision features: the reader's score
    assert (
        fitted == fit(rows, decision=READER) and "reader_floor" in fitted and "min_answerable" not in fitted
    )
    policy = replace(AnswerPolicy(), **{k: v for k, v in fitted.items() if k != "questions"})
    for row in rows:
        s = row["scores"]
        decided = policy.reader_answerable(s["reader"], s["reader_relevance"]) >= policy.reader_floor
        assert decided == row["answerable"]


class Mixing(Scripted):
    """Writes ``first`` unless asked again for the question's language, then ``second``."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(first)
        self.second = second

    def stream(self, messages: Sequence[dict], max_tokens: int) -> Iterator[str]:
        if len(messages) > 2:  # the reply and the restated language follow the question
            self.reply = self.second
        return super().stream(messages, max_tokens)


def test_an_answer_in_the_sources_language_is_asked_for_again_then_quoted(tmp_path):
    question = "Berapa orang tewas dalam serangan itu?"  # Indonesian, the article is English
    english = "Twelve people died in the attack [2]."  # supported, but not in the question's language
    model = Mixing(english, english)
    answer = answerer(model, tmp_path).ask(question)
    assert "Indonesian" in model.prompts[1]  # asked once more, the language restated
    assert (
        answer.text.startswith("Menurut artikel: “") and "“Twelve people died in the attack.”" in answer.text
    )
    # the answer, the retry, the short answer (and its translation, when it was copied from the sentence)
    assert model.prompts[2].startswith("Sentence:") and len(model.prompts) <= 4


def test_the_local_model_masks_tokens_of_other_scripts():
    from rag.generate.local import _ScriptMask, token_scripts

    vocabulary = ["при", "вет", "hello", " [1]", "\xe2", "中"]
    scripts = token_scripts(
        lambda ids: (
            vocabulary[ids[0]].encode("utf-8", "surrogateescape")[:1]
            if vocabulary[ids[0]] == "\xe2"
            else vocabulary[ids[0]].encode()
        ),
        len(vocabulary),
    )
    assert scripts[0] == {"CYRILLIC"} and scripts[2] == {"LATIN"} and scripts[3] == frozenset()
    assert scripts[4] == frozenset()  # a partial character: allowed
    scores = np.zeros(len(vocabulary), dtype=np.float32)
    masked = _ScriptMask(scripts, frozenset({"CYRILLIC"}))(None, scores)
    assert list(np.isinf(masked)) == [False, False, True, False, False, True]


def test_a_claim_adding_a_cause_or_a_denial_its_sentence_does_not_state_is_dropped(tmp_path):
    for reply in (
        "Twelve people died in the attack because Maria Zakharova said the claims were absurd [2].",
        "It is not true that twelve people died in the attack [2].",
        "Twelve soldiers died in the attack [2].",
    ):
        answer = answerer(Scripted(reply), tmp_path).ask("How many people died?")
        assert answer.dropped and "“Twelve people died in the attack.”" in answer.text, reply
    kept = answerer(Scripted("Twelve people died in the attack [2]."), tmp_path).ask("How many people died?")
    assert not kept.dropped


class Phrasing(Scripted):
    """Writes ``reply`` to the answer prompt and ``phrase`` when asked for the short answer alone."""

    def __init__(self, reply: str, phrase: str) -> None:
        super().__init__(reply)
        self.phrase = phrase

    def stream(self, messages: Sequence[dict], max_tokens: int) -> Iterator[str]:
        if messages[-1]["content"].startswith("Sentence:"):
            self.prompts.append(messages[-1]["content"])
            return iter([self.phrase])
        return super().stream(messages, max_tokens)


def test_a_quoted_answer_opens_with_the_short_answer_its_sentence_states(tmp_path):
    question = "How many people died in the attack?"
    answer = answerer(Phrasing("Fifteen soldiers died in 2015 [2].", "Twelve people"), tmp_path).ask(question)
    assert answer.text.startswith(
        "Twelve people [1]. The articles say: “Twelve people died in the attack.” [1]"
    )
    assert answer.citations[0].quote == "Twelve people died in the attack."
    for invented in ("Fifteen people", "Twelve soldiers", "people died"):  # not stated, or nothing new
        answer = answerer(Phrasing("Fifteen soldiers died in 2015 [2].", invented), tmp_path).ask(question)
        assert answer.text.startswith("The articles say:"), invented


def test_a_short_answer_from_another_language_is_copied_then_translated_or_kept_as_written(tmp_path):
    question = "Siapa yang menyebut klaim itu absurd?"  # Indonesian, the article is English
    model = Phrasing(
        "Sergei Lavrov said so [3].", "Maria Zakharova"
    )  # the answer names no one in the article
    model.translation = "Maria Zakharova"
    answer = answerer(model, tmp_path).ask(question)
    assert answer.text.startswith("Maria Zakharova [1]. Menurut artikel: “Maria Zakharova said")
    assert model.prompts[-1].startswith("Translate") and "Indonesian" in model.prompts[-1]
    model = Phrasing("Sergei Lavrov said so [3].", "Maria Zakharova")
    model.translation = "Juru bicara kementerian"  # does not carry the copied names: they are kept as written
    assert answerer(model, tmp_path).ask(question).text.startswith("Maria Zakharova [1]. Menurut artikel:")
    model = Phrasing("Sergei Lavrov said so [3].", "said the claims were absurd")
    model.translation = "mengatakan klaim itu konyol"  # far from the copied words, which are not names
    assert answerer(model, tmp_path).ask(question).text.startswith("Menurut artikel:")
    model = Phrasing("Sergei Lavrov said so [3].", "Sergei Lavrov")  # not a piece of the sentence
    assert answerer(model, tmp_path).ask(question).text.startswith("Menurut artikel:")
    asked = "Apa yang dikatakan Maria Zakharova tentang klaim itu?"  # the copied names are the question's
    model = Phrasing("Sergei Lavrov said so [3].", "Maria Zakharova")
    model.translation = "Maria Zakharova"
    assert answerer(model, tmp_path).ask(asked).text.startswith("Menurut artikel:")
