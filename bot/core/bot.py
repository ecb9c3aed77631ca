"""BotCore: the business rules every platform shares (commands, permissions, limits, auto-digests).

Platform adapters convert their events to these calls and draw the answers natively; nothing here
knows about Discord or Matrix.
"""

from __future__ import annotations

import collections
import datetime as dt
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
from bot.core.types import Length, Part
from bot.errors import AgoraError, CommandError, DomainNotAllowed, PermissionDenied, RateLimited
from bot.pipeline.render import neutralize_mentions
from bot.pipeline.urls import find_urls
from bot.storage.repositories import SharedLinks, get_by_key


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a message was posted: a platform, a server (Discord guild; None on Matrix) and a channel."""

    platform: str  # "discord", "matrix", "console"
    channel: str
    server: str | None = None

    @property
    def server_key(self) -> str:
        """Scope for server-wide settings and limits (the room itself on Matrix)."""
        if self.server is None:
            return self.channel_key
        return f"{self.platform}:server:{self.server}"

    @property
    def channel_key(self) -> str:
        return f"{self.platform}:channel:{self.channel}"

    def keys(self) -> tuple[str, ...]:
        """Settings scopes from the widest to the most specific."""
        if self.server is None:
            return (self.channel_key,)
        return (self.server_key, self.channel_key)


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
        if not args or len(args) > 2 or not find_urls(args[0]):
            raise CommandError("resume needs a link", user_message=messages.usage(prefix))
        if len(args) == 2:
            parse_length(args[1], prefix)
    if name == "config" and len(args) == 1:
        raise CommandError("config needs a value", user_message=messages.usage(prefix))
    return Command(name, args)


def parse_length(raw: str, prefix: str = "!") -> Length:
    try:
        return Length.parse(raw)
    except ValueError:
        raise CommandError(
            f"bad length {raw!r}",
            user_message=f"Longueur inconnue : « {raw[:20]} » (court, standard ou long). {messages.usage(prefix)}",
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
    """What a command or a shared link turns into, whatever the platform."""

    def __init__(self, app: Agora) -> None:
        self.app = app
        self.links = SharedLinks(app.db)
        self.limits = RateLimiter()

    async def settings_for(self, scope: Scope) -> dict[str, Any]:
        return await self.app.settings.effective(*scope.keys())

    async def digest(
        self,
        scope: Scope,
        user: str,
        url: str,
        length: Length | None = None,
        *,
        progress: ProgressFn | None = None,
    ) -> DigestOutcome:
        """A member asked for a digest: domain lists, rate limits, then the pipeline; recorded for roundups."""
        values = await self.settings_for(scope)
        host = (urlsplit(url).hostname or "").lower()
        if not domain_allowed(host, values):
            raise DomainNotAllowed(host)
        chosen = length or Length(values["longueur"])
        cached = await self.app.cache.get(self.app.cache_key(url, chosen))
        if cached is None:  # a cached answer costs nothing: only real work counts against limits
            user_key = f"user:{scope.platform}:{user}"
            if not self.limits.check(user_key, int(values["limite_utilisateur"])):
                raise RateLimited(user)
            if not self.limits.check(f"server:{scope.server_key}", int(values["limite_serveur"])):
                self.limits.undo(user_key)
                raise RateLimited(
                    scope.server_key,
                    user_message="Ce salon a atteint sa limite de résumés pour l'heure : réessayez plus tard.",
                )
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
        if raw.strip().lower() in {"defaut", "défaut", "reset"} and key in SPEC_BY_KEY:
            await self.app.settings.reset(target, key)
            return messages.CONFIG_RESET.format(key=key)
        value = await self.app.settings.set(target, key, raw, by=by)
        return messages.CONFIG_CHANGED.format(key=key, value=SPEC_BY_KEY[key].show(value))

    async def roundup(self, scope: Scope, *, now: float | None = None, period: str | None = None) -> str:
        """The roundup of the links shared in this channel over its period (DIGEST_FORMAT.md)."""
        values = await self.settings_for(scope)
        period = period or ("hebdomadaire" if values["recap"] == "hebdomadaire" else "quotidien")
        end = time.time() if now is None else now
        start = end - (7 * 86400 if period == "hebdomadaire" else 86400)
        tz = ZoneInfo(values["fuseau"])
        label = _period_label(start, end, tz)
        links = await self.links.between(scope.channel_key, start, end)
        if not links:
            return f"{messages.ROUNDUP_TITLE.format(period=label)}\n\n{messages.ROUNDUP_EMPTY.format(period=label)}"
        entries: list[str] = []
        tags: Counter[str] = Counter()
        seen: set[str] = set()
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
            hook = digest.parts[Part.ACCROCHE]
            tags.update(t.lower() for t in re.findall(r"#\w+", hook))
            entries.append(f"{hook}\n↳ {digest.parts[Part.REFERENCE]}")
        themes = [t for t, _ in tags.most_common(5)]
        debates = (
            f"Thèmes qui reviennent : {', '.join(themes)}."
            if themes
            else "Pas de thème récurrent cette fois."
        )
        text = "\n\n".join(
            [
                messages.ROUNDUP_TITLE.format(period=label),
                *entries,
                f"**{messages.ROUNDUP_DEBATES}**\n{debates}",
            ]
        )
        return neutralize_mentions(text)


#: Settings that belong to a channel rather than to the whole server.
CHANNEL_KEYS = frozenset({"resume_auto", "recap", "recap_heure", "recap_jour", "reponse"})


def _period_label(start: float, end: float, tz: ZoneInfo) -> str:
    a = dt.datetime.fromtimestamp(start, tz)
    b = dt.datetime.fromtimestamp(end, tz)
    return f"du {a:%d/%m/%Y %H:%M} au {b:%d/%m/%Y %H:%M}"
