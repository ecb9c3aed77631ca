"""A terminal "platform": type chat messages, get digests. Try the bot with no account."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from bot import messages
from bot.core.bot import BotCore, Scope, parse_command, parse_length
from bot.errors import AgoraError, CommandError
from bot.pipeline.render import to_plain
from bot.pipeline.urls import find_urls

PREFIX = "!"


class ConsolePlatform:
    """Reads lines from a stream; each line is a message in one channel where the reader is a moderator."""

    def __init__(
        self,
        core: BotCore,
        *,
        read_line: Callable[[], str] | None = None,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.core = core
        self.scope = Scope("console", channel="terminal")
        self._read = read_line or sys.stdin.readline
        self._write = write or (lambda text: print(text, flush=True))

    async def run(self) -> None:
        self._write(messages.help_text(PREFIX))
        while True:
            line = await asyncio.to_thread(self._read)
            if not line:
                return
            await self.handle(line.strip())

    async def handle(self, text: str) -> None:
        try:
            command = parse_command(text, PREFIX)
            if command is None:
                for url in await self.core.auto_links(self.scope, text) or find_urls(text, limit=1):
                    await self._digest(url, None)
                return
            if command.name == "aide":
                self._write(messages.help_text(PREFIX))
            elif command.name == "resume":
                await self._digest(
                    command.args[0], parse_length(command.args[1]) if len(command.args) > 1 else None
                )
            elif command.name == "config":
                if not command.args:
                    self._write(await self.core.config_view(self.scope))
                else:
                    key, *rest = command.args
                    self._write(
                        await self.core.config_set(
                            self.scope, key, " ".join(rest), is_moderator=True, by="console"
                        )
                    )
            elif command.name == "roundup":
                self._write(await self.core.roundup(self.scope))
        except CommandError as exc:
            self._write(exc.user_message)

    async def _digest(self, url: str, length: object) -> None:
        self._write(messages.WORKING)
        try:
            outcome = await self.core.digest(self.scope, "console", url, length)  # type: ignore[arg-type]
        except AgoraError as exc:
            self._write(messages.FAILED.format(url=url, reason=exc.user_message))
            return
        self._write(to_plain(outcome.digest))

    async def close(self) -> None:
        return None
