"""The persistent job queue: every requested digest is a row in SQLite until its answer is posted.

Two kinds of tasks work on a job:

- a **worker** (at most `concurrency` at once) runs the pipeline. The dispatcher gives a free worker the
  oldest ready job of the community (Discord server, Matrix room) served least recently, so a busy
  community cannot starve the others.
- a **reply** task (one per undelivered job, started when the job is made and again after every
  restart) posts the progress notice at once, waits for the result, then posts the answer. Each piece
  it posts is recorded in the job row as soon as the platform has it, and is sent with an idempotency
  key derived from the job (`Job.key`), so a piece sent again after a crash is recognised by the
  platform (Matrix transaction ids) or skipped (recorded ids): the answer is posted once.

After a crash (even `kill -9`), `start()` puts running jobs back in the queue and restarts the reply
task of every job not yet delivered. A platform plugs in with a `Deliverer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from bot import messages
from bot.app import Agora
from bot.core.types import Digest, Scope
from bot.errors import AgoraError, ModelError, QueueFull, user_message
from bot.jobs.store import Job, JobSpec, JobState, JobStore
from bot.ops.metrics import report_error
from bot.storage.repositories import SharedLinks, get_by_key

log = logging.getLogger(__name__)

#: Runs of one job before it fails for good (interrupted by crashes, or a model error each time).
MAX_ATTEMPTS = 5
#: A job that hit a transient error waits this long times its attempts before running again.
RETRY_DELAY = 5.0
#: Tries to post one answer before it is given up (and logged), with waits growing up to 5 minutes.
DELIVERY_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a finished job answers: a digest, or the French reason there is none."""

    digest: Digest | None
    error: str | None


class Undeliverable(Exception):
    """Posting this answer can never work (the bot left the room, the channel is gone): don't retry."""


class Record(Protocol):
    """How a deliverer records a posted piece (before it posts the next one)."""

    async def __call__(self, job: Job, piece: str, posted_id: str, *, progress_id: str | None = None) -> None: ...


class Deliverer(Protocol):
    """A platform's side of the queue: where a job's answer goes and how it gets there, idempotently."""

    platform: str

    async def acknowledge(self, job: Job, record: Record) -> None:
        """Post the progress notice (record it as piece "p"), unless `job.delivery` has it already."""

    def step(self, job: Job, text: str) -> None:
        """Best-effort progress of a running job ("extraction de l'article…"); may be a no-op."""

    async def deliver(self, job: Job, result: JobResult, record: Record) -> str | None:
        """Post the answer, skipping pieces `job.delivery` already has; a link to it, when there is one."""

    async def post_roundup(self, scope: Scope, text: str, key: str) -> None:
        """Post a scheduled roundup in a channel; `key` makes a repeat after a crash recognisable."""


