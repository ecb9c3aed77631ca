"""The whole Matrix platform (nio, handler, job queue, SQLite) against a scripted homeserver on 127.0.0.1.

No Synapse needed: the homeserver answers syncs from a script (a long poll when nothing is scripted,
or held open like a homeserver that hangs), so a test can make syncs fail after the first one caught
up, and sends fail, on demand. What is checked here: the connection state /healthz reports, and the
errors counted in agora_errors_total{platform="matrix"}.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.app import Agora
from bot.config import Config, OpsConfig
from bot.core.bot import BotCore
from bot.ops.metrics import Metrics
from bot.ops.server import start_ops
from bot.platforms.matrix import SYNC_FAILURES_DOWN, MatrixPlatform

USER = "@agora:test"
ALICE = "@alice:test"
ROOM = "!room:test"
PASSWORD_ENV = "AGORA_TEST_PLATFORM_PW"


@dataclass
class ScriptedHomeserver:
    """Login, keys and sends answer at once; a sync answers the next scripted (status, body), else waits
    for one up to the sync's own timeout (a long poll), or for as long as `hold` is set (a hung server)."""

    url: str = ""
    syncs: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    sends: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    sync_count: int = 0
    hold: bool = False
    closing: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _batches: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_batch(self) -> str:
        return f"s{next(self._batches)}"

    def script_sync(self, status: int = 200, body: dict[str, Any] | None = None) -> None:
        self.syncs.append((status, body if body is not None else {"next_batch": self.next_batch()}))
        self.wake()

    def message(self, body: str, event_id: str) -> None:
        """Alice says `body` in the room: the next sync carries it."""
        event = {
            "type": "m.room.message",
            "sender": ALICE,
            "event_id": event_id,
            "origin_server_ts": int(time.time() * 1000),
            "content": {"msgtype": "m.text", "body": body},
        }
        room = {"timeline": {"events": [event]}}
        self.script_sync(200, {"next_batch": self.next_batch(), "rooms": {"join": {ROOM: room}}})

    def wake(self) -> None:
        self._wake.set()

    def release(self) -> None:
        """The homeserver answers again: the sync held open returns (with nothing new)."""
        self.hold = False
        self.script_sync()

    async def sync(self, request: web.Request) -> web.Response:
        self.sync_count += 1
        deadline = time.monotonic() + int(request.query.get("timeout", "0")) / 1000
        while not self.syncs and not self.closing and (self.hold or time.monotonic() < deadline):
            self._wake.clear()
            wait = 1.0 if self.hold else max(deadline - time.monotonic(), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
        if self.syncs:
            status, body = self.syncs.pop(0)
        else:
            status, body = 200, {"next_batch": self.next_batch()}
        return web.json_response(body, status=status)

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        if path.endswith("/sync"):
            return await self.sync(request)
        if path.endswith("/login"):
            return web.json_response({"user_id": USER, "device_id": "DEV1", "access_token": "tok1"})
        if path.endswith("/whoami"):
            return web.json_response({"user_id": USER, "device_id": "DEV1"})
        if path.endswith("/keys/upload"):
            return web.json_response({"one_time_key_counts": {"signed_curve25519": 50}})
        if "/send/" in path:
            self.sent.append(await request.json())
            status, body = self.sends.pop(0) if self.sends else (200, {"event_id": f"$sent{len(self.sent)}"})
            return web.json_response(body, status=status)
        return web.json_response({})


@dataclass
class Harness:
    homeserver: ScriptedHomeserver
    app: Agora
    core: BotCore
    platform: MatrixPlatform
    task: asyncio.Task[None]
    metrics: Metrics

    def errors(self, kind: str) -> float:
        value = self.metrics.registry.get_sample_value("agora_errors_total", {"kind": kind, "platform": "matrix"})
        return value or 0.0

    async def until(self, check: Any, *, within: float = 15.0, what: str = "") -> None:
        deadline = time.monotonic() + within
        while not check():
            if self.task.done():
                self.task.result()  # raise what stopped the platform
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or check}")
            await asyncio.sleep(0.02)


