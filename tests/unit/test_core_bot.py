from __future__ import annotations

import pytest

from bot.core.bot import Command, RateLimiter, Scope, parse_command, parse_length
from bot.core.types import Length
from bot.errors import CommandError


def test_parse_commands() -> None:
    assert parse_command("bonjour", "!") is None
    assert parse_command("! resume", "!") is None  # a lone "!" followed by a space is prose
    assert parse_command("!resume https://ex.fr/a court", "!") == Command(
        "resume", ("https://ex.fr/a", "court")
    )
    assert parse_command("!AIDE", "!") == Command("aide", ())
    assert parse_command("!config", "!") == Command("config", ())
    assert parse_command("!config longueur long", "!") == Command("config", ("longueur", "long"))
    assert parse_command("!roundup", "!") == Command("roundup", ())


@pytest.mark.parametrize(
    "text", ["!resume", "!resume pas-un-lien", "!resume https://ex.fr moyen", "!config longueur", "!danse"]
)
def test_bad_commands_get_french_usage(text: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_command(text, "!")
    assert "Utilisation" in info.value.user_message or "inconnue" in info.value.user_message


def test_unknown_command_echo_cannot_ping() -> None:
    with pytest.raises(CommandError) as info:
        parse_command("!@everyone", "!")
    assert "@everyone" not in info.value.user_message


def test_length_and_scope() -> None:
    assert parse_length("LONG") is Length.LONG
    discord = Scope("discord", channel="2", server="1")
    assert discord.keys() == ("discord:server:1", "discord:channel:2")
    matrix = Scope("matrix", channel="!r:hs")
    assert matrix.keys() == ("matrix:channel:!r:hs",)
    assert matrix.server_key == matrix.channel_key


def test_rate_limiter_window() -> None:
    limiter = RateLimiter()
    assert limiter.check("u", 2, now=0) and limiter.check("u", 2, now=1)
    assert not limiter.check("u", 2, now=2)
    assert limiter.check("u", 2, now=3601)  # the first hit left the window


def test_bad_length_echo_cannot_ping() -> None:
    with pytest.raises(CommandError) as info:
        parse_length("@everyone")
    assert "@everyone" not in info.value.user_message
