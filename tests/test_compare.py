"""Compare sources, glosses and chat export with the real models: every shown sentence cites an exact span."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.answer.compare import Comparison, Side, SourceAnswer, points, side
from rag.answer.glosses import Glosses
from rag.answer.language import answer_language
from rag.answer.transcript import Turn
from rag.answer.values import Answer, Citation, Sentence
from rag.errors import QueryError

EN, ID = "seeds/002_b2e3a6e9fb9339f0.txt", "seeds/000_1b03c4f4f3f24ebf.txt"
QUESTION = "Why did the US stop the talks with Russia?"
ENF, IDF = EN.split("/")[-1], ID.split("/")[-1]


def exact(assistant, citations):
    return all(assistant.article_text(c.source)[c.start : c.end] == c.quote for c in citations)


def all_citations(result: Comparison):
    return [c for v in result.sources for c in v.citations] + [
        c for p in (*result.agree, *result.differ) for c in p.citations
    ]


def _sentence(start: int, relevance: float, text: str = "") -> Sentence:
    return Sentence("a.txt", start, start + 10, text or f"s{start}", "t", "en", relevance, score=relevance)


def _view(silent: bool = False) -> SourceAnswer:
    return SourceAnswer("a.txt", "t", "en", None, None, "a", (), "answer", (), silent)


def test_a_source_is_compared_on_its_cited_sentences_then_those_near_its_best():
    ranked = [_sentence(i * 10, r) for i, r in enumerate((0.6, 0.5, 0.4, 0.36, 0.3))]
    cited = Answer("x [1]", (Citation(1, "a.txt", 20, 30, "s20", "t", "en"),), False, "en")
    assert [s.start for s in side(_view(), cited, ranked, 12, 0.25).evidence] == [20, 0, 10, 30]  # 0.3 < 0.35
    assert [s.start for s in side(_view(), cited, ranked, 2, 0.25).evidence] == [20, 0]
    assert [s.start for s in side(_view(), cited, ranked, 12, 1.0).evidence] == [20, 0, 10, 30, 40]
    assert side(_view(silent=True), cited, ranked, 12, 0.25).evidence == ()


def test_points_pair_each_sentence_once_and_tell_agreement_from_a_number_conflict():
    a = Side(_view(), (_sentence(0, 0.5, "The blast killed 22 people."), _sentence(10, 0.4, "It rained.")))
    b = Side(_view(), (_sentence(0, 0.5, "The blast killed 25 people."), _sentence(10, 0.4, "Es regnete.")))
    vectors = {
        "The blast killed 22 people.": [1, 0],
        "The blast killed 25 people.": [0.8, 0.6],
        "It rained.": [0, 1],
        "Es regnete.": [0.1, 0.995],
    }

    def similar(sentences):
        return np.array([vectors[s.text] for s in sentences], dtype=np.float32)

    agreed, differed = points([a, b], similar, lambda name: name, agree=0.9, related=0.7)
    assert [p.text.split(" ")[0] for p in agreed] == ["agree"] and "It rained." in agreed[0].text
    assert (
        len(differed) == 1
        and "22" in differed[0].citations[0].quote
        and "25" in differed[0].citations[1].quote
    )
    assert points([a, Side(_view(silent=True), ())], similar, str, 0.9, 0.7) == ((), ())


def test_compare_on_the_seeds_shows_each_article_with_exact_citations(seed_assistant):
    result = seed_assistant.compare(QUESTION, generator="extractive")
    names = {v.source.split("/")[-1] for v in result.sources}
    assert names == {EN.split("/")[-1], ID.split("/")[-1]}  # two outlets' reports: two sources, not one story
    speaking = [v for v in result.sources if not v.silent]
    assert speaking and all(v.citations for v in speaking)
    assert exact(seed_assistant, all_citations(result))
    english = next(v for v in result.sources if v.source.endswith(EN.split("/")[-1]))
    assert english.published == "2016-10-04" and english.language == "en"
    data = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert set(data) >= {"question", "sources", "agree", "differ"}
    assert set(data["sources"][0]) >= {"source", "outlet", "published", "answer", "citations", "silent"}


def test_compare_on_the_seeds_finds_the_foreign_ministrys_reply_in_both_articles(seed_assistant):
    result = seed_assistant.compare(QUESTION, generator="extractive")
    replies = [p for p in result.agree if {c.source.split("/")[-1] for c in p.citations} == {ENF, IDF}]
    assert any("Zakharova" in c.quote for p in replies for c in p.citations), result.to_dict()["agree"]


def test_compare_with_the_local_llm_answers_each_side_with_exact_citations(answering):
    # The model's "... because Russia failed to fulfill its promises" joins two sentences with a cause
    # neither states: the word check (RAG_MAX_UNSUPPORTED_WORDS=0) drops it and the side quotes its
    # evidence instead (docs/answer-text.md); what must hold is a side that speaks, from its own article.
    result = answering.compare(QUESTION)
    english = next(v for v in result.sources if v.source.endswith(ENF))
    assert not english.silent and english.citations
    assert all(c.source.endswith(ENF) for c in english.citations)
    assert exact(answering, all_citations(result))
    assert all(answer_language(v.answer, "") == "en" for v in result.sources if not v.silent)


def test_compare_filters_and_silence(seed_assistant):
    only_english = seed_assistant.compare(QUESTION, generator="extractive", language="en")
    assert [v.language for v in only_english.sources] == ["en"]
    nothing = seed_assistant.compare(QUESTION, generator="extractive", since="2017-01-01")
    assert nothing.sources == ()  # no article is dated after 2016: nothing to compare, nothing invented
    off_topic = seed_assistant.compare("What is the recipe for sourdough bread?", generator="extractive")
    assert all(v.silent and not v.citations for v in off_topic.sources)


@pytest.fixture(scope="module")
def reports(tmp_path_factory, embedder):
    """Two outlets' reports of one event in two languages: one figure agrees, one differs."""
    from rag import Assistant

    root = tmp_path_factory.mktemp("reports")
    (root / "wire.md").write_text(
        "---\noutlet: Wire One\ndate: 2016-10-03\n---\n"
        "A bomb exploded at a wedding in Hasakah province on Monday.\n"
        "The blast killed 22 people and wounded more than 30, the provincial governor said.\n"
        "Officials in Damascus blamed militants for the attack on the celebration.\n"
        "Road traffic in the region was closed for the rest of the day.\n\n"
        "In other news, the central bank kept its interest rate unchanged at 7.5 percent, citing slowing "
        "inflation and a weaker currency. Analysts had expected the decision after two months of stable "
        "prices. Exporters welcomed the move, while importers warned about the cost of fuel and grain.\n\n"
        "The football league announced that the season will start two weeks late because of repairs at "
        "the national stadium. Clubs asked for compensation for the lost ticket sales.\n",
        encoding="utf-8",
    )
    (root / "zeitung.md").write_text(
        "---\noutlet: Die Zeitung\ndate: 2016-10-04\n---\n"
        "In der Provinz Hasakah ist am Montag auf einer Hochzeit eine Bombe explodiert.\n"
        "Die Explosion tötete 25 Menschen, berichtete eine Menschenrechtsgruppe aus London.\n"
        "Der Gouverneur der Provinz kündigte eine Untersuchung an.\n"
        "Die Hochzeitsgäste kamen aus mehreren Dörfern der Umgebung.\n\n"
        "Die Geschichte der Region reicht bis in die Antike zurück; Archäologen haben dort Reste einer "
        "assyrischen Stadt gefunden. Viele Funde sind heute in Museen in Berlin und London ausgestellt.\n\n"
        "Das Wetter bleibt in den kommenden Tagen trocken und heiß, mit Temperaturen bis zu 35 Grad. "
        "Die Bauern der Gegend hoffen auf Regen im November.\n",
        encoding="utf-8",
    )
    assistant = Assistant.open(root / "index", embedder=embedder, progress=False)
    assistant.ingest([root])
    return assistant