@pytest.fixture
async def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    homeserver = ScriptedHomeserver()
    web_app = web.Application()
    web_app.router.add_route("*", "/{tail:.*}", homeserver.handle)
    runner = web.AppRunner(web_app, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        homeserver.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        monkeypatch.setenv(PASSWORD_ENV, "secret")
        config = Config(base_dir=str(tmp_path)).replace(
            model={"backend": "echo", "source": "echo"},
            general={"data_dir": "data"},
            matrix={
                "enabled": True, "homeserver": homeserver.url, "user_id": USER, "password_env": PASSWORD_ENV,
                "access_token_env": "AGORA_TEST_PLATFORM_TOKEN", "backoff_max": 0.1, "send_attempts": 1,
                "sync_timeout": 2.0, "decrypt_wait": 0.0,
            },
        )  # fmt: skip
        # The first sync (the bot catching up) makes the room known; everything after it is answered.
        homeserver.script_sync(200, {"next_batch": homeserver.next_batch(), "rooms": {"join": {ROOM: {}}}})
        async with Agora(config) as app:
            metrics = app.metrics = Metrics()
            core = BotCore(app)
            platform = MatrixPlatform(config.matrix, core, config.data_path)
            task = asyncio.create_task(platform.run(), name="matrix-platform")
            h = Harness(homeserver, app, core, platform, task, metrics)
            try:
                await h.until(platform.ready.is_set, what="the first sync")
                yield h
            finally:
                homeserver.closing = True
                homeserver.wake()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await platform.close()
                await core.jobs.stop()
                await core.roundups.stop()
    finally:
        homeserver.closing = True
        homeserver.wake()
        await runner.cleanup()


async def test_a_connection_lost_after_the_first_sync_is_reported_then_recovered(harness: Harness) -> None:
    h, platform = harness, harness.platform
    assert platform.is_ready()
    # The homeserver goes away: syncs fail, then hang.
    h.homeserver.hold = True
    h.homeserver.script_sync(502, {"errcode": "M_UNKNOWN", "error": "bad gateway"})
    await h.until(lambda: platform.client.sync_failures == 1, what="the first failed sync")
    assert platform.is_ready()  # one failure is not an outage
    for _ in range(SYNC_FAILURES_DOWN):
        h.homeserver.script_sync(502, {"errcode": "M_UNKNOWN", "error": "bad gateway"})
    await h.until(lambda: not h.homeserver.syncs, what="the failed syncs")
    await h.until(lambda: platform.client.sync_failures == SYNC_FAILURES_DOWN + 1, what="the failures counted")
    assert not platform.is_ready()
    assert platform.ready.is_set()  # caught up once: answers stay attached, only the health changed
    # Back: the next sync that works reconnects it.
    h.homeserver.release()
    await h.until(platform.is_ready, what="the platform to report the connection back")
    assert platform.client.sync_failures == 0
    assert h.errors("sync") == SYNC_FAILURES_DOWN + 1


async def test_a_homeserver_that_hangs_is_reported_after_stale_after(harness: Harness) -> None:
    h, platform = harness, harness.platform
    platform.stale_after = 0.5  # normally 2 x sync_timeout + 30 s
    h.homeserver.hold = True  # syncs stay open: no error, no answer
    h.homeserver.script_sync()  # one that works, so the clock starts after it
    await h.until(lambda: not h.homeserver.syncs, what="the last sync that works")
    started = time.monotonic()
    await h.until(lambda: not platform.is_ready(), what="the stale connection")
    assert time.monotonic() - started >= 0.3 and platform.client.sync_failures == 0
    h.homeserver.release()
    await h.until(platform.is_ready, what="the connection back")


async def test_healthz_answers_503_while_matrix_cannot_sync(harness: Harness) -> None:
    h = harness
    h.app.start_model()
    await h.app.runner.wait_ready()
    server = await start_ops(OpsConfig(metrics_enabled=True, metrics_port=0), h.app, [h.platform], metrics=h.metrics)
    assert server is not None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", trust_env=False) as client:
            ok = await client.get("/healthz")
            assert ok.status_code == 200 and ok.json()["platforms"] == {"matrix": True}
            h.homeserver.hold = True
            for _ in range(SYNC_FAILURES_DOWN):
                h.homeserver.script_sync(500, {"errcode": "M_UNKNOWN", "error": "down"})
            await h.until(lambda: h.platform.client.sync_failures >= SYNC_FAILURES_DOWN, what="failed syncs")
            down = await client.get("/healthz")
            assert down.status_code == 503
            assert down.json()["status"] == "unhealthy" and down.json()["platforms"] == {"matrix": False}
            metrics_text = (await client.get("/metrics")).text
            assert 'agora_platform_connected{platform="matrix"} 0.0' in metrics_text
            assert 'agora_errors_total{kind="sync",platform="matrix"}' in metrics_text
            h.homeserver.release()
            await h.until(h.platform.is_ready, what="the connection back")
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await server.stop()


async def test_handler_errors_failed_tasks_and_lost_answers_are_counted(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness

    async def broken_auto_links(*args: Any, **kwargs: Any) -> list[str]:
        raise RuntimeError("settings table gone")

    async def broken_roundup(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("links table gone")

    # An error while handling a sync's events: logged, counted, and the sync loop goes on.
    monkeypatch.setattr(h.core, "auto_links", broken_auto_links)
    h.homeserver.message("bonjour à tous", "$plain")
    await h.until(lambda: h.errors("internal") == 1, what="the handler error to be counted")
    # A command whose task fails.
    monkeypatch.setattr(h.core, "roundup", broken_roundup)
    h.homeserver.message("!roundup", "$roundup")
    await h.until(lambda: h.errors("internal") == 2, what="the failed task to be counted")
    # A command answer the homeserver refuses (send_attempts = 1): lost, counted.
    h.homeserver.sends.append((403, {"errcode": "M_FORBIDDEN", "error": "muted"}))
    h.homeserver.message("!aide", "$aide")
    await h.until(lambda: h.errors("delivery.lost") == 1, what="the lost answer to be counted")
    assert h.homeserver.sent and h.platform.is_ready()
    # Metrics off: the same errors count nowhere and break nothing.
    h.app.metrics = None
    h.homeserver.message("encore", "$again")
    h.homeserver.message("!aide", "$aide2")
    await h.until(lambda: len(h.homeserver.sent) == 2, what="the help answer")
    assert h.errors("internal") == 2
