"""The job queue through the real Matrix adapter on a real Synapse: kill -9 mid-digest, scheduled roundups."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.types import Part
from tests.conftest import CorpusServer
from tests.matrix.conftest import (
    HOMESERVER,
    PASSWORD,
    PASSWORD_ENV,
    ROOT,
    Bot,
    Person,
    Synapse,
    register,
    unique,
    wait_until,
)
from tests.matrix.test_synapse import ARTICLE, HEADINGS, assert_in_order, content, room_with_bot

pytestmark = pytest.mark.synapse

People = Callable[[str], Awaitable[Person]]
Bots = Callable[..., Awaitable[Bot]]


class BotProcess:
    """The bot in a child process (tests/matrix/bot_process.py), with its own data folder."""

    def __init__(self, tmp: Path, user_id: str, delay: float) -> None:
        self.dir = tmp / unique("botproc")
        self.dir.mkdir()
        self.db = self.dir / "data" / "agora.sqlite3"
        self.delay = delay
        self.config = self.dir / "agora.toml"
        self.config.write_text(
            "\n".join(
                [
                    '[model]\nbackend = "echo"\nsource = "echo"',
                    "[fetch]\nallow_loopback = true",
                    '[general]\ndata_dir = "data"',
                    "[matrix]\nenabled = true",
                    f'homeserver = "{HOMESERVER}"\nuser_id = "{user_id}"\npassword_env = "{PASSWORD_ENV}"',
                    'access_token_env = "AGORA_TEST_MATRIX_NO_TOKEN"\nsync_timeout = 1.0\nbackoff_max = 1.0',
                ]
            ),
            encoding="utf-8",
        )
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        log = (self.dir / "bot.log").open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.matrix.bot_process", str(self.config), str(self.delay),
            cwd=ROOT, env={**os.environ, PASSWORD_ENV: PASSWORD}, stdout=log, stderr=log,
        )
        log.close()

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def jobs(self) -> list[dict[str, Any]]:
        if not self.db.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.db, timeout=5)) as conn:
            conn.row_factory = sqlite3.Row
            try:
                return [dict(r) for r in conn.execute("SELECT * FROM jobs ORDER BY id")]
            except sqlite3.OperationalError:
                return []

    def forget_what_was_posted(self) -> None:
        """The worst moment of a crash: the progress notice was posted, its event id not yet recorded."""
        with contextlib.closing(sqlite3.connect(self.db, timeout=5)) as conn:
            conn.execute("UPDATE jobs SET delivery = '{}', progress_id = NULL")
            conn.commit()


def bot_notices(person: Person, room: str, bot: str) -> list[Any]:
    return [e for rid, e in person.events if rid == room and e.sender == bot and content(e).get("msgtype")]


async def test_killed_mid_digest_the_bot_posts_it_once_after_the_restart(
    people: People, synapse: Synapse, tmp_path: Path, corpus_server: CorpusServer
) -> None:
    user_id = await register(unique("agora"))
    bot = BotProcess(tmp_path, user_id, delay=0.6)  # six turns: about 4 s of writing
    alice = await people("alice")
    try:
        await bot.start()
        room = await alice.create_room(invite=[user_id])

        async def joined() -> bool:
            return await alice.membership(room, user_id) == "join"  # (`users` counts the invited too)

        await wait_until(joined, what="the bot to join")
        # Answered only once the bot caught up with its first sync.
        await alice.answer(room, await alice.say(room, "!aide"))

        url = corpus_server.url(ARTICLE)
        command = await alice.say(room, f"!resume {url} court")
        progress = await alice.answer(room, command)
        assert content(progress)["body"].startswith("⏳")
        await wait_until(
            lambda: [j for j in bot.jobs() if j["state"] == "running"], what="the digest being written"
        )
        await bot.kill()
        [job] = bot.jobs()
        assert job["state"] == "running" and job["delivered_at"] is None
        assert job["progress_id"] in (progress.event_id, None)  # None: killed between the send and its record
        # Make it the worst case every time: as if the process died between posting the notice and
        # recording its event id.
        bot.forget_what_was_posted()

        await bot.start()
        edit = content(await alice.edit_of(room, progress.event_id, within=90))
        assert_in_order(edit["m.new_content"]["body"], HEADINGS)
        await wait_until(lambda: all(j["delivered_at"] for j in bot.jobs()), within=30, what="delivered")
        # Alice's client has seen everything the bot posted up to a later answer of the bot.
        await alice.answer(room, await alice.say(room, "!aide"))
    finally:
        await bot.stop()

    [job] = bot.jobs()
    assert job["state"] == "done" and job["attempts"] == 2
    # The notice was sent again under the same transaction id: Synapse gave back the same event.
    assert job["progress_id"] == progress.event_id
    assert json.loads(job["delivery"])["p"] == progress.event_id
    answers = alice.related(room, command)
    notices = [e for e in answers if (content(e).get("m.relates_to") or {}).get("rel_type") != "m.replace"]
    edits = [e for e in alice.related(room, progress.event_id) if content(e)["m.relates_to"]["rel_type"] == "m.replace"]
    assert [e.event_id for e in notices] == [progress.event_id]  # one progress notice
    assert len(edits) == 1  # and one digest
    assert f"<strong>{Part.REFERENCE.heading}</strong>" in edits[0].source["content"]["m.new_content"]["formatted_body"]


async def test_scheduled_roundup_is_posted_in_the_room_once(
    people: People, bots: Bots, corpus_server: CorpusServer
) -> None:
    bot = await bots()
    alice = await people("alice")
    room = await room_with_bot(alice, bot)
    assert content(await alice.answer(room, await alice.say(room, "!config recap quotidien")))["body"].startswith("✅")
    url = corpus_server.url(ARTICLE)
    command = await alice.say(room, f"!resume {url} court")
    await alice.edit_of(room, (await alice.answer(room, command)).event_id)

    core = bot.platform.core
    tomorrow = time.time() + 86400  # the next 18:00 (Paris) has passed by then, after the setting
    await wait_until(lambda: core.jobs.snapshot()["replying"] == 0, what="the digest's job to finish")
    [due] = await core.roundups.run_due(tomorrow)
    assert due.scope.channel == room

    def roundups() -> list[Any]:
        return [e for e in bot_notices(alice, room, bot.user_id) if content(e)["body"].startswith("📚")]

    [notice] = await wait_until(roundups, what="the roundup in the room")
    body = content(notice)
    assert "m.relates_to" not in body and body["m.mentions"] == {}  # posted in the room, not a reply
    assert url in body["body"] and "Les débats de la période" in body["body"]
    assert "↳ Résumé complet : https://matrix.to/#/" in body["body"]
    # Not again, even after a restart.
    assert await core.roundups.run_due(tomorrow + 60) == []
    from tests.matrix.conftest import stop_bot

    await stop_bot(bot)
    again = await bots(user_id=bot.user_id, data=bot.data)
    assert await again.platform.core.roundups.run_due(tomorrow + 120) == []
    await alice.answer(room, await alice.say(room, "!aide"))
    await asyncio.sleep(0.5)
    assert len(roundups()) == 1