def test_agree_and_differ_points_cite_both_sides(reports):
    records = {r.source.split("/")[-1]: r for r in reports.sources()}
    assert records["wire.md"].story != records["zeitung.md"].story  # different reports, not one story
    result = reports.compare("How many people did the wedding bomb in Hasakah kill?", generator="extractive")
    assert {v.outlet for v in result.sources} == {"Wire One", "Die Zeitung"}
    assert result.differ, result.to_dict()
    for point in (*result.agree, *result.differ):
        assert len({c.source for c in point.citations}) == 2 and "[1]" in point.text and "[2]" in point.text
    killed = result.differ[0].citations
    assert {"22", "25"} <= {n for c in killed for n in ("22", "25") if n in c.quote}
    assert exact(reports, all_citations(result))


def test_glosses_are_checked_and_cached(tmp_path):
    calls = []

    def translate(quote, language):
        calls.append(quote)
        return {"de": "Die Explosion tötete 22 Menschen.", "fr": "The blast killed 22 people."}[language]

    glosses = Glosses(tmp_path, translate)
    assert glosses.gloss("The blast killed 22 people.", "de") == "Die Explosion tötete 22 Menschen."
    assert glosses.gloss("The blast killed 22 people.", "de") == "Die Explosion tötete 22 Menschen."
    assert len(calls) == 1  # cached per quote and language, also across instances:
    assert (
        Glosses(tmp_path, None).gloss("The blast killed 22 people.", "de")
        == "Die Explosion tötete 22 Menschen."
    )
    assert glosses.gloss("The blast killed 22 people.", "fr") is None  # not French: rejected, never shown
    c = Citation(1, "a.txt", 0, 27, "The blast killed 22 people.", "t", "en")
    answer = Answer("Die Artikel sagen: “…” [1]", (c,), False, "de")
    assert glosses.add(answer).citations[0].gloss == "Die Explosion tötete 22 Menschen."
    assert Glosses(tmp_path, translate).add(Answer("x [1]", (c,), False, "en")).citations[0].gloss is None


