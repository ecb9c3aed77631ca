"""Discord: slash commands, the "Résumer" message action and automatic digests, with discord.py."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # discord.py imports the stdlib `audioop` for voice, which Python 3.11+ deprecates; the bot never
    # uses voice. Silenced for this import only, by message.
    warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)
    import discord  # noqa: F401

import contextlib
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import DiscordConfig, secret_from_env
from bot.core.bot import BotCore
from bot.platforms.discord.client import AgoraClient
from bot.platforms.discord.commands import count_error
from bot.platforms.discord.delivery import Tasks
from bot.platforms.discord.jobs import DiscordDeliverer

__all__ = ["DiscordPlatform"]

log = logging.getLogger(__name__)


class DiscordPlatform:
    """Runs the Discord bot until cancelled; `close()` stops it cleanly."""

    def __init__(self, config: DiscordConfig, core: BotCore, data_dir: Path) -> None:
        self.config = config
        self.core = core
        self.data_dir = data_dir
        self.tasks = Tasks(on_error=functools.partial(count_error, core))
        self.client = AgoraClient(config, core, data_dir, self.tasks)

    async def run(self) -> None:
        """Log in, sync commands (setup_hook), then stay connected; discord.py reconnects and resumes."""
        token = secret_from_env(self.config.token_env, "discord.token_env")
        with _endpoints(self.config):
            try:
                async with self.client:
                    await self.client.start(token)
            finally:
                await self._detach()
                await self.tasks.close()

    async def close(self) -> None:
        """Stop posting (jobs stay in the queue), then close the gateway and the HTTP session (idempotent)."""
        await self._detach()
        await self.tasks.close()
        if not self.client.is_closed():
            await self.client.close()

    async def _detach(self) -> None:
        if self.core.jobs.deliverer(DiscordDeliverer.platform) is self.client.deliverer:
            await self.core.detach(DiscordDeliverer.platform)
        await self.client.deliverer.close()

    def is_ready(self) -> bool:
        """Connected now (/healthz, agora_platform_connected): READY received and the gateway open.

        discord.py's own `is_ready()` stays true while it reconnects after the gateway dropped.
        """
        ws = self.client.ws
        return self.client.is_ready() and ws is not None and ws.open


@contextlib.contextmanager
def _endpoints(config: DiscordConfig) -> Iterator[None]:
    """Point discord.py at another API and gateway (tests: a local fake of Discord).

    discord.py reads both from class attributes: `Route.BASE` for HTTP, and
    `DiscordWebSocket.DEFAULT_GATEWAY` for the first gateway connection (a plain Client does not ask
    /gateway/bot; resumes then use the `resume_gateway_url` that READY gives).
    """
    if not config.api_base and not config.gateway_url:
        yield
        return
    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    if config.api_base:
        Route.BASE = config.api_base.rstrip("/")
    if config.gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config.gateway_url)
    log.warning("Discord endpoints overridden: %s, %s", Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway
