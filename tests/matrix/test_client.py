"""The nio boundary against a scripted homeserver on 127.0.0.1: retries, backoff, stored login.

These need no Synapse: they make the homeserver answer what Synapse rarely does on demand (429 with
retry_after_ms, 500s, a refused connection).
"""

from __future__ import annotations

import json
import logging
import socket
import stat
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from nio import MatrixRoom, SyncResponse

from bot.config import MatrixConfig
from bot.errors import ConfigError
from bot.platforms.matrix.client import Backoff, MatrixClient, creators_of
from bot.platforms.matrix.handler import inviter_allowed

USER = "@agora:test"
ROOM = "!room:test"


@dataclass
class FakeHomeserver:
    """Answers each request with the next scripted (status, body) for its kind, else a default."""

    url: str = ""
    script: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    requests: list[tuple[str, str, float]] = field(default_factory=list)  # kind, path, time

    def paths(self, kind: str) -> list[str]:
        return [p for k, p, _ in self.requests if k == kind]

    def times(self, kind: str) -> list[float]:
        return [t for k, _, t in self.requests if k == kind]


DEFAULTS: dict[str, tuple[int, dict[str, Any]]] = {
    "send": (200, {"event_id": "$sent"}),
    "sync": (200, {"next_batch": "s2"}),
    "login": (200, {"user_id": USER, "device_id": "DEV1", "access_token": "tok1"}),
    "whoami": (200, {"user_id": USER, "device_id": "DEV1"}),
    "keys": (200, {"one_time_key_counts": {}}),
}


@pytest.fixture
async def homeserver() -> AsyncIterator[FakeHomeserver]:
    fake = FakeHomeserver()

    async def handle(request: web.Request) -> web.Response:
        path = request.path
        kind = next((k for k in ("send", "sync", "login", "whoami", "keys") if f"/{k}" in path), "other")
        fake.requests.append((kind, request.path_qs, time.monotonic()))
        queue = fake.script.get(kind) or []
        status, body = queue.pop(0) if queue else DEFAULTS.get(kind, (200, {}))
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield fake
    finally:
        await runner.cleanup()


def _config(url: str, **kw: Any) -> MatrixConfig:
    base: dict[str, Any] = {"homeserver": url, "user_id": USER, "backoff_max": 0.2, "send_attempts": 4,
                            "password_env": "AGORA_TEST_FAKE_PW", "access_token_env": "AGORA_TEST_FAKE_TOKEN"}
    return MatrixConfig(**(base | kw))


@pytest.fixture
async def logged_in(homeserver: FakeHomeserver, tmp_path: Path) -> AsyncIterator[MatrixClient]:
    client = MatrixClient(_config(homeserver.url), tmp_path)
    client.store_dir.mkdir(parents=True)
    nio = client._nio = client._new_nio("DEV1")
    nio.restore_login(USER, "DEV1", "tok1")
    nio.rooms[ROOM] = MatrixRoom(ROOM, USER)
    try:
        yield client
    finally:
        await client.close()


