"""Digest -> Discord embeds within Discord's limits, and a plain-text fallback.

Discord refuses a whole message when one limit is exceeded, so every size is checked here, where it
is cheap to test: 4096 characters an embed description, 256 a title, 6000 for all the embeds of a
message, 10 embeds a message, 2000 a plain message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import discord

from bot.core.types import Digest, Part
from bot.pipeline.render import neutralize_mentions, safe_parts, split_message, to_markdown

DESCRIPTION_LIMIT = 4096
TITLE_LIMIT = 256
EMBEDS_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
CONTENT_LIMIT = 2000

DIGEST_COLOUR = discord.Colour(0x2E7D32)
WORKING_COLOUR = discord.Colour(0xF0A500)
ERROR_COLOUR = discord.Colour(0xC62828)
INFO_COLOUR = discord.Colour(0x1565C0)

CONTINUED = " (suite)"

# A model line starting with "# " would render as a heading inside an embed.
_HEADING = re.compile(r"^(\s*)(#{1,6}\s)", re.MULTILINE)


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis when it was longer."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def _escape_headings(text: str) -> str:
    return _HEADING.sub(r"\1\\\2", text)


def _http_url(url: str) -> str | None:
    return url if url.startswith(("http://", "https://")) and len(url) <= 2000 else None


def digest_embeds(digest: Digest) -> list[discord.Embed]:
    """One embed per part, in order (the hook and the reference share the first, under the title).

    A part longer than an embed description continues in the next embeds, split on paragraph
    boundaries, with "(suite)" after its heading.
    """
    blocks: list[tuple[str | None, str]] = []
    texts = {part: text for part, _heading, text in safe_parts(digest)}
    reference = Part.REFERENCE.heading
    head = f"{_escape_headings(texts[Part.ACCROCHE])}\n\n**{reference}** {texts[Part.REFERENCE]}"
    # The page's site name is as untrusted as its title: both neutralised.
    title = neutralize_mentions(digest.title.strip() or digest.site or digest.final_url)
    blocks.append((title, head))
    for part, heading, _text in safe_parts(digest):
        if part in (Part.ACCROCHE, Part.REFERENCE):
            continue
        blocks.append((heading, _escape_headings(texts[part])))

    embeds: list[discord.Embed] = []
    for index, (block_title, text) in enumerate(blocks):
        for n, chunk in enumerate(split_message(text, DESCRIPTION_LIMIT)):
            shown = block_title if n == 0 else f"{block_title or ''}{CONTINUED}".strip()
            embed = discord.Embed(
                title=truncate(shown, TITLE_LIMIT) if shown else None,
                description=chunk,
                colour=DIGEST_COLOUR,
            )
            if index == 0 and n == 0:
                embed.url = _http_url(digest.final_url) or _http_url(digest.url)
            embeds.append(embed)
    return embeds


def pack(embeds: Sequence[discord.Embed]) -> list[list[discord.Embed]]:
    """Group embeds, in order, into messages of at most 10 embeds and 6000 characters."""
    messages: list[list[discord.Embed]] = []
    current: list[discord.Embed] = []
    size = 0
    for embed in embeds:
        n = len(embed)
        if n > EMBEDS_TOTAL_LIMIT:  # cannot happen with digest_embeds (256 + 4096)
            raise ValueError("an embed exceeds Discord's 6000-character total")
        if current and (len(current) >= EMBEDS_PER_MESSAGE or size + n > EMBEDS_TOTAL_LIMIT):
            messages.append(current)
            current, size = [], 0
        current.append(embed)
        size += n
    if current:
        messages.append(current)
    return messages


def digest_messages(digest: Digest) -> list[list[discord.Embed]]:
    """The digest as messages of embeds, in reading order."""
    return pack(digest_embeds(digest))


def digest_plain(digest: Digest) -> list[str]:
    """Fallback where embeds are not allowed: Markdown messages of at most 2000 characters."""
    return split_message(to_markdown(digest), CONTENT_LIMIT)


def text_messages(
    text: str, *, colour: discord.Colour = INFO_COLOUR, title: str | None = None
) -> list[list[discord.Embed]]:
    """Any longer French text (roundup, settings, help) as embeds, split on paragraph boundaries."""
    chunks = split_message(neutralize_mentions(text), DESCRIPTION_LIMIT) or ["…"]
    embeds = [
        discord.Embed(
            title=truncate(title, TITLE_LIMIT) if title and i == 0 else None, description=chunk, colour=colour
        )
        for i, chunk in enumerate(chunks)
    ]
    return pack(embeds)


def text_plain(text: str) -> list[str]:
    return split_message(neutralize_mentions(text), CONTENT_LIMIT) or ["…"]


def status_embed(text: str) -> discord.Embed:
    """The "⏳ working" state shown while a digest is written."""
    return discord.Embed(description=truncate(neutralize_mentions(text), DESCRIPTION_LIMIT), colour=WORKING_COLOUR)


def error_embed(text: str) -> discord.Embed:
    return discord.Embed(description=truncate(neutralize_mentions(text), DESCRIPTION_LIMIT), colour=ERROR_COLOUR)


def info_embed(text: str) -> discord.Embed:
    """A short answer the bot composed (it may show a channel as <#id>: embeds never ping)."""
    return discord.Embed(description=truncate(text, DESCRIPTION_LIMIT), colour=INFO_COLOUR)
