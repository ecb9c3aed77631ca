"""Fuzzing what the chat platforms parse: `!commands`, Matrix event contents, settings values.

Whatever a member types or sends, the parsers return a value or raise the documented CommandError,
and what the bot answers to it cannot ping anyone.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.bot import COMMANDS, Command, parse_command
from bot.core.settings import SPECS, parse_setting
from bot.errors import CommandError
from bot.pipeline.urls import find_urls
from tests.fuzz.settings import fuzz
from tests.fuzz.strategies import chat_text

nio = pytest.importorskip("nio")
discord = pytest.importorskip("discord")

from bot.platforms.discord import render as discord_render  # noqa: E402
from bot.platforms.matrix import render as matrix_render  # noqa: E402
from bot.platforms.matrix.convert import incoming, is_edit, mentions, strip_reply_fallback  # noqa: E402
from bot.platforms.matrix.handler import _length_in, inviter_allowed  # noqa: E402

LIVE_MENTION = re.compile(
    r"@(?:everyone|here|room|channel)\b|<(?:@[!&]?|#|!)\w+>|@[a-z0-9._=\-/]+:[a-z0-9.\-]+", re.IGNORECASE
)


def assert_inert(text: str) -> None:
    """No mention a chat client would turn into a ping (broken ones carry a zero-width space)."""
    assert not LIVE_MENTION.search(text), text


PREFIXES = st.sampled_from(["!", "/", "!!", "?", "ag:", "é"])


@fuzz
@given(text=chat_text, prefix=PREFIXES)
def test_parse_command_returns_a_command_none_or_a_french_error(text: str, prefix: str) -> None:
    try:
        command = parse_command(text, prefix)
    except CommandError as exc:
        # What the member reads back, as each platform draws it.
        assert exc.user_message
        assert_inert(matrix_render.text_notice(exc.user_message)["body"])
        assert_inert(matrix_render.text_notice(exc.user_message)["formatted_body"])
        assert_inert(discord_render.error_embed(exc.user_message).description or "")
        return
    if command is None:
        return
    assert isinstance(command, Command)
    assert text.strip().startswith(prefix)
    assert command.name in set(COMMANDS.values())
    if command.name == "resume":
        assert 1 <= len(command.args) <= 2 and find_urls(command.args[0])
    if command.name == "config":
        assert len(command.args) != 1


@fuzz
@given(text=chat_text)
def test_mention_length_and_reply_fallback_parsers(text: str) -> None:
    _length_in(text)
    stripped = strip_reply_fallback(text)
    assert stripped in text or stripped == text.lstrip("\n")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
BOT = "@agora:example.org"
_RELATION = st.fixed_dictionaries(
    {},
    optional={
        "rel_type": st.sampled_from(["m.thread", "m.replace", "m.reference", 5]) | JSON,
        "event_id": st.sampled_from(["$root", 7, None]) | JSON,
        "m.in_reply_to": JSON,
    },
)
_MENTIONS = st.fixed_dictionaries(
    {
        "user_ids": st.one_of(
            st.integers(),
            st.booleans(),
            st.text(max_size=30),
            st.just(f"x{BOT}x"),
            st.lists(st.sampled_from([BOT, "@x:y", 3])),
            JSON,
        )
    },
    optional={"room": JSON},
)


@st.composite
def hostile_content(draw: st.DrawFn) -> dict[str, Any]:
    """What nio accepts as a text message (body and msgtype are strings), with anything elsewhere."""
    content: dict[str, Any] = {
        "msgtype": "m.text",
        "body": draw(st.one_of(chat_text, st.just(f"{BOT}: !resume https://lemonde.fr/a"))),
    }
    if draw(st.booleans()):
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = draw(st.sampled_from([f"<a href='https://matrix.to/#/{BOT}'>A</a>", "", "x"]))
    if draw(st.booleans()):
        content["m.mentions"] = draw(_MENTIONS) if draw(st.integers(0, 3)) else draw(JSON)
    if draw(st.booleans()):
        content["m.relates_to"] = draw(st.one_of(_RELATION, JSON))
    if draw(st.booleans()):
        content["m.new_content"] = draw(JSON)
    return content


@fuzz
@given(content=hostile_content(), display_name=st.one_of(st.none(), st.text(max_size=8)))
def test_matrix_events_of_any_shape_are_converted_without_raising(
    content: dict[str, Any], display_name: str | None
) -> None:
    source = {
        "type": "m.room.message",
        "event_id": "$event",
        "sender": "@someone:example.org",
        "origin_server_ts": 1,
        "content": content,
    }
    event = nio.Event.parse_event(source)
    if not isinstance(event, nio.RoomMessageText):
        return  # nio refused it (BadEvent): the handler ignores those
    is_edit(content)
    msg = incoming("!room:example.org", event, BOT, display_name)
    assert isinstance(msg.mentions_bot, bool)
    assert msg.thread_root is None or isinstance(msg.thread_root, str)
    assert isinstance(mentions(content, BOT, display_name), bool)


@fuzz
@given(
    allowed=st.lists(st.sampled_from(["@a:x.org", ":x.org", "x.org", "", "@", ":"]), max_size=3),
    inviter=st.one_of(st.none(), st.text(max_size=12)),
)
def test_inviter_filter(allowed: list[str], inviter: str | None) -> None:
    result = inviter_allowed(tuple(allowed), inviter)
    if not allowed:
        assert result is True
    elif inviter is None:
        assert result is False
    else:
        assert isinstance(result, bool)


SETTING_RAW = st.one_of(
    chat_text,
    st.sampled_from(["oui", "non", "OUI ", "3", " 10", "0", "-1", "18:30", "7h", "23h59", "24:00", "Europe/Paris",
                     "UTC", "../etc", "lemonde.fr, *.gouv.fr", "aucun", "-", "*.x", "a..b", "court", "fil"]),
)  # fmt: skip


@fuzz
@given(spec=st.sampled_from(SPECS), raw=SETTING_RAW)
def test_settings_values_parse_or_explain_and_round_trip(spec: Any, raw: str) -> None:
    """Every stored value shows as text that parses back to itself (what settings import relies on)."""
    try:
        value = parse_setting(spec.key, raw)
    except CommandError as exc:
        assert exc.user_message
        return
    assert parse_setting(spec.key, spec.show(value)) == value


@fuzz
@given(text=st.text(max_size=300), limit=st.integers(1, 120))
def test_discord_truncate_respects_the_limit(text: str, limit: int) -> None:
    out = discord_render.truncate(text, limit)
    assert len(out) <= limit
    if len(text.strip()) <= limit:
        assert out == text.strip()
