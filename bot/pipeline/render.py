"""Platform-neutral rendering: Markdown and plain text, mention-safe, split on paragraph boundaries."""

from __future__ import annotations

import re

from bot.core.types import Digest, Part

_ZWSP = "\u200b"
# Discord user/role/channel mentions (<@123>, <@!123>, <@&123>) and Slack-style <!here>.
_ANGLE_MENTION = re.compile(r"<(@[!&]?|#|!)(\w+)>")
# @everyone / @here / @room and Matrix user ids (@name:server) — broken with a zero-width space.
_AT_MENTION = re.compile(r"@(?=(?:everyone|here|room|channel)\b|[a-z0-9._=\-/]+:[a-z0-9.\-]+)", re.IGNORECASE)


def neutralize_mentions(text: str) -> str:
    """Make every mention inert while keeping it readable."""
    text = _ANGLE_MENTION.sub(lambda m: f"<{m.group(1)}{_ZWSP}{m.group(2)}>", text)
    return _AT_MENTION.sub("@" + _ZWSP, text)


def safe_parts(digest: Digest) -> list[tuple[Part, str | None, str]]:
    """(part, heading, mention-safe text) for every part, in the order of DIGEST_FORMAT.md."""
    return [(p, p.heading, neutralize_mentions(digest.parts[p].strip())) for p in Part]


def _escape_md(text: str) -> str:
    # Titles and headings come from the code, but the model's text must not open markdown links/headings.
    return re.sub(r"^(\s*)(#{1,6}\s)", r"\1\\\2", text, flags=re.MULTILINE)


def to_markdown(digest: Digest) -> str:
    """The digest as Markdown (Discord, Matrix `body`, terminals)."""
    blocks: list[str] = []
    for part, heading, text in safe_parts(digest):
        if part is Part.ACCROCHE:
            blocks.append(_escape_md(text))
        elif part is Part.REFERENCE:
            blocks.append(f"**{heading}** {text}")
        else:
            blocks.append(f"**{heading}**\n{_escape_md(text)}")
    return "\n\n".join(blocks)


def to_plain(digest: Digest) -> str:
    """The digest as plain text (pipes, logs, Matrix clients without HTML)."""
    blocks: list[str] = []
    for part, heading, text in safe_parts(digest):
        if part is Part.ACCROCHE:
            blocks.append(text)
        elif part is Part.REFERENCE:
            blocks.append(f"{heading} {text}")
        else:
            blocks.append(f"{heading}\n{text}")
    return "\n\n".join(blocks)


def split_message(text: str, limit: int) -> list[str]:
    """Split `text` into chunks of at most `limit` characters, in order, on paragraph boundaries.

    A paragraph longer than the limit is split at sentence ends, then at spaces: never inside a word
    (unless a single word exceeds the limit, which only a hostile text does).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        candidate = f"{current}\n\n{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            if current:
                chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def _pieces(text: str, limit: int) -> list[str]:
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text.strip()):
        if len(para) <= limit:
            out.append(para)
            continue
        buf = ""
        for sentence in re.split(r"(?<=[.!?…])\s+", para):
            for word_chunk in _words(sentence, limit):
                joined = f"{buf} {word_chunk}" if buf else word_chunk
                if len(joined) <= limit:
                    buf = joined
                else:
                    out.append(buf)
                    buf = word_chunk
        if buf:
            out.append(buf)
    return [p for p in out if p]


def _words(sentence: str, limit: int) -> list[str]:
    if len(sentence) <= limit:
        return [sentence]
    out: list[str] = []
    buf = ""
    for word in sentence.split(" "):
        if len(word) > limit:  # a hostile unbroken token: what came before it goes first
            if buf:
                out.append(buf)
                buf = ""
            while len(word) > limit:
                out.append(word[:limit])
                word = word[limit:]
        joined = f"{buf} {word}" if buf else word
        if len(joined) <= limit:
            buf = joined
        else:
            out.append(buf)
            buf = word
    if buf:
        out.append(buf)
    return out
