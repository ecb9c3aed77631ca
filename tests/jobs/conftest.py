"""An Agora with the echo model, a BotCore and the recording platform; a scriptable fake pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.app import Agora, DigestOutcome
from bot.config import Config
from bot.core.bot import BotCore
from bot.core.types import Digest, Length, Part
from bot.jobs.recording import RecordingDeliverer


def make_config(tmp_path: Path, **model: Any) -> Config:
    return Config(base_dir=str(tmp_path)).replace(
        model={"backend": "echo", "source": "echo", **model},
        fetch={"allow_loopback": True},
        general={"data_dir": "data"},
    )


def fake_digest(url: str, length: Length = Length.COURT) -> Digest:
    parts = {p: f"{p.name.lower()} de {url}" for p in Part}
    parts[Part.ACCROCHE] = f"Une nouvelle à propos de {url}. 📰 #Test"
    parts[Part.REFERENCE] = f"{url} — Site de test"
    return Digest(url, url, "Titre", length, parts, model="fake")


@dataclass
class FakePipeline:
    """Replaces `Agora.digest_url`: records the order jobs ran in; a URL can be held behind a gate."""

    app: Agora
    started: list[str] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    failures: dict[str, list[BaseException]] = field(default_factory=dict)

    def hold(self, url: str) -> asyncio.Event:
        self.gates[url] = asyncio.Event()
        return self.gates[url]

    async def __call__(self, url: str, length: Length = Length.STANDARD, *, progress: Any = None) -> DigestOutcome:
        self.started.append(url)
        if progress is not None:
            progress("téléchargement de la page…")
        gate = self.gates.get(url)
        if gate is not None:
            await gate.wait()
        pending = self.failures.get(url)
        if pending:
            raise pending.pop(0)
        digest = fake_digest(url, length)
        await self.app.cache.put(self.app.cache_key(url, length), digest)
        return DigestOutcome(digest, False, 0.0)


@dataclass
class Rig:
    app: Agora
    core: BotCore
    platform: RecordingDeliverer
    pipeline: FakePipeline | None
    cores: list[BotCore] = field(default_factory=list)

    async def restart(self, *, concurrency: int = 1) -> Rig:
        """Stop this core's queue (as a stop would) and start a new BotCore on the same database."""
        await self.core.detach(self.platform.platform)
        core = BotCore(self.app, concurrency=concurrency)
        core.roundups.clock = _before_everything
        self.cores.append(core)
        await core.attach(self.platform)
        return Rig(self.app, core, self.platform, self.pipeline, self.cores)


MakeRig = Callable[..., Awaitable[Rig]]


def _before_everything() -> float:
    """The clock of the scheduler's own loop in these tests: nothing is ever due by it."""
    return 0.0


async def until(check: Callable[[], Any], *, within: float = 10.0, what: str = "") -> Any:
    """Poll `check` (sync or async) until it returns something truthy."""
    async with asyncio.timeout(within):
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.01)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[MakeRig]:
    """`await rig(concurrency=1, fake=True, **model)`: a started core with the recording platform."""
    apps: list[Agora] = []
    cores: list[BotCore] = []

    async def make(*, concurrency: int = 1, fake: bool = True, attach: bool = True, **model: Any) -> Rig:
        app = Agora(make_config(tmp_path, **model))
        await app.__aenter__()
        pipeline = None
        if fake:
            pipeline = FakePipeline(app)
            app.digest_url = pipeline  # type: ignore[method-assign]
        apps.append(app)
        core = BotCore(app, concurrency=concurrency)
        core.roundups.clock = _before_everything  # tests pass their own `now` to run_due
        cores.append(core)
        platform = RecordingDeliverer()
        if attach:
            await core.attach(platform)
        return Rig(app, core, platform, pipeline, cores)

    try:
        yield make
    finally:
        for core in cores:
            await core.jobs.stop()
            await core.roundups.stop()
        for app in apps:
            await app.__aexit__(None, None, None)
