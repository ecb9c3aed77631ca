"""The Prometheus endpoint: off by default, on 127.0.0.1, and its figures move when things happen."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from bot.config import OpsConfig, parse_config
from bot.errors import BlockedAddress, FetchTimeout
from bot.model.backend import GenerationParams, GenerationRequest, Message
from bot.model.runner import ModelRunner
from bot.ops.metrics import Metrics, error_kind
from bot.ops.server import OpsServer, instrument_app, start_ops
from tests.fakes import ScriptedBackend

EPHEMERAL = OpsConfig(metrics_enabled=True, metrics_host="127.0.0.1", metrics_port=0)


async def _healthy() -> tuple[bool, dict[str, object]]:
    return True, {"status": "ok"}


@pytest.fixture
async def served() -> AsyncIterator[tuple[Metrics, httpx.AsyncClient]]:
    metrics = Metrics()
    async with OpsServer(EPHEMERAL, metrics, _healthy) as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", trust_env=False) as client:
            yield metrics, client


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in an exposition, or None when absent."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return None


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def test_ops_is_off_by_default_and_local() -> None:
    ops = parse_config({}).ops
    assert (ops.metrics_enabled, ops.metrics_host, ops.metrics_port) == (False, "127.0.0.1", 9464)


async def test_disabled_means_no_server() -> None:
    assert await start_ops(OpsConfig(), SimpleNamespace()) is None  # type: ignore[arg-type]


async def test_events_move_the_figures(served: tuple[Metrics, httpx.AsyncClient]) -> None:
    metrics, client = served
    before = await scrape(client)
    assert sample(before, "agora_up") == 1
    assert sample(before, "agora_digest_seconds_count", platform="matrix", outcome="ok") is None
    metrics.observe_digest("matrix", 12.5, "ok")
    metrics.observe_digest("matrix", 0.01, "cached")
    metrics.observe_digest("discord", 3.0, "error")
    metrics.count_error(BlockedAddress("x"), "discord")
    metrics.count_error("queue.full", "matrix")
    metrics.count_error(RuntimeError("unexpected"), "matrix")
    metrics.observe_fetch(0.3, "ok")
    metrics.observe_fetch(20.0, error_kind(FetchTimeout("slow")))
    metrics.track_queue("jobs", lambda: 5)

    async def waiting() -> int:
        return 2

    metrics.track_queue("roundups", waiting)
    metrics.track_platform("matrix", lambda: True)
    metrics.track_platform("discord", lambda: None)
    after = await scrape(client)
    assert sample(after, "agora_digest_seconds_count", platform="matrix", outcome="ok") == 1
    assert sample(after, "agora_digest_seconds_sum", platform="matrix", outcome="ok") == 12.5
    assert sample(after, "agora_digest_seconds_bucket", platform="matrix", outcome="ok", le="10.0") == 0
    assert sample(after, "agora_digest_seconds_bucket", platform="matrix", outcome="ok", le="20.0") == 1
    assert sample(after, "agora_digest_seconds_count", platform="matrix", outcome="cached") == 1
    assert sample(after, "agora_errors_total", kind="fetch.blocked", platform="discord") == 1
    assert sample(after, "agora_errors_total", kind="queue.full", platform="matrix") == 1
    assert sample(after, "agora_errors_total", kind="internal", platform="matrix") == 1
    assert sample(after, "agora_fetch_seconds_count", outcome="fetch.timeout") == 1
    assert sample(after, "agora_queue_depth", queue="jobs") == 5
    assert sample(after, "agora_queue_depth", queue="roundups") == 2
    assert sample(after, "agora_platform_connected", platform="matrix") == 1
    assert sample(after, "agora_platform_connected", platform="discord") == 0
    assert "_created" not in after


async def test_runner_counters_batches_and_queue(served: tuple[Metrics, httpx.AsyncClient]) -> None:
    metrics, client = served
    backend = ScriptedBackend(lambda r: "Une phrase de cinq mots.", delay=0.01)
    runner = ModelRunner(lambda: backend, max_batch_size=1)
    metrics.watch_runner(runner)
    try:
        text = await scrape(client)
        assert sample(text, "agora_model_loaded") == 0
        request = GenerationRequest(messages=(Message("user", "bonjour"),), params=GenerationParams(max_new_tokens=8))
        await asyncio.gather(*(runner.generate(request) for _ in range(3)))
        text = await scrape(client)
    finally:
        await runner.close()
    assert sample(text, "agora_model_loaded") == 1
    assert sample(text, "agora_model_requests_total") == 3
    assert sample(text, "agora_model_batches_total") == 3
    assert sample(text, "agora_model_completion_tokens_total") == 15  # 5 words a request
    assert sample(text, "agora_generation_seconds_count") == 3
    assert (sample(text, "agora_generation_seconds_sum") or 0) >= 0.03
    assert (sample(text, "agora_generation_tokens_per_second") or 0) > 0
    assert sample(text, "agora_queue_depth", queue="model") == 0


async def test_fetch_is_timed_by_outcome(served: tuple[Metrics, httpx.AsyncClient]) -> None:
    metrics, client = served

    async def fetch(url: str) -> str:
        if "bad" in url:
            raise BlockedAddress(url)
        return "doc"

    runner = ModelRunner(lambda: ScriptedBackend(lambda r: ""))
    app = SimpleNamespace(runner=runner, fetcher=SimpleNamespace(fetch=fetch))
    instrument_app(app, metrics)  # type: ignore[arg-type]
    instrument_app(app, metrics)  # type: ignore[arg-type]  # idempotent: timed once
    assert await app.fetcher.fetch("https://ex.fr/") == "doc"
    with pytest.raises(BlockedAddress):
        await app.fetcher.fetch("https://bad.ex.fr/")
    text = await scrape(client)
    assert sample(text, "agora_fetch_seconds_count", outcome="ok") == 1
    assert sample(text, "agora_fetch_seconds_count", outcome="fetch.blocked") == 1


async def test_unknown_paths_are_404(served: tuple[Metrics, httpx.AsyncClient]) -> None:
    _metrics, client = served
    assert (await client.get("/")).status_code == 404
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_port_in_use_leaves_the_bot_running(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        runner = ModelRunner(lambda: ScriptedBackend(lambda r: ""))
        app = SimpleNamespace(runner=runner, fetcher=SimpleNamespace(fetch=_healthy))
        config = OpsConfig(metrics_enabled=True, metrics_port=port)
        assert await start_ops(config, app) is None  # type: ignore[arg-type]
    assert "ops endpoint not started" in caplog.text
