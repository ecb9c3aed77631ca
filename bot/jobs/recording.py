"""A recording "platform": answers are appended to a JSON-lines file (or kept in memory).

Used by the tests and `bench/reliability.py` to watch the job queue from outside a process that gets
killed. Every post carries the idempotency key of the piece it is (`Job.key`); `read_posts` counts a
key once, as a homeserver counts a transaction id once, and `raw` keeps every line to show re-sends.

`python -m bot.jobs.recording --data DIR --inbox FILE --posts FILE [--delay S]` runs Agora + BotCore +
the job queue with an echo model that sleeps `delay` seconds per model turn: each line appended to
the inbox (`{"id", "channel", "server", "user", "url", "length"}`) becomes a job (its `id` is the
request key, so the inbox is read again from the start after a restart without making jobs twice).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot import messages
from bot.core.types import Length, Scope
from bot.jobs.queue import JobResult, Record
from bot.jobs.store import Job
from bot.pipeline.render import to_plain


class RecordingDeliverer:
    """Posts as lines `{"kind", "key", "job", "request", "t", "text"}`; `kind` is progress/answer/roundup."""

    def __init__(self, path: Path | None = None, *, platform: str = "recording", latency: float = 0.0) -> None:
        self.platform = platform
        self.path = path
        self.latency = latency
        self.posts: list[dict[str, Any]] = []
        self._fd: int | None = None
        if path is not None:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _post(self, kind: str, key: str, job: Job | None, text: str) -> str:
        entry = {
            "kind": kind,
            "key": key,
            "job": job.id if job else None,
            "request": job.request_key if job else None,
            "t": time.time(),
            "text": text,
        }
        self.posts.append(entry)
        if self._fd is not None:
            # One write() of one line: a kill -9 lands before or after it, never inside.
            os.write(self._fd, (json.dumps(entry, ensure_ascii=False) + "\n").encode())
        return key

    async def acknowledge(self, job: Job, record: Record) -> None:
        if "p" in job.delivery:
            return
        if self.latency:
            await asyncio.sleep(self.latency)
        posted = self._post("progress", job.key("p"), job, messages.progress(job.url))
        await record(job, "p", posted)

    def step(self, job: Job, text: str) -> None:
        return None

    async def deliver(self, job: Job, result: JobResult, record: Record) -> str | None:
        if "a0" not in job.delivery:
            if self.latency:
                await asyncio.sleep(self.latency)
            if result.digest is not None:
                text = to_plain(result.digest)
            else:
                text = messages.FAILED.format(url=job.url, reason=result.error)
            posted = self._post("answer", job.key("a0"), job, text)
            await record(job, "a0", posted)
        return f"recording://{self.platform}/{job.id}"

    async def post_roundup(self, scope: Scope, text: str, key: str) -> None:
        self._post("roundup", key, None, text)

    def answers(self) -> list[dict[str, Any]]:
        return [p for p in self.posts if p["kind"] == "answer"]


def read_posts(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a posts file (a torn last line is skipped)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


async def serve(args: argparse.Namespace) -> None:
    """The harness process: the job queue fed by an inbox file, answering into a posts file."""
    from bot.app import Agora
    from bot.config import Config
    from bot.core.bot import BotCore
    from bot.model.echo_backend import EchoBackend
    from bot.model.runner import ModelRunner

    config = Config(base_dir=str(args.data)).replace(
        model={"backend": "echo", "source": "echo", "queue_size": args.queue_size},
        fetch={"allow_loopback": True},
        general={"data_dir": "data"},
    )
    runner = ModelRunner(
        lambda: EchoBackend(delay=args.delay),
        max_batch_size=config.model.max_batch_size,
        queue_size=config.model.queue_size,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    deliverer = RecordingDeliverer(Path(args.posts))
    async with Agora(config, runner=runner) as app:
        core = BotCore(app)
        app.start_model()
        await core.attach(deliverer)
        configured: set[str] = set()
        offset = 0
        inbox = Path(args.inbox)
        try:
            while not stop.is_set():
                data = await asyncio.to_thread(_read_from, inbox, offset)
                complete = data[: data.rfind(b"\n") + 1]
                offset += len(complete)
                for line in complete.decode().splitlines():
                    request = json.loads(line)
                    scope = Scope("recording", channel=request["channel"], server=request.get("server"))
                    if scope.server_key not in configured:  # the bench measures loss, not limits
                        configured.add(scope.server_key)
                        await app.settings.set(scope.server_key, "limite_serveur", "10000")
                        await app.settings.set(scope.server_key, "limite_utilisateur", "1000")
                    await core.submit(
                        scope,
                        request.get("user", "bench"),
                        request["url"],
                        Length(request.get("length", "court")),
                        request_key=request["id"],
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.02)
        finally:
            await core.detach(deliverer.platform)
            deliverer.close()


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read()
    except FileNotFoundError:
        return b""


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True, help="folder of the database")
    p.add_argument("--inbox", required=True, help="JSON-lines requests, appended by the caller")
    p.add_argument("--posts", required=True, help="JSON-lines posts, appended by this process")
    p.add_argument("--delay", type=float, default=0.05, help="seconds per model turn (echo backend)")
    p.add_argument("--queue-size", type=int, default=64)
    p.add_argument("--log", help="log file (INFO)")
    args = p.parse_args(argv)
    if args.log:
        logging.basicConfig(
            level=logging.INFO, filename=args.log, format="%(asctime)s %(process)d %(name)s: %(message)s"
        )
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
