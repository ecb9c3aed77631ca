"""The job queue in one process: states, fairness, limits, shared generation, order, restarts."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from bot import messages
from bot.core.types import Length, Scope
from bot.errors import InvalidURL, ModelError, QueueFull, RateLimited
from bot.jobs.queue import DELIVERY_ATTEMPTS, MAX_ATTEMPTS, JobResult, Record, Undeliverable
from bot.jobs.store import Job, JobState
from bot.ops import metrics as ops_metrics
from tests.conftest import CorpusServer
from tests.jobs.conftest import MakeRig, Rig, until

A = Scope("recording", channel="a1", server="A")
B = Scope("recording", channel="b1", server="B")
ROOM = Scope("recording", channel="!room")


async def settle(rig: Rig, *jobs: Job) -> None:
    async with asyncio.timeout(20):
        for job in jobs:
            await rig.core.jobs.wait_delivered(job.id)


def answers_of(rig: Rig, job: Job) -> list[str]:
    return [p["text"] for p in rig.platform.posts if p["job"] == job.id and p["kind"] == "answer"]


def db_rows(rig: Rig, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(rig.app.db.path) as conn:
        return conn.execute(sql).fetchall()


async def test_a_job_goes_queued_running_done_and_is_delivered_once(rig: MakeRig) -> None:
    r = await rig()
    job = await r.core.submit(A, "alice", "https://ex.fr/a", Length.COURT, target={"where": "here"}, request_key="k1")
    assert job.state is JobState.QUEUED and job.token and job.target == {"where": "here"}
    await settle(r, job)
    done = await r.core.jobs.store.get(job.id)
    assert done is not None and done.state is JobState.DONE and done.attempts == 1
    assert done.delivered_at is not None and done.cache_key and done.answer_link == f"recording://recording/{job.id}"
    assert done.delivery == {"p": job.key("p"), "a0": job.key("a0")} and done.progress_id == job.key("p")
    kinds = [p["kind"] for p in r.platform.posts]
    assert kinds == ["progress", "answer"]  # the progress notice first, then the answer, once
    # The link is recorded for roundups, once, at the time it was asked for.
    [link] = await r.core.links.between(A.channel_key, 0, 2e9)
    assert link.job_id == job.id and link.cache_key == done.cache_key and link.shared_at == job.created_at
    # The same request again (a replayed event) is the same job: nothing more is posted.
    again = await r.core.submit(A, "alice", "https://ex.fr/a", Length.COURT, request_key="k1")
    assert again.id == job.id
    await asyncio.sleep(0.05)
    assert len(r.platform.posts) == 2


async def test_a_busy_server_does_not_starve_another(rig: MakeRig) -> None:
    r = await rig(concurrency=1)
    assert r.pipeline is not None
    first = r.pipeline.hold("https://a.fr/0")  # keeps the worker busy while the queue fills
    jobs = [await r.core.submit(A, f"user{i}", f"https://a.fr/{i}", Length.COURT) for i in range(20)]
    late = await r.core.submit(B, "bob", "https://b.fr/only", Length.COURT)
    first.set()
    await settle(r, *jobs, late)
    order = r.pipeline.started
    assert len(order) == 21
    # B was never served: its job comes right after the one that was running, not after A's 19 others.
    assert order.index("https://b.fr/only") == 1
    assert order[-1] != "https://b.fr/only"


async def test_round_robin_between_several_communities(rig: MakeRig) -> None:
    r = await rig(concurrency=1)
    assert r.pipeline is not None
    gate = r.pipeline.hold("https://x.fr/hold")
    hold = await r.core.submit(Scope("recording", "x", "X"), "u", "https://x.fr/hold", Length.COURT)
    for server in "ABC":
        for i in range(3):
            await r.core.submit(Scope("recording", server, server), f"u{i}", f"https://{server}.fr/{i}", Length.COURT)
    gate.set()
    await settle(r, hold)
    await until(lambda: len(r.platform.answers()) >= 10)
    servers = [url.split("//")[1][0] for url in r.pipeline.started[1:]]
    assert servers == ["A", "B", "C"] * 3


async def test_full_queue_and_rate_limits_are_answered_in_french(rig: MakeRig) -> None:
    r = await rig(concurrency=1, queue_size=2)
    assert r.pipeline is not None
    gate = r.pipeline.hold("https://a.fr/running")
    running = await r.core.submit(A, "u0", "https://a.fr/running", Length.COURT)
    await until(lambda: r.pipeline.started == ["https://a.fr/running"])
    queued = [await r.core.submit(A, f"u{i}", f"https://a.fr/{i}", Length.COURT) for i in (1, 2)]
    full = await r.core.submit(A, "u3", "https://a.fr/3", Length.COURT)
    assert full.state is JobState.FAILED and full.refused and full.error == QueueFull.default_message
    # Per-member limit, then per-server limit (a Discord-like server, then a Matrix-like room).
    await r.app.settings.set(B.server_key, "limite_utilisateur", "1")
    await r.app.settings.set(B.server_key, "limite_serveur", "2")
    await r.app.settings.set(ROOM.server_key, "limite_serveur", "1")
    r.core.jobs.limit = 100
    ok = await r.core.submit(B, "bob", "https://b.fr/1", Length.COURT)
    too_many = await r.core.submit(B, "bob", "https://b.fr/2", Length.COURT)
    ok2 = await r.core.submit(B, "carol", "https://b.fr/3", Length.COURT)
    server_full = await r.core.submit(B, "dave", "https://b.fr/4", Length.COURT)
    room_ok = await r.core.submit(ROOM, "erin", "https://r.fr/1", Length.COURT)
    room_full = await r.core.submit(ROOM, "frank", "https://r.fr/2", Length.COURT)
    assert [j.state for j in (ok, ok2, room_ok)] == [JobState.QUEUED] * 3
    assert too_many.error == RateLimited.default_message
    assert server_full.error == messages.RATE_LIMIT_SERVER
    assert room_full.error == messages.RATE_LIMIT_ROOM
    gate.set()
    await settle(r, running, *queued, full, ok, too_many, ok2, server_full, room_ok, room_full)
    # Each refusal is answered (no progress notice first) with the French reason.
    assert answers_of(r, full) == [messages.FAILED.format(url="https://a.fr/3", reason=QueueFull.default_message)]
    assert answers_of(r, room_full) == [
        messages.FAILED.format(url="https://r.fr/2", reason=messages.RATE_LIMIT_ROOM)
    ]
    assert not [p for p in r.platform.posts if p["job"] == full.id and p["kind"] == "progress"]
    # A cached link costs nothing: answered even for a member at their limit.
    cached = await r.core.submit(B, "bob", "https://b.fr/1", Length.COURT)
    assert cached.state is JobState.QUEUED
    await settle(r, cached)
    assert "Une nouvelle à propos de https://b.fr/1" in answers_of(r, cached)[0]


async def test_the_same_link_asked_in_two_places_is_written_once(rig: MakeRig, corpus_server: CorpusServer) -> None:
    r = await rig(concurrency=4, fake=False)
    url = corpus_server.url("fr09-ledevoir-trottinettes")
    jobs = [
        await r.core.submit(A, "alice", url, Length.COURT),
        await r.core.submit(B, "bob", url, Length.COURT),
        await r.core.submit(ROOM, "carol", url, Length.COURT),
    ]
    await settle(r, *jobs)
    # One digest for three requesters: six parts, and the analogy's closing question (the echo model
    # ends the analogy on a statement, so the summarizer asks for it).
    assert r.app.runner.stats.requests == 7
    texts = [answers_of(r, job) for job in jobs]
    assert all(len(t) == 1 for t in texts) and len({t[0] for t in texts}) == 1
    assert "Récapitulatif factuel" in texts[0][0]


async def test_links_of_one_message_are_answered_in_order(rig: MakeRig) -> None:
    r = await rig(concurrency=2)
    assert r.pipeline is not None
    gate = r.pipeline.hold("https://a.fr/slow")
    first = await r.core.submit(A, "alice", "https://a.fr/slow", Length.COURT)
    second = await r.core.submit(A, "alice", "https://a.fr/fast", Length.COURT, after=first.id)

    async def second_done() -> bool:
        row = await r.core.jobs.store.get(second.id)
        return row is not None and row.state is JobState.DONE

    await until(second_done)
    await asyncio.sleep(0.05)
    assert not r.platform.answers()  # done, but waits for the first link's answer
    gate.set()
    await settle(r, first, second)
    assert [p["job"] for p in r.platform.answers()] == [first.id, second.id]
    assert [p["job"] for p in r.platform.posts if p["kind"] == "progress"] == [first.id, second.id]


async def test_a_stop_mid_job_resumes_after_the_restart_and_answers_once(rig: MakeRig) -> None:
    r = await rig()
    assert r.pipeline is not None
    gate = r.pipeline.hold("https://a.fr/long")
    job = await r.core.submit(A, "alice", "https://a.fr/long", Length.COURT)
    await until(lambda: r.platform.posts and r.pipeline.started == ["https://a.fr/long"])
    r2 = await r.restart()  # the first core stops with the job running
    gate.set()
    await settle(r2, job)
    assert [p["kind"] for p in r.platform.posts] == ["progress", "answer"]
    again = await r2.core.jobs.store.get(job.id)
    assert again is not None and again.state is JobState.DONE and again.attempts == 1  # a stop is no attempt


async def test_after_a_crash_running_jobs_resume_without_a_second_notice(rig: MakeRig) -> None:
    r = await rig(attach=False)
    job = await r.core.submit(A, "alice", "https://a.fr/crash", Length.COURT)
    # What a kill -9 mid-generation leaves: running, one attempt, the progress notice recorded.
    await r.core.jobs.store.claim(job.id)
    await r.core.jobs.store.record(job.id, "p", "event-1")
    interrupted = await r.core.submit(A, "bob", "https://a.fr/poison", Length.COURT)
    await r.core.jobs.store.claim(interrupted.id)  # ... and a job that was running at MAX_ATTEMPTS crashes
    await r.app.db.conn.execute(f"UPDATE jobs SET attempts = {MAX_ATTEMPTS} WHERE id = {interrupted.id}")
    await r.app.db.conn.commit()
    await r.core.attach(r.platform)
    await settle(r, job, interrupted)
    posts = [(p["kind"], p["job"]) for p in r.platform.posts]
    assert ("progress", job.id) not in posts and ("answer", job.id) in posts
    done = await r.core.jobs.store.get(job.id)
    assert done is not None and done.state is JobState.DONE and done.attempts == 2
    # A job interrupted MAX_ATTEMPTS times fails (it may be what crashes the bot), with a French answer.
    failed = await r.core.jobs.store.get(interrupted.id)
    assert failed is not None and failed.state is JobState.FAILED and failed.error == messages.JOB_INTERRUPTED
    reason = messages.JOB_INTERRUPTED
    assert answers_of(r, interrupted) == [messages.FAILED.format(url="https://a.fr/poison", reason=reason)]


async def test_transient_model_errors_are_retried(rig: MakeRig) -> None:
    r = await rig()
    assert r.pipeline is not None
    r.core.jobs.retry_delay = 0.01
    r.pipeline.failures["https://a.fr/m"] = [ModelError("boom"), ModelError("boom again")]
    job = await r.core.submit(A, "alice", "https://a.fr/m", Length.COURT)
    await settle(r, job)
    done = await r.core.jobs.store.get(job.id)
    assert done is not None and done.state is JobState.DONE and done.attempts == 3
    assert len(answers_of(r, job)) == 1 and r.core.jobs.stats["retried"] == 2


class Flaky:
    """A platform whose first posts of an answer fail (a homeserver restarting)."""

    platform = "recording"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.posted: list[tuple[int, str]] = []

    async def acknowledge(self, job: Job, record: Record) -> None:
        self.posted.append((job.id, "p"))
        await record(job, "p", "p-id")

    def step(self, job: Job, text: str) -> None:
        return None

    async def deliver(self, job: Job, result: JobResult, record: Record) -> str | None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("homeserver restarting")
        self.posted.append((job.id, "a0"))
        return None

    async def post_roundup(self, scope: Scope, text: str, key: str) -> None:
        return None


async def test_a_failed_post_is_tried_again(rig: MakeRig) -> None:
    r = await rig(attach=False)
    r.core.jobs.delivery_backoff = 0.01
    flaky = Flaky(failures=2)
    await r.core.attach(flaky)
    job = await r.core.submit(A, "alice", "https://a.fr/f", Length.COURT)
    await settle(r, job)
    assert flaky.posted == [(job.id, "p"), (job.id, "a0")]
    row = db_rows(r, f"SELECT delivered_at, delivery_error, delivery FROM jobs WHERE id = {job.id}")[0]
    assert row[0] is not None and row[1] is None and json.loads(str(row[2])) == {"p": "p-id"}


async def test_migration_004_columns(tmp_path: Path, rig: MakeRig) -> None:
    r = await rig(attach=False)
    cols = {row[1] for row in db_rows(r, "PRAGMA table_info(jobs)")}
    assert {"state", "attempts", "target", "progress_id", "delivery", "delivered_at", "requester", "url"} <= cols
    assert "job_id" in {row[1] for row in db_rows(r, "PRAGMA table_info(shared_links)")}


class Metrics:
    """What bot.ops.metrics.Metrics offers the queue (duck-typed)."""

    def __init__(self) -> None:
        self.digests: list[tuple[str, str]] = []
        self.errors: list[tuple[str, str]] = []

    def observe_digest(self, platform: str, seconds: float, outcome: str) -> None:
        assert seconds >= 0
        self.digests.append((platform, outcome))

    def count_error(self, kind: str, platform: str = "none") -> None:
        self.errors.append((kind, platform))


async def test_answered_requests_are_reported_to_metrics(rig: MakeRig) -> None:
    r = await rig()
    assert r.pipeline is not None
    metrics = r.app.metrics = Metrics()
    r.pipeline.failures["https://a.fr/bad"] = [QueueFull("runner")] * MAX_ATTEMPTS
    r.core.jobs.retry_delay = 0.001
    await r.app.settings.set(A.server_key, "domaines_bloques", "interdit.fr")
    jobs = [
        await r.core.submit(A, "alice", "https://a.fr/ok", Length.COURT),
        await r.core.submit(A, "bob", "https://interdit.fr/x", Length.COURT),
        await r.core.submit(A, "carol", "https://a.fr/bad", Length.COURT),
    ]
    await settle(r, *jobs)
    assert sorted(metrics.digests) == [("recording", "error"), ("recording", "error"), ("recording", "ok")]
    assert sorted(metrics.errors) == [("fetch.domain", "recording"), ("queue.full", "recording")]


async def test_a_link_urllib_cannot_parse_is_refused_in_french(rig: MakeRig) -> None:
    r = await rig()
    job = await r.core.submit(A, "alice", "http://[x", Length.COURT)
    assert job.refused and job.error == InvalidURL.default_message
    await settle(r, job)
    assert answers_of(r, job) == [messages.FAILED.format(url="http://[x", reason=InvalidURL.default_message)]


class Broken:
    """A platform whose progress notice fails, and whose answers fail with `error` (or `Undeliverable`)."""

    platform = "recording"

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.tries = 0

    async def acknowledge(self, job: Job, record: Record) -> None:
        raise ConnectionError("the homeserver is down")

    def step(self, job: Job, text: str) -> None:
        return None

    async def deliver(self, job: Job, result: JobResult, record: Record) -> str | None:
        self.tries += 1
        raise self.error

    async def post_roundup(self, scope: Scope, text: str, key: str) -> None:
        raise self.error


def errors_counted(metrics: ops_metrics.Metrics, kind: str, platform: str = "recording") -> float:
    """agora_errors_total{kind, platform}, read through the Prometheus registry."""
    return metrics.registry.get_sample_value("agora_errors_total", {"kind": kind, "platform": platform}) or 0.0


async def test_failed_posts_are_counted_as_errors(rig: MakeRig) -> None:
    r = await rig(attach=False)
    metrics = r.app.metrics = ops_metrics.Metrics()
    r.core.jobs.delivery_backoff = 0.001
    flaky = Flaky(failures=2)
    await r.core.attach(flaky)
    job = await r.core.submit(A, "alice", "https://a.fr/f", Length.COURT)
    await settle(r, job)
    # Two failed posts, retried, then the answer: counted as retries, nothing lost.
    assert errors_counted(metrics, "delivery.retry") == 2
    assert errors_counted(metrics, "delivery.lost") == 0
    await r.core.detach(flaky.platform)

    lost = Broken(ConnectionError("still down"))
    await r.core.attach(lost)
    job = await r.core.submit(A, "alice", "https://a.fr/lost", Length.COURT)
    await settle(r, job)
    assert lost.tries == DELIVERY_ATTEMPTS
    assert errors_counted(metrics, "delivery.progress") == 1  # the "⏳" notice
    assert errors_counted(metrics, "delivery.retry") == 2 + DELIVERY_ATTEMPTS - 1
    assert errors_counted(metrics, "delivery.lost") == 1  # given up after the last attempt
    row = db_rows(r, f"SELECT delivered_at, delivery_error FROM jobs WHERE id = {job.id}")[0]
    assert row[0] is not None and "still down" in str(row[1])
    await r.core.detach(lost.platform)

    gone = Broken(Undeliverable("left the room"))
    await r.core.attach(gone)
    job = await r.core.submit(A, "alice", "https://a.fr/gone", Length.COURT)
    await settle(r, job)
    assert gone.tries == 1  # never retried
    assert errors_counted(metrics, "delivery.undeliverable") == 1
    assert errors_counted(metrics, "delivery.lost") == 1


async def test_metrics_are_optional_and_never_cost_an_answer(rig: MakeRig) -> None:
    class Exploding:
        def count_error(self, kind: str, platform: str = "none") -> None:
            raise RuntimeError("metrics broke")

        def observe_digest(self, platform: str, seconds: float, outcome: str) -> None:
            raise RuntimeError("metrics broke")

    r = await rig(attach=False)
    r.core.jobs.delivery_backoff = 0.001
    flaky = Flaky(failures=1)
    await r.core.attach(flaky)
    assert r.app.metrics is None  # metrics off: nothing to count into
    first = await r.core.submit(A, "alice", "https://a.fr/1", Length.COURT)
    await settle(r, first)
    r.app.metrics = Exploding()
    flaky.failures = 1
    second = await r.core.submit(A, "alice", "https://a.fr/2", Length.COURT)
    await settle(r, second)
    assert flaky.posted == [(first.id, "p"), (first.id, "a0"), (second.id, "p"), (second.id, "a0")]