class JobQueue:
    """Jobs in SQLite, a fair dispatcher, and the reply tasks that post answers exactly once."""

    def __init__(
        self,
        app: Agora,
        links: SharedLinks,
        *,
        concurrency: int = 4,
        limit: int = 64,
        max_attempts: int = MAX_ATTEMPTS,
        retry_delay: float = RETRY_DELAY,
        delivery_backoff: float = 2.0,
    ) -> None:
        self.app = app
        self.links = links
        self.store = JobStore(app.db)
        self.concurrency = max(1, concurrency)
        self.limit = limit
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.delivery_backoff = delivery_backoff
        self.stats: Counter[str] = Counter()
        self._deliverers: dict[str, Deliverer] = {}
        self._attached: dict[str, asyncio.Event] = {}
        self._results: dict[int, asyncio.Future[JobResult]] = {}
        self._acked: dict[int, asyncio.Event] = {}
        self._delivered: dict[int, asyncio.Event] = {}
        self._replies: dict[int, asyncio.Task[None]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._cached: dict[int, bool] = {}  # job -> answered from the cache (metrics)
        self._kinds: dict[int, str] = {}  # job -> error kind of a failure (metrics)
        self._served: dict[str, int] = {}
        self._turn = itertools.count()
        self._wake: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._started = False

    # --- lifecycle -----------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._started

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(self._deliverers)

    async def attach(self, deliverer: Deliverer) -> None:
        """A platform is ready to post: its waiting answers go out; the queue starts with the first one."""
        self._deliverers[deliverer.platform] = deliverer
        self._event(deliverer.platform).set()
        if not self._started:
            await self.start()

    async def detach(self, platform: str) -> None:
        """A platform stops; the queue stops with the last one (unfinished jobs stay in the table)."""
        self._deliverers.pop(platform, None)
        self._event(platform).clear()
        if not self._deliverers and self._started:
            await self.stop()

    def deliverer(self, platform: str) -> Deliverer | None:
        return self._deliverers.get(platform)

    async def start(self) -> None:
        """Recover what a crash or a stop left (running jobs back to the queue), then serve."""
        if self._started:
            return
        self._started = True
        self._wake = asyncio.Event()
        requeued, failed = await self.store.recover(self.max_attempts, messages.JOB_INTERRUPTED)
        pending = await self.store.undelivered()
        if requeued or failed or pending:
            log.info(
                "job queue: %d job(s) back in the queue, %d failed after %d interruptions, %d answer(s) to post",
                requeued,
                failed,
                self.max_attempts,
                len(pending),
            )
        for job in pending:  # every event exists before any reply waits on another job's
            self._track(job)
        for job in pending:
            self._spawn_reply(job)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="agora-jobs-dispatcher")

    async def stop(self) -> None:
        """Cancel the dispatcher, the workers (their jobs go back to the queue) and the reply tasks."""
        if not self._started:
            return
        self._started = False
        tasks = [t for t in [self._dispatcher, *self._workers.values(), *self._replies.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._dispatcher = None
        self._workers.clear()
        self._replies.clear()
        for fut in self._results.values():
            fut.cancel()
        self._results.clear()
        self._acked.clear()
        self._delivered.clear()
        self._cached.clear()
        self._kinds.clear()

    # --- submitting ----------------------------------------------------------------------------------

    async def queued(self) -> int:
        """Jobs waiting for a worker (what `limit` bounds)."""
        return await self.store.count(JobState.QUEUED)

    async def check_room(self) -> None:
        """QueueFull (with its French message) when `limit` jobs are already waiting."""
        if await self.queued() >= self.limit:
            self.stats["refused_full"] += 1
            raise QueueFull(f"{self.limit} jobs queued")

    async def find(self, request_key: str) -> Job | None:
        return await self.store.by_request(request_key)

    async def submit(self, spec: JobSpec) -> Job:
        """Make a job (durable once this returns); its progress notice and answer follow on their own."""
        job = await self.store.add(spec)
        self.stats["submitted"] += 1
        self._adopt(job)
        return job

    async def refuse(self, spec: JobSpec, reason: str, kind: str = "refused") -> Job:
        """A request refused before any work (French `reason`): answered like a failed job, in order."""
        job = await self.store.add(spec, state=JobState.FAILED, error=reason)
        self.stats["refused"] += 1
        self._kinds[job.id] = kind
        self._adopt(job)
        return job

    def _adopt(self, job: Job) -> None:
        if not self._started or job.delivered_at is not None or job.id in self._replies:
            return  # not started: start() picks it up; delivered or known: a replayed request
        self._track(job)
        self._spawn_reply(job)
        if job.state is JobState.QUEUED and self._wake is not None:
            self._wake.set()

    async def wait_delivered(self, job_id: int) -> None:
        """Until the job's answer is posted (or given up); at once for a job that is not pending here."""
        event = self._delivered.get(job_id)
        if event is not None:
            await event.wait()

    # --- dispatching (fairness) ----------------------------------------------------------------------

    async def _dispatch(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                await self._fill()
                wait: float | None = None  # until a job is submitted or a worker is free
                retry_at = await self.store.next_retry()
                if retry_at is not None and len(self._workers) < self.concurrency:
                    # A retried job waits for its time; one that became ready meanwhile goes at once.
                    wait = min(max(retry_at - time.time(), 0.0) + 0.01, 60.0)
            except Exception:  # the database was busy or closing: try again shortly, never die
                log.exception("job dispatcher failed; retrying")
                self._count("internal")
                wait = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _fill(self) -> None:
        while len(self._workers) < self.concurrency:
            job = await self._claim_next()
            if job is None:
                return
            task = asyncio.create_task(self._work(job), name=f"agora-job-{job.id}")
            self._workers[job.id] = task
            task.add_done_callback(functools.partial(self._worker_done, job.id, job.platform))

    async def _claim_next(self) -> Job | None:
        """The oldest ready job of the community served least recently (never served comes first)."""
        heads = await self.store.heads(time.time())
        while heads:
            fair_key, job_id = min(heads, key=lambda h: (self._served.get(h[0], -1), h[1]))
            job = await self.store.claim(job_id)
            if job is not None:
                self._served[fair_key] = next(self._turn)
                return job
            heads.remove((fair_key, job_id))
        return None

    def _worker_done(self, job_id: int, platform: str, task: asyncio.Task[None]) -> None:
        self._workers.pop(job_id, None)
        if not task.cancelled() and task.exception() is not None:
            # Its row says running: the next start puts it back in the queue.
            log.error("worker of job %s failed", job_id, exc_info=task.exception())
            self._count("internal", platform)
        if self._wake is not None:
            self._wake.set()

    async def _work(self, job: Job) -> None:
        def step(text: str) -> None:
            deliverer = self._deliverers.get(job.platform)
            if deliverer is not None:
                try:
                    deliverer.step(job, text)
                except Exception as exc:  # progress is cosmetic
                    log.debug("progress of job %s: %r", job.id, exc)

        try:
            outcome = await self.app.digest_url(job.url, job.length, progress=step)
            self._cached[job.id] = outcome.cached
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.release(job.id))
            raise
        except (ModelError, QueueFull) as exc:
            if job.attempts < self.max_attempts:
                log.warning("job %s: %s; attempt %d, retried later", job.id, exc, job.attempts)
                self.stats["retried"] += 1
                await self.store.retry(job.id, time.time() + self.retry_delay * job.attempts, exc.user_message)
                return
            self._kinds[job.id] = exc.kind
            await self._finish(job, error=exc.user_message)
        except AgoraError as exc:
            log.info("job %s (%s) failed: %s (%s)", job.id, job.url, exc.kind, exc.detail)
            self._kinds[job.id] = exc.kind
            await self._finish(job, error=exc.user_message)
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.url)
            self._kinds[job.id] = "internal"
            await self._finish(job, error=user_message(exc))
        else:
            await self._finish(job, digest=outcome.digest)

    async def _finish(self, job: Job, *, digest: Digest | None = None, error: str | None = None) -> None:
        cache_key = self.app.cache_key(job.url, job.length).value if digest is not None else None
        # The link first (idempotent per job), then the state: a crash in between only repeats the link.
        await self.links.add(
            job.scope.channel_key,
            job.url,
            cache_key=cache_key,
            error=error,
            by=job.requester,
            job_id=job.id,
            shared_at=job.created_at,
        )
        if cache_key is not None:
            await self.store.done(job.id, cache_key)
            self.stats["done"] += 1
        else:
            await self.store.fail(job.id, error or AgoraError.default_message)
            self.stats["failed"] += 1
        fut = self._results.get(job.id)
        if fut is not None and not fut.done():
            fut.set_result(JobResult(digest, error))

    # --- replying ------------------------------------------------------------------------------------

    def _event(self, platform: str) -> asyncio.Event:
        if platform not in self._attached:
            self._attached[platform] = asyncio.Event()
        return self._attached[platform]

    def _track(self, job: Job) -> None:
        self._results.setdefault(job.id, asyncio.get_running_loop().create_future())
        self._acked.setdefault(job.id, asyncio.Event())
        self._delivered.setdefault(job.id, asyncio.Event())

    def _spawn_reply(self, job: Job) -> None:
        task = asyncio.create_task(self._reply(job), name=f"agora-reply-{job.id}")
        self._replies[job.id] = task
        task.add_done_callback(functools.partial(self._reply_done, job.id, job.platform))

    def _reply_done(self, job_id: int, platform: str, task: asyncio.Task[None]) -> None:
        self._replies.pop(job_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("reply of job %s failed", job_id, exc_info=task.exception())
            self._count("internal", platform)
        if task.cancelled() or not self._started:
            return  # stopping: dependants are cancelled too
        for events in (self._acked, self._delivered):
            event = events.pop(job_id, None)
            if event is not None:
                event.set()
        fut = self._results.pop(job_id, None)
        if fut is not None and not fut.done():
            fut.cancel()

    async def _platform(self, platform: str) -> Deliverer:
        while True:
            deliverer = self._deliverers.get(platform)
            if deliverer is not None:
                return deliverer
            await self._event(platform).wait()

    async def record(self, job: Job, piece: str, posted_id: str, *, progress_id: str | None = None) -> None:
        """`Record` for deliverers: in memory and in the row, before the next piece is posted."""
        job.delivery[piece] = posted_id
        if piece == "p":
            progress_id = progress_id or posted_id
        if progress_id is not None:
            job.progress_id = progress_id
        await self.store.record(job.id, piece, posted_id, progress_id=progress_id)

    async def _reply(self, job: Job) -> None:
        if job.after_id is not None and job.after_id in self._acked:
            await self._acked[job.after_id].wait()
        if not job.refused and "p" not in job.delivery:
            deliverer = await self._platform(job.platform)
            try:
                await deliverer.acknowledge(job, self.record)
                self.stats["acknowledged"] += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the answer still comes; only the "⏳" notice is missing
                log.warning("progress notice of job %s not posted: %r", job.id, exc)
                self._count("delivery.progress", job.platform)
        self._acked[job.id].set()
        result = await self._result(job)
        if job.after_id is not None and job.after_id in self._delivered:
            await self._delivered[job.after_id].wait()
        link, error = await self._deliver(job, result)
        await self.store.delivered(job.id, link=link, error=error)
        job.delivered_at = time.time()
        self.stats["delivered" if error is None else "undeliverable"] += 1
        self._report(job, result)
        self._delivered[job.id].set()

    def _count(self, kind: str, platform: str = "none") -> None:
        """One error for agora_errors_total, when bot.ops set `app.metrics` (`agora run`)."""
        report_error(getattr(self.app, "metrics", None), kind, platform)

    def _report(self, job: Job, result: JobResult) -> None:
        """Request-to-answer time and errors, to `app.metrics` when bot.ops set one (`agora run`)."""
        cached = self._cached.pop(job.id, False)
        kind = self._kinds.pop(job.id, "job.failed")
        metrics = getattr(self.app, "metrics", None)
        if metrics is None:
            return
        outcome = "error" if result.digest is None else "cached" if cached else "ok"
        try:
            metrics.observe_digest(job.platform, time.time() - job.created_at, outcome)
            if result.digest is None:
                metrics.count_error(kind, job.platform)
        except Exception as exc:  # metrics never cost an answer
            log.debug("metrics: %r", exc)

    async def _result(self, job: Job) -> JobResult:
        fut = self._results[job.id]
        while True:
            fresh = await self.store.get(job.id)
            if fresh is not None and fresh.state is JobState.FAILED:
                return JobResult(None, fresh.error or AgoraError.default_message)
            if fresh is not None and fresh.state is JobState.DONE and fresh.cache_key:
                digest = await get_by_key(self.app.db, fresh.cache_key)
                if digest is not None:
                    return JobResult(digest, None)
                log.warning("job %s: its digest left the cache; making it again", job.id)
                await self.store.requeue(job.id)
                if self._wake is not None:
                    self._wake.set()
            result = await asyncio.shield(fut)
            if result.digest is not None or result.error is not None:
                return result

    async def _deliver(self, job: Job, result: JobResult) -> tuple[str | None, str | None]:
        wait = self.delivery_backoff
        for attempt in range(1, DELIVERY_ATTEMPTS + 1):
            deliverer = await self._platform(job.platform)
            try:
                return await deliverer.deliver(job, result, self.record), None
            except asyncio.CancelledError:
                raise
            except Undeliverable as exc:
                log.warning("answer of job %s cannot be posted: %s", job.id, exc)
                self._count("delivery.undeliverable", job.platform)
                return None, str(exc) or "undeliverable"
            except Exception as exc:
                if attempt == DELIVERY_ATTEMPTS:
                    log.error("answer of job %s lost after %d attempts: %r", job.id, attempt, exc)
                    self._count("delivery.lost", job.platform)
                    return None, repr(exc)
                log.warning("posting the answer of job %s failed (%r); retry %d in %.0f s", job.id, exc, attempt, wait)
                self._count("delivery.retry", job.platform)
                await asyncio.sleep(wait)
                wait = min(wait * 2, 300.0)
        return None, "undeliverable"  # pragma: no cover - the loop always returns

    def snapshot(self) -> dict[str, Any]:
        """Counters and what is in flight (for logs and benchmarks)."""
        return dict(self.stats) | {"running": len(self._workers), "replying": len(self._replies)}
