from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.core.settings import Settings, domain_allowed, parse_setting
from bot.core.types import Digest, Length, Part
from bot.errors import CommandError
from bot.storage.database import Database, migrations
from bot.storage.repositories import CacheKey, DigestCache, SettingsRepository


def _digest(url: str = "https://ex.fr/a") -> Digest:
    return Digest(url, url, "Titre", Length.COURT, {p: f"texte {p.name}" for p in Part}, model="m")


async def test_migrations_apply_once_and_set_user_version(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    async with Database(path) as db:
        assert await db.migrate() == len(migrations())
    # Reopening applies nothing new and keeps the data.
    async with Database(path) as db:
        assert await db.migrate() == len(migrations())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations())
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"digests", "settings"} <= tables


async def test_digest_cache_round_trip_survives_reopen(tmp_path: Path) -> None:
    key = CacheKey("https://ex.fr/a", "embedded", "v1", "court")
    async with Database(tmp_path / "c.sqlite3") as db:
        cache = DigestCache(db)
        assert await cache.get(key) is None
        await cache.put(key, _digest())
    async with Database(tmp_path / "c.sqlite3") as db:
        got = await DigestCache(db).get(key)
        assert got == _digest()
        # Another length, model or prompt version is another entry.
        assert await DigestCache(db).get(CacheKey("https://ex.fr/a", "embedded", "v2", "court")) is None


async def test_settings_defaults_inheritance_and_validation(tmp_path: Path) -> None:
    async with Database(tmp_path / "s.sqlite3") as db:
        settings = Settings(SettingsRepository(db), {"longueur": "long"})
        values = await settings.effective("discord:guild:1")
        assert values["longueur"] == "long" and values["resume_auto"] is False
        await settings.set("discord:guild:1", "longueur", "court", by="mod")
        await settings.set("discord:channel:9", "resume_auto", "oui")
        eff = await settings.effective("discord:guild:1", "discord:channel:9")
        assert eff["longueur"] == "court" and eff["resume_auto"] is True
        assert (await settings.effective("discord:guild:2"))["longueur"] == "long"
        with pytest.raises(CommandError) as info:
            await settings.set("discord:guild:1", "longueur", "énorme")
        assert "court" in info.value.user_message
        with pytest.raises(CommandError, match="unknown"):
            await settings.set("discord:guild:1", "inconnu", "1")
        assert await settings.export("discord:guild:1") == {"longueur": "court"}
        await settings.reset("discord:guild:1", "longueur")
        assert await settings.export("discord:guild:1") == {}


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("recap_heure", "8h", "08:00"),
        ("recap_heure", "18:30", "18:30"),
        ("liens_par_message", " 5 ", 5),
        ("resume_auto", "Non", False),
        ("fuseau", "America/Montreal", "America/Montreal"),
        ("domaines_bloques", "Exemple.fr, *.gouv.fr", ["*.gouv.fr", "exemple.fr"]),
        ("domaines_autorises", "aucun", []),
    ],
)
def test_parse_setting_values(key: str, raw: str, expected: object) -> None:
    assert parse_setting(key, raw) == expected


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("recap_heure", "25:00"),
        ("liens_par_message", "0"),
        ("fuseau", "Mars/Olympus"),
        ("domaines_bloques", "http://x"),
        ("resume_auto", "peut-être"),
    ],
)
def test_parse_setting_rejects(key: str, raw: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_setting(key, raw)
    assert key in info.value.user_message


def test_domain_lists() -> None:
    values = {"domaines_bloques": ["spam.fr"], "domaines_autorises": []}
    assert domain_allowed("www.spam.fr", values) is False
    assert domain_allowed("notspam.fr", values) is True
    values = {"domaines_bloques": [], "domaines_autorises": ["*.gouv.fr", "lemonde.fr"]}
    assert domain_allowed("www.interieur.gouv.fr", values)
    assert domain_allowed("lemonde.fr", values)
    assert not domain_allowed("lemonde.fr.evil.com", values)
