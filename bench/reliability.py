"""Reliability of the job queue: jobs lost across kill -9 cycles, and time to first reaction under load.

Usage: .venv/bin/python bench/reliability.py [--cycles 20] [--rate 5] [--delay 0.02] [--burst 50] [--no-write]

1. Kill and restart. The bot runs in a child process (`python -m bot.jobs.recording`: Agora, BotCore, the
   job queue, real fetch and extraction of corpus pages served on 127.0.0.1, an echo model that sleeps
   `delay` seconds per model turn) and answers into a file, each post under the idempotency key of the
   piece it is. A feeder appends a steady stream of requests (`rate` per second, 5 servers, every link
   distinct so nothing comes from the cache) to the bot's inbox the whole time. The bot is killed with
   SIGKILL `cycles` times, each time 1 to 3 s after it started and, where one can be caught, while a job is
   being generated; it is restarted at once. Then the stream stops and the bot runs until every request
   is answered (or 180 s pass). Lost = a request with no answer; duplicated = a request with more than one
   answer (counted by key, as a homeserver counts transaction ids); re-sent = the same piece written again
   after a kill (what the key makes harmless).
2. First reaction. In one process, `burst` requests (5 servers, distinct links) arrive back to back while the
   model is slow; the time from each request to its progress notice ("⏳") is measured with the recording
   platform (no network latency), and the time to its answer.

Prints a table and replaces the "## Reliability" section of bench/RESULTS.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import http.server
import json
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.results import replace_section  # noqa: E402
from bot.jobs.recording import read_posts  # noqa: E402

RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "Reliability"
CORPUS = Path(os.environ.get("AGORA_CORPUS", REPO.parent / "shared" / "corpus"))
PAGES = [
    "fr09-ledevoir-trottinettes",
    "fr05-lopinion-glyphosate",
    "fr22-liberation-seisme-nepal",
    "fr17-gala-delevoye-retraites",
    "fr24-lefigaro-montebourg-privatisations",
]
SERVERS = ["alpha", "beta", "gamma", "delta", "epsilon"]


@contextlib.contextmanager
def corpus_server() -> Iterator[str]:
    """The corpus pages on 127.0.0.1 (any query string is ignored: links differ, pages don't)."""
    pages = {name: (CORPUS / name / "source.html").read_bytes() for name in PAGES}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0].strip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


# --- 1. kill and restart -----------------------------------------------------------------------------


class Feeder(threading.Thread):
    """Appends requests to the inbox at a steady rate until stopped."""

    def __init__(self, inbox: Path, base: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.inbox = inbox
        self.base = base
        self.rate = rate
        self.sent: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        with self.inbox.open("a", encoding="utf-8") as fh:
            while not self.halt.wait(1 / self.rate):
                request_id = f"b{n}"
                server = SERVERS[n % len(SERVERS)]
                url = f"{self.base}/{PAGES[n % len(PAGES)]}?n={n}"
                line = {"id": request_id, "channel": f"{server}-1", "server": server, "user": request_id, "url": url}
                fh.write(json.dumps(line) + "\n")
                fh.flush()
                self.sent.append(request_id)
                n += 1


def states(db: Path) -> Counter[str]:
    if not db.exists():
        return Counter()
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return Counter(str(r[0]) for r in conn.execute("SELECT state FROM jobs"))
    except sqlite3.OperationalError:
        return Counter()


def start_harness(work: Path, delay: float) -> subprocess.Popen[bytes]:
    log = (work / "harness.log").open("ab")
    cmd = [
        sys.executable,
        "-m",
        "bot.jobs.recording",
        "--data",
        str(work / "bot"),
        "--inbox",
        str(work / "inbox"),
        "--posts",
        str(work / "posts"),
        "--delay",
        str(delay),
        "--queue-size",
        "10000",
    ]
    try:
        return subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=log)
    finally:
        log.close()


