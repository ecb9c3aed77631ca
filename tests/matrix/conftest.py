"""A real Synapse on 127.0.0.1 (scripts/synapse.sh), real nio clients for people, and the bot under test.

The session fixture starts Synapse when nothing answers on its port (and stops it at the end only then),
so `pytest tests/matrix` works alone; `scripts/test.sh` starts it once for the whole run instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    Event,
    LoginResponse,
    RoomCreateResponse,
    RoomSendResponse,
)

from bot.app import Agora
from bot.config import Config
from bot.core.bot import BotCore
from bot.platforms.matrix import MatrixPlatform

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "synapse.sh"
PORT = int(os.environ.get("SYNAPSE_PORT", "18008"))
HOMESERVER = f"http://127.0.0.1:{PORT}"
SHARED_SECRET = os.environ.get("SYNAPSE_SHARED_SECRET", "agora-test-registration-secret")
PASSWORD = "agora-test-password"
PASSWORD_ENV = "AGORA_TEST_MATRIX_PASSWORD"
#: Generous: this runs on 2 cores with Synapse, the bot and two or three clients at once.
TIMEOUT = 30.0
_names = itertools.count()


def synapse_answers() -> bool:
    try:
        with urllib.request.urlopen(f"{HOMESERVER}/_matrix/client/versions", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def run_script(*args: str) -> None:
    env = {**os.environ, "SYNAPSE_PORT": str(PORT), "SYNAPSE_SHARED_SECRET": SHARED_SECRET}
    subprocess.run([str(SCRIPT), *args], check=True, env=env, stdin=subprocess.DEVNULL, timeout=600)


@dataclass(frozen=True)
class Synapse:
    url: str
    started_here: bool

    def restart(self) -> None:
        run_script("restart")


@pytest.fixture(scope="session")
def synapse() -> Iterator[Synapse]:
    started = False
    if not synapse_answers():
        run_script("install")
        run_script("start")
        started = True
    try:
        yield Synapse(HOMESERVER, started)
    finally:
        if started:
            run_script("stop")


async def register(localpart: str, *, admin: bool = False) -> str:
    """Create an account with the shared-secret admin API (registration is closed otherwise)."""
    url = f"{HOMESERVER}/_synapse/admin/v1/register"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            nonce = (await resp.json())["nonce"]
        mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), PASSWORD.encode(),
                                 b"admin" if admin else b"notadmin"]))
        body = {"nonce": nonce, "username": localpart, "password": PASSWORD, "admin": admin,
                "mac": mac.hexdigest()}
        async with session.post(url, json=body) as resp:
            data = await resp.json()
            assert resp.status == 200, data
            return str(data["user_id"])


def unique(name: str) -> str:
    return f"{name}{next(_names)}x{uuid.uuid4().hex[:8]}"


async def wait_until(check: Callable[[], Awaitable[Any] | Any], *, within: float = TIMEOUT, what: str = "") -> Any:
    """Poll `check` until it returns something truthy (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what or check}")
        await asyncio.sleep(0.05)


