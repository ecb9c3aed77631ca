"""Which articles report opposed positions (bot/pipeline/disputes.py): the neutral view opens on camps there."""

from __future__ import annotations

import pytest

from bot.pipeline.disputes import dispute_words, reports_dispute
from tests.conftest import corpus_dir


def test_a_vote_with_its_opponents_is_a_dispute() -> None:
    text = (
        "Les députés ont voté mardi le projet de loi. Ses opposants dénoncent une surveillance de masse, "
        "la majorité salue un texte équilibré."
    )
    assert dispute_words(text) == {"camps": 1, "against": 1, "for": 1, "debate": 1}
    assert reports_dispute(text)


@pytest.mark.parametrize(
    "text",
    [
        # An obituary: who salutes the dead is no side.
        "Le président a salué la mémoire de l'écrivaine, saluée aussi par l'Académie, qui soutient sa fondation.",
        # A trial and a literary critic: the words French uses outside a dispute count for nothing.
        "L'accusé a été défendu par son avocat, qui a plaidé l'acquittement. Elle était critique littéraire.",
        # One kind of word, however often: criminal news reports who denounces whom.
        "Il dénonce son complice, qui dénonce à son tour le chauffeur ; tous deux rejettent l'alibi.",
        # Another language: the usual opening.
        "Die Opposition kritisiert die Abstimmung; die Befürworter loben das Gesetz.",
    ],
)
def test_news_without_sides_is_no_dispute(text: str) -> None:
    assert not reports_dispute(text)


def test_two_kinds_need_three_words_in_all() -> None:
    assert not reports_dispute("Le texte a été voté ; les syndicats se taisent.")
    assert reports_dispute("Le texte a été voté ; les syndicats le contestent.")


def test_the_corpus_sources_where_a_made_up_camp_was_seen_and_where_camps_are_real() -> None:
    """OrangeSum's source 3 (a father's death) got « ceux qui ont eu le privilège de voir François
    Hollande mourir » from the forced camps; source 22 (Dati against Hidalgo) and 47 (a trial) are
    a dispute and not one."""
    sources = (corpus_dir() / "_datasets/orangesum-test/abstracts/source_documents.txt").read_text(encoding="utf-8")
    lines = sources.splitlines()
    assert "Hollande" in lines[3] and not reports_dispute(lines[3])
    assert "Hidalgo" in lines[22] and reports_dispute(lines[22])
    assert "braqueurs" in lines[47] and not reports_dispute(lines[47])
