"""`agora run` (bot.service.run_bots): a platform that stops on its own is logged and counted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot import service
from bot.app import Agora
from bot.config import Config, parse_config
from bot.ops.metrics import Metrics


def _config(tmp_path: Path, *, metrics: bool) -> Config:
    return parse_config(
        {
            "general": {"data_dir": str(tmp_path / "data")},
            "model": {"backend": "echo"},
            "ops": {"metrics_enabled": metrics, "metrics_port": 0},
        }
    )


class CrashingPlatform:
    """Runs a moment, then fails the way a revoked Matrix token or a refused Discord login does."""

    def __init__(self) -> None:
        self.closed = False

    async def run(self) -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("token refused")

    async def close(self) -> None:
        self.closed = True


class SteadyPlatform:
    """Runs until cancelled."""

    def __init__(self) -> None:
        self.closed = False

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def platforms(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    built: list[Any] = [CrashingPlatform(), SteadyPlatform()]
    monkeypatch.setattr(service, "build_platforms", lambda config, core: built)
    return built


async def test_a_platform_that_stops_is_counted_then_everything_shuts_down(
    tmp_path: Path, platforms: list[Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Agora] = []
    start_ops = service.start_ops

    async def spy(config_ops: Any, app: Agora, *args: Any, **kwargs: Any) -> Any:
        seen.append(app)
        return await start_ops(config_ops, app, *args, **kwargs)

    monkeypatch.setattr(service, "start_ops", spy)
    await asyncio.wait_for(service.run_bots(_config(tmp_path, metrics=True)), 30)
    [app] = seen
    assert isinstance(app.metrics, Metrics)
    labels = {"kind": "platform_stopped", "platform": "crashing"}
    assert app.metrics.registry.get_sample_value("agora_errors_total", labels) == 1
    assert app.metrics.registry.get_sample_value("agora_errors_total", labels | {"platform": "steady"}) is None
    assert "platform crashing stopped: RuntimeError('token refused')" in caplog.text
    assert all(p.closed for p in platforms)


async def test_without_metrics_a_stopped_platform_is_only_logged(
    tmp_path: Path, platforms: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    await asyncio.wait_for(service.run_bots(_config(tmp_path, metrics=False)), 30)
    assert "platform crashing stopped" in caplog.text
    assert all(p.closed for p in platforms)
