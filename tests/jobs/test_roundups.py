"""Scheduled roundups with a controllable clock: when they are due, once, after downtime, and their text."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot import messages
from bot.core.types import Length, Scope
from bot.errors import HTTPStatusError
from bot.jobs.queue import Undeliverable
from bot.jobs.roundups import period_bounds
from bot.ops.metrics import Metrics
from tests.jobs.conftest import MakeRig, Rig, fake_digest

PARIS = ZoneInfo("Europe/Paris")
CHANNEL = Scope("recording", channel="salon", server="S")
WEEKLY_9 = {"recap": "hebdomadaire", "recap_heure": "09:00"}  # Mondays (the default day) at 09:00
WEEKLY_SUNDAY = {"recap": "hebdomadaire", "recap_jour": "dimanche"}  # at 18:00 (the default time)


def at(text: str, tz: ZoneInfo = PARIS) -> float:
    """"2026-03-12 18:00" in `tz`, as a timestamp."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def values(**kw: str) -> dict[str, str]:
    return {"recap": "quotidien", "recap_heure": "18:00", "recap_jour": "lundi", "fuseau": "Europe/Paris"} | kw


@pytest.mark.parametrize(
    ("now", "settings", "start", "end"),
    [
        ("2026-03-12 17:59", {}, "2026-03-10 18:00", "2026-03-11 18:00"),
        ("2026-03-12 18:00", {}, "2026-03-11 18:00", "2026-03-12 18:00"),
        ("2026-03-12 23:00", {"recap_heure": "08:30"}, "2026-03-11 08:30", "2026-03-12 08:30"),
        # Weekly on Mondays at 09:00; 2026-03-11 is a Wednesday, 2026-03-16 a Monday.
        ("2026-03-11 12:00", WEEKLY_9, "2026-03-02 09:00", "2026-03-09 09:00"),
        ("2026-03-16 08:59", WEEKLY_9, "2026-03-02 09:00", "2026-03-09 09:00"),
        ("2026-03-16 09:00", WEEKLY_9, "2026-03-09 09:00", "2026-03-16 09:00"),
        ("2026-03-15 10:00", WEEKLY_SUNDAY, "2026-03-01 18:00", "2026-03-08 18:00"),
    ],
)
def test_period_bounds(now: str, settings: dict[str, str], start: str, end: str) -> None:
    assert period_bounds(at(now), values(**settings)) == (at(start), at(end))


def test_period_bounds_follow_the_wall_clock_across_dst_and_time_zones() -> None:
    # Paris springs forward on 2026-03-29: that day lasts 23 hours, the roundup stays at 18:00.
    start, end = period_bounds(at("2026-03-29 20:00"), values())  # type: ignore[misc]
    assert (start, end) == (at("2026-03-28 18:00"), at("2026-03-29 18:00"))
    assert end - start == 23 * 3600
    montreal = ZoneInfo("America/Montreal")
    bounds = period_bounds(at("2026-07-01 07:00", montreal), values(fuseau="America/Montreal", recap_heure="06:00"))
    assert bounds == (at("2026-06-30 06:00", montreal), at("2026-07-01 06:00", montreal))
    assert period_bounds(at("2026-07-01 07:00"), values(recap="non")) is None


async def schedule(r: Rig, *, set_at: str, **settings: str) -> None:
    """A moderator turns the roundup on at `set_at` (the settings' clock is moved there)."""
    await r.core.config_set(CHANNEL, "recap", settings.pop("recap", "quotidien"), is_moderator=True, by="mod")
    for key, value in settings.items():
        await r.core.config_set(CHANNEL, key, value, is_moderator=True, by="mod")
    await r.app.db.conn.execute("UPDATE settings SET updated_at = ?", (at(set_at),))
    await r.app.db.conn.commit()


async def share(r: Rig, url: str, when: str, *, error: str | None = None) -> None:
    key = None
    if error is None:
        key = r.app.cache_key(url, Length.COURT)
        await r.app.cache.put(key, fake_digest(url))
    await r.core.links.add(
        CHANNEL.channel_key, url, cache_key=key.value if key else None, error=error, by="alice", shared_at=at(when)
    )


