from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from bot.core.types import Digest, Length, Part
from bot.pipeline.render import neutralize_mentions, split_message, to_markdown, to_plain


def _digest(text: str = "Du texte.") -> Digest:
    parts = {p: f"{text} ({p.name})" for p in Part}
    return Digest("https://ex.fr", "https://ex.fr", "T", Length.STANDARD, parts)


def test_markdown_and_plain_follow_the_format_order() -> None:
    md = to_markdown(_digest())
    order = [
        md.index(h)
        for h in (
            "(ACCROCHE)",
            "**Article en référence :**",
            "**Récapitulatif factuel**",
            "**Point de vue neutre**",
            "**Exemple**",
            "**Point de vue optimiste**",
            "**Point de vue pessimiste**",
        )
    ]
    assert order == sorted(order)
    plain = to_plain(_digest())
    assert "**" not in plain
    assert plain.startswith("Du texte. (ACCROCHE)")
    assert "\n\nArticle en référence : Du texte. (REFERENCE)" in plain


def test_mentions_are_neutralised() -> None:
    text = "@everyone @here @room <@123> <@!45> <@&67> @alice:matrix.org courriel a@b.fr"
    out = neutralize_mentions(text)
    for bad in ("@everyone", "@here", "@room", "<@123>", "<@!45>", "<@&67>", "@alice:matrix.org"):
        assert bad not in out
    assert "a@b.fr" in out  # an e-mail address is not a mention
    md = to_markdown(_digest("Salut @everyone <@&1>"))
    assert "@everyone" not in md and "<@&1>" not in md


def test_model_text_cannot_open_markdown_headings() -> None:
    assert "\n# " not in to_markdown(_digest("# Faux titre"))


@example("0 000000000000000000010", 20)  # a word cut by force once overtook the word before it
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=3000), st.integers(20, 500))
def test_split_keeps_order_and_limits(text: str, limit: int) -> None:
    chunks = split_message(text, limit)
    assert all(0 < len(c) <= limit for c in chunks)
    assert "".join("".join(c.split()) for c in chunks) == "".join(text.split())


def test_split_prefers_paragraphs_and_never_cuts_words() -> None:
    paras = [f"Paragraphe numéro {i} avec quelques mots." for i in range(30)]
    chunks = split_message("\n\n".join(paras), 200)
    for c in chunks:
        assert c.startswith("Paragraphe") and c.endswith(".")
    long = " ".join(["anticonstitutionnellement"] * 50)
    for c in split_message(long, 100):
        assert all(w == "anticonstitutionnellement" for w in c.split())
