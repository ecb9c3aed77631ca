"""The jobs table (migration 004): every requested digest, its reply target, its state and what was posted."""

from __future__ import annotations

import enum
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from bot.core.types import Length, Scope
from bot.storage.database import Database


class JobState(enum.StrEnum):
    """queued -> running -> done | failed; running -> queued again after a crash or a transient error."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a platform asks for: a link to digest, by whom, where, and how to answer there."""

    scope: Scope
    requester: str
    url: str
    length: Length
    target: dict[str, Any] = field(default_factory=dict)  # platform-specific, JSON-serialisable
    request_key: str | None = None  # same key submitted again (a replay): the same job
    after: int | None = None  # answer after this job (links of one message stay in order)


@dataclass(slots=True)
class Job:
    """One row of `jobs`; `delivery` maps each posted piece to the id the platform gave it."""

    id: int
    token: str
    platform: str
    channel: str
    server: str | None
    requester: str
    url: str
    length: Length
    target: dict[str, Any]
    after_id: int | None
    state: JobState
    attempts: int
    error: str | None
    cache_key: str | None
    progress_id: str | None
    delivery: dict[str, str]
    answer_link: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    delivered_at: float | None
    request_key: str | None = None

    @property
    def scope(self) -> Scope:
        return Scope(self.platform, channel=self.channel, server=self.server)

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)

    @property
    def refused(self) -> bool:
        """Failed before it ever ran (domain list, rate limit, full queue): the answer is the refusal."""
        return self.state is JobState.FAILED and self.started_at is None

    def key(self, piece: str) -> str:
        """Idempotency key of one piece the job posts (Matrix transaction id, Discord nonce, ...).

        The same piece always gets the same key, so a piece sent again after a crash is recognised
        by the server; the random token keeps keys unique across databases.
        """
        return f"agora.{self.token}.{piece}"


_COLUMNS = (
    "id, token, platform, channel, server, requester, url, length, target, after_id, state, attempts, error,"
    " cache_key, progress_id, delivery, answer_link, created_at, started_at, finished_at, delivered_at,"
    " request_key"
)


