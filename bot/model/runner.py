"""The model runner: one worker thread owns the model; the event loop only ever awaits futures.

Shaped like aiosqlite's core: a dedicated thread fed by a queue. Requests wait in a bounded deque;
the worker takes the oldest live request plus any queued requests with the same sampling
parameters (up to `max_batch_size`; token limits may differ) and hands them to the backend in one
call. A request whose awaiting task was cancelled while it waited is dropped before it reaches the
model.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.errors import ModelError, QueueFull
from bot.model.backend import Backend, GenerationRequest, GenerationResult, ModelInfo, batchable

log = logging.getLogger(__name__)

#: Called on the worker thread after each successful batch: (batch size, seconds, results).
BatchObserver = Callable[[int, float, Sequence[GenerationResult]], None]
RunnerState = Literal["idle", "loading", "ready", "failed", "closed"]


@dataclass(slots=True)
class _Job:
    request: GenerationRequest | None  # None: a control call
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    call: Callable[[Backend], Any] | None = None
    queued_at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class RunnerStats:
    batches: int = 0
    requests: int = 0
    dropped_cancelled: int = 0
    max_batch_seen: int = 0
    prompt_tokens: int = 0
    prefilled_tokens: int = 0
    completion_tokens: int = 0
    busy_seconds: float = 0.0


class ModelRunner:
    """Async front of a backend that lives in its own thread."""

    def __init__(
        self,
        loader: Callable[[], Backend],
        *,
        max_batch_size: int = 4,
        queue_size: int = 64,
        name: str = "agora-model",
        batch_window: float = 0.005,
    ) -> None:
        self._loader = loader
        self._max_batch = max(1, max_batch_size)
        # Concurrent digests queue their next turn only when their previous answer is back, a moment
        # apart: after a batch of several, the worker waits this long for the others to catch up
        # (bench/speed.py --concurrent 4 saw batches of 2.25 on average without it).
        self._batch_window = batch_window
        self._last_batch = 1
        self._queue_size = queue_size
        self._name = name
        self._pending: collections.deque[_Job] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._backend: Backend | None = None
        self._ready: asyncio.Future[ModelInfo] | None = None
        self.stats = RunnerStats()
        #: Metrics hook (bot/ops/metrics.py); must be quick and thread-safe.
        self.on_batch: BatchObserver | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread, which loads the model; returns at once."""
        if self._thread is not None:
            return
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(loop,), name=self._name, daemon=True)
        self._thread.start()

    async def wait_ready(self) -> ModelInfo:
        """Wait until the model is loaded; raises ModelError if loading failed."""
        if self._ready is None:
            self.start()
        assert self._ready is not None
        return await asyncio.shield(self._ready)

    @property
    def info(self) -> ModelInfo | None:
        return self._backend.info if self._backend is not None else None

    @property
    def state(self) -> RunnerState:
        """Where the model is: not started, loading, ready, failed to load, or closed (health checks)."""
        ready = self._ready
        if ready is not None and ready.done() and (ready.cancelled() or ready.exception() is not None):
            return "failed"
        if self._closing:
            return "closed"
        if ready is None:
            return "idle"
        return "ready" if ready.done() else "loading"

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    async def close(self) -> None:
        """Stop the worker after the request in progress; queued requests fail with ModelError."""
        with self._cond:
            self._closing = True
            dropped = list(self._pending)
            self._pending.clear()
            self._cond.notify_all()
        for job in dropped:
            _resolve(job, exc=ModelError("runner closed"))
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    # -- requests --------------------------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Queue one request and wait for its result (QueueFull when the queue is at its bound)."""
        result: GenerationResult = await self._submit(request, None)
        return result

    async def end_session(self, session: str) -> None:
        """Ask the worker to drop a conversation's cache (ordered after earlier requests)."""
        await self._submit(None, lambda backend: backend.end_session(session), bounded=False)

    async def call(self, fn: Callable[[Backend], Any]) -> Any:
        """Run `fn(backend)` on the worker thread (e.g. `count_tokens`), in queue order."""
        return await self._submit(None, fn, bounded=False)

    async def _submit(
        self,
        request: GenerationRequest | None,
        call: Callable[[Backend], Any] | None,
        *,
        bounded: bool = True,
    ) -> Any:
        if self._thread is None:
            self.start()
        loop = asyncio.get_running_loop()
        job = _Job(request, loop.create_future(), loop, call)
        with self._cond:
            if self._closing:
                # A request arriving after the model failed to load gets that reason, not "closed".
                raise self._failure or ModelError("runner closed")
            if bounded and len(self._pending) >= self._queue_size:
                raise QueueFull(f"model queue full ({self._queue_size})")
            self._pending.append(job)
            self._cond.notify()
        return await job.future

    # -- worker thread ---------------------------------------------------------------------------------

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._backend = self._loader()
        except BaseException as exc:
            log.exception("model failed to load")
            error = ModelError(f"model failed to load: {exc}")
            loop.call_soon_threadsafe(_set_exc, self._ready, error)
            self._fail_all(error)
            return
        loop.call_soon_threadsafe(_set_result, self._ready, self._backend.info)
        backend = self._backend
        try:
            while True:
                batch = self._take_batch()
                if batch is None:
                    return
                if batch[0].request is None:
                    self._run_call(backend, batch[0])
                else:
                    self._run_batch(backend, batch)
        finally:
            try:
                backend.close()
            except Exception:
                log.exception("backend close failed")

    def _take_batch(self) -> list[_Job] | None:
        with self._cond:
            while True:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return None
                first = self._pending.popleft()
                if first.future.cancelled():
                    self.stats.dropped_cancelled += 1
                    continue
                if first.request is None:
                    return [first]
                batch = [first]
                deadline = time.monotonic() + self._batch_window if self._last_batch > 1 else 0.0
                while True:
                    self._collect(batch)
                    left = deadline - time.monotonic()
                    if len(batch) >= min(self._max_batch, self._last_batch) or left <= 0 or self._closing:
                        break
                    self._cond.wait(left)
                self._last_batch = len(batch)
                return batch

    def _collect(self, batch: list[_Job]) -> None:
        """Move queued requests batchable with `batch[0]` into `batch` (lock held), in order."""
        first = batch[0].request
        assert first is not None
        keep: collections.deque[_Job] = collections.deque()
        while self._pending and len(batch) < self._max_batch:
            job = self._pending.popleft()
            if job.future.cancelled():
                self.stats.dropped_cancelled += 1
            elif job.request is not None and batchable(job.request.params, first.params):
                batch.append(job)
            else:
                keep.append(job)
                # Control calls keep their place: don't batch past them.
                if job.request is None:
                    break
        self._pending.extendleft(reversed(keep))

    def _run_batch(self, backend: Backend, batch: list[_Job]) -> None:
        requests = [job.request for job in batch if job.request is not None]
        started = time.monotonic()
        try:
            results = backend.generate(requests)
            if len(results) != len(batch):
                raise ModelError(f"backend returned {len(results)} results for {len(batch)} requests")
        except BaseException as exc:
            log.exception("generation failed")
            error = exc if isinstance(exc, ModelError) else ModelError(f"generation failed: {exc}")
            for job in batch:
                _resolve(job, exc=error)
            return
        finally:
            self.stats.busy_seconds += time.monotonic() - started
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.max_batch_seen = max(self.stats.max_batch_seen, len(batch))
        for job, result in zip(batch, results, strict=True):
            self.stats.prompt_tokens += result.prompt_tokens
            self.stats.prefilled_tokens += result.new_prompt_tokens
            self.stats.completion_tokens += result.completion_tokens
            _resolve(job, result=result)
        if self.on_batch is not None:
            try:
                self.on_batch(len(batch), time.monotonic() - started, results)
            except Exception:  # metrics must never cost a digest
                log.exception("batch observer failed")

    def _run_call(self, backend: Backend, job: _Job) -> None:
        assert job.call is not None
        try:
            value = job.call(backend)
        except BaseException as exc:
            _resolve(job, exc=exc)
        else:
            _resolve(job, result=value)

    def _fail_all(self, error: BaseException) -> None:
        with self._cond:
            jobs = list(self._pending)
            self._pending.clear()
            self._closing = True
            self._failure = error
        for job in jobs:
            _resolve(job, exc=error)


def _resolve(job: _Job, *, result: Any = None, exc: BaseException | None = None) -> None:
    try:
        if exc is not None:
            job.loop.call_soon_threadsafe(_set_exc, job.future, exc)
        else:
            job.loop.call_soon_threadsafe(_set_result, job.future, result)
    except RuntimeError:  # the waiter's loop is already closed: nobody is left to tell
        log.debug("dropping a result for a closed event loop")


def _set_result(fut: asyncio.Future[Any] | None, value: Any) -> None:
    if fut is not None and not fut.done():
        fut.set_result(value)


def _set_exc(fut: asyncio.Future[Any] | None, exc: BaseException) -> None:
    if fut is not None and not fut.done():
        fut.set_exception(exc)
