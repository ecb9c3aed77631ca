"""`agora settings export SCOPE` / `agora settings import FILE`: one server's or room's settings as JSON.

Stored values are parsed values (booleans, numbers, lists), so an import turns each back into the
text a moderator would type (`SettingSpec.show`: true -> "oui", ["a.fr", "b.fr"] -> "a.fr, b.fr") and
sends it through the same validation as `!config` (`parse_setting`). A file with one bad value
changes nothing.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, cast

import aiosqlite

from bot.config import Config
from bot.core.settings import SPEC_BY_KEY, Settings, parse_setting
from bot.errors import AgoraError, CommandError
from bot.storage.database import Database
from bot.storage.repositories import SettingsRepository

FORMAT = "agora-settings/1"
#: `discord:server:<guild id>`, `discord:channel:<id>`, `matrix:channel:<room id>`, `console:channel:<name>`.
SCOPE_RE = re.compile(r"^(discord|matrix|console):(server|channel):\S+$")
_LIST_SEPARATORS = re.compile(r"[,\s]")


class SettingsFileError(AgoraError):
    kind = "settings.file"
    default_message = "Le fichier de réglages est invalide."


def check_scope(scope: str) -> str:
    scope = scope.strip()
    if not SCOPE_RE.match(scope):
        raise SettingsFileError(
            f"bad scope {scope!r}",
            user_message=(
                f"Portée invalide : « {scope} » (attendu : discord:server:<id>, discord:channel:<id>, "
                "matrix:channel:<id du salon> ; voir `agora status`)."
            ),
        )
    return scope


def database_path(config: Config) -> Path:
    return config.data_path / "agora.sqlite3"


class ReadOnlyDatabase:
    """Just enough of `Database` for the repositories, on a read-only connection: looking never
    creates the database nor migrates it under a running bot."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None

    @property
    def conn(self) -> aiosqlite.Connection:
        assert self._conn is not None
        return self._conn

    async def __aenter__(self) -> Database:
        self._conn = await aiosqlite.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        self._conn.row_factory = aiosqlite.Row
        return cast(Database, self)

    async def __aexit__(self, *_exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()


async def export_scope(config: Config, scope: str) -> dict[str, Any]:
    """The JSON document for one scope (only what was set there, not the defaults)."""
    scope = check_scope(scope)
    path = database_path(config)
    values: dict[str, Any] = {}
    if await asyncio.to_thread(path.is_file):
        async with ReadOnlyDatabase(path) as db:
            values = await Settings(SettingsRepository(db)).export(scope)
    return {"format": FORMAT, "scope": scope, "settings": dict(sorted(values.items()))}


def raw_value(key: str, value: Any) -> str:
    """The text a moderator would type for a stored value; SettingsFileError for a value no one could."""
    spec = SPEC_BY_KEY.get(key)
    if spec is None:
        parse_setting(key, "")  # the French "unknown setting" error
        raise AssertionError("unreachable")
    if isinstance(value, list) and isinstance(spec.default, list):
        if not all(isinstance(v, str) and v.strip() and not _LIST_SEPARATORS.search(v.strip()) for v in value):
            raise SettingsFileError(f"{key}: list items must be single names", user_message=(
                f"Valeur invalide pour « {key} » : une liste de domaines sans espaces ni virgules est attendue."
            ))  # fmt: skip
        return spec.show([v.strip() for v in value])
    if isinstance(value, bool | int | str) and not isinstance(value, float):
        return spec.show(value)
    raise SettingsFileError(
        f"{key}: unsupported JSON value {value!r}",
        user_message=f"Valeur invalide pour « {key} » : {value!r} (texte, nombre, oui/non ou liste attendus).",
    )


def parse_document(data: Any, scope: str | None = None) -> tuple[str, dict[str, str]]:
    """(scope, {key: text to store}) from an exported document, every value validated; raises
    SettingsFileError listing every problem."""
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
        raise SettingsFileError(
            "no settings object", user_message='Le fichier doit contenir un objet JSON avec "settings".'
        )
    if data.get("format", FORMAT) != FORMAT:
        raise SettingsFileError(
            f"unknown format {data.get('format')!r}",
            user_message=f"Format de fichier inconnu : {data.get('format')!r} (attendu : {FORMAT}).",
        )
    chosen = scope or data.get("scope")
    if not isinstance(chosen, str):
        raise SettingsFileError(
            "no scope", user_message="Aucune portée : indiquez --scope ou « scope » dans le fichier."
        )
    chosen = check_scope(chosen)
    raws: dict[str, str] = {}
    problems: list[str] = []
    for key, value in data["settings"].items():
        name = str(key).strip().lower()
        try:
            raw = raw_value(name, value)
            parse_setting(name, raw)
        except AgoraError as exc:  # CommandError from parse_setting, SettingsFileError from raw_value
            problems.append(exc.user_message)
            continue
        raws[name] = raw
    if problems:
        raise SettingsFileError(f"{len(problems)} invalid setting(s)", user_message="\n".join(problems))
    return chosen, raws


async def import_scope(
    config: Config, scope: str, raws: dict[str, str], *, replace: bool = False, by: str = "agora settings import"
) -> dict[str, Any]:
    """Store validated values for one scope (and, with `replace`, remove the others); returns what is stored."""
    async with Database(database_path(config)) as db:
        settings = Settings(SettingsRepository(db))
        if replace:
            for key in await settings.export(scope):
                if key not in raws:
                    await settings.reset(scope, key)
        for key, raw in raws.items():
            try:
                await settings.set(scope, key, raw, by=by)
            except CommandError as exc:  # pragma: no cover - validated in parse_document already
                raise SettingsFileError(str(exc), user_message=exc.user_message) from exc
        return await settings.export(scope)
