from __future__ import annotations

from bot.pipeline.condense import condense, split_sentences


def _count(text: str) -> int:
    return len(text.split())


def test_short_article_is_kept_whole() -> None:
    text = "Une phrase. Une autre phrase."
    out = condense(text, 100, _count)
    assert out.text == text and not out.condensed


def test_long_article_is_condensed_within_budget_covering_every_part() -> None:
    paragraphs = [
        f"Section {i} : le gouvernement annonce la mesure numéro {i} sur les retraites. "
        f"Les syndicats réagissent à la mesure {i}. Un détail sans intérêt numéro {i} suit ici."
        for i in range(40)
    ]
    text = "\n\n".join(paragraphs)
    out = condense(text, 200, _count)
    assert out.condensed
    assert out.tokens <= 200 + out.text.count("[…]")
    assert "[…]" in out.text
    # Every quarter of the article contributes: no silent truncation of the end.
    for quarter in (0, 10, 20, 30):
        assert any(f"mesure numéro {q}" in out.text or f"mesure {q}" in out.text for q in range(quarter, quarter + 10))
    # Kept sentences stay in the article's order.
    kept = [s for s in out.text.split("\n") if s != "[…]"]
    positions = [text.index(s) for s in kept]
    assert positions == sorted(positions)


def test_sentence_split() -> None:
    assert split_sentences("Bonjour. « Oui », dit-il. 3 morts.\nFin") == [
        "Bonjour.",
        "« Oui », dit-il.",
        "3 morts.",
        "Fin",
    ]


def test_sentences_run_together_in_agency_copy_are_split() -> None:
    # OrangeSum's articles (AFP copy) often lost the space between paragraphs: one "sentence" of
    # 470 tokens could not be kept or dropped on its own merits.
    text = (
        'Un patient est arrivé à la capitale indienne."Nous espérons le meilleur", dit-il.'
        "Confronté à 10.000 cas par jour, le gouvernement a levé le confinement. "
        'Il a dit : "Nous partirons." Ensuite, M.Dupont et les U.S.A. ont réagi.'
    )
    assert split_sentences(text) == [
        "Un patient est arrivé à la capitale indienne.",
        '"Nous espérons le meilleur", dit-il.',
        "Confronté à 10.000 cas par jour, le gouvernement a levé le confinement.",
        'Il a dit : "Nous partirons."',
        "Ensuite, M.Dupont et les U.S.A. ont réagi.",
    ]


def test_the_first_sentence_is_kept_even_when_its_words_are_said_once() -> None:
    # The lede names what happened in words the rest of the article never repeats: centrality alone
    # ranks it last, below every sentence about the recurring subject.
    lede = "Hier soir, Mireille Dubois a démissionné brusquement."
    body = " ".join(
        f"Le conseil municipal de Rouen discute du budget municipal {i}, et le budget du conseil reste débattu."
        for i in range(30)
    )
    text = f"{lede} {body}"
    # 51 = three sentences of the body (17 words each): without the rule, they fill the budget.
    out = condense(text, 51, _count)
    assert out.condensed
    assert out.text.startswith(lede)
    assert out.tokens <= 51 + out.text.count("[…]")


def test_a_first_sentence_over_a_quarter_of_the_budget_is_not_forced_in() -> None:
    lede = "Hier soir, " + " ".join(f"mot{i}" for i in range(30)) + "."
    body = " ".join(
        f"Le conseil de Rouen discute du budget {i}, et le budget du conseil reste débattu." for i in range(30)
    )
    out = condense(f"{lede} {body}", 51, _count)
    assert out.condensed and lede not in out.text
