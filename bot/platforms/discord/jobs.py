"""How a job's answer reaches Discord, now or after a restart.

A slash command or the "Résumer" action answers through the interaction: the deferred response
becomes the "⏳" status, then the digest; more links of the same message get follow-ups. An automatic
digest answers in a thread on the shared message (or as a reply to it). Long digests continue in
new messages, in order.

Exactly once: the id of every message posted is recorded in the job as soon as Discord returns it,
and a recorded piece is never posted again; a status is replaced by editing it (an edit can be
repeated harmlessly). Messages sent to a channel carry a nonce derived from the job and the piece
with `enforce_nonce`, so Discord itself returns the first message when the same piece is sent again
within a few minutes (a crash between the post and its record). After a restart the interaction
object is gone: its token (15 minutes) still edits the response and sends follow-ups through a
webhook built from the recorded application id and token; once the token has expired, the answer
goes to the channel as a normal message, after a line that says for whom it is.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from typing import Any

import discord

from bot import messages
from bot.core.types import Scope
from bot.jobs.queue import JobResult, Record, Undeliverable
from bot.jobs.store import Job
from bot.platforms.discord import render
from bot.platforms.discord.delivery import (
    TOKEN_MARGIN,
    Fields,
    StatusUpdater,
    content_fields,
    embeds_fields,
    send_fields,
)

log = logging.getLogger(__name__)

#: Discord's answer when a thread was already started from the message (by us, before a restart).
THREAD_EXISTS = 160004


def interaction_target(
    interaction: discord.Interaction, *, original_id: int | None, slot: str
) -> dict[str, Any]:
    """Reply target of a link asked for by a command: `slot` "original" (the deferred response) or
    "followup" (the other links of the same message)."""
    return {
        "kind": "interaction",
        "application_id": interaction.application_id,
        "token": interaction.token,
        "interaction_id": interaction.id,
        "expires_at": interaction.expires_at.timestamp(),
        "channel_id": interaction.channel_id,
        "guild_id": interaction.guild_id,
        "user_id": interaction.user.id,
        "original_id": original_id,
        "slot": slot,
        "embeds": True,
    }


def message_target(message: discord.Message, *, thread: bool, thread_name: str, embeds: bool) -> dict[str, Any]:
    """Reply target of an automatic digest: a thread on the message, or a reply to it."""
    return {
        "kind": "message",
        "channel_id": message.channel.id,
        "message_id": message.id,
        "guild_id": message.guild.id if message.guild else None,
        "thread": thread,
        "thread_name": thread_name,
        "embeds": embeds,
    }


def nonce(key: str) -> str:
    """A Discord nonce (at most 25 characters) for an idempotency key."""
    return hashlib.sha256(key.encode()).hexdigest()[:25]


def _posted(where: str, channel: int | None, message: int) -> str:
    """How a posted message is recorded: "original::id", "webhook::id" or "channel:<channel>:id"."""
    return f"{where}:{channel or ''}:{message}"


def _parse(posted: str) -> tuple[str, int | None, int]:
    where, channel, message = posted.split(":")
    return where, int(channel) if channel else None, int(message)


class DiscordDeliverer:
    """The Discord side of the job queue."""

    platform = "discord"

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        #: Interactions this process received, by job: their response is edited as `@original`.
        self.live: dict[int, discord.Interaction] = {}
        self._threads: dict[int, int | None] = {}  # message id -> thread on it (None: reply instead)
        self._status: dict[int, StatusUpdater] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id = threading.get_ident()

    def bind(self) -> None:
        """Called in the event loop (setup_hook): progress may then come from any thread."""
        self._loop = asyncio.get_running_loop()
        self._thread_id = threading.get_ident()

    def remember(self, job_id: int, interaction: discord.Interaction) -> None:
        self.live[job_id] = interaction

    def forget(self, job_id: int) -> None:
        self.live.pop(job_id, None)

    async def close(self) -> None:
        """Stop the status updates under way (the platform stops; the jobs stay queued)."""
        updaters = list(self._status.values())
        self._status.clear()
        for updater in updaters:
            await updater.stop()

    # --- the queue's calls ---------------------------------------------------------------------------

    async def acknowledge(self, job: Job, record: Record) -> None:
        if "p" in job.delivery:
            return
        fields = self._status_fields(job, messages.progress(job.url))
        posted = await self._open(job, "p", fields, record)
        await record(job, "p", posted, progress_id=str(_parse(posted)[2]))

    def step(self, job: Job, text: str) -> None:
        if threading.get_ident() != self._thread_id and self._loop is not None:
            self._loop.call_soon_threadsafe(self.step, job, text)
            return
        posted = job.delivery.get("p")
        if posted is None or job.delivered_at is not None:
            return
        updater = self._status.get(job.id)
        if updater is None:
            fields_of = self._status_fields

            async def refresh(step: str) -> None:
                await self._refresh(job, posted, fields_of(job, messages.progress(job.url, step)))

            updater = self._status[job.id] = StatusUpdater(refresh)
        updater.notify(text)

    async def deliver(self, job: Job, result: JobResult, record: Record) -> str | None:
        updater = self._status.pop(job.id, None)
        if updater is not None:
            await updater.stop()  # no status edit may land after the answer
        pieces = self._answer_fields(job, result)
        first: str | None = None
        for index, fields in enumerate(pieces):
            piece = f"a{index}"
            if piece in job.delivery:
                first = first or job.delivery[piece]
                continue  # posted before a restart
            if index == 0 and "p" in job.delivery:
                posted = await self._replace(job, job.delivery["p"], fields, record)
            elif index == 0:
                posted = await self._open(job, piece, fields, record)
            else:
                posted = await self._more(job, piece, fields, record)
            await record(job, piece, posted)
            first = first or posted
        self.forget(job.id)
        return self._link(job, first)

    async def post_roundup(self, scope: Scope, text: str, key: str) -> None:
        """A scheduled roundup, as messages in the channel."""
        channel_id = int(scope.channel)
        embeds = True
        known = self.client.get_channel(channel_id)
        if isinstance(known, discord.abc.GuildChannel) and known.guild.me is not None:
            embeds = known.permissions_for(known.guild.me).embed_links
        if embeds:
            pieces = [embeds_fields(m) for m in render.text_messages(text)]
        else:
            pieces = [content_fields(m) for m in render.text_plain(text)]
        channel = self.client.get_partial_messageable(channel_id, guild_id=int(scope.server) if scope.server else None)
        for index, fields in enumerate(pieces):
            try:
                await channel.send(nonce=nonce(f"{key}.{index}"), **send_fields(fields))
            except (discord.NotFound, discord.Forbidden) as exc:
                raise Undeliverable(f"channel {channel_id}: {exc}") from exc

    # --- where messages go ---------------------------------------------------------------------------

    def _interaction(self, job: Job) -> bool:
        return job.target.get("kind") == "interaction"

    def _expired(self, job: Job) -> bool:
        return time.time() >= float(job.target["expires_at"]) - TOKEN_MARGIN.total_seconds()

    def _messageable(self, job: Job, channel_id: int) -> discord.PartialMessageable:
        guild = job.target.get("guild_id")
        return self.client.get_partial_messageable(channel_id, guild_id=int(guild) if guild else None)

    def _webhook(self, job: Job) -> discord.Webhook:
        return discord.Webhook.partial(int(job.target["application_id"]), str(job.target["token"]), client=self.client)

    async def _channel_send(self, job: Job, channel_id: int, piece: str, fields: Fields, **extra: Any) -> str:
        channel = self._messageable(job, channel_id)
        try:
            message = await channel.send(nonce=nonce(job.key(piece)), **extra, **send_fields(fields))
        except (discord.NotFound, discord.Forbidden) as exc:
            raise Undeliverable(f"channel {channel_id}: {exc}") from exc
        return _posted("channel", channel_id, message.id)

    async def _late(self, job: Job, record: Record) -> int:
        """The channel, after a line saying for whom the answer is (once per job): the token expired."""
        channel_id = int(job.target["channel_id"])
        if "late" not in job.delivery:
            note = content_fields(messages.DISCORD_LATE.format(user=f"<@{job.target['user_id']}>"))
            await record(job, "late", await self._channel_send(job, channel_id, "late", note))
        return channel_id

    async def _open(self, job: Job, piece: str, fields: Fields, record: Record) -> str:
        """The job's first message (its status, or the answer when there was none)."""
        if not self._interaction(job):
            destination = await self._destination(job)
            if destination is not None:
                return await self._channel_send(job, destination, piece, fields)
            origin = self._messageable(job, int(job.target["channel_id"]))
            reference = origin.get_partial_message(int(job.target["message_id"])).to_reference(
                fail_if_not_exists=False
            )
            return await self._channel_send(
                job, int(job.target["channel_id"]), piece, fields, reference=reference, mention_author=False
            )
        if self._expired(job):
            return await self._channel_send(job, await self._late(job, record), piece, fields)
        original = job.target.get("original_id")
        live = self.live.get(job.id)
        if job.target.get("slot") == "original" and live is not None:
            response = await live.edit_original_response(**fields)
            return _posted("original", None, original or response.id)
        if job.target.get("slot") == "original" and original:
            await self._webhook(job).edit_message(int(original), **fields)
            return _posted("original", None, int(original))
        webhook = live.followup if live is not None else self._webhook(job)
        message = await webhook.send(wait=True, **send_fields(fields))
        return _posted("webhook", None, message.id)

    async def _replace(self, job: Job, posted: str, fields: Fields, record: Record) -> str:
        """The status becomes the answer's first message (in the channel if the token can't edit it)."""
        where = _parse(posted)[0]
        token_bound = where in ("original", "webhook")
        if token_bound and self._expired(job):
            return await self._channel_send(job, await self._late(job, record), "a0", fields)
        try:
            await self._edit(job, posted, fields)
        except discord.HTTPException as exc:
            if token_bound and exc.status in (401, 404):
                # 401 Invalid Webhook Token / 404 Unknown Webhook: the token died before its 15 minutes.
                return await self._channel_send(job, await self._late(job, record), "a0", fields)
            if exc.status == 404:  # someone deleted the status message: the answer comes as a new one
                return await self._open(job, "a0", fields, record)
            if exc.status == 403:
                raise Undeliverable(f"{posted}: {exc}") from exc
            raise
        return posted

    async def _more(self, job: Job, piece: str, fields: Fields, record: Record) -> str:
        """A further message of a long answer, after the others."""
        if not self._interaction(job):
            destination = await self._destination(job)
            return await self._channel_send(job, destination or int(job.target["channel_id"]), piece, fields)
        if self._expired(job) or _parse(job.delivery.get("a0", "original::0"))[0] == "channel":
            return await self._channel_send(job, await self._late(job, record), piece, fields)
        live = self.live.get(job.id)
        webhook = live.followup if live is not None else self._webhook(job)
        message = await webhook.send(wait=True, **send_fields(fields))
        return _posted("webhook", None, message.id)

    async def _edit(self, job: Job, posted: str, fields: Fields) -> None:
        where, channel, message = _parse(posted)
        live = self.live.get(job.id)
        if where == "original" and live is not None:
            await live.edit_original_response(**fields)
        elif where in ("original", "webhook"):
            await self._webhook(job).edit_message(message, **fields)
        else:
            assert channel is not None
            await self._messageable(job, channel).get_partial_message(message).edit(**fields)

    async def _refresh(self, job: Job, posted: str, fields: Fields) -> None:
        """A status update: best effort, never moves the answer elsewhere."""
        if _parse(posted)[0] in ("original", "webhook") and self._expired(job):
            return
        await self._edit(job, posted, fields)

    async def _destination(self, job: Job) -> int | None:
        """The thread on the shared message (started once), or None to reply to the message instead."""
        if not job.target.get("thread"):
            return None
        message_id = int(job.target["message_id"])
        if message_id in self._threads:
            return self._threads[message_id]
        channel = self._messageable(job, int(job.target["channel_id"]))
        try:
            thread = await channel.get_partial_message(message_id).create_thread(
                name=render.truncate(str(job.target.get("thread_name") or "Débat"), 100), auto_archive_duration=1440
            )
            found: int | None = thread.id
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:
                found = message_id  # started before a restart: a thread on a message has the message's id
            else:  # no permission, or the message is gone
                log.warning("cannot open a thread on message %s (%s): replying instead", message_id, exc)
                found = None
        self._threads[message_id] = found
        return found

    # --- what is posted -------------------------------------------------------------------------------

    def _status_fields(self, job: Job, text: str) -> Fields:
        if job.target.get("embeds", True):
            return embeds_fields([render.status_embed(text)])
        return content_fields(render.truncate(text, render.CONTENT_LIMIT))

    def _answer_fields(self, job: Job, result: JobResult) -> list[Fields]:
        embeds = bool(job.target.get("embeds", True))
        if result.digest is None:
            text = messages.FAILED.format(url=job.url, reason=result.error)
            if embeds:
                return [embeds_fields([render.error_embed(text)])]
            return [content_fields(render.truncate(text, render.CONTENT_LIMIT))]
        if embeds:
            return [embeds_fields(m) for m in render.digest_messages(result.digest)]
        return [content_fields(m) for m in render.digest_plain(result.digest)]

    def _link(self, job: Job, posted: str | None) -> str | None:
        """A jump link to the answer (roundups point to it)."""
        guild = job.target.get("guild_id")
        if posted is None or not guild:
            return None
        where, channel, message = _parse(posted)
        if where != "channel":
            channel = int(job.target["channel_id"])
        return f"https://discord.com/channels/{guild}/{channel}/{message}"
