"""Matrix events -> what the core needs: the text a member typed, where to answer, whether we are named."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nio import RoomMessageText


@dataclass(frozen=True, slots=True)
class Incoming:
    """A text message, reduced to what the handler decides on."""

    room_id: str
    event_id: str
    sender: str
    text: str  # the body without a reply fallback
    thread_root: str | None  # set when the message is inside a thread
    mentions_bot: bool
    ts: int  # homeserver milliseconds


def relates_to(content: dict[str, Any]) -> dict[str, Any]:
    value = content.get("m.relates_to")
    return value if isinstance(value, dict) else {}


def is_edit(content: dict[str, Any]) -> bool:
    """Edits (`m.replace`) repeat a message that was already seen: never answered again."""
    return relates_to(content).get("rel_type") == "m.replace"


def thread_root(content: dict[str, Any]) -> str | None:
    rel = relates_to(content)
    root = rel.get("event_id")
    return root if rel.get("rel_type") == "m.thread" and isinstance(root, str) else None


def strip_reply_fallback(body: str) -> str:
    """Drop the "> <@user> quoted text" lines older clients put before a reply's own text."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    return "\n".join(lines[i:]).lstrip("\n")


def mentions(content: dict[str, Any], user_id: str, display_name: str | None) -> bool:
    """Whether a message names the bot: intentional mentions, a pill, its id, or "Name: ..." at the start."""
    intended = content.get("m.mentions")
    # Any member can send any JSON here: only a list counts (a number would raise, a string match a substring).
    user_ids = intended.get("user_ids") if isinstance(intended, dict) else None
    if isinstance(user_ids, list) and user_id in user_ids:
        return True
    formatted = content.get("formatted_body")
    if isinstance(formatted, str) and f"matrix.to/#/{user_id}" in formatted:
        return True
    body = content.get("body")
    if not isinstance(body, str):
        return False
    body = strip_reply_fallback(body)
    if user_id in body:
        return True
    localpart = user_id[1:].split(":", 1)[0]
    names = {n for n in (display_name, localpart) if n}
    return any(re.match(rf"\s*@?{re.escape(n)}\s*[:,]", body, re.IGNORECASE) for n in names)


def incoming(room_id: str, event: RoomMessageText, user_id: str, display_name: str | None) -> Incoming:
    content = event.source.get("content") or {}
    return Incoming(
        room_id=room_id,
        event_id=event.event_id,
        sender=event.sender,
        text=strip_reply_fallback(event.body or ""),
        thread_root=thread_root(content),
        mentions_bot=mentions(content, user_id, display_name),
        ts=int(event.server_timestamp or 0),
    )