def test_a_gloss_from_the_local_llm_is_in_the_question_language(answering):
    answer = answering.ask("Apa yang dikatakan Maria Zakharova tentang keputusan Washington?", gloss=True)
    foreign = [c for c in answer.citations if c.language != answer.language]
    for c in foreign:
        assert c.gloss is None or answer_language(c.gloss, "") == answer.language
    quote = "Washington’s inaction has led to the fact that during this period, the militants regrouped."
    made = answering.gloss(quote, "id")
    assert made and answer_language(made, "") == "id" and made != quote
    # an extractive comparison is glossed by the configured LLM
    result = answering.compare(
        "What did Zakharova say about the decision of Washington?", generator="extractive", gloss=True
    )
    foreign = [c for c in all_citations(result) if c.language != "en"]
    assert foreign and any(c.gloss for c in foreign)
    assert all(answer_language(c.gloss, "") == "en" for c in foreign if c.gloss)


def test_chat_export_reloads_and_checks_every_quote(seed_assistant):
    first = seed_assistant.ask("Who did TASS quote?", generator="extractive")
    second = seed_assistant.compare(QUESTION, generator="extractive")
    turns = [Turn("Who did TASS quote?", answer=first), Turn(QUESTION, comparison=second)]
    exported = seed_assistant.export(turns, "json")
    assert seed_assistant.load_chat(exported) == turns
    markdown = seed_assistant.export(turns, "markdown")
    c = first.citations[0]
    assert f"{c.source} [{c.start}:{c.end}]" in markdown and " ".join(c.quote.split()) in markdown
    tampered = json.loads(exported)
    tampered["turns"][0]["answer"]["citations"][0]["quote"] = "Something the article never said."
    with pytest.raises(QueryError, match="not in the article as indexed now"):
        seed_assistant.load_chat(json.dumps(tampered))
    for bad, message in (
        ("{not json", "not JSON"),
        ('{"turns": []}', "not a chat export"),
        ("[]", "not a chat"),
    ):
        with pytest.raises(QueryError, match=message):
            seed_assistant.load_chat(bad)
    with pytest.raises(QueryError, match="format must be json or markdown"):
        seed_assistant.export(turns, "pdf")


