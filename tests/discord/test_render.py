"""Digest -> embeds: Discord's limits, checked without a network."""

from __future__ import annotations

import discord

from bot.pipeline.render import to_markdown
from bot.platforms.discord import render
from tests.discord.test_commands import _long_digest


def test_pack_respects_count_and_total() -> None:
    small = [discord.Embed(description="x" * 10) for _ in range(25)]
    assert [len(m) for m in render.pack(small)] == [10, 10, 5]
    big = [discord.Embed(title="t" * 256, description="y" * 4096) for _ in range(3)]
    assert [len(m) for m in render.pack(big)] == [1, 1, 1]  # two would exceed 6000 characters


def test_long_digest_embeds_and_plain_fallback() -> None:
    digest = _long_digest("https://exemple.fr/a")
    messages = render.digest_messages(digest)
    for embeds in messages:
        assert len(embeds) <= 10 and sum(len(e) for e in embeds) <= 6000
        assert all(len(e.description or "") <= 4096 and len(e.title or "") <= 256 for e in embeds)
    plain = render.digest_plain(digest)
    assert all(len(m) <= 2000 for m in plain)
    # In order and complete; a paragraph over 2000 characters is cut between sentences.
    assert " ".join("\n\n".join(plain).split()) == " ".join(to_markdown(digest).split())


def test_truncate_on_a_word() -> None:
    assert render.truncate("court", 10) == "court"
    cut = render.truncate("un titre beaucoup trop long pour la limite", 20)
    assert len(cut) <= 20 and cut.endswith("…") and not cut.endswith(" …")