def _job(row: Any) -> Job:
    return Job(
        id=int(row["id"]),
        token=str(row["token"]),
        platform=str(row["platform"]),
        channel=str(row["channel"]),
        server=None if row["server"] is None else str(row["server"]),
        requester=str(row["requester"]),
        url=str(row["url"]),
        length=Length(str(row["length"])),
        target=json.loads(row["target"]),
        after_id=None if row["after_id"] is None else int(row["after_id"]),
        state=JobState(str(row["state"])),
        attempts=int(row["attempts"]),
        error=row["error"],
        cache_key=row["cache_key"],
        progress_id=row["progress_id"],
        delivery={str(k): str(v) for k, v in json.loads(row["delivery"]).items()},
        answer_link=row["answer_link"],
        created_at=float(row["created_at"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        delivered_at=row["delivered_at"],
        request_key=row["request_key"],
    )


class JobStore:
    """All of the job queue's SQL. Every change is committed at once: the table is the queue's memory."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, spec: JobSpec, *, state: JobState = JobState.QUEUED, error: str | None = None) -> Job:
        """Insert a job (a refused one directly as failed); an already known request_key returns that job."""
        if spec.request_key is not None:
            existing = await self.by_request(spec.request_key)
            if existing is not None:
                return existing
        now = time.time()
        scope = spec.scope
        cur = await self._db.conn.execute(
            "INSERT INTO jobs (token, request_key, platform, channel, server, fair_key, requester, url, length,"
            " target, after_id, state, error, finished_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                secrets.token_hex(8),
                spec.request_key,
                scope.platform,
                scope.channel,
                scope.server,
                scope.server_key,
                spec.requester,
                spec.url,
                spec.length.value,
                json.dumps(spec.target, ensure_ascii=False),
                spec.after,
                state.value,
                error,
                now if state is JobState.FAILED else None,
                now,
                now,
            ),
        )
        await self._db.conn.commit()
        job = await self.get(int(cur.lastrowid or 0))
        assert job is not None
        return job

    async def get(self, job_id: int) -> Job | None:
        async with self._db.conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None else _job(row)

    async def by_request(self, request_key: str) -> Job | None:
        async with self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE request_key = ?", (request_key,)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else _job(row)

    async def undelivered(self) -> list[Job]:
        """Every job whose answer is not (fully) posted yet, oldest first."""
        async with self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE delivered_at IS NULL ORDER BY id"
        ) as cur:
            rows = await cur.fetchall()
        return [_job(r) for r in rows]

    async def count(self, state: JobState) -> int:
        async with self._db.conn.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state.value,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def recover(self, max_attempts: int, interrupted: str) -> tuple[int, int]:
        """After a crash or a restart: running jobs go back to the queue, except those interrupted
        `max_attempts` times already (they fail with the French `interrupted` reason). Returns
        (requeued, failed)."""
        now = time.time()
        failed = await self._db.conn.execute(
            "UPDATE jobs SET state = 'failed', error = ?, finished_at = ?, updated_at = ?"
            " WHERE state = 'running' AND attempts >= ?",
            (interrupted, now, now, max_attempts),
        )
        requeued = await self._db.conn.execute(
            "UPDATE jobs SET state = 'queued', updated_at = ? WHERE state = 'running'", (now,)
        )
        await self._db.conn.commit()
        return requeued.rowcount, failed.rowcount

    async def heads(self, now: float) -> list[tuple[str, int]]:
        """(fair_key, id) of the oldest ready queued job of each community."""
        async with self._db.conn.execute(
            "SELECT fair_key, MIN(id) FROM jobs WHERE state = 'queued' AND not_before <= ? GROUP BY fair_key",
            (now,),
        ) as cur:
            rows = await cur.fetchall()
        return [(str(r[0]), int(r[1])) for r in rows]

    async def next_retry(self) -> float | None:
        """When the earliest queued job that is waiting (not_before) becomes ready."""
        async with self._db.conn.execute("SELECT MIN(not_before) FROM jobs WHERE state = 'queued'") as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def claim(self, job_id: int) -> Job | None:
        """queued -> running (one more attempt); None if the job was not queued any more."""
        now = time.time()
        cur = await self._db.conn.execute(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?, updated_at = ?"
            " WHERE id = ? AND state = 'queued'",
            (now, now, job_id),
        )
        await self._db.conn.commit()
        return await self.get(job_id) if cur.rowcount == 1 else None

    async def release(self, job_id: int) -> None:
        """running -> queued without counting the attempt (a clean shutdown interrupted it)."""
        await self._db.conn.execute(
            "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), updated_at = ?"
            " WHERE id = ? AND state = 'running'",
            (time.time(), job_id),
        )
        await self._db.conn.commit()

    async def retry(self, job_id: int, not_before: float, error: str) -> None:
        """running -> queued, to run again at `not_before` (a transient failure)."""
        await self._db.conn.execute(
            "UPDATE jobs SET state = 'queued', not_before = ?, error = ?, updated_at = ? WHERE id = ?",
            (not_before, error, time.time(), job_id),
        )
        await self._db.conn.commit()

    async def done(self, job_id: int, cache_key: str) -> None:
        now = time.time()
        await self._db.conn.execute(
            "UPDATE jobs SET state = 'done', cache_key = ?, error = NULL, finished_at = ?, updated_at = ?"
            " WHERE id = ?",
            (cache_key, now, now, job_id),
        )
        await self._db.conn.commit()

    async def fail(self, job_id: int, error: str) -> None:
        now = time.time()
        await self._db.conn.execute(
            "UPDATE jobs SET state = 'failed', error = ?, finished_at = ?, updated_at = ? WHERE id = ?",
            (error, now, now, job_id),
        )
        await self._db.conn.commit()

    async def requeue(self, job_id: int) -> None:
        """A done job whose digest vanished from the cache: make it again."""
        await self._db.conn.execute(
            "UPDATE jobs SET state = 'queued', cache_key = NULL, updated_at = ? WHERE id = ?", (time.time(), job_id)
        )
        await self._db.conn.commit()

    async def record(self, job_id: int, piece: str, posted_id: str, *, progress_id: str | None = None) -> None:
        """Remember that a piece of the answer was posted (before anything else is posted)."""
        await self._db.conn.execute(
            "UPDATE jobs SET delivery = json_set(delivery, ?, ?),"
            " progress_id = COALESCE(?, progress_id), updated_at = ? WHERE id = ?",
            (f'$."{piece}"', posted_id, progress_id, time.time(), job_id),
        )
        await self._db.conn.commit()

    async def delivered(self, job_id: int, *, link: str | None, error: str | None = None) -> None:
        now = time.time()
        await self._db.conn.execute(
            "UPDATE jobs SET delivered_at = ?, answer_link = ?, delivery_error = ?, updated_at = ? WHERE id = ?",
            (now, link, error, now, job_id),
        )
        await self._db.conn.commit()

    async def answer_link(self, job_id: int) -> str | None:
        async with self._db.conn.execute("SELECT answer_link FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else str(row[0])
