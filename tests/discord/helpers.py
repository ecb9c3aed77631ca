"""Reading what the bot sent to the fake Discord."""

from __future__ import annotations

from typing import Any

from bot.platforms.discord import render
from tests.discord.fake_discord import FakeDiscord, Issued, Recorded

DIGEST = render.DIGEST_COLOUR.value
WORKING = render.WORKING_COLOUR.value
ERROR = render.ERROR_COLOUR.value


def opt(name: str, value: Any, kind: int = 3, **extra: Any) -> dict[str, Any]:
    """One application command option as Discord sends it (3: string, 7: channel)."""
    return {"type": kind, "name": name, "value": value, **extra}


def sub(name: str, *options: dict[str, Any], kind: int = 1) -> dict[str, Any]:
    """A subcommand (1) or subcommand group (2)."""
    return {"type": kind, "name": name, "options": list(options)}


def message_body(r: Recorded) -> dict[str, Any] | None:
    """The message a request posts or edits (a callback's `data`), or None for a deferral."""
    if r.path.endswith("/callback"):
        return r.body.get("data") if r.body.get("type") == 4 else None
    return r.body


def embeds_of(r: Recorded) -> list[dict[str, Any]]:
    body = message_body(r) or {}
    return list(body.get("embeds") or [])


def colour(r: Recorded) -> int | None:
    embeds = embeds_of(r)
    return embeds[0].get("color") if embeds else None


def text_of(r: Recorded) -> str:
    body = message_body(r) or {}
    parts = [body.get("content") or ""]
    for e in body.get("embeds") or []:
        parts += [e.get("title") or "", e.get("description") or ""]
    return "\n".join(p for p in parts if p)


def digest_done(fake: FakeDiscord, issued: Issued) -> bool:
    """The interaction's original response now holds a digest or an error (no longer a status)."""
    return any(
        r.method == "PATCH" and r.path.endswith("/@original") and colour(r) in (DIGEST, ERROR)
        for r in fake.for_interaction(issued)
    )


def assert_within_limits(embeds: list[dict[str, Any]]) -> None:
    assert 1 <= len(embeds) <= render.EMBEDS_PER_MESSAGE
    total = 0
    for e in embeds:
        assert len(e.get("description") or "") <= render.DESCRIPTION_LIMIT
        assert len(e.get("title") or "") <= render.TITLE_LIMIT
        total += len(e.get("title") or "") + len(e.get("description") or "")
    assert total <= render.EMBEDS_TOTAL_LIMIT


def assert_no_mentions_anywhere(fake: FakeDiscord) -> None:
    """Every message the bot posted or edited carries allowed_mentions {parse: []}."""
    checked = 0
    for r in fake.sent_messages():
        body = message_body(r)
        if body is None:  # a deferral has no message
            continue
        assert body.get("allowed_mentions", {}).get("parse") == [], (r, body.get("allowed_mentions"))
        assert not body.get("allowed_mentions", {}).get("replied_user"), r
        checked += 1
    assert checked
