"""Word-level language of an answer (rag.answer.mixing): the issue's mixed replies are caught, clean ones in
any script pass, quotes, markers, numbers and names carry no language."""

from __future__ import annotations

import pytest

from rag.answer.mixing import language_scripts, language_share, mixing, own_scripts, unquoted


@pytest.mark.parametrize(
    ("text", "language", "others"),
    [
        ("ТАСС цитировал заявление официального представителя МИД Марии Захаровой [1].", "ru", ["id"]),
        ("Amerika Serikat menghentikan pembicaraan dengan Rusia [1].", "id", ["en"]),
        ("The United States stopped the talks with Russia on 3 October [1].", "en", ["id"]),
        ("Die Vereinigten Staaten haben die Gespräche mit Russland beendet [1].", "de", ["en"]),
        ("美国于2016年停止了与俄罗斯的谈判 [1]。", "zh", ["en"]),
        ("Hoa Kỳ đã ngừng các cuộc đàm phán với Nga [1].", "vi", ["en"]),
        ("Η Ρωσία είπε ότι δεν ήταν αλήθεια [1].", "el", ["en"]),
        ("Темы включают Abtreibung, Rundfunkpolitik [1].", "ru", ["de"]),  # names aside
        ("Maria Zakharova [1].", "en", ["id"]),
    ],
)
def test_clean_answers_are_all_in_their_language(text, language, others):
    assert language_share(text, language, others) == 1.0


@pytest.mark.parametrize(
    ("text", "language", "others", "most"),
    [
        (
            "TASS цитировал pernyataan juru bicara Kementerian Luar Negeri Maria Zakharova [1].",
            "ru",
            ["id"],
            0.3,
        ),
        ("Amerika Serikat menghentikan the talks with Russia after the attack [1].", "id", ["en"], 0.8),
        ("美国 stopped the talks 与俄罗斯 [1]。", "zh", ["en"], 0.6),
        ("Российская сторона предлагала 72-hour pause на дороге [1].", "ru", ["en"], 0.8),
    ],
)
def test_mixed_answers_are_caught(text, language, others, most):
    share = language_share(text, language, others)
    assert share is not None and share < most


def test_quotes_nested_or_not_markers_and_numbers_tell_nothing():
    extractive = (
        "В статьях говорится: ““As for the “Nusra”, the Americans never,” said Lavrov.” [1] “On Friday.” [2]"
    )
    assert language_share(extractive, "ru", ["en"]) == 1.0
    assert language_share("“The convoy was attacked.” [1] 2016", "id", ["en"]) is None
    assert unquoted("a “b “c” d” e «f» g") == "a  .  e  .  g"
    assert "quote here" in unquoted("an unclosed “quote here")  # read as text, not dropped


def test_another_script_is_counted_apart_and_scripts_come_from_cldr():
    assert mixing("TASS цитировал pernyataan juru [1].", "ru", ["id"]).other_script == 2
    assert language_scripts("ja") == ("CJK", "HIRAGANA", "KATAKANA")
    assert language_scripts("uk") == ("CYRILLIC",) and language_scripts("fi") == ("LATIN",)
    assert own_scripts("ko") == frozenset({"HANGUL", "CJK"}) and own_scripts("id") is None
    assert language_scripts("xx-unknown") == ("LATIN",)
