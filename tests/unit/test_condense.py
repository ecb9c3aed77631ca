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
        assert any(
            f"mesure numéro {q}" in out.text or f"mesure {q}" in out.text
            for q in range(quarter, quarter + 10)
        )
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