EN_STORY = (
    "The central bank kept its key interest rate at 7.5 percent on Tuesday.\n"
    "Governor Anna Berg said inflation had slowed to 3.2 percent in September.\n"
    "The currency fell by 1.4 percent after the decision, traders said.\n"
    "Exporters welcomed the move, while importers warned about the cost of fuel.\n"
)
DE_STORY = (
    "Die Zentralbank hat ihren Leitzins am Dienstag bei 7,5 Prozent belassen.\n"
    "Gouverneurin Anna Berg sagte, die Inflation sei im September auf 3,2 Prozent gesunken.\n"
    "Die Währung fiel nach der Entscheidung um 1,4 Prozent, sagten Händler.\n"
    "Exporteure begrüßten den Schritt, Importeure warnten vor den Kosten für Treibstoff.\n"
)


def test_a_translation_is_one_story_and_citations_say_also_in(tmp_path, embedder):
    from rag import Assistant

    (tmp_path / "bank.en.txt").write_text(EN_STORY, encoding="utf-8")
    (tmp_path / "bank.de.txt").write_text(DE_STORY, encoding="utf-8")
    (tmp_path / "other.txt").write_text(
        "The football league will start its season two weeks late because of stadium repairs.\n",
        encoding="utf-8",
    )
    assistant = Assistant.open(tmp_path / "index", embedder=embedder, progress=False)
    assistant.ingest([tmp_path])
    stories = {r.source.split("/")[-1]: r.story for r in assistant.sources()}
    assert stories["bank.en.txt"] == stories["bank.de.txt"] != stories["other.txt"]
    answer = assistant.ask(
        "At what level did the central bank keep its interest rate?", generator="extractive"
    )
    assert answer.citations
    for c in answer.citations:
        twin = "bank.de.txt" if c.source.endswith("bank.en.txt") else "bank.en.txt"
        assert [s.split("/")[-1] for s in c.also_in] == [twin]
    result = assistant.compare(
        "At what level did the central bank keep its interest rate?", generator="extractive"
    )
    speaking = [v for v in result.sources if not v.silent]
    assert len(speaking) == 1 and len(speaking[0].also_in) == 1  # one story, shown once, "also in" its twin
    assert [v.source.split("/")[-1] for v in result.sources if v.silent] == ["other.txt"]


def test_the_seeds_agree_on_zakharovas_reply(seed_assistant):
    result = seed_assistant.compare(
        "What did Zakharova say about the decision of Washington?", generator="extractive"
    )
    assert result.agree, result.to_dict()
    point = result.agree[0]
    assert {c.language for c in point.citations} == {"en", "id"}  # one sentence from each report
    assert point.text.startswith("The sources agree:") and exact(seed_assistant, point.citations)


def test_compare_citations_name_their_story_members(tmp_path, embedder):
    from rag import Assistant

    (tmp_path / "bank.en.txt").write_text(EN_STORY, encoding="utf-8")
    (tmp_path / "bank.de.txt").write_text(DE_STORY, encoding="utf-8")
    assistant = Assistant.open(tmp_path / "index", embedder=embedder, progress=False)
    assistant.ingest([tmp_path])
    result = assistant.compare(
        "At what level did the central bank keep its interest rate?", generator="extractive"
    )
    cited = all_citations(result)
    assert cited and all(len(c.also_in) == 1 for c in cited)
