"""The support scorer's training lists and the faithfulness benchmark's bookkeeping (pure logic)."""

from __future__ import annotations

import random

from rag.evaluation.bench_faithfulness import PHRASES, kept_at, perturbations
from rag.evaluation.support_lists import TRAIN_PHRASES


def test_training_phrasings_are_not_the_benchmarks():
    for language, phrases in TRAIN_PHRASES.items():
        assert language in PHRASES
        assert not set(phrases) & set(PHRASES[language]), language
    claim = "The Broncos beat the Panthers 24 to 10 in Denver."
    others = ["The game was played in Santa Clara on 7 February.", "Peyton Manning retired after the season."]
    made = perturbations(claim, "en", others, random.Random(0), TRAIN_PHRASES["en"])
    assert made["negation"].startswith("It is false that") and " since " in made["cause"]
    assert made["number"] != claim.rstrip(".") and made["entity"] != claim.rstrip(".")


def test_a_claim_is_kept_with_few_unsupported_words_and_across_languages_a_high_enough_score():
    outcomes = [(True, 0, None), (True, 2, None), (False, 0, None), (True, None, 0.9), (True, None, 0.1)]
    assert kept_at(outcomes, 0, 0.5) == [True, False, False, True, False]
    assert kept_at(outcomes, 2) == [True, True, False, True, True]  # bar 0: the scorer is off