async def test_send_honours_retry_after_and_keeps_its_transaction_id(
    homeserver: FakeHomeserver, logged_in: MatrixClient
) -> None:
    limited = (429, {"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 300})
    homeserver.script["send"] = [limited, limited]
    assert await logged_in.send(ROOM, {"msgtype": "m.notice", "body": "x"}) == "$sent"
    paths, times = homeserver.paths("send"), homeserver.times("send")
    assert len(paths) == 3 and len(set(paths)) == 1  # same txn id: a retry can't post twice
    assert times[1] - times[0] >= 0.29 and times[2] - times[1] >= 0.29  # retry_after beats backoff_max


async def test_send_retries_server_errors_then_logs_the_loss(
    homeserver: FakeHomeserver, logged_in: MatrixClient, caplog: pytest.LogCaptureFixture
) -> None:
    homeserver.script["send"] = [(502, {"errcode": "M_UNKNOWN", "error": "bad gateway"})] * 10
    with caplog.at_level(logging.WARNING):
        assert await logged_in.send(ROOM, {"msgtype": "m.notice", "body": "x"}) is None
    assert len(homeserver.paths("send")) == 4  # send_attempts
    assert any("lost after 4 attempt(s)" in r.getMessage() for r in caplog.records)


async def test_send_gives_up_at_once_when_forbidden(homeserver: FakeHomeserver, logged_in: MatrixClient) -> None:
    homeserver.script["send"] = [(403, {"errcode": "M_FORBIDDEN", "error": "not in room"})]
    assert await logged_in.send(ROOM, {"msgtype": "m.notice", "body": "x"}) is None
    assert len(homeserver.paths("send")) == 1


async def test_send_survives_a_refused_connection(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = MatrixClient(_config(f"http://127.0.0.1:{port}", send_attempts=2), tmp_path)
    client.store_dir.mkdir(parents=True)
    nio = client._nio = client._new_nio("DEV1")
    nio.restore_login(USER, "DEV1", "tok1")
    nio.rooms[ROOM] = MatrixRoom(ROOM, USER)
    try:
        assert await client.send(ROOM, {"msgtype": "m.notice", "body": "x"}) is None
        started = time.monotonic()
        assert await client.sync(since=None, first=False) is None  # waited its backoff, did not raise
        assert time.monotonic() - started < 5
    finally:
        await client.close()


async def test_sync_errors_wait_then_succeed(homeserver: FakeHomeserver, logged_in: MatrixClient) -> None:
    homeserver.script["sync"] = [
        (429, {"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 400}),
        (500, {"errcode": "M_UNKNOWN", "error": "oops"}),
    ]
    started = time.monotonic()
    assert await logged_in.sync(since="s1", first=True) is None
    assert time.monotonic() - started >= 0.39
    assert await logged_in.sync(since="s1", first=True) is None
    resp = await logged_in.sync(since="s1", first=True)
    assert isinstance(resp, SyncResponse) and resp.next_batch == "s2"
    # After a start the room state is fetched in full (nio keeps it in memory only), from the stored token.
    assert all("full_state=true" in p and "since=s1" in p for p in homeserver.paths("sync"))


async def test_sync_with_a_revoked_token_stops_with_a_config_error(
    homeserver: FakeHomeserver, logged_in: MatrixClient
) -> None:
    homeserver.script["sync"] = [(401, {"errcode": "M_UNKNOWN_TOKEN", "error": "gone"})]
    with pytest.raises(ConfigError, match="no longer accepts"):
        await logged_in.sync(since=None, first=False)


async def test_logs_in_once_then_restores_the_stored_device(
    homeserver: FakeHomeserver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORA_TEST_FAKE_PW", "secret")
    homeserver.script["login"] = [(502, {"errcode": "M_UNKNOWN", "error": "starting"})]  # then works
    first = MatrixClient(_config(homeserver.url), tmp_path)
    await first.connect()
    assert first.device_id == "DEV1"
    await first.close()
    creds_path = tmp_path / "matrix" / "credentials.json"
    assert json.loads(creds_path.read_text()) == {
        "homeserver": homeserver.url, "user_id": USER, "device_id": "DEV1", "access_token": "tok1"
    }
    assert stat.S_IMODE(creds_path.stat().st_mode) == 0o600
    assert len(homeserver.paths("login")) == 2

    monkeypatch.delenv("AGORA_TEST_FAKE_PW")  # the stored session is enough from now on
    second = MatrixClient(_config(homeserver.url), tmp_path)
    await second.connect()
    assert second.device_id == "DEV1" and second.nio.access_token == "tok1"
    await second.close()
    assert len(homeserver.paths("login")) == 2 and len(homeserver.paths("whoami")) == 1


async def test_no_password_and_no_token_is_a_config_error(homeserver: FakeHomeserver, tmp_path: Path) -> None:
    client = MatrixClient(_config(homeserver.url), tmp_path)
    try:
        with pytest.raises(ConfigError, match="AGORA_TEST_FAKE_PW"):
            await client.connect()
    finally:
        await client.close()


def test_backoff_grows_to_its_cap_and_honours_retry_after() -> None:
    b = Backoff(4.0)
    waits = [b.delay() for _ in range(6)]
    assert 0.4 < waits[0] < 0.6 and all(w <= 4.0 for w in waits) and waits[-1] > 3.5
    assert b.delay(retry_after_ms=9000) == 9.0
    b.reset()
    assert b.delay() < 0.6


def test_allowed_inviters() -> None:
    assert inviter_allowed((), "@anyone:anywhere")
    allowed = ("@alice:example.org", ":trusted.org", "friends.net")
    assert inviter_allowed(allowed, "@alice:example.org")
    assert not inviter_allowed(allowed, "@bob:example.org")
    assert inviter_allowed(allowed, "@bob:trusted.org")
    assert not inviter_allowed(allowed, "@bob:untrusted.org")
    assert inviter_allowed(allowed, "@carol:friends.net")
    assert not inviter_allowed(allowed, "@carol:notfriends.net")
    assert not inviter_allowed(allowed, None)


def test_creators_count_from_room_version_12() -> None:
    v12 = {"sender": "@a:x", "content": {"room_version": "12", "additional_creators": ["@b:x"]}}
    assert creators_of(v12) == {"@a:x", "@b:x"}
    assert creators_of({"sender": "@a:x", "content": {"room_version": "10"}}) == set()
