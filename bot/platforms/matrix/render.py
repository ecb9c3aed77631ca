"""Digests and bot messages as Matrix `m.notice` contents: a plain `body` and an HTML `formatted_body`.

Everything the model or a web page wrote is HTML-escaped; links become `<a>` (never matrix.to pills),
mentions are neutralised and every content carries an empty `m.mentions`, so nothing pings anyone.
Contents stay under Matrix's 65 536-byte event limit: long texts are split in order on paragraph
boundaries, and each piece is measured as it will travel (edited, and encrypted where the room is).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from bot.core.types import Digest, Part
from bot.pipeline.render import neutralize_mentions, safe_parts, split_message
from bot.pipeline.urls import trim_link

Content = dict[str, Any]

#: Matrix caps a whole event (envelope, signatures, hashes included) at 65 536 bytes of canonical JSON.
EVENT_LIMIT = 65_536
#: Room left for what the homeserver adds around the content (ids, hashes, signatures, relations).
ENVELOPE_MARGIN = 4_096
#: Characters of body tried first for one message; smaller pieces are used when the encoded event
#: would still be too large (non-Latin text, encryption's base64, an edit that repeats the content).
BODY_CHARS = 8_000
_MIN_BODY_CHARS = 500

_URL = re.compile(r"(?<![A-Za-z0-9+.\-])https?://[^\s<>\"`\x00-\x1f\x7f]+", re.IGNORECASE)
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Block:
    """One paragraph of a message; `heading` is shown above it (or before it, `inline`)."""

    text: str
    heading: str | None = None
    inline: bool = False

    def plain(self) -> str:
        if self.heading is None:
            return self.text
        return f"{self.heading} {self.text}" if self.inline else f"{self.heading}\n{self.text}"

    def html(self) -> str:
        body = _inline_html(self.text)
        if self.heading is None:
            return f"<p>{body}</p>"
        heading = html.escape(self.heading, quote=False)
        if self.inline:
            return f"<p><strong>{heading}</strong> {body}</p>"
        return f"<h4>{heading}</h4>\n<p>{body}</p>"


def notice(body: str, formatted_body: str | None = None) -> Content:
    """An `m.notice` that pings nobody."""
    content: Content = {"msgtype": "m.notice", "body": body, "m.mentions": {}}
    if formatted_body is not None:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = formatted_body
    return content


def text_notice(text: str) -> Content:
    """A bot message written with `**bold**` (messages.py, roundups) as plain body + HTML."""
    safe = neutralize_mentions(text)
    paragraphs = [p for p in re.split(r"\n\s*\n", safe.strip()) if p.strip()]
    formatted = "\n".join(f"<p>{_inline_html(p, bold=True)}</p>" for p in paragraphs)
    return notice(_BOLD.sub(r"\1", safe), formatted)


def text_notices(text: str, *, encrypted: bool = False) -> list[Content]:
    """`text_notice`, split into several events when one would be too large."""
    limit = BODY_CHARS
    while True:
        contents = [text_notice(chunk) for chunk in split_message(text, limit)] or [text_notice(text)]
        if limit <= _MIN_BODY_CHARS or all(fits(c, encrypted=encrypted) for c in contents):
            return contents
        limit //= 2


def digest_notices(digest: Digest, *, encrypted: bool = False) -> list[Content]:
    """The digest as one `m.notice`, or several in order when it is too large for one event."""
    blocks = digest_blocks(digest)
    limit = BODY_CHARS
    while True:
        contents = [_blocks_notice(chunk) for chunk in _pack(blocks, limit)]
        if limit <= _MIN_BODY_CHARS or all(fits(c, encrypted=encrypted) for c in contents):
            return contents
        limit //= 2


def digest_blocks(digest: Digest) -> list[Block]:
    """The parts of DIGEST_FORMAT.md in order, one block per paragraph; headings on a part's first."""
    blocks: list[Block] = []
    for part, heading, text in safe_parts(digest):
        if part is Part.REFERENCE:
            blocks.append(Block(" ".join(text.split()), heading, inline=True))
            continue
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()] or [text]
        for i, para in enumerate(paragraphs):
            blocks.append(Block(para, heading if i == 0 else None))
    return blocks


