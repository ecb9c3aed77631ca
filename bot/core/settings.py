"""Per-server / per-room settings: every key declared once, with its type, default and French help.

Moderators change them with `!config <clé> <valeur>` (Matrix) or `/config definir` (Discord); everyone
can read them. The same keys serve both platforms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import CommandError
from bot.storage.repositories import SettingsRepository

_TRUE = {"oui", "on", "true", "vrai", "1", "activé", "active", "actif"}
_FALSE = {"non", "off", "false", "faux", "0", "désactivé", "desactive", "inactif"}
_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("répondez par « oui » ou « non »")


def _parse_choice(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"valeurs possibles : {', '.join(choices)}")
        return value

    return parse


def _parse_int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"un nombre entier entre {lo} et {hi} est attendu") from None
        if not lo <= value <= hi:
            raise ValueError(f"un nombre entier entre {lo} et {hi} est attendu")
        return value

    return parse


def _parse_time(raw: str) -> str:
    m = re.fullmatch(r"\s*(\d{1,2})\s*[:hH]\s*(\d{2})?\s*", raw)
    if not m or int(m.group(1)) > 23 or int(m.group(2) or 0) > 59:
        raise ValueError("une heure au format HH:MM est attendue (par exemple 18:30)")
    return f"{int(m.group(1)):02d}:{int(m.group(2) or 0):02d}"


def _parse_tz(raw: str) -> str:
    value = raw.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("un fuseau horaire comme Europe/Paris est attendu") from None
    return value


def _parse_domains(raw: str) -> list[str]:
    items = [d.strip().lower().rstrip(".") for d in re.split(r"[,\s]+", raw) if d.strip()]
    if items == ["aucun"] or items == ["-"]:
        return []
    bad = [d for d in items if not _DOMAIN.match(d)]
    if bad:
        raise ValueError(
            f"domaine invalide : {bad[0]} (exemple : lemonde.fr, *.gouv.fr ; « aucun » pour vider)"
        )
    return sorted(set(items))


@dataclass(frozen=True, slots=True)
class SettingSpec:
    key: str
    default: Any
    help: str  # French, shown by `!config` and `/config voir`
    parse: Callable[[str], Any]
    choices: tuple[str, ...] = ()  # offered by autocompletion where the platform has it

    def show(self, value: Any) -> str:
        if isinstance(value, bool):
            return "oui" if value else "non"
        if isinstance(value, list):
            return ", ".join(value) if value else "aucun"
        return str(value)


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "longueur",
        "standard",
        "longueur des résumés",
        _parse_choice(("court", "standard", "long")),
        ("court", "standard", "long"),
    ),
    SettingSpec(
        "resume_auto", False, "résumer automatiquement les liens partagés ici", _parse_bool, ("oui", "non")
    ),
    SettingSpec("liens_par_message", 3, "nombre maximal de liens résumés par message", _parse_int(1, 10)),
    SettingSpec(
        "reponse",
        "fil",
        "où répondre : dans un fil ou en réponse au message",
        _parse_choice(("fil", "reponse")),
        ("fil", "reponse"),
    ),
    SettingSpec(
        "recap",
        "non",
        "récapitulatif périodique des liens du salon",
        _parse_choice(("non", "quotidien", "hebdomadaire")),
        ("non", "quotidien", "hebdomadaire"),
    ),
    SettingSpec("recap_heure", "18:00", "heure du récapitulatif (HH:MM)", _parse_time),
    SettingSpec("recap_jour", "lundi", "jour du récapitulatif hebdomadaire", _parse_choice(_DAYS), _DAYS),
    SettingSpec("fuseau", "Europe/Paris", "fuseau horaire des récapitulatifs", _parse_tz),
    SettingSpec("limite_utilisateur", 10, "résumés par heure et par membre", _parse_int(1, 1000)),
    SettingSpec("limite_serveur", 60, "résumés par heure pour ce serveur ou ce salon", _parse_int(1, 10000)),
    SettingSpec("domaines_autorises", [], "si non vide, seuls ces domaines sont résumés", _parse_domains),
    SettingSpec("domaines_bloques", [], "domaines jamais résumés", _parse_domains),
)
SPEC_BY_KEY = {s.key: s for s in SPECS}


def parse_setting(key: str, raw: str) -> Any:
    """Validate a user-typed value; CommandError with a French explanation otherwise."""
    spec = SPEC_BY_KEY.get(key.strip().lower())
    if spec is None:
        raise CommandError(
            f"unknown setting {key!r}",
            user_message=f"Réglage inconnu : « {key} ». Réglages : {', '.join(SPEC_BY_KEY)}.",
        )
    try:
        return spec.parse(raw)
    except ValueError as exc:
        raise CommandError(
            f"bad value for {key}: {raw!r}",
            user_message=f"Valeur invalide pour « {spec.key} » : {exc}.",
        ) from None


class Settings:
    """Reads settings with defaults and inheritance (server, then channel) and writes validated values."""

    def __init__(self, repo: SettingsRepository, defaults: dict[str, Any] | None = None) -> None:
        self._repo = repo
        self._defaults = {s.key: s.default for s in SPECS} | (defaults or {})

    async def effective(self, *scopes: str) -> dict[str, Any]:
        """Defaults overlaid by each scope in turn (the most specific last)."""
        values = dict(self._defaults)
        for scope in scopes:
            stored = await self._repo.get_all(scope)
            values.update({k: v for k, v in stored.items() if k in SPEC_BY_KEY})
        return values

    async def set(self, scope: str, key: str, raw: str, *, by: str | None = None) -> Any:
        """Validate and store one value; returns the parsed value."""
        value = parse_setting(key, raw)
        await self._repo.set(scope, key.strip().lower(), value, by=by)
        return value

    async def reset(self, scope: str, key: str) -> None:
        if key not in SPEC_BY_KEY:
            parse_setting(key, "")  # raises the French "unknown setting" error
        await self._repo.delete(scope, key)

    async def export(self, scope: str) -> dict[str, Any]:
        """Only the values stored for this scope (for backup/import)."""
        return {k: v for k, v in (await self._repo.get_all(scope)).items() if k in SPEC_BY_KEY}

    def describe(self, values: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(key, shown value, French help) for each setting, in declaration order."""
        return [(s.key, s.show(values.get(s.key, s.default)), s.help) for s in SPECS]


def domain_allowed(host: str, values: dict[str, Any]) -> bool:
    """Apply a scope's allow/deny lists to a link's host (suffix match, `*.` optional)."""
    host = host.lower().rstrip(".")

    def matches(pattern: str) -> bool:
        base = pattern.removeprefix("*.")
        return host == base or host.endswith("." + base)

    if any(matches(p) for p in values.get("domaines_bloques", [])):
        return False
    allowed = values.get("domaines_autorises", [])
    return not allowed or any(matches(p) for p in allowed)
