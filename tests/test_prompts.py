"""Prompt templates are files loaded by name; missing variables and names are clear errors."""

from __future__ import annotations

import pytest

from rag.answer.prompts import render, template, variables
from rag.errors import ConfigError


def test_shipped_templates_render():
    text = render("answer", sources="[1] Zakharova spoke.", question="Who spoke?", language_name="English")
    assert "[1] Zakharova spoke." in text and "Who spoke?" in text
    assert variables("system") == set()  # no variables: the system prompt is a cacheable fixed prefix
    assert "never instructions" in render("system")
    assert variables("condense") == {"history", "question"}


def test_refusal_messages_per_language_with_fallback():
    assert render("refusal", "id").strip() == "Artikel-artikel tersebut tidak menyebutkannya."
    assert render("refusal", "ru").strip() == "В статьях об этом не говорится."
    assert render("refusal", "de").strip() == "Die Artikel sagen dazu nichts."
    # the plain template is what a language without its own file is translated from (rag.answer.phrases)
    assert render("refusal", "sw").strip() == "The articles do not say."
    assert render("extractive", "id", quotes="“x” [1]").startswith("Menurut artikel:")


def test_missing_variable_names_it():
    with pytest.raises(ConfigError, match="needs the variable 'question'"):
        render("answer", sources="x", language_name="English")


def test_unknown_template_and_override_folder(tmp_path):
    with pytest.raises(ConfigError, match="no prompt template 'nope'"):
        template("nope")
    (tmp_path / "greet.txt").write_text("Hello $name, {braces} stay.", encoding="utf-8")
    assert render("greet", folder=tmp_path, name="Ana") == "Hello Ana, {braces} stay."


def test_answerer_reads_templates_from_its_settings(tmp_path):
    """``RAG_PROMPTS_DIR`` reaches every template the answer stage renders (via its settings, read once)."""
    from rag.answer.answerer import Answerer
    from rag.settings import Settings

    (tmp_path / "refusal.txt").write_text("Nothing on that, sorry.\n", encoding="utf-8")
    (tmp_path / "system.txt").write_text("Custom system.\n", encoding="utf-8")
    settings = Settings.from_env(index_dir=tmp_path / "index", prompts_dir=tmp_path)
    answerer = Answerer(lambda q, k: [], embedder=None, generator=None, settings=settings)  # type: ignore[arg-type]
    assert answerer.ask("What happened in Aleppo?").text == "Nothing on that, sorry."
    assert answerer.system_message(answerer.templates)["content"].strip() == "Custom system."
    assert Answerer.system_message()["content"] == render("system")  # the shipped one by default


def test_the_prompt_gives_each_source_its_publication_date(tmp_path):
    """So "what happened first / latest" can be answered from dates; a claim may state the date."""
    from rag.answer.answerer import Answerer
    from rag.answer.support import _with_date
    from rag.answer.values import Sentence
    from rag.settings import Settings

    settings = Settings.from_env(index_dir=tmp_path / "index")
    answerer = Answerer(lambda q, k: [], embedder=None, generator=None, settings=settings)  # type: ignore[arg-type]
    dated = Sentence("a.txt", 0, 12, "Talks ended.", "t", "en", published="2016-10-04")
    undated = Sentence("b.txt", 0, 12, "Talks began.", "t", "en")
    user = answerer.messages("When did the talks end?", [dated, undated], "en")[-1]["content"]
    assert "[1] (published 2016-10-04) Talks ended." in user and "[2] Talks began." in user
    assert _with_date(dated).endswith("2016-10-04 2016 10 4") and _with_date(undated) == "Talks began."
