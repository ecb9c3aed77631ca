"""The Discord bot, unchanged, against a local fake of Discord (tests/discord/fake_discord.py).

The digests go through the real pipeline: the corpus served on 127.0.0.1, real extraction, real
SQLite, the echo model backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.app import Agora
from bot.config import Config
from bot.core.bot import BotCore
from bot.platforms.discord import DiscordPlatform
from tests.conftest import CorpusServer
from tests.discord.fake_discord import TOKEN, FakeDiscord, Issued


@dataclass
class Bot:
    """A running DiscordPlatform and what it is built on."""

    fake: FakeDiscord
    app: Agora
    core: BotCore
    platform: DiscordPlatform
    task: asyncio.Task[None]
    corpus: CorpusServer
    config: Config
    stopped: bool = field(default=False)

    async def settled(self, issued: Issued | None = None, *, within: float = 30.0) -> None:
        """Wait until the interaction was acknowledged and no background work is left."""
        if issued is not None:
            await self.fake.wait_for(
                lambda: any(r.path.endswith("/callback") for r in self.fake.for_interaction(issued)),
                within=within,
                what=f"the callback of interaction {issued.id}",
            )
        await self.fake.wait_for(lambda: len(self.platform.tasks) == 0, within=within, what="idle tasks")

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.platform.close()


StartBot = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = await FakeDiscord().start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def start_bot(
    tmp_path: Path, fake_discord: FakeDiscord, corpus_server: CorpusServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StartBot]:
    """`await start_bot(message_content_intent=True, ...)`: a connected bot (config [discord] overrides)."""
    monkeypatch.setenv("AGORA_DISCORD_TOKEN", TOKEN)
    # Anything asyncio reports (a task whose error nobody retrieved, ...) fails the test.
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    bots: list[Bot] = []
    apps: dict[str, Agora] = {}
    stack = contextlib.AsyncExitStack()

    async def start(**discord: Any) -> Bot:
        config = Config(base_dir=str(tmp_path)).replace(
            model={"backend": "echo", "source": "echo"},
            fetch={"allow_loopback": True},
            general={"data_dir": "data"},
            discord={
                "enabled": True,
                "api_base": fake_discord.api_base,
                "gateway_url": fake_discord.gateway_url,
                "dev_guild_id": fake_discord.guild_id,
                **discord,
            },
        )
        if "app" not in apps:  # one Agora (DB, model) per test, shared by successive bot starts
            apps["app"] = await stack.enter_async_context(Agora(config))
        app = apps["app"]
        core = BotCore(app)
        platform = DiscordPlatform(config.discord, core, config.data_path)
        identified = fake_discord.identified()
        task = asyncio.create_task(platform.run(), name="discord-platform")
        bot = Bot(fake_discord, app, core, platform, task, corpus_server, config)
        bots.append(bot)

        def connected() -> bool:
            if task.done():
                task.result()  # raise what stopped it
            return (
                fake_discord.identified() > identified and platform.client.get_guild(fake_discord.guild_id) is not None
            )

        await fake_discord.wait_for(connected, within=20, what="the bot to connect")
        return bot

    try:
        yield start
    finally:
        for bot in bots:
            await bot.stop()
        await stack.aclose()
        gc.collect()
        loop.set_exception_handler(None)
    assert not reported, reported
