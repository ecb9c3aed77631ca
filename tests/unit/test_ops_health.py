"""/healthz on a real app (SQLite in a temp dir, the echo model): 200 when it can work, 503 when not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.app import Agora
from bot.config import Config, parse_config
from bot.model.runner import ModelRunner
from bot.ops.server import OpsServer, connection_probe, platform_name, start_ops
from tests.fakes import ScriptedBackend


def _config(tmp_path: Path) -> Config:
    return parse_config(
        {
            "general": {"data_dir": str(tmp_path / "data")},
            "model": {"backend": "echo"},
            "ops": {"metrics_enabled": True, "metrics_port": 0},
        }
    )


class FakeMatrix:
    def __init__(self) -> None:
        self.ready = asyncio.Event()


class FakeDiscordPlatform:
    def __init__(self) -> None:
        self.connected = True

    def is_ready(self) -> bool:
        return self.connected


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Agora]:
    async with Agora(_config(tmp_path)) as agora:
        yield agora


async def _get(server: OpsServer) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(f"http://127.0.0.1:{server.port}/healthz")


def test_platform_names_and_probes() -> None:
    matrix, discord = FakeMatrix(), FakeDiscordPlatform()
    assert platform_name(discord) == "fakediscord"
    assert connection_probe(matrix)() is False
    matrix.ready.set()
    assert connection_probe(matrix)() is True
    assert connection_probe(object())() is None


async def test_healthy_starting_then_ok(app: Agora) -> None:
    server = await start_ops(app.config.ops, app)
    assert server is not None
    assert app.metrics is server.metrics  # where the job queue reports answered requests
    try:
        response = await _get(server)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "starting" and body["model"] == {
            "state": "idle", "loaded": False, "name": None, "backend": None, "device": None,
        }  # fmt: skip
        assert body["db"] == {"ok": True} and body["queue"] == {"model": 0} and body["platforms"] == {}
        app.start_model()
        await app.runner.wait_ready()
        body = (await _get(server)).json()
        assert body["status"] == "ok" and body["model"]["loaded"] and body["model"]["backend"] == "echo"
    finally:
        await server.stop()


async def test_a_disconnected_platform_is_unhealthy(app: Agora) -> None:
    matrix, discord = FakeMatrix(), FakeDiscordPlatform()
    server = await start_ops(app.config.ops, app, [matrix, discord])
    assert server is not None
    try:
        app.start_model()
        await app.runner.wait_ready()
        response = await _get(server)
        assert response.status_code == 503
        assert response.json()["platforms"] == {"fakematrix": False, "fakediscord": True}
        matrix.ready.set()
        assert (await _get(server)).status_code == 200
        discord.connected = False
        assert (await _get(server)).status_code == 503
    finally:
        await server.stop()


async def test_a_model_that_failed_to_load_is_unhealthy(tmp_path: Path) -> None:
    def broken() -> ScriptedBackend:
        raise RuntimeError("no weights")

    async with Agora(_config(tmp_path), runner=ModelRunner(broken)) as app:
        server = await start_ops(app.config.ops, app)
        assert server is not None
        try:
            app.start_model()
            with pytest.raises(Exception, match="no weights"):
                await app.runner.wait_ready()
            response = await _get(server)
            assert response.status_code == 503
            assert response.json()["model"]["state"] == "failed"
            assert response.json()["status"] == "unhealthy"
        finally:
            await server.stop()


async def test_a_closed_database_is_unhealthy(app: Agora) -> None:
    server = await start_ops(app.config.ops, app)
    assert server is not None
    try:
        await app.db.close()
        response = await _get(server)
        assert response.status_code == 503
        assert response.json()["db"]["ok"] is False
    finally:
        await server.stop()
        await app.db.open()  # the fixture closes it again
