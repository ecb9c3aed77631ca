"""Sync responses -> BotCore calls -> notices. Decisions happen in sync order; the work runs in tasks.

Why events are skipped: everything in the first sync after a start (it replays what happened while the
bot was away), anything before the bot's own join in a room (history it was never asked about), the
bot's own messages, notices (other bots), edits, and any event already recorded in `matrix_events`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from nio import (
    InviteMemberEvent,
    MegolmEvent,
    RoomCreateEvent,
    RoomMemberEvent,
    RoomMessageText,
    SyncResponse,
)
from nio.exceptions import EncryptionError

from bot import messages
from bot.config import MatrixConfig
from bot.core.bot import BotCore, Command, Scope, parse_command, parse_length
from bot.core.types import Length
from bot.errors import CommandError, PermissionDenied
from bot.pipeline.urls import find_urls
from bot.platforms.matrix import delivery, render
from bot.platforms.matrix.client import MatrixClient, creators_of
from bot.platforms.matrix.convert import Incoming, incoming, is_edit
from bot.platforms.matrix.store import MatrixStore

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None], str], None]
#: Counts an error (a kind, or the exception) for agora_errors_total{platform="matrix"}.
CountError = Callable[[str | BaseException], None]


def _no_count(kind: str | BaseException) -> None:
    return None


#: One "undecryptable" notice per Megolm session and room in this window, not one per message.
UNDECRYPTABLE_QUIET_S = 600.0


class MatrixHandler:
    """Turns each sync into joins, leaves and answers."""

    def __init__(
        self,
        client: MatrixClient,
        core: BotCore,
        config: MatrixConfig,
        store: MatrixStore,
        spawn: Spawn,
        *,
        count_error: CountError = _no_count,
    ) -> None:
        self.client = client
        self.count_error = count_error
        self.core = core
        self.config = config
        self.store = store
        self.spawn = spawn
        self.prefix = config.command_prefix
        self._creators: dict[str, set[str]] = {}
        self._invites: set[str] = set()
        self._undecryptable_told: dict[tuple[str, str], float] = {}

    @property
    def me(self) -> str:
        return self.client.user_id

    @staticmethod
    def scope(room_id: str) -> Scope:
        return Scope("matrix", channel=room_id, server=None)

    async def on_sync(self, resp: SyncResponse, *, first: bool) -> None:
        for room_id, invite in resp.rooms.invite.items():
            self._on_invite(room_id, invite.invite_state)
        for room_id, left in resp.rooms.leave.items():
            await self._on_leave(room_id, [*left.state, *left.timeline.events])
        for room_id, joined in resp.rooms.join.items():
            try:
                await self._on_room(room_id, joined.state, joined.timeline.events, first=first)
            except Exception as exc:  # one room's trouble must not stop the others (nor the sync loop)
                log.exception("handling events of %s failed", room_id)
                self.count_error(exc)

    # --- membership ---------------------------------------------------------------------------------

    def _on_invite(self, room_id: str, state: list[Any]) -> None:
        if room_id in self._invites:
            return
        inviter = next(
            (
                e.sender
                for e in state
                if isinstance(e, InviteMemberEvent) and e.state_key == self.me and e.membership == "invite"
            ),
            None,
        )
        self._invites.add(room_id)
        self.spawn(self._answer_invite(room_id, inviter), f"invite {room_id}")

    async def _answer_invite(self, room_id: str, inviter: str | None) -> None:
        try:
            if inviter_allowed(self.config.allowed_inviters, inviter):
                if await self.client.join(room_id):
                    log.info("joined %s (invited by %s)", room_id, inviter)
            else:
                log.info("refusing the invite to %s from %s (not in matrix.allowed_inviters)", room_id, inviter)
                await self.client.leave(room_id)
        finally:
            self._invites.discard(room_id)

    async def _on_leave(self, room_id: str, events: list[Any]) -> None:
        own = [e for e in events if isinstance(e, RoomMemberEvent) and e.state_key == self.me]
        if own and own[-1].membership in ("leave", "ban") and own[-1].sender != self.me:
            reason = (own[-1].content or {}).get("reason")
            log.info("removed from %s by %s (%s, reason: %s)", room_id, own[-1].sender, own[-1].membership, reason)
        # Drop what we knew of the room now (syncs are handled in order, so a later re-join starts
        # clean), then ask the server to forget it too (nio also drops its keys for the room then).
        self._creators.pop(room_id, None)
        self.client.nio.rooms.pop(room_id, None)
        self.client.nio.invited_rooms.pop(room_id, None)
        await self.store.forget_room(room_id)
        self.spawn(self._forget(room_id), f"forget {room_id}")

    async def _forget(self, room_id: str) -> None:
        if await self.client.forget(room_id):
            log.info("left and forgot %s", room_id)

    # --- timeline -----------------------------------------------------------------------------------

    async def _on_room(self, room_id: str, state: list[Any], timeline: list[Any], *, first: bool) -> None:
        start = 0
        joined_at = await self.store.joined_at(room_id)
        for index, event in enumerate([*state, *timeline]):
            if isinstance(event, RoomCreateEvent):
                self._creators[room_id] = creators_of(event.source)
            if (
                isinstance(event, RoomMemberEvent)
                and event.state_key == self.me
                and event.membership == "join"
                and (event.prev_membership != "join" or joined_at is None)
            ):
                if index >= len(state):
                    start = index - len(state) + 1  # what precedes our join is history
                ts = int(event.server_timestamp or 0)
                if joined_at is None or ts > joined_at:
                    joined_at = ts
                    await self.store.set_joined_at(room_id, ts)
        if first:
            return  # the first sync after a start only catches up: nothing in it is answered
        for event in timeline[start:]:
            if event.sender == self.me or int(getattr(event, "server_timestamp", 0) or 0) < (joined_at or 0):
                continue
            if isinstance(event, RoomMessageText):
                await self._on_text(room_id, event)
            elif isinstance(event, MegolmEvent):
                await self._on_undecryptable(room_id, event)

    async def _on_text(self, room_id: str, event: RoomMessageText, *, claim: bool = True) -> None:
        content = event.source.get("content") or {}
        if is_edit(content):
            return
        room = self.client.nio.rooms.get(room_id)
        msg = incoming(room_id, event, self.me, room.user_name(self.me) if room else None)
        command: Command | None = None
        urls: list[str] = []
        length: Length | None = None
        try:
            command = parse_command(msg.text, self.prefix)
        except CommandError as exc:
            action = "usage"
            error: CommandError | None = exc
        else:
            error = None
            if command is not None:
                action = command.name
                if command.name == "resume":
                    urls = [command.args[0]]
                    length = parse_length(command.args[1], self.prefix) if len(command.args) > 1 else None
            elif msg.mentions_bot:
                action = "mention"
                urls = find_urls(msg.text, limit=1)
                length = _length_in(msg.text)
            else:
                urls = await self.core.auto_links(self.scope(room_id), msg.text)
                action = "auto" if urls else "ignore"
        if claim and await self.store.action(msg.event_id) is not None:
            return  # already answered (a replayed sync)
        # Jobs are made before the event is claimed: a crash in between leaves a job (answered after the
        # restart), never a claimed event with no job. The sync loop waits for nothing more: the queue
        # posts the progress notices and the digests.
        await self._submit(msg, urls, length)
        if claim:
            await self.store.claim(msg.event_id, room_id, action)
        if error is not None:
            self.spawn(self.reply(msg, error.user_message), f"usage {msg.event_id}")
        elif command is not None and command.name != "resume":
            self.spawn(self._command(msg, command), f"{command.name} {msg.event_id}")
        elif action == "mention" and not urls:
            self.spawn(self.reply(msg, messages.NO_LINK), f"mention {msg.event_id}")

    async def _submit(self, msg: Incoming, urls: list[str], length: Length | None) -> None:
        """One job per link, answered in the message's order, in a thread or as a reply as set here."""
        if not urls:
            return
        scope = self.scope(msg.room_id)
        where = delivery.target(msg.room_id, msg.event_id, await self._relation(msg))
        after: int | None = None
        for url in urls:
            job = await self.core.submit(
                scope, msg.sender, url, length, target=where, request_key=f"matrix:{msg.event_id}|{url}", after=after
            )
            after = job.id

    async def _on_undecryptable(self, room_id: str, event: MegolmEvent) -> None:
        if await self.store.claim(event.event_id, room_id, "undecryptable"):
            self.spawn(self._await_key(room_id, event), f"undecryptable {event.event_id}")

    async def _await_key(self, room_id: str, event: MegolmEvent) -> None:
        """A room key often arrives a moment after the message: wait for it before apologising."""
        deadline = time.monotonic() + self.config.decrypt_wait
        while True:
            try:
                decrypted = self.client.nio.decrypt_event(event)
            except EncryptionError:
                decrypted = None
            if decrypted is not None:
                if isinstance(decrypted, RoomMessageText):
                    await self._on_text(room_id, decrypted, claim=False)
                return
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.25)
        key = (room_id, event.session_id)
        now = time.monotonic()
        if now - self._undecryptable_told.get(key, -UNDECRYPTABLE_QUIET_S) < UNDECRYPTABLE_QUIET_S:
            return
        self._undecryptable_told[key] = now
        log.info("could not decrypt %s in %s (session %s)", event.event_id, room_id, event.session_id)
        content = render.content_with(render.text_notice(messages.UNDECRYPTABLE), await self._relation_to(
            room_id, event.event_id, None))
        await self._send(room_id, content)

    # --- answers ------------------------------------------------------------------------------------

    async def _command(self, msg: Incoming, command: Command) -> None:
        scope = self.scope(msg.room_id)
        if command.name == "aide":
            await self.reply(msg, messages.help_text(self.prefix))
        elif command.name == "roundup":
            await self.reply(msg, await self.core.roundup(scope))
        elif command.name == "config" and not command.args:
            await self.reply(msg, await self.core.config_view(scope))
        elif command.name == "config":
            key, *rest = command.args
            try:
                answer = await self.core.config_set(
                    scope, key, " ".join(rest), is_moderator=await self.is_moderator(msg.room_id, msg.sender),
                    by=msg.sender,
                )
            except PermissionDenied:
                answer = messages.MATRIX_NOT_MODERATOR.format(level=self.config.moderator_level, prefix=self.prefix)
            except CommandError as exc:
                answer = exc.user_message
            await self.reply(msg, answer)

    async def is_moderator(self, room_id: str, user_id: str) -> bool:
        """Power level ≥ matrix.moderator_level; a room's creators too from room version 12 on."""
        room = self.client.nio.rooms.get(room_id)
        if room is None:
            return False
        if room_id not in self._creators:
            self._creators[room_id] = await self.client.room_creators(room_id)
        if user_id in self._creators[room_id]:
            return True
        return room.power_levels.get_user_level(user_id) >= self.config.moderator_level

    async def reply(self, msg: Incoming, text: str) -> None:
        relation = await self._relation(msg)
        for content in render.text_notices(text, encrypted=self._encrypted(msg.room_id)):
            await self._send(msg.room_id, render.content_with(content, relation))

    async def _send(self, room_id: str, content: dict[str, Any]) -> None:
        """A notice outside the job queue (command answers, the undecryptable notice): a loss is counted."""
        if await self.client.send(room_id, content) is None:  # the client logged why, after its retries
            self.count_error("delivery.lost" if room_id in self.client.nio.rooms else "delivery.undeliverable")

    async def _relation(self, msg: Incoming) -> dict[str, Any]:
        return await self._relation_to(msg.room_id, msg.event_id, msg.thread_root)

    async def _relation_to(self, room_id: str, event_id: str, thread_root: str | None) -> dict[str, Any]:
        """In a thread or as a reply: the room's `reponse` setting, else matrix.reply_in_thread."""
        stored = await self.core.app.settings.export(self.scope(room_id).channel_key)
        mode = stored.get("reponse")
        thread = self.config.reply_in_thread if mode is None else mode == "fil"
        return render.relation(event_id, thread=thread, thread_root=thread_root)

    def _encrypted(self, room_id: str) -> bool:
        room = self.client.nio.rooms.get(room_id)
        return bool(room and room.encrypted)


def inviter_allowed(allowed: tuple[str, ...], inviter: str | None) -> bool:
    """matrix.allowed_inviters: "@user:server" entries match a user, ":server" ones a whole server."""
    if not allowed:
        return True
    if inviter is None:
        return False
    for entry in allowed:
        if entry.startswith("@"):
            if inviter == entry:
                return True
        elif inviter.endswith(entry if entry.startswith(":") else f":{entry}"):
            return True
    return False


def _length_in(text: str) -> Length | None:
    """A length word in a mention ("@agora https://… court")."""
    for word in text.lower().split():
        try:
            return Length.parse(word)
        except ValueError:
            continue
    return None
