"""Quotations put back to the article's words (bot/pipeline/quotes.py)."""

from __future__ import annotations

import pytest

from bot.pipeline.quotes import mend_quotes, unwrap_quoted_paragraphs

CHIRAC = (
    'Emmanuel Macron a rendu visite à Jacques Chirac, une visite qui fut "un moment de grande qualité '
    "et de grande courtoisie\", selon la fille de l'ex-président."
)
MOORE = 'Il a tourné sept films de la saga, dont "L\'espion qui m\'aimait", "Rien que pour vos yeux" et "Octopussy".'
CORLEONE = 'Un clip posté sur YouTube vendredi, "Freeze Corleone 667", affiche des paroles jugées antisémites.'


@pytest.mark.parametrize(
    ("written", "article", "mended"),
    [
        # The misquotes of the 50 OrangeSum digests of 2026-12-07, each with its article's passage.
        (
            'La visite a été "un moment de grande quality et de grande courtoisie", rapporte sa fille.',
            CHIRAC,
            'La visite a été "un moment de grande qualité et de grande courtoisie", rapporte sa fille.',
        ),
        (
            'Roger Moore a tourné "L\'espion qui m\'aimait" et "Rien que pour les yeux".',
            MOORE,
            'Roger Moore a tourné "L\'espion qui m\'aimait" et "Rien que pour vos yeux".',
        ),
        (
            'Ce sont des "clip postés sur YouTube" qui inquiètent.',
            CORLEONE,
            'Ce sont des "clip posté sur YouTube" qui inquiètent.',
        ),
        # French quotation marks, spaces inside kept; the digest's capital kept at the start.
        (
            "Sa fille parle d'« Un moment de grande quality et de grande courtoisie ».",
            CHIRAC,
            "Sa fille parle d'« Un moment de grande qualité et de grande courtoisie ».",
        ),
    ],
)
def test_a_quotation_off_by_a_word_takes_the_articles_words(written: str, article: str, mended: str) -> None:
    assert mend_quotes(written, article) == (mended, 1)


@pytest.mark.parametrize(
    "written",
    [
        # Word for word (case and punctuation aside): nothing to mend.
        'Une visite qui fut "Un moment de grande qualité, et de grande courtoisie".',
        # Too short to tell a slip from another phrase.
        'Un moment "de qualité" et de courtoisie.',
        # A differing end: the passage is not anchored (« un gros coup » is not « un coup »).
        'La visite fut "un moment de grande qualité et de grande politesse".',
        'La visite fut "ce moment de grande qualité et de grande courtoisie".',
        # Two words in five differ: another phrase, not a slip.
        'Ce fut "un moment de belle qualité et de vraie courtoisie".',
        # The model's own phrase in quotation marks, close to no passage.
        'Le rappeur parle de "provocation pure et simple".',
    ],
)
def test_a_quotation_found_or_far_from_the_article_stays(written: str) -> None:
    assert mend_quotes(written, CHIRAC) == (written, 0)


def test_a_passage_across_a_quotation_mark_or_a_sentence_is_no_quotation() -> None:
    # BARThez's "… contre le Covid-19", a salué …: the passage of the article ending one word further
    # runs past the article's closing mark.
    article = 'Il a dit : "C\'est plutôt sain dans cette guerre contre le Covid", a salué le président.'
    written = '"C\'est plutôt sain dans cette guerre contre le Covid-19", a salué le président.'
    assert mend_quotes(written, article) == (written, 0)
    # Ends and words alike but for one, the article's passage holds its closing and opening marks.
    article = 'Elle a dit : "nous partirons demain", puis "nous reviendrons".'
    written = 'Elle a dit "nous partirons vite puis nous reviendrons".'
    assert mend_quotes(written, article) == (written, 0)
    article = "La guerre est longue. Contre le virus, tout compte."
    written = 'Il dit "la guerre est rude contre le virus".'
    assert mend_quotes(written, article) == (written, 0)


def test_two_passages_as_close_leave_the_quotation_alone() -> None:
    article = "Il parle du bon vin de table. Elle parle du beau vin de table."
    written = 'Il parle "du grand vin de table".'
    assert mend_quotes(written, article) == (written, 0)


def test_straight_marks_paired_across_two_quotations_are_left_alone() -> None:
    # Between the closing mark of one quotation and the opening one of the next: the digest's words.
    # A stray closing mark after « oui » pairs with the next opening one.
    written = 'Elle a dit oui" un moment de grande quality et de grande courtoisie "selon sa fille.'
    assert mend_quotes(written, CHIRAC) == (written, 0)


RECAP_QUOTED = (
    "\"William Lowenstein, président de SOS Addiction, a commenté les observations de l'Académie. Les "
    'tests vont être menés pour "trois publics différents", selon France Info."'
)


def test_a_paragraph_of_the_models_own_words_loses_its_quotation_marks() -> None:
    """orangesum-24's recap, in every run of the week: the model's text inside quotation marks."""
    article = 'L\'Académie a publié ses observations. Les tests seront menés pour "trois publics différents".'
    text, unwrapped = unwrap_quoted_paragraphs(f"{RECAP_QUOTED}\n\nUn second paragraphe.", article)
    assert unwrapped == 1
    assert text.startswith("William Lowenstein, président")
    assert 'pour "trois publics différents", selon France Info.\n\nUn second paragraphe.' in text
    text, unwrapped = unwrap_quoted_paragraphs("« La loi change. Elle entre en vigueur lundi. »", article)
    assert (text, unwrapped) == ("La loi change. Elle entre en vigueur lundi.", 1)


@pytest.mark.parametrize(
    "paragraph",
    [
        # Someone speaking (a human summary of OrangeSum).
        '"Je n\'imaginais pas divorcer au bout de cinq ans. Je me suis pris une claque".',
        # One sentence: more often someone's words with a slip than the model quoting itself.
        '"Le mal-être profond ne se résoudra ni par la répression, ni par l\'interdiction de manifester".',
        # Two quotations, not one.
        '"Oui", a-t-il répondu. Puis il a ajouté : "nous verrons".',
        "« Oui », a-t-il répondu. Puis il a ajouté : « maintenant ».",
        # The article's own words, quoted.
        '"La loi change. Elle entre en vigueur lundi."',
    ],
)
def test_a_quoted_paragraph_that_may_be_a_quotation_stays(paragraph: str) -> None:
    article = "Le texte dit : La loi change. Elle entre en vigueur lundi."
    assert unwrap_quoted_paragraphs(paragraph, article) == (paragraph, 0)
