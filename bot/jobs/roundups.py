"""Scheduled roundups: each channel whose `recap` is on gets its roundup at `recap_heure` (`fuseau`), every
day or every `recap_jour`.

Rules:
- the period that is due is the latest one that ended at or before now (local wall-clock time, so DST
  moves nothing): a day, or a week, ending at the scheduled time;
- it is posted only if no roundup of that channel ended at or after that time (`roundups` table), so a
  restart never posts twice, and a period missed while the bot was down is posted once when it comes
  back — only the latest one, never a backlog;
- a period that ended before the schedule was set or last changed is not due (turning `recap` on at
  10:00 does not post yesterday's roundup at once);
- a period in which nothing was shared is marked and skipped (no empty post);
- the post carries an idempotency key derived from the channel and the period, so a crash between the
  post and its mark is not a second post either.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.settings import SPEC_BY_KEY
from bot.core.types import Scope
from bot.jobs.queue import Undeliverable
from bot.ops.metrics import report_error
from bot.storage.repositories import SettingsRepository

if TYPE_CHECKING:
    from bot.core.bot import BotCore

log = logging.getLogger(__name__)

DAYS = SPEC_BY_KEY["recap_jour"].choices  # lundi … dimanche, Monday first like datetime.weekday()
PERIODS = {"quotidien": 1, "hebdomadaire": 7}
#: Settings whose change moves the schedule: periods that ended before the change are not due.
SCHEDULE_KEYS = ("recap", "recap_heure", "recap_jour", "fuseau")


@dataclass(frozen=True, slots=True)
class DueRoundup:
    scope: Scope
    period: str  # "quotidien" | "hebdomadaire"
    start: float
    end: float

    @property
    def key(self) -> str:
        """Idempotency key of this roundup's post (same channel and period: same key)."""
        digest = hashlib.sha256(f"{self.scope.channel_key}|{self.end:.0f}".encode()).hexdigest()[:16]
        return f"agora.roundup.{digest}"


def period_bounds(now: float, values: dict[str, Any]) -> tuple[float, float] | None:
    """(start, end) of the latest period of a channel's roundup that ended at or before `now`."""
    days = PERIODS.get(str(values.get("recap")))
    if days is None:
        return None
    tz = ZoneInfo(str(values["fuseau"]))
    local = dt.datetime.fromtimestamp(now, tz)
    hour, minute = (int(x) for x in str(values["recap_heure"]).split(":"))
    if days == 1:
        end = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    else:
        back = (local.weekday() - DAYS.index(str(values["recap_jour"]))) % 7
        end = (local - dt.timedelta(days=back)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    if end.timestamp() > now:
        end -= dt.timedelta(days=days)  # wall-clock arithmetic: 18:00 stays 18:00 across DST
    start = end - dt.timedelta(days=days)
    return start.timestamp(), end.timestamp()


class RoundupScheduler:
    """Posts due roundups through the attached platforms; `run_due(now)` is the whole rule (testable)."""

    def __init__(self, core: BotCore, *, interval: float = 30.0, clock: Callable[[], float] = time.time) -> None:
        self.core = core
        self.interval = interval
        self.clock = clock
        self._settings = SettingsRepository(core.app.db)
        self._lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._loop(), name="agora-roundups")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def poke(self) -> None:
        """Look again now (a platform attached, a setting changed)."""
        if self._wake is not None:
            self._wake.set()

    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                await self.run_due(self.clock())
            except Exception:
                log.exception("roundup scheduler failed; trying again later")
                self._count("internal")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def due(self, now: float) -> list[DueRoundup]:
        """Roundups whose period has ended and that were not posted yet."""
        found: list[DueRoundup] = []
        for channel_key, value, _updated in await self._settings.with_key("recap"):
            if value not in PERIODS or ":channel:" not in channel_key:
                continue
            scope = await self._scope(channel_key)
            if scope is None:
                continue
            values = await self.core.settings_for(scope)
            bounds = period_bounds(now, values)
            if bounds is None:
                continue
            start, end = bounds
            changed = await self._last_change(scope)
            if changed is not None and end < changed:
                continue  # the schedule was set (or moved) after this period ended
            last = await self.core.links.last_roundup(channel_key)
            if last is not None and end <= last:
                continue
            found.append(DueRoundup(scope, str(values["recap"]), start, end))
        return found

    async def run_due(self, now: float | None = None) -> list[DueRoundup]:
        """Post every due roundup whose platform is attached; returns those posted."""
        now = self.clock() if now is None else now
        posted: list[DueRoundup] = []
        async with self._lock:  # the loop and a direct call never post the same roundup twice
            for due in await self.due(now):
                deliverer = self.core.jobs.deliverer(due.scope.platform)
                if deliverer is None:
                    continue  # that platform is not connected: next time
                channel_key = due.scope.channel_key
                if await self.core.links.between(channel_key, due.start, due.end):
                    text = await self.core.roundup(due.scope, start=due.start, end=due.end, period=due.period)
                    try:
                        await deliverer.post_roundup(due.scope, text, due.key)
                    except Undeliverable as exc:
                        log.warning("roundup of %s cannot be posted: %s", channel_key, exc)
                        self._count("delivery.undeliverable", due.scope.platform)
                    except Exception as exc:
                        log.warning("roundup of %s not posted (%r); trying again later", channel_key, exc)
                        self._count("delivery.retry", due.scope.platform)
                        continue
                    else:
                        posted.append(due)
                        log.info("posted the %s roundup of %s", due.period, channel_key)
                await self.core.links.mark_roundup(channel_key, due.end)
        return posted

    def _count(self, kind: str, platform: str = "none") -> None:
        """One error for agora_errors_total, when bot.ops set `app.metrics` (`agora run`)."""
        report_error(getattr(self.core.app, "metrics", None), kind, platform)

    async def _scope(self, channel_key: str) -> Scope | None:
        known = await self.core.channels.get(channel_key)
        if known is not None:
            platform, channel, server = known
            return Scope(platform, channel=channel, server=server)
        platform, _, channel = channel_key.partition(":channel:")
        if not channel:
            return None
        # Not remembered (set outside a command): a Matrix room is its own server; elsewhere the
        # server's settings (time zone) are unknown and the channel's own or the defaults apply.
        return Scope(platform, channel=channel, server=None)

    async def _last_change(self, scope: Scope) -> float | None:
        return await self._settings.last_change(tuple(dict.fromkeys(scope.keys())), SCHEDULE_KEYS)
