"""BotCore: the business rules every platform shares (commands, permissions, limits, auto-digests).

Platform adapters convert their events to these calls and draw the answers natively; nothing here
knows about Discord or Matrix.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import re
import shlex
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot import messages
from bot.app import Agora, DigestOutcome, ProgressFn
from bot.core.settings import SPEC_BY_KEY, domain_allowed
from bot.core.types import Length, Part, Scope
from bot.errors import AgoraError, CommandError, DomainNotAllowed, InvalidURL, PermissionDenied, RateLimited
from bot.jobs.queue import Deliverer, JobQueue
from bot.jobs.roundups import RoundupScheduler
from bot.jobs.store import Job, JobSpec
from bot.pipeline.render import neutralize_mentions
from bot.pipeline.urls import find_urls
from bot.storage.repositories import Channels, SharedLinks, get_by_key

log = logging.getLogger(__name__)

__all__ = ["CHANNEL_KEYS", "BotCore", "Command", "RateLimiter", "Scope", "parse_command", "parse_length"]


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # "resume", "aide", "config", "roundup"
    args: tuple[str, ...]


COMMANDS = {
    "resume": "resume",
    "résume": "resume",
    "resumer": "resume",
    "résumer": "resume",
    "aide": "aide",
    "help": "aide",
    "config": "config",
    "roundup": "roundup",
    "recap": "roundup",
}


def parse_command(text: str, prefix: str) -> Command | None:
    """`!resume <url> court` -> Command; None when the text is not a command; CommandError when bad."""
    stripped = text.strip()
    if not prefix or not stripped.startswith(prefix):
        return None
    body = stripped[len(prefix) :]
    if not body or body[0].isspace():
        return None
    try:
        words = shlex.split(body)
    except ValueError:
        words = body.split()
    name = COMMANDS.get(words[0].lower())
    if name is None:
        raise CommandError(
            f"unknown command {words[0]!r}",
            user_message=f"Commande inconnue : « {neutralize_mentions(words[0][:40])} ». {messages.usage(prefix)}",
        )
    args = tuple(words[1:])
    if name == "resume":
        found = find_urls(args[0], limit=1) if args else []
        if not found or len(args) > 2:
            raise CommandError("resume needs a link", user_message=messages.usage(prefix))
        if len(args) == 2:
            parse_length(args[1], prefix)
        args = (found[0], *args[1:])  # the link itself, not the words around it ("voir https://…")
    if name == "config" and len(args) == 1:
        raise CommandError("config needs a value", user_message=messages.usage(prefix))
    return Command(name, args)


def parse_length(raw: str, prefix: str = "!") -> Length:
    try:
        return Length.parse(raw)
    except ValueError:
        raise CommandError(
            f"bad length {raw!r}",
            user_message=(
                f"Longueur inconnue : « {neutralize_mentions(raw[:20])} » (court, standard ou long). "
                f"{messages.usage(prefix)}"
            ),
        ) from None


class RateLimiter:
    """Sliding one-hour windows per user and per server."""

    WINDOW = 3600.0

    def __init__(self) -> None:
        self._hits: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)

    def check(self, key: str, limit: int, now: float | None = None) -> bool:
        """Count one hit for `key`; False (and not counted) when `limit` hits are already in the window."""
        now = time.monotonic() if now is None else now
        hits = self._hits[key]
        while hits and hits[0] <= now - self.WINDOW:
            hits.popleft()
        if len(hits) >= limit:
            return False
        hits.append(now)
        return True

    def undo(self, key: str) -> None:
        if self._hits.get(key):
            self._hits[key].pop()


class BotCore:
    """What a command or a shared link turns into, whatever the platform.

    Digests requested on a platform go through the job queue (`submit`): persistent, fair across
    communities, bounded, and answered exactly once even across crashes. Platforms `attach` a
    deliverer when they can post; the queue and the roundup scheduler run while one is attached.
    """

    def __init__(self, app: Agora, *, concurrency: int | None = None) -> None:
        self.app = app
        self.links = SharedLinks(app.db)
        self.channels = Channels(app.db)
        self.limits = RateLimiter()
        self.jobs = JobQueue(
            app,
            self.links,
            concurrency=concurrency or app.config.model.max_batch_size,
            limit=app.config.model.queue_size,
        )
        self.roundups = RoundupScheduler(self)

    async def attach(self, deliverer: Deliverer) -> None:
        """A platform can post: start (or feed) the job queue and the roundup scheduler."""
        await self.jobs.attach(deliverer)
        self.roundups.start()
        self.roundups.poke()

    async def detach(self, platform: str) -> None:
        """A platform stops posting; with the last one, the queue and the scheduler stop."""
        await self.jobs.detach(platform)
        if not self.jobs.platforms:
            await self.roundups.stop()

    async def settings_for(self, scope: Scope) -> dict[str, Any]:
        return await self.app.settings.effective(*scope.keys())

    async def _admit(
        self, scope: Scope, user: str, url: str, length: Length, values: dict[str, Any], *, queue: bool
    ) -> None:
        """Domain lists, then (for real work only) the queue bound and the rate limits; French errors."""
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:  # "http://[x": never reaches the fetcher's own checks
            raise InvalidURL(url[:200]) from None
        if not domain_allowed(host, values):
            raise DomainNotAllowed(host)
        if await self.app.cache.get(self.app.cache_key(url, length)) is not None:
            return  # a cached answer costs nothing: only real work counts against limits
        if queue:
            await self.jobs.check_room()
        user_key = f"user:{scope.platform}:{user}"
        if not self.limits.check(user_key, int(values["limite_utilisateur"])):
            raise RateLimited(user)
        if not self.limits.check(f"server:{scope.server_key}", int(values["limite_serveur"])):
            self.limits.undo(user_key)
            raise RateLimited(
                scope.server_key,
                user_message=messages.RATE_LIMIT_SERVER if scope.server else messages.RATE_LIMIT_ROOM,
            )

    async def submit(
        self,
        scope: Scope,
        user: str,
        url: str,
        length: Length | None = None,
        *,
        target: dict[str, Any] | None = None,
        request_key: str | None = None,
        after: int | None = None,
    ) -> Job:
        """A member asked for a digest: a job, durable when this returns, answered on its own.

        A refused request (domain list, rate limit, full queue) is a job too, failed at once with the
        French reason, so it is answered through the same path, in order with the message's other
        links. The same `request_key` again (a replayed event) gives back the same job.
        """
        if request_key is not None:
            known = await self.jobs.find(request_key)
            if known is not None:
                return known
        values = await self.settings_for(scope)
        chosen = length or Length(values["longueur"])
        spec = JobSpec(scope, user, url, chosen, target or {}, request_key, after)
        try:
            await self._admit(scope, user, url, chosen, values, queue=True)
        except AgoraError as exc:
            log.info("request for %s in %s refused: %s", url, scope.channel_key, exc.kind)
            return await self.jobs.refuse(spec, exc.user_message, exc.kind)
        return await self.jobs.submit(spec)

    async def digest(
        self,
        scope: Scope,
        user: str,
        url: str,
        length: Length | None = None,
        *,
        progress: ProgressFn | None = None,
    ) -> DigestOutcome:
        """A digest right now, outside the job queue (the console): same rules, recorded for roundups."""
        values = await self.settings_for(scope)
        chosen = length or Length(values["longueur"])
        await self._admit(scope, user, url, chosen, values, queue=False)
        try:
            outcome = await self.app.digest_url(url, chosen, progress=progress)
        except AgoraError as exc:
            await self.links.add(scope.channel_key, url, cache_key=None, error=exc.user_message, by=user)
            raise
        await self.links.add(
            scope.channel_key, url, cache_key=self.app.cache_key(url, chosen).value, error=None, by=user
        )
        return outcome

    async def auto_links(self, scope: Scope, text: str) -> list[str]:
        """Links of a message to digest automatically (empty unless moderators turned it on here)."""
        values = await self.settings_for(scope)
        if not values["resume_auto"]:
            return []
        urls = find_urls(text, limit=int(values["liens_par_message"]))
        return [u for u in urls if domain_allowed((urlsplit(u).hostname or "").lower(), values)]

    async def config_view(self, scope: Scope) -> str:
        values = await self.settings_for(scope)
        lines = [messages.CONFIG_HEADER]
        lines += [f"• {key} = {shown} — {help_}" for key, shown, help_ in self.app.settings.describe(values)]
        return "\n".join(lines)

    async def config_set(self, scope: Scope, key: str, raw: str, *, is_moderator: bool, by: str) -> str:
        """Change a setting (moderators only). Channel-level keys go to the channel, the rest server-wide."""
        if not is_moderator:
            raise PermissionDenied(f"{by} is not a moderator")
        key = key.strip().lower()
        target = scope.channel_key if key in CHANNEL_KEYS else scope.server_key
        # The roundup scheduler finds channels by their settings; it needs the server too (time zone).
        await self.channels.remember(scope.channel_key, scope.platform, scope.channel, scope.server)
        if raw.strip().lower() in {"defaut", "défaut", "reset"} and key in SPEC_BY_KEY:
            await self.app.settings.reset(target, key)
            self.roundups.poke()
            return messages.CONFIG_RESET.format(key=key)
        value = await self.app.settings.set(target, key, raw, by=by)
        self.roundups.poke()
        return messages.CONFIG_CHANGED.format(key=key, value=SPEC_BY_KEY[key].show(value))

    async def roundup(
        self,
        scope: Scope,
        *,
        now: float | None = None,
        period: str | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> str:
        """The roundup of the links shared in this channel over a period (DIGEST_FORMAT.md, Roundups).

        Without `start`/`end`: the day (or week, as the channel's `recap` says) up to `now`.
        """
        values = await self.settings_for(scope)
        tz = ZoneInfo(values["fuseau"])
        if end is None:
            end = time.time() if now is None else now
        if start is None:
            period = period or ("hebdomadaire" if values["recap"] == "hebdomadaire" else "quotidien")
            local_end = dt.datetime.fromtimestamp(end, tz)
            start = (local_end - dt.timedelta(days=7 if period == "hebdomadaire" else 1)).timestamp()
        label = _period_label(start, end, tz)
        links = await self.links.between(scope.channel_key, start, end)
        if not links:
            return f"{messages.ROUNDUP_TITLE.format(period=label)}\n\n{messages.ROUNDUP_EMPTY.format(period=label)}"
        entries: list[str] = []
        tags: Counter[str] = Counter()
        seen: set[str] = set()
        digested = 0
        for link in links:
            if link.url in seen:
                continue
            seen.add(link.url)
            digest = await get_by_key(self.app.db, link.cache_key) if link.cache_key else None
            if digest is None:
                entries.append(
                    messages.ROUNDUP_FAILED_ENTRY.format(url=link.url, reason=link.error or "inconnu")
                )
                continue
            digested += 1
            hook = digest.parts[Part.ACCROCHE]
            tags.update({t.lower() for t in re.findall(r"#\w+", hook)})
            lines = [hook, f"↳ {digest.parts[Part.REFERENCE]}"]
            answer = await self._answer_link(link.job_id)
            if answer:
                lines.append(messages.ROUNDUP_FULL_DIGEST.format(link=answer))
            entries.append("\n".join(lines))
        text = "\n\n".join(
            [
                messages.ROUNDUP_TITLE.format(period=label),
                *entries,
                f"**{messages.ROUNDUP_DEBATES}**\n{_debates(len(seen), digested, tags)}",
            ]
        )
        return neutralize_mentions(text)

    async def _answer_link(self, job_id: int | None) -> str | None:
        return await self.jobs.store.answer_link(job_id) if job_id is not None else None


#: Settings that belong to a channel rather than to the whole server.
CHANNEL_KEYS = frozenset({"resume_auto", "recap", "recap_heure", "recap_jour", "reponse"})


def _debates(links: int, digested: int, tags: Counter[str]) -> str:
    """The "Les débats de la période" paragraph: how much was shared, and the themes that came back."""
    count = messages.ROUNDUP_COUNT.format(links=links, digests=digested)
    recurring = [f"{t} ({n})" for t, n in tags.most_common(5) if n >= 2]
    if recurring:
        return f"{count} {messages.ROUNDUP_RECURRING.format(themes=', '.join(recurring))}"
    if tags:
        return f"{count} {messages.ROUNDUP_TOPICS.format(themes=', '.join(t for t, _ in tags.most_common(5)))}"
    return f"{count} {messages.ROUNDUP_NO_THEME}"


def _period_label(start: float, end: float, tz: ZoneInfo) -> str:
    a = dt.datetime.fromtimestamp(start, tz)
    b = dt.datetime.fromtimestamp(end, tz)
    return f"du {a:%d/%m/%Y %H:%M} au {b:%d/%m/%Y %H:%M}"