def _pack(blocks: list[Block], limit: int) -> list[list[Block]]:
    """Group blocks into messages of at most `limit` body characters, splitting oversized paragraphs."""
    pieces: list[Block] = []
    for block in blocks:
        if len(block.plain()) <= limit:
            pieces.append(block)
            continue
        room = max(limit - len(block.heading or "") - 1, _MIN_BODY_CHARS // 2)
        for i, chunk in enumerate(split_message(block.text, room)):
            pieces.append(Block(chunk, block.heading if i == 0 else None, block.inline and i == 0))
    chunks: list[list[Block]] = []
    size = 0
    for piece in pieces:
        added = len(piece.plain()) + (2 if chunks and chunks[-1] else 0)
        if chunks and size + added <= limit:
            chunks[-1].append(piece)
            size += added
        else:
            chunks.append([piece])
            size = len(piece.plain())
    return chunks


def _blocks_notice(blocks: list[Block]) -> Content:
    return notice("\n\n".join(b.plain() for b in blocks), "\n".join(b.html() for b in blocks))


def edit(event_id: str, new: Content) -> Content:
    """An `m.replace` edit that turns event `event_id` into `new` (the progress notice into the digest)."""
    content: Content = {
        "msgtype": new["msgtype"],
        "body": "* " + new["body"],
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        "m.mentions": {},
    }
    if "formatted_body" in new:
        content["format"] = new["format"]
        content["formatted_body"] = "* " + new["formatted_body"]
    return content


def content_with(content: Content, relates_to: dict[str, Any]) -> Content:
    """A copy of `content` placed in a thread or as a reply (see `relation`)."""
    return {**content, "m.relates_to": relates_to}


def relation(event_id: str, *, thread: bool, thread_root: str | None = None) -> dict[str, Any]:
    """`m.relates_to` for an answer to `event_id`: in a thread on it, or as a reply.

    A message that is already in a thread is answered in that thread either way (a plain reply would
    take the answer out of it).
    """
    if thread_root is not None:
        return {
            "rel_type": "m.thread",
            "event_id": thread_root,
            "is_falling_back": False,
            "m.in_reply_to": {"event_id": event_id},
        }
    if thread:
        return {
            "rel_type": "m.thread",
            "event_id": event_id,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": event_id},
        }
    return {"m.in_reply_to": {"event_id": event_id}}


def fits(content: Content, *, encrypted: bool) -> bool:
    """Whether `content`, sent as an edit (its largest form), stays under the event size limit."""
    return encoded_size(edit("$" + "x" * 43, content), encrypted=encrypted) <= EVENT_LIMIT - ENVELOPE_MARGIN


def encoded_size(content: Content, *, encrypted: bool) -> int:
    """Bytes `content` takes in the event the homeserver stores.

    Plain: canonical JSON, UTF-8. Encrypted: the Olm payload is JSON with ASCII escapes (as nio
    writes it), then Megolm-encrypted and base64-encoded (4/3), plus keys and ids.
    """
    if not encrypted:
        return len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())
    payload = json.dumps({"type": "m.room.message", "content": content, "room_id": "!" + "x" * 40})
    return (len(payload) + 200) * 4 // 3 + 400


def _inline_html(text: str, *, bold: bool = False) -> str:
    """Escape `text`, turn http(s) links into anchors and newlines into <br>; `**x**` bold if asked."""
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        url = trim_link(match.group(0))
        start, end = match.start(), match.start() + len(url)
        out.append(_escape(text[pos:start], bold))
        out.append(_anchor(url))
        pos = end
    out.append(_escape(text[pos:], bold))
    return "".join(out).replace("\n", "<br>\n")


def _escape(text: str, bold: bool) -> str:
    escaped = html.escape(text, quote=False)
    return _BOLD.sub(r"<strong>\1</strong>", escaped) if bold else escaped


def _anchor(url: str) -> str:
    shown = html.escape(url, quote=False)
    host = (url.split("/", 3)[2] if url.count("/") >= 2 else "").lower()
    if host == "matrix.to" or host.endswith(".matrix.to"):
        return shown  # a matrix.to link would render as a pill (and look like a mention)
    return f'<a href="{html.escape(url, quote=True)}">{shown}</a>'