def roundups(r: Rig) -> list[str]:
    return [p["text"] for p in r.platform.posts if p["kind"] == "roundup"]


async def test_daily_roundup_is_posted_once_and_never_for_a_period_before_it_was_set(rig: MakeRig) -> None:
    r = await rig()
    await schedule(r, set_at="2026-03-01 10:00")
    await share(r, "https://ex.fr/matin", "2026-03-01 09:00")
    await share(r, "https://ex.fr/midi", "2026-03-01 12:00")
    # Yesterday's period ended before the roundup was turned on: not due.
    assert await r.core.roundups.run_due(at("2026-03-01 17:59")) == []
    posted = await r.core.roundups.run_due(at("2026-03-01 18:00"))
    assert [(d.start, d.end) for d in posted] == [(at("2026-02-28 18:00"), at("2026-03-01 18:00"))]
    [text] = roundups(r)
    assert text.startswith(messages.ROUNDUP_TITLE.format(period="du 28/02/2026 18:00 au 01/03/2026 18:00"))
    assert text.index("https://ex.fr/matin") < text.index("https://ex.fr/midi")  # in the order shared
    # Again, later the same evening, and after a restart: nothing more.
    assert await r.core.roundups.run_due(at("2026-03-01 18:00")) == []
    assert await r.core.roundups.run_due(at("2026-03-01 23:00")) == []
    r2 = await r.restart()
    assert await r2.core.roundups.run_due(at("2026-03-02 09:00")) == []
    assert len(roundups(r2)) == 1


async def test_after_downtime_only_the_latest_missed_roundup_is_posted(rig: MakeRig) -> None:
    r = await rig()
    await schedule(r, set_at="2026-03-01 10:00")
    await share(r, "https://ex.fr/lundi", "2026-03-02 12:00")
    await share(r, "https://ex.fr/mardi", "2026-03-03 12:00")
    await share(r, "https://ex.fr/mercredi", "2026-03-04 12:00")
    # The bot was down from the 1st to the 5th in the morning: three roundups missed.
    r2 = await r.restart()
    posted = await r2.core.roundups.run_due(at("2026-03-05 09:00"))
    assert [d.end for d in posted] == [at("2026-03-04 18:00")]
    [text] = roundups(r2)
    assert "https://ex.fr/mercredi" in text and "https://ex.fr/mardi" not in text
    assert await r2.core.roundups.run_due(at("2026-03-05 12:00")) == []
    # The next one comes at its time.
    await share(r2, "https://ex.fr/jeudi", "2026-03-05 10:00")
    assert [d.end for d in await r2.core.roundups.run_due(at("2026-03-05 18:00"))] == [at("2026-03-05 18:00")]


async def test_weekly_roundup_empty_periods_and_an_absent_platform(rig: MakeRig) -> None:
    r = await rig(attach=False)
    await schedule(r, set_at="2026-03-01 10:00", recap="hebdomadaire", recap_jour="lundi", recap_heure="09:00")
    # Nothing shared in the first week: marked, not posted.
    await r.core.attach(r.platform)
    assert await r.core.roundups.run_due(at("2026-03-02 09:05")) == []
    assert await r.core.roundups.due(at("2026-03-02 09:06")) == []
    await share(r, "https://ex.fr/semaine", "2026-03-05 12:00")
    # The platform is away at Monday 09:00: the roundup waits for it (not marked).
    await r.core.detach(r.platform.platform)
    assert await r.core.roundups.run_due(at("2026-03-09 09:00")) == []
    await r.core.attach(r.platform)
    posted = await r.core.roundups.run_due(at("2026-03-09 10:00"))
    expected = [("hebdomadaire", at("2026-03-02 09:00"), at("2026-03-09 09:00"))]
    assert [(d.period, d.start, d.end) for d in posted] == expected
    assert len(roundups(r)) == 1 and "https://ex.fr/semaine" in roundups(r)[0]