def kill_cycles(cycles: int, rate: float, delay: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="agora-reliability-") as tmp, corpus_server() as base:
        work = Path(tmp)
        db = work / "bot" / "data" / "agora.sqlite3"
        feeder = Feeder(work / "inbox", base, rate)
        started = time.monotonic()
        feeder.start()
        mid_job = 0
        for _ in range(cycles):
            proc = start_harness(work, delay)
            time.sleep(rng.uniform(1.0, 3.0))
            deadline = time.monotonic() + 3.0
            while states(db)["running"] == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            mid_job += states(db)["running"] > 0
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        feeder.halt.set()
        feeder.join()
        stream_s = time.monotonic() - started
        proc = start_harness(work, delay)
        drain_started = time.monotonic()
        wanted = set(feeder.sent)
        while time.monotonic() - drain_started < 180:
            answered = {p["request"] for p in read_posts(work / "posts") if p["kind"] == "answer"}
            if wanted <= answered:
                break
            time.sleep(0.2)
        drain_s = time.monotonic() - drain_started
        time.sleep(1.0)  # anything posted twice would show by now
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        posts = read_posts(work / "posts")
        with contextlib.closing(sqlite3.connect(db)) as conn:
            rows = conn.execute("SELECT request_key, state, attempts, error, delivered_at FROM jobs").fetchall()
    answers = [p for p in posts if p["kind"] == "answer"]
    by_key = {p["key"]: p for p in answers}
    per_request = Counter(p["request"] for p in by_key.values())
    progress_keys = {p["key"] for p in posts if p["kind"] == "progress"}
    return {
        "cycles": cycles,
        "kills_mid_job": mid_job,
        "rate": rate,
        "delay": delay,
        "requests": len(wanted),
        "jobs": len(rows),
        "answered_once": sum(1 for r in wanted if per_request[r] == 1),
        "lost": sum(1 for r in wanted if per_request[r] == 0),
        "duplicated": sum(1 for r in wanted if per_request[r] > 1),
        "resent_pieces": (len(answers) - len(by_key))
        + (len([p for p in posts if p["kind"] == "progress"]) - len(progress_keys)),
        "digests": sum(1 for p in by_key.values() if "Récapitulatif factuel" in p["text"]),
        "failed": Counter(str(r[3]) for r in rows if r[1] == "failed"),
        "resumed": sum(1 for r in rows if r[2] > 1),
        "max_attempts": max((r[2] for r in rows), default=0),
        "stream_s": round(stream_s, 1),
        "drain_s": round(drain_s, 1),
    }


# --- 2. first reaction under a burst ------------------------------------------------------------------


async def first_reaction(burst: int, delay: float) -> dict[str, Any]:
    from bot.app import Agora
    from bot.config import Config
    from bot.core.bot import BotCore
    from bot.core.types import Length, Scope
    from bot.jobs.recording import RecordingDeliverer
    from bot.model.echo_backend import EchoBackend
    from bot.model.runner import ModelRunner

    with tempfile.TemporaryDirectory(prefix="agora-reaction-") as tmp, corpus_server() as base:
        config = Config(base_dir=tmp).replace(
            model={"backend": "echo", "source": "echo"}, fetch={"allow_loopback": True}, general={"data_dir": "data"}
        )
        runner = ModelRunner(lambda: EchoBackend(delay=delay), max_batch_size=4, queue_size=64)
        async with Agora(config, runner=runner) as app:
            core = BotCore(app)
            platform_ = RecordingDeliverer()
            await core.attach(platform_)
            app.start_model()
            await app.runner.wait_ready()
            for server in SERVERS:
                await app.settings.set(f"recording:server:{server}", "limite_serveur", "10000")
            asked: dict[int, float] = {}
            started = time.time()
            for n in range(burst):
                server = SERVERS[n % len(SERVERS)]
                at = time.time()
                job = await core.submit(
                    Scope("recording", channel=f"{server}-1", server=server),
                    f"user{n}",
                    f"{base}/{PAGES[n % len(PAGES)]}?burst={n}",
                    Length.COURT,
                )
                asked[job.id] = at
            queued_peak = await core.jobs.queued()
            for job_id in asked:
                await core.jobs.wait_delivered(job_id)
            total = time.time() - started
            await core.detach(platform_.platform)
    reaction = sorted(p["t"] - asked[p["job"]] for p in platform_.posts if p["kind"] == "progress")
    answer = sorted(p["t"] - asked[p["job"]] for p in platform_.posts if p["kind"] == "answer")
    return {
        "burst": burst,
        "delay": delay,
        "queued_peak": queued_peak,
        "reaction_p50_ms": round(1000 * statistics.median(reaction), 1),
        "reaction_p95_ms": round(1000 * _p95(reaction), 1),
        "reaction_max_ms": round(1000 * reaction[-1], 1),
        "answer_p50_s": round(statistics.median(answer), 2),
        "answer_p95_s": round(_p95(answer), 2),
        "total_s": round(total, 2),
        "answers": len(answer),
    }


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


