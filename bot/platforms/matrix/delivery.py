"""How a job's answer reaches a Matrix room: a progress notice at once, then that notice edited into the
digest (further events in order when it is too long for one), and scheduled roundups.

Exactly once: every event is sent with a transaction id derived from the job and the piece
(`Job.key`). The homeserver remembers transaction ids per device (Synapse: for a day), and the bot
keeps its device across restarts, so a piece sent again after a crash — between the send and the
moment its event id was recorded in the job — returns the event already posted instead of a new one.
Pieces whose event id is recorded are not sent again at all.
"""

from __future__ import annotations

import logging
from typing import Any

from bot import messages
from bot.core.types import Scope
from bot.jobs.queue import JobResult, Record, Undeliverable
from bot.jobs.store import Job
from bot.platforms.matrix import render
from bot.platforms.matrix.client import MatrixClient

log = logging.getLogger(__name__)


class SendFailed(Exception):
    """The homeserver did not take an event after the client's retries: the job queue tries again later."""


def target(room_id: str, event_id: str, relates_to: dict[str, Any]) -> dict[str, Any]:
    """A job's reply target: the room, the event answered, and the relation (thread or reply) to use."""
    return {"room": room_id, "event": event_id, "relates_to": relates_to}


def permalink(room_id: str, event_id: str) -> str:
    return f"https://matrix.to/#/{room_id}/{event_id}"


class MatrixDeliverer:
    """The Matrix side of the job queue."""

    platform = "matrix"

    def __init__(self, client: MatrixClient) -> None:
        self.client = client

    def _encrypted(self, room_id: str) -> bool:
        room = self.client.nio.rooms.get(room_id)
        return bool(room and room.encrypted)

    async def _send(self, room_id: str, content: dict[str, Any], txn: str) -> str:
        if room_id not in self.client.nio.rooms:
            raise Undeliverable(f"not in room {room_id}")
        event_id = await self.client.send(room_id, content, txn=txn)
        if event_id is None:
            if room_id not in self.client.nio.rooms:
                raise Undeliverable(f"left room {room_id}")
            raise SendFailed(f"{room_id}: event not accepted")
        return event_id

    async def acknowledge(self, job: Job, record: Record) -> None:
        if "p" in job.delivery:
            return
        room = str(job.target.get("room") or job.channel)
        content = render.content_with(render.text_notice(messages.progress(job.url)), job.target["relates_to"])
        await record(job, "p", await self._send(room, content, job.key("p")))

    def step(self, job: Job, text: str) -> None:
        """No step edits on Matrix: each edit is an event in the room's history, the digest is the one."""
        return None

    async def deliver(self, job: Job, result: JobResult, record: Record) -> str | None:
        room = str(job.target.get("room") or job.channel)
        relation = job.target["relates_to"]
        if result.digest is not None:
            contents = render.digest_notices(result.digest, encrypted=self._encrypted(room))
        else:
            contents = [render.text_notice(messages.FAILED.format(url=job.url, reason=result.error))]
        progress = job.delivery.get("p")
        for index, content in enumerate(contents):
            piece = f"a{index}"
            if piece in job.delivery:
                continue  # posted before a restart
            if index == 0 and progress is not None:
                content = render.edit(progress, content)
            else:
                content = render.content_with(content, relation)
            await record(job, piece, await self._send(room, content, job.key(piece)))
        anchor = progress or job.delivery.get("a0")
        return permalink(room, anchor) if anchor else None

    async def post_roundup(self, scope: Scope, text: str, key: str) -> None:
        """A scheduled roundup, as notices in the room (not a reply to anything)."""
        room = scope.channel
        for index, content in enumerate(render.text_notices(text, encrypted=self._encrypted(room))):
            await self._send(room, content, f"{key}.{index}")