async def test_changing_the_time_never_posts_an_overlapping_roundup_at_once(rig: MakeRig) -> None:
    r = await rig()
    await schedule(r, set_at="2026-03-01 10:00")
    await share(r, "https://ex.fr/a", "2026-03-01 12:00")
    assert len(await r.core.roundups.run_due(at("2026-03-01 18:00"))) == 1
    await r.core.config_set(CHANNEL, "recap_heure", "09:00", is_moderator=True, by="mod")
    moved = at("2026-03-02 10:00")
    await r.app.db.conn.execute("UPDATE settings SET updated_at = ? WHERE key = 'recap_heure'", (moved,))
    await r.app.db.conn.commit()
    await share(r, "https://ex.fr/b", "2026-03-02 12:00")
    assert await r.core.roundups.run_due(at("2026-03-02 12:00")) == []  # 09:00 today was before the change
    assert [d.end for d in await r.core.roundups.run_due(at("2026-03-03 09:00"))] == [at("2026-03-03 09:00")]


async def test_roundup_text_lists_digests_failures_themes_and_links_to_the_answers(rig: MakeRig) -> None:
    r = await rig()
    assert r.pipeline is not None
    r.pipeline.failures["https://ex.fr/404"] = [HTTPStatusError(404)]
    first = await r.core.submit(CHANNEL, "alice", "https://ex.fr/un", Length.COURT)
    second = await r.core.submit(CHANNEL, "bob", "https://ex.fr/deux", Length.COURT, after=first.id)
    failed = await r.core.submit(CHANNEL, "carol", "https://ex.fr/404", Length.COURT, after=second.id)
    again = await r.core.submit(CHANNEL, "dave", "https://ex.fr/un", Length.COURT, after=failed.id)
    for job in (first, second, failed, again):
        await r.core.jobs.wait_delivered(job.id)
    text = await r.core.roundup(CHANNEL, start=0, end=4e9)
    entries = text.split("\n\n")
    assert entries[0].startswith("📚 Récapitulatif des liens partagés — du ")
    assert entries[1].startswith("Une nouvelle à propos de https://ex.fr/un")
    assert "↳ https://ex.fr/un — Site de test" in entries[1]
    assert messages.ROUNDUP_FULL_DIGEST.format(link=f"recording://recording/{first.id}") in entries[1]
    assert entries[2].startswith("Une nouvelle à propos de https://ex.fr/deux")
    reason = "Le site a répondu par une erreur (HTTP 404)."
    assert entries[3] == messages.ROUNDUP_FAILED_ENTRY.format(url="https://ex.fr/404", reason=reason)
    debates = "3 lien(s) partagé(s), 2 résumé(s). Thèmes qui reviennent : #test (2)."
    assert entries[4] == f"**{messages.ROUNDUP_DEBATES}**\n{debates}"
    assert len(entries) == 5  # the link shared twice is listed once


async def test_roundups_that_cannot_be_posted_are_counted(rig: MakeRig) -> None:
    r = await rig()
    metrics = r.app.metrics = Metrics()
    await schedule(r, set_at="2026-03-01 10:00")
    await share(r, "https://ex.fr/matin", "2026-03-01 09:00")
    errors: list[BaseException] = [ConnectionError("down"), Undeliverable("channel deleted")]

    async def post_roundup(scope: Scope, text: str, key: str) -> None:
        raise errors.pop(0)

    r.platform.post_roundup = post_roundup  # type: ignore[method-assign]
    assert await r.core.roundups.run_due(at("2026-03-01 18:00")) == []  # tried again later
    assert await r.core.roundups.run_due(at("2026-03-01 18:05")) == []  # given up
    assert await r.core.roundups.run_due(at("2026-03-01 18:10")) == []  # and not tried again

    def counted(kind: str) -> float | None:
        return metrics.registry.get_sample_value("agora_errors_total", {"kind": kind, "platform": "recording"})

    assert counted("delivery.retry") == 1 and counted("delivery.undeliverable") == 1
