"""Prometheus metrics: one `Metrics` object per process, with its own registry (no globals).

Code reports what happened through small methods (`observe_digest`, `observe_fetch`, `count_error`);
what is a state rather than an event (the model runner's counters, queue depths) is read when
Prometheus scrapes, through callbacks, so the hot paths never compute it.

Names follow Prometheus conventions: `agora_` prefix, `_seconds` and `_total` suffixes, few labels
with small value sets (platform, outcome, error kind), never a URL or a user.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.errors import AgoraError

if TYPE_CHECKING:
    from bot.model.backend import GenerationResult
    from bot.model.runner import ModelRunner

log = logging.getLogger(__name__)

#: A digest takes seconds to minutes on a CPU; a cached one milliseconds.
DIGEST_BUCKETS = (0.05, 0.25, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600)
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20)
GENERATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)

QueueDepth = Callable[[], int | Awaitable[int]]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def error_kind(exc: BaseException) -> str:
    """The stable label for an error: `AgoraError.kind`, or "internal" for anything unexpected."""
    return exc.kind if isinstance(exc, AgoraError) else "internal"


def report_error(metrics: Any, kind: str | BaseException, platform: str = "none") -> None:
    """Count one error on `metrics` (`Agora.metrics`: None while metrics are off); never raises.

    For the places that have no `Metrics` of their own: the job queue, the platforms, `agora run`.
    """
    if metrics is None:
        return
    try:
        metrics.count_error(kind if isinstance(kind, str) else error_kind(kind), platform)
    except Exception as exc:  # metrics never cost an answer
        log.debug("metrics: %r", exc)


class Metrics:
    """Every metric Agora exports, registered in a registry of its own."""

    def __init__(self) -> None:
        # The *_created series double every histogram for a timestamp nobody graphs.
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.digest_seconds = Histogram(
            "agora_digest_seconds",
            "Digest requests from the request to the finished digest (or the error), by platform and outcome.",
            ["platform", "outcome"],
            buckets=DIGEST_BUCKETS,
            registry=r,
        )
        self.fetch_seconds = Histogram(
            "agora_fetch_seconds", "Fetching one link, redirects included, by outcome.", ["outcome"],
            buckets=FETCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.generation_seconds = Histogram(
            "agora_generation_seconds", "One batch of generation on the model thread.",
            buckets=GENERATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.tokens_per_second = Gauge(
            "agora_generation_tokens_per_second",
            "Completion tokens a second over the last batch (per request, as a reader sees it).",
            registry=r,
        )
        self.errors = Counter(
            "agora_errors", "Errors by kind (AgoraError.kind, delivery.*, sync, platform_stopped or internal) "
            "and platform.", ["kind", "platform"],
            registry=r,
        )  # fmt: skip
        self.up = Gauge("agora_up", "1 while the bot runs (its start time is agora_start_time_seconds).", registry=r)
        self.start_time = Gauge("agora_start_time_seconds", "When this process started (Unix time).", registry=r)
        self.started_at = time.time()
        self.up.set(1)
        self.start_time.set(self.started_at)
        self._queues: dict[str, QueueDepth] = {}
        self._queue_values: dict[str, int] = {}
        self._runner: ModelRunner | None = None
        self._platforms: dict[str, Callable[[], bool | None]] = {}
        r.register(_StateCollector(self))

    # --- events --------------------------------------------------------------------------------------

    def observe_digest(self, platform: str, seconds: float, outcome: str) -> None:
        """One digest request answered: outcome "ok", "cached" or "error" (count the error's kind apart)."""
        self.digest_seconds.labels(platform=platform, outcome=outcome).observe(max(0.0, seconds))

    def observe_fetch(self, seconds: float, outcome: str = "ok") -> None:
        """One fetch: outcome "ok" or the error's kind ("fetch.timeout", ...)."""
        self.fetch_seconds.labels(outcome=outcome).observe(max(0.0, seconds))

    def observe_batch(self, size: int, seconds: float, results: Sequence[GenerationResult]) -> None:
        """ModelRunner.on_batch: called on the model thread after each batch (prometheus_client is thread-safe)."""
        self.generation_seconds.observe(max(0.0, seconds))
        decode = max((r.decode_seconds for r in results), default=0.0)
        tokens = max((r.completion_tokens for r in results), default=0)
        if decode > 0 and tokens:
            self.tokens_per_second.set(tokens / decode)

    def count_error(self, kind: str | BaseException, platform: str = "none") -> None:
        """One error a user or an operator would want counted; `kind` may be the exception itself."""
        label = kind if isinstance(kind, str) else error_kind(kind)
        self.errors.labels(kind=label, platform=platform).inc()

    # --- states read at scrape time -------------------------------------------------------------------

    def watch_runner(self, runner: ModelRunner) -> None:
        """Export the runner's counters and queue, and time its batches."""
        self._runner = runner
        runner.on_batch = self.observe_batch
        self.track_queue("model", lambda: runner.pending)

    def track_queue(self, name: str, depth: QueueDepth) -> None:
        """Export `depth()` (sync or async) as agora_queue_depth{queue=name}."""
        self._queues[name] = depth

    def track_platform(self, name: str, connected: Callable[[], bool | None]) -> None:
        """Export agora_platform_connected{platform=name} (None: not known yet, exported as 0)."""
        self._platforms[name] = connected

    async def refresh(self) -> dict[str, int]:
        """Read every queue depth (async ones too); done before each scrape. Returns them."""
        values: dict[str, int] = {}
        for name, depth in self._queues.items():
            try:
                value = depth()
                if inspect.isawaitable(value):
                    value = await value
                values[name] = int(value)
            except Exception as exc:  # a closing database must not break the scrape
                log.debug("queue depth %s unavailable: %r", name, exc)
        self._queue_values = values
        return values

    def platforms(self) -> dict[str, bool | None]:
        out: dict[str, bool | None] = {}
        for name, connected in self._platforms.items():
            try:
                out[name] = connected()
            except Exception:
                out[name] = False
        return out

    async def exposition(self) -> bytes:
        """The text exposition format, current values."""
        await self.refresh()
        return generate_latest(self.registry)


class _StateCollector(Collector):
    """Values read at scrape time: the runner's counters, queue depths, platform connections."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Any]:
        queue = GaugeMetricFamily("agora_queue_depth", "Work waiting, by queue.", labels=["queue"])
        for name, depth in sorted(self._m._queue_values.items()):
            queue.add_metric([name], depth)
        yield queue
        connected = GaugeMetricFamily(
            "agora_platform_connected", "1 when the platform is connected.", labels=["platform"]
        )
        for name, up in sorted(self._m.platforms().items()):
            connected.add_metric([name], 1.0 if up else 0.0)
        yield connected
        runner = self._m._runner
        if runner is None:
            return
        state = runner.state
        loaded = GaugeMetricFamily("agora_model_loaded", "1 when the model is loaded and ready.")
        loaded.add_metric([], 1.0 if state == "ready" else 0.0)
        yield loaded
        stats = runner.stats
        counters: tuple[tuple[str, str, float], ...] = (
            ("agora_model_batches", "Generation batches run.", stats.batches),
            ("agora_model_requests", "Generation requests answered.", stats.requests),
            ("agora_model_dropped_cancelled", "Requests dropped, their caller gone.", stats.dropped_cancelled),
            ("agora_model_prompt_tokens", "Prompt tokens of answered requests.", stats.prompt_tokens),
            ("agora_model_prefilled_tokens", "Prompt tokens actually computed (the rest came from the cache).",
             stats.prefilled_tokens),
            ("agora_model_completion_tokens", "Tokens generated.", stats.completion_tokens),
            ("agora_model_busy_seconds", "Seconds the model thread spent generating.", stats.busy_seconds),
        )  # fmt: skip
        for name, help_, value in counters:
            family = CounterMetricFamily(name, help_)
            family.add_metric([], float(value))
            yield family
