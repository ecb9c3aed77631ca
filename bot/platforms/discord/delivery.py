"""Answers to interactions (roundups, settings) and what digests share with them: message fields,
the status updater, background tasks, replayed ids.

Digests go through the job queue and `bot.platforms.discord.jobs`: a digest takes longer than
Discord's 3 seconds, so every answer starts as a "⏳" status message that is edited as the pipeline
moves, then replaced by the first part of the digest; the other parts follow as new messages, in order.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import discord

from bot import messages
from bot.platforms.discord import render

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()

#: An interaction token lives 15 minutes; past this margin before its end, answers go to the channel.
TOKEN_MARGIN = dt.timedelta(seconds=60)
#: Edits of a status message at most this often (Discord rate-limits webhook edits).
STATUS_INTERVAL = 1.0

Fields = dict[str, Any]


class Sink(Protocol):
    """The messages of one answer: `open` a new one (editable), `replace` its content, `send` more."""

    embeds_allowed: bool

    async def open(self, **fields: Any) -> Editable: ...

    async def replace(self, slot: Editable, **fields: Any) -> None: ...

    async def refresh(self, slot: Editable, **fields: Any) -> None:
        """Best-effort edit (a status update): never moves the answer elsewhere."""

    async def send(self, **fields: Any) -> None: ...


def embeds_fields(embeds: list[discord.Embed]) -> Fields:
    return {"content": None, "embeds": embeds, "allowed_mentions": NO_MENTIONS}


def content_fields(text: str) -> Fields:
    return {"content": text, "embeds": [], "allowed_mentions": NO_MENTIONS}


class _Original:
    """The interaction's own response message (the deferred "thinking" one)."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction

    async def edit(self, **fields: Any) -> Any:
        return await self._interaction.edit_original_response(**fields)


#: A message of an answer that can be edited (WebhookMessage, a follow-up, is a Message too).
Editable = discord.Message | _Original


class InteractionSink:
    """Answers through the interaction token; in the channel once the token is about to expire."""

    embeds_allowed = True

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction
        self._original_used = False
        self._announced_late = False

    def expired(self) -> bool:
        return discord.utils.utcnow() >= self._interaction.expires_at - TOKEN_MARGIN

    async def open(self, **fields: Any) -> Editable:
        if self.expired():
            return await self._channel_send(**fields)
        if not self._original_used:
            self._original_used = True
            slot = _Original(self._interaction)
            await slot.edit(**fields)
            return slot
        return await self._interaction.followup.send(wait=True, **send_fields(fields))

    async def replace(self, slot: Editable, **fields: Any) -> None:
        token_bound = isinstance(slot, _Original | discord.WebhookMessage)
        if token_bound and self.expired():
            await self._channel_send(**fields)
            return
        try:
            await slot.edit(**fields)
        except discord.HTTPException as exc:
            # 401 Invalid Webhook Token / 404 Unknown Webhook: the token died before its 15 minutes.
            if not token_bound or exc.status not in (401, 404):
                raise
            await self._channel_send(**fields)

    async def refresh(self, slot: Editable, **fields: Any) -> None:
        if isinstance(slot, _Original | discord.WebhookMessage) and self.expired():
            return
        await slot.edit(**fields)

    async def send(self, **fields: Any) -> None:
        if self.expired():
            await self._channel_send(**fields)
            return
        await self._interaction.followup.send(wait=True, **send_fields(fields))

    async def _channel_send(self, **fields: Any) -> discord.Message:
        channel = self._interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            raise RuntimeError("interaction expired and its channel cannot be written to")
        if not self._announced_late:  # say for whom (a mention that pings nobody)
            self._announced_late = True
            late = messages.DISCORD_LATE.format(user=self._interaction.user.mention)
            await channel.send(**send_fields(content_fields(late)))
        return await channel.send(**send_fields(fields))


def send_fields(fields: Fields) -> Fields:
    """`send` takes no `content=None` / `embeds=[]` pair the way `edit` does."""
    out = {k: v for k, v in fields.items() if v is not None}
    if not out.get("embeds"):
        out.pop("embeds", None)
    return out


class StatusUpdater:
    """Shows the pipeline's progress on the status message, at most once per interval."""

    def __init__(self, edit: Callable[[str], Awaitable[None]], *, interval: float = STATUS_INTERVAL) -> None:
        self._edit = edit
        self._interval = interval
        self._latest = ""
        self._wake = asyncio.Event()
        self._stopped = False
        self._editing = False
        self._task: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def notify(self, text: str) -> None:
        """Progress callback of the pipeline (may be called from another thread)."""
        if threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(self.notify, text)
            return
        if self._stopped:
            return
        self._latest = text
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="discord-status")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self._stopped:
                return
            self._wake.clear()
            self._editing = True
            try:
                await self._edit(self._latest)
            except Exception as exc:  # a missed status update is harmless (HTTP error, lost connection)
                log.debug("status update failed: %r", exc)
            finally:
                self._editing = False
            if self._stopped:
                return
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        """No more updates; an edit under way finishes first, so the final answer is never overwritten."""
        self._stopped = True
        self._wake.set()
        task = self._task
        if task is None:
            return
        if not task.done() and not self._editing:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # also retrieves any error it ended with


async def deliver_text(sink: Sink, text: str, *, slot: Editable | None = None) -> None:
    """A longer French text (roundup, settings) split over messages, in order."""
    if sink.embeds_allowed:
        parts = [embeds_fields(m) for m in render.text_messages(text)]
    else:
        parts = [content_fields(m) for m in render.text_plain(text)]
    if slot is None:
        await sink.open(**parts[0])
    else:
        await sink.replace(slot, **parts[0])
    for more in parts[1:]:
        await sink.send(**more)


class Tasks:
    """Background work kept referenced (so it is never garbage-collected), its failures logged and
    passed to `on_error` (the error counter)."""

    def __init__(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.on_error = on_error

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task %s failed", task.get_name(), exc_info=exc)
            if self.on_error is not None:
                self.on_error(exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel what is still running and wait for it."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class SeenIds:
    """Message and interaction ids already handled, so a gateway replay never answers twice."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._ids: collections.OrderedDict[int, None] = collections.OrderedDict()

    def add(self, item: int) -> bool:
        """Remember `item`; False if it was already there."""
        if item in self._ids:
            return False
        self._ids[item] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True
