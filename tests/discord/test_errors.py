"""Errors on Discord are counted in agora_errors_total{platform="discord"} (and the bot goes on)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.ops.metrics import Metrics
from tests.discord.conftest import Bot, StartBot
from tests.discord.helpers import ERROR, colour, opt, text_of
from tests.discord.test_auto import _watch
from tests.discord.test_jobs import delivered, jobs, ready


def counted(bot: Bot, kind: str) -> float:
    metrics = bot.app.metrics
    assert isinstance(metrics, Metrics)
    return metrics.registry.get_sample_value("agora_errors_total", {"kind": kind, "platform": "discord"}) or 0.0


async def test_an_answer_to_a_deleted_channel_is_counted(start_bot: StartBot) -> None:
    bot = await ready(start_bot, message_content_intent=True)
    fake = bot.fake
    bot.app.metrics = Metrics()
    channel = fake.other_channel_id
    await _watch(bot, channel)
    await bot.app.settings.set(f"discord:channel:{channel}", "reponse", "reponse")  # no thread: in the channel
    del fake.channels[channel]  # deleted on Discord; the bot's cache still has it
    url = bot.corpus.url("fr09-ledevoir-trottinettes")
    await fake.post_message(f"À lire : {url}", channel_id=channel)
    await fake.wait_for(lambda: delivered(bot.app), what="the answer given up")
    await bot.settled()
    [row] = jobs(bot.app)
    assert row["state"] == "done" and "Unknown Channel" in row["delivery_error"]
    assert counted(bot, "delivery.progress") == 1  # the "⏳" status could not be posted
    assert counted(bot, "delivery.undeliverable") == 1  # nor the digest: never retried
    assert counted(bot, "delivery.lost") == 0


async def test_failing_commands_events_and_lost_answers_are_counted(
    start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await ready(start_bot, message_content_intent=True)
    fake = bot.fake
    bot.app.metrics = Metrics()

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database gone")

    # A command that raises: answered in French, counted.
    monkeypatch.setattr(bot.core, "config_view", broken)
    issued = await fake.slash("config", [{"type": 1, "name": "voir", "options": []}])
    await bot.settled(issued)
    [answer] = fake.for_interaction(issued)
    assert colour(answer) == ERROR and text_of(answer)
    assert counted(bot, "internal") == 1
    # A roundup that fails in its background task.
    monkeypatch.setattr(bot.core, "roundup", broken)
    issued = await fake.slash("roundup")
    await bot.settled(issued)
    await fake.wait_for(lambda: colour(fake.for_interaction(issued)[-1]) == ERROR, what="the roundup error")
    assert counted(bot, "internal") == 2
    # An event handler that raises (automatic digests): discord.py calls on_error; the bot goes on.
    await _watch(bot, fake.channel_id)
    monkeypatch.setattr(bot.core, "auto_links", broken)
    await fake.post_message(f"Vu : {bot.corpus.url('fr09-ledevoir-trottinettes')}")
    await fake.wait_for(lambda: counted(bot, "internal") == 3, what="the on_message error counted")
    # An answer Discord refuses (the interaction expired before the bot answered): lost, counted.
    fake.refuse_callbacks = True
    issued = await fake.slash("resume", [opt("url", "pas un lien")])
    await fake.wait_for(lambda: fake.for_interaction(issued), what="the refused answer")
    await fake.wait_for(lambda: counted(bot, "delivery.lost") == 1, what="the lost answer counted")
    fake.refuse_callbacks = False
    # Metrics off: nothing counted, nothing broken.
    bot.app.metrics = None
    issued = await fake.slash("config", [{"type": 1, "name": "voir", "options": []}])
    await bot.settled(issued)
    assert colour(fake.for_interaction(issued)[-1]) == ERROR


async def test_the_connection_state_follows_the_gateway(start_bot: StartBot) -> None:
    bot = await ready(start_bot)
    fake = bot.fake
    assert bot.platform.is_ready()
    fake.refuse_gateway = True  # Discord's gateway is down: the bot cannot reconnect for now
    await fake.drop_connection()
    await fake.wait_for(lambda: not bot.platform.is_ready(), what="the lost connection to show")
    assert bot.platform.client.is_ready()  # discord.py's own flag does not notice
    fake.refuse_gateway = False
    await fake.wait_for(lambda: fake.resumed() == 1 and bot.platform.is_ready(), within=30, what="the RESUME")
