"""The ops HTTP endpoint of `agora run`: GET /metrics (Prometheus) and GET /healthz (JSON, 200 or 503).

Off unless `[ops] metrics_enabled = true`; bound to 127.0.0.1 unless `metrics_host` says otherwise.
Served by aiohttp on the bot's own event loop, so the health check sees the real state (the database
connection, the model thread, the platforms) and never needs a lock.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.config import OpsConfig
from bot.ops.metrics import CONTENT_TYPE, Metrics, error_kind

if TYPE_CHECKING:
    from bot.app import Agora

log = logging.getLogger(__name__)

HealthFn = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
DB_TIMEOUT = 2.0


def platform_name(platform: object) -> str:
    """ "matrix" for MatrixPlatform, "discord" for DiscordPlatform, and so on."""
    return type(platform).__name__.removesuffix("Platform").lower() or "platform"


def connection_probe(platform: object) -> Callable[[], bool | None]:
    """How to tell a platform is connected: its `is_ready()` (Discord, Matrix: connected *now*, not only
    once), else a `ready` Event, else unknown."""
    is_ready = getattr(platform, "is_ready", None)
    if callable(is_ready):
        return lambda: bool(is_ready())
    ready = getattr(platform, "ready", None)
    if isinstance(ready, asyncio.Event):
        return ready.is_set
    return lambda: None


async def check_health(app: Agora, metrics: Metrics) -> tuple[bool, dict[str, Any]]:
    """(healthy, details). Unhealthy: the database does not answer, the model failed to load, or a
    platform is not connected. A model still loading is healthy ("starting")."""
    db_ok, db_error = True, None
    try:
        async with asyncio.timeout(DB_TIMEOUT):
            async with app.db.conn.execute("SELECT 1") as cursor:
                await cursor.fetchone()
    except Exception as exc:  # closed, locked past the timeout, disk gone
        db_ok, db_error = False, f"{type(exc).__name__}: {exc}"
    state = app.runner.state
    info = app.runner.info
    platforms = metrics.platforms()
    queues = await metrics.refresh()
    healthy = db_ok and state not in ("failed", "closed") and all(v is not False for v in platforms.values())
    starting = state in ("idle", "loading") or any(v is None for v in platforms.values())
    details: dict[str, Any] = {
        "status": "unhealthy" if not healthy else "starting" if starting else "ok",
        "model": {
            "state": state,
            "loaded": state == "ready",
            "name": info.name if info else None,
            "backend": info.backend if info else None,
            "device": info.device if info else None,
        },
        "queue": queues,
        "db": {"ok": db_ok} | ({"error": db_error} if db_error else {}),
        "platforms": platforms,
        "uptime_s": round(time.time() - metrics.started_at, 1),
    }
    return healthy, details


class OpsServer:
    """aiohttp server for /metrics and /healthz; `async with OpsServer(...)` or start()/stop()."""

    def __init__(self, config: OpsConfig, metrics: Metrics, health: HealthFn) -> None:
        self.config = config
        self.metrics = metrics
        self.health = health
        self.port: int | None = None  # the bound port (useful with metrics_port = 0)
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        return app

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = await self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, _request: web.Request) -> web.Response:
        try:
            healthy, details = await self.health()
        except Exception as exc:
            log.exception("health check failed")
            healthy, details = False, {"status": "unhealthy", "error": f"{type(exc).__name__}: {exc}"}
        return web.json_response(details, status=200 if healthy else 503)

    async def start(self) -> None:
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.metrics_host, self.config.metrics_port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.config.metrics_port
        log.info("ops endpoint on http://%s:%s (/metrics, /healthz)", self.config.metrics_host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> OpsServer:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def instrument_app(app: Agora, metrics: Metrics) -> None:
    """Connect what can be observed from outside the pipeline: the model runner (counters, queue,
    batch timings) and the fetcher (latency by outcome). Digest latency and errors are reported where
    they happen, through `app.metrics` (`Metrics.observe_digest`, `report_error`): the job queue, the
    platforms, `agora run`."""
    metrics.watch_runner(app.runner)
    fetch = app.fetcher.fetch
    if getattr(fetch, "__agora_timed__", False):
        return

    @functools.wraps(fetch)
    async def timed_fetch(url: str) -> Any:
        started = time.monotonic()
        try:
            doc = await fetch(url)
        except BaseException as exc:
            if isinstance(exc, Exception):
                metrics.observe_fetch(time.monotonic() - started, error_kind(exc))
            raise
        metrics.observe_fetch(time.monotonic() - started, "ok")
        return doc

    timed_fetch.__agora_timed__ = True  # type: ignore[attr-defined]
    app.fetcher.fetch = timed_fetch  # type: ignore[method-assign]


async def start_ops(
    config_ops: OpsConfig,
    app: Agora,
    platforms: Sequence[object] = (),
    *,
    core: object = None,
    metrics: Metrics | None = None,
) -> OpsServer | None:
    """For `agora run`: instrument the app and serve /metrics and /healthz; None when disabled.

    A port already in use is logged and the bot runs on without the endpoint: metrics are not worth
    an outage.
    """
    if not config_ops.metrics_enabled:
        return None
    metrics = metrics or getattr(app, "metrics", None) or Metrics()
    instrument_app(app, metrics)
    jobs = getattr(core, "jobs", None)  # BotCore's persistent job queue
    if jobs is not None and callable(getattr(jobs, "queued", None)):
        metrics.track_queue("jobs", jobs.queued)
    for platform in platforms:
        metrics.track_platform(platform_name(platform), connection_probe(platform))
    server = OpsServer(config_ops, metrics, functools.partial(check_health, app, metrics))
    try:
        await server.start()
    except OSError as exc:
        log.error("ops endpoint not started on %s:%s: %s", config_ops.metrics_host, config_ops.metrics_port, exc)
        return None
    # The job queue reports each answered request (latency, outcome, error kind) to app.metrics.
    app.metrics = metrics
    return server