# --- report ----------------------------------------------------------------------------------------------


def report(kill: dict[str, Any], burst: dict[str, Any], args: argparse.Namespace) -> str:
    failed = ", ".join(f"{n} × {reason}" for reason, n in kill["failed"].items()) or "none"
    cmd = (
        f"`.venv/bin/python bench/reliability.py --cycles {args.cycles} --rate {args.rate} --delay {args.delay}"
        f" --burst {args.burst}`"
    )
    lines = [
        f"Command: {cmd} ({dt.date.today():%Y-%m-%d}, {os.cpu_count()} CPU, Python {platform.python_version()};"
        " the echo model, real fetch and extraction of corpus pages from 127.0.0.1).",
        "",
        "### Jobs lost across kill -9 and restart cycles (goal 0)",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| kill -9 / restart cycles | {kill['cycles']} ({kill['kills_mid_job']} with a job being generated) |",
        f"| requests in the stream ({kill['rate']:g}/s over {kill['stream_s']} s, 5 servers) | {kill['requests']} |",
        f"| **jobs lost** (requests never answered) | **{kill['lost']}** |",
        f"| requests answered more than once (counted by idempotency key) | {kill['duplicated']} |",
        f"| requests answered exactly once | {kill['answered_once']} |",
        f"| of which digests / failures | {kill['digests']} / {kill['answered_once'] - kill['digests']} |",
        f"| jobs resumed after a kill (attempts > 1; most attempts) | {kill['resumed']} ({kill['max_attempts']}) |",
        f"| pieces written again after a kill, same key (deduplicated) | {kill['resent_pieces']} |",
        f"| failed jobs | {failed} |",
        f"| time to drain the backlog after the last restart | {kill['drain_s']} s |",
        "",
        f"### Time to first reaction with {burst['burst']} jobs queued",
        "",
        f"{burst['burst']} requests arrive back to back (5 servers, distinct links, the model at {burst['delay']:g} s"
        f' a turn: up to {burst["queued_peak"]} jobs waiting); first reaction = the request until its "⏳"'
        " progress notice is posted by the recording platform (no network latency counted).",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| first reaction p50 / **p95** / max | {burst['reaction_p50_ms']} / **{burst['reaction_p95_ms']}** /"
        f" {burst['reaction_max_ms']} ms |",
        f"| answer p50 / p95 | {burst['answer_p50_s']} / {burst['answer_p95_s']} s |",
        f"| all {burst['answers']} answered in | {burst['total_s']} s |",
    ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cycles", type=int, default=20)
    p.add_argument("--rate", type=float, default=5.0, help="requests per second in the stream")
    p.add_argument("--delay", type=float, default=0.02, help="echo model: seconds per turn (six turns a digest)")
    p.add_argument("--burst", type=int, default=50)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    kill = kill_cycles(args.cycles, args.rate, args.delay, args.seed)
    print(json.dumps(kill, default=dict, indent=1))
    burst = asyncio.run(first_reaction(args.burst, max(args.delay, 0.05)))
    print(json.dumps(burst, indent=1))
    section = report(kill, burst, args)
    print(section)
    if not args.no_write:
        replace_section(RESULTS, SECTION, section)
        print(f"wrote the '## {SECTION}' section of {RESULTS.relative_to(REPO)}")
    return 0 if kill["lost"] == 0 and kill["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