@dataclass
class Person:
    """A real nio client (with its own E2EE store) syncing in the background, recording every event."""

    client: AsyncClient
    events: list[tuple[str, Event]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    async def _record(self, room: Any, event: Event) -> None:
        self.events.append((room.room_id, event))

    async def create_room(
        self, *, invite: Sequence[str] = (), encrypted: bool = False, moderators: Sequence[str] = ()
    ) -> str:
        state = [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
        resp = await self.client.room_create(
            invite=list(invite),
            initial_state=state if encrypted else [],
            power_level_override={"users": {m: 50 for m in moderators}} if moderators else None,
        )
        assert isinstance(resp, RoomCreateResponse), resp
        await wait_until(lambda: resp.room_id in self.client.rooms, what="own room in sync")
        return str(resp.room_id)

    async def join(self, room_id: str) -> None:
        resp = await self.client.join(room_id)
        assert not hasattr(resp, "status_code"), resp
        await wait_until(lambda: room_id in self.client.rooms, what="joined room in sync")

    async def say(self, room_id: str, body: str, **extra: Any) -> str:
        """Send an m.text (encrypted where the room is); returns its event id."""
        content = {"msgtype": "m.text", "body": body, **extra}
        resp = await self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        assert isinstance(resp, RoomSendResponse), resp
        return str(resp.event_id)

    def related(self, room_id: str, event_id: str) -> list[Event]:
        """Events that answer `event_id` (thread, reply) or edit it, in arrival order."""
        out = []
        for rid, event in self.events:
            rel = (event.source.get("content") or {}).get("m.relates_to") or {}
            targets = {rel.get("event_id"), (rel.get("m.in_reply_to") or {}).get("event_id")}
            if rid == room_id and event_id in targets:
                out.append(event)
        return out

    async def answer(self, room_id: str, event_id: str, *, within: float = TIMEOUT) -> Event:
        """The first notice that answers `event_id` (replies and threads; edits excluded)."""

        def find() -> Event | None:
            for event in self.related(room_id, event_id):
                content = event.source.get("content") or {}
                if content.get("msgtype") == "m.notice" and (content.get("m.relates_to") or {}).get(
                    "rel_type"
                ) != "m.replace":
                    return event
            return None

        return await wait_until(find, within=within, what=f"an answer to {event_id}")

    async def edit_of(self, room_id: str, event_id: str, *, within: float = TIMEOUT) -> Event:
        def find() -> Event | None:
            for event in self.related(room_id, event_id):
                rel = (event.source.get("content") or {}).get("m.relates_to") or {}
                if rel.get("rel_type") == "m.replace":
                    return event
            return None

        return await wait_until(find, within=within, what=f"an edit of {event_id}")

    async def membership(self, room_id: str, user_id: str) -> str | None:
        resp = await self.client.room_get_state_event(room_id, "m.room.member", user_id)
        content = getattr(resp, "content", None)
        return content.get("membership") if isinstance(content, dict) else None


@pytest.fixture
async def people(synapse: Synapse, tmp_path: Path) -> AsyncIterator[Callable[[str], Awaitable[Person]]]:
    """`await people("alice")`: a registered, logged-in, syncing person."""
    made: list[Person] = []

    async def make(name: str) -> Person:
        localpart = unique(name)
        user_id = await register(localpart)
        store = tmp_path / "people" / localpart
        store.mkdir(parents=True)
        client = AsyncClient(
            HOMESERVER, user_id, store_path=str(store),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False,
                                     max_timeout_retry_wait_time=1, request_timeout=20),
        )
        person = Person(client)
        made.append(person)
        resp = await client.login(PASSWORD, device_name=f"test {name}")
        assert isinstance(resp, LoginResponse), resp
        client.add_event_callback(person._record, Event)
        person.task = asyncio.create_task(client.sync_forever(timeout=1000, full_state=True))
        await wait_until(lambda: client.next_batch, what=f"{name}'s first sync")
        return person

    try:
        yield make
    finally:
        for person in made:
            if person.task is not None:
                person.task.cancel()
                await asyncio.gather(person.task, return_exceptions=True)
            await person.client.close()


@dataclass
class Bot:
    """The bot under test: an Agora (echo model, real fetch/extract/SQLite) and its MatrixPlatform."""

    user_id: str
    data: Path
    app: Agora
    platform: MatrixPlatform
    task: asyncio.Task[None]
    stopped: bool = False

    @property
    def device_id(self) -> str:
        return self.platform.client.device_id

    async def action(self, event_id: str) -> str | None:
        assert self.platform.store is not None
        return await self.platform.store.action(event_id)


@pytest.fixture
async def bots(
    synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Awaitable[Bot]]]:
    """`await bots()` registers a bot account and starts it; `await bots(user_id=…, data=…)` restarts one."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    running: list[Bot] = []

    async def start(*, user_id: str | None = None, data: Path | None = None, **matrix: Any) -> Bot:
        if user_id is None:
            user_id = await register(unique("agora"))
        base = data.parent if data is not None else tmp_path / unique("bot")
        config = Config(base_dir=str(base)).replace(
            model={"backend": "echo", "source": "echo"},
            fetch={"allow_loopback": True},
            general={"data_dir": "data"},
            matrix={
                "enabled": True,
                "homeserver": HOMESERVER,
                "user_id": user_id,
                "password_env": PASSWORD_ENV,
                "access_token_env": "AGORA_TEST_MATRIX_NO_TOKEN",
                "sync_timeout": 1.0,
                "backoff_max": 1.0,
                "decrypt_wait": 1.0,
                **matrix,
            },
        )
        app = Agora(config)
        await app.__aenter__()
        platform = MatrixPlatform(config.matrix, BotCore(app), config.data_path)
        task = asyncio.create_task(platform.run())
        bot = Bot(user_id, config.data_path, app, platform, task)
        running.append(bot)
        ready = asyncio.create_task(platform.ready.wait())
        await asyncio.wait([ready, task], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # raises what stopped it
        assert ready.done(), "bot did not finish its first sync"
        return bot

    try:
        yield start
    finally:
        for bot in running:
            await stop_bot(bot)


async def stop_bot(bot: Bot) -> None:
    if bot.stopped:
        return
    bot.stopped = True
    if not bot.task.done():
        bot.task.cancel()
    await asyncio.gather(bot.task, return_exceptions=True)
    await bot.platform.close()
    await bot.app.__aexit__(None, None, None)
