"""`agora run`: the long-running bot, every enabled platform sharing one Agora (one model, one DB)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Protocol

from bot.app import Agora
from bot.config import Config
from bot.core.bot import BotCore
from bot.errors import ConfigError
from bot.ops.metrics import report_error
from bot.ops.server import platform_name, start_ops

log = logging.getLogger(__name__)


class ChatPlatform(Protocol):
    """One lifecycle for every platform: run until cancelled, then close."""

    async def run(self) -> None: ...

    async def close(self) -> None: ...


def build_platforms(config: Config, core: BotCore) -> list[ChatPlatform]:
    platforms: list[ChatPlatform] = []
    if config.matrix.enabled:
        from bot.platforms.matrix import MatrixPlatform

        platforms.append(MatrixPlatform(config.matrix, core, config.data_path))
    if config.discord.enabled:
        from bot.platforms.discord import DiscordPlatform

        platforms.append(DiscordPlatform(config.discord, core, config.data_path))
    if not platforms:
        raise ConfigError("no platform enabled: set enabled = true in [matrix] or [discord]")
    return platforms


def platform_stopped(app: Agora, name: str, task: asyncio.Task[None]) -> None:
    """A platform's run() ended before a stop was asked (it retries everything it can, so this is fatal:
    the bot shuts down, and a supervisor restarts it). Logged and counted as "platform_stopped"."""
    exc = None if task.cancelled() else task.exception()
    if exc is not None:
        log.error("platform %s stopped: %r", name, exc, exc_info=exc)
    else:
        log.error("platform %s stopped", name)
    report_error(app.metrics, "platform_stopped", name)


async def run_bots(config: Config) -> None:
    """Start the model and every enabled platform; stop cleanly on SIGINT/SIGTERM."""
    async with Agora(config) as app:
        core = BotCore(app)
        platforms = build_platforms(config, core)
        app.start_model()  # load while the platforms connect
        ops = await start_ops(config.ops, app, platforms, core=core)  # /metrics, /healthz; None unless enabled
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        tasks = {asyncio.create_task(p.run(), name=type(p).__name__): p for p in platforms}
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            for task, platform in tasks.items():
                if task in done:
                    platform_stopped(app, platform_name(platform), task)
        finally:
            log.info("shutting down")
            stopper.cancel()
            for task in tasks:
                task.cancel()
            for platform in platforms:
                with contextlib.suppress(Exception):
                    await platform.close()
            await asyncio.gather(*tasks, stopper, return_exceptions=True)
            if ops is not None:
                await ops.stop()
