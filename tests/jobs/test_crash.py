"""kill -9 during a generation: after the restart every request is answered, and answered once.

The bot runs in a child process (`python -m bot.jobs.recording`: Agora, BotCore, the job queue, the
real fetch and extraction, an echo model that sleeps per turn) and answers into a file, each post
under the idempotency key of the piece it is, as a homeserver keeps transaction ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bot.jobs.recording import read_posts
from tests.conftest import CorpusServer

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["fr09-ledevoir-trottinettes", "fr05-lopinion-glyphosate", "fr22-liberation-seisme-nepal"]


class Harness:
    def __init__(self, tmp: Path, delay: float) -> None:
        self.data = tmp / "bot"
        self.inbox = tmp / "inbox.jsonl"
        self.posts = tmp / "posts.jsonl"
        self.log = tmp / "harness.log"
        self.delay = delay
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.jobs.recording", "--data", str(self.data), "--inbox", str(self.inbox),
            "--posts", str(self.posts), "--delay", str(self.delay), "--log", str(self.log), cwd=ROOT,
        )

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def request(self, request_id: str, url: str, server: str) -> None:
        line = json.dumps({"id": request_id, "channel": f"c-{server}", "server": server, "user": request_id,
                           "url": url}) + "\n"
        await asyncio.to_thread(_append, self.inbox, line)

    async def read(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(read_posts, self.posts)

    async def states(self) -> list[tuple[str, str]]:
        return await asyncio.to_thread(_states, self.data / "data" / "agora.sqlite3")

    async def diagnosis(self) -> str:
        """What a failure message needs to be understood from a CI log alone (it is cut to a few lines)."""
        alive = self.proc is not None and self.proc.returncode is None
        log = (await asyncio.to_thread(self.log.read_text)).splitlines() if self.log.exists() else []
        posts = [(p["kind"], p["request"]) for p in await self.read()]
        return "\n".join(
            [f"harness alive={alive} rc={self.proc and self.proc.returncode}", f"jobs={await self.states()}",
             f"posts={posts}", "log (last 25 lines):", *(line[:160] for line in log[-25:])]
        )


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line)


def _states(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return [(str(r[0]), str(r[1])) for r in conn.execute("SELECT request_key, state FROM jobs")]
    except sqlite3.OperationalError:  # created but not migrated yet
        return []


async def wait_for(check: Any, what: str, within: float = 60.0) -> Any:
    async with asyncio.timeout(within):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover


async def test_kill_9_mid_generation_then_restart_answers_each_request_once(
    tmp_path: Path, corpus_server: CorpusServer
) -> None:
    harness = Harness(tmp_path, delay=0.4)  # six model turns: about 2.5 s per digest
    requests = {f"r{i}": (corpus_server.url(page), "AB"[i % 2]) for i, page in enumerate(PAGES)}
    try:
        await harness.start()
        for request_id, (url, server) in requests.items():
            await harness.request(request_id, url, server)

        async def generating() -> bool:
            states = dict(await harness.states())
            posts = await harness.read()
            return "running" in states.values() and any(p["kind"] == "progress" for p in posts)

        await wait_for(generating, "a job running with its progress notice posted")
        await harness.kill()
        before = await harness.read()
        states = dict(await harness.states())
        assert "running" in states.values()  # it died in the middle of a job
        assert len([p for p in before if p["kind"] == "answer"]) < len(requests)

        await harness.start()

        async def all_answered() -> bool:
            answered = {p["request"] for p in await harness.read() if p["kind"] == "answer"}
            return answered == set(requests)

        try:
            await wait_for(all_answered, "every request answered after the restart", within=120)
        except TimeoutError:
            raise AssertionError(await harness.diagnosis()) from None
        await asyncio.sleep(1.0)  # anything posted twice would show up now
    finally:
        await harness.stop()

    posts = await harness.read()
    # Counted as the server counts them: one post per idempotency key (a piece re-sent after the kill,
    # between its post and its record, carries the same key and would be deduplicated there).
    answers = Counter(p["request"] for p in {p["key"]: p for p in posts if p["kind"] == "answer"}.values())
    progress = Counter(p["request"] for p in {p["key"]: p for p in posts if p["kind"] == "progress"}.values())
    assert answers == Counter(set(requests)), answers  # exactly one answer per request, nothing lost
    assert progress == Counter(set(requests)), progress  # and one progress notice each
    for p in posts:
        if p["kind"] == "answer":
            assert "Récapitulatif factuel" in p["text"], p["text"][:200]
    assert {state for _, state in await harness.states()} == {"done"}
