"""All SQL lives here: one repository class per table group."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from bot.core.types import Digest
from bot.storage.database import Database


@dataclass(frozen=True, slots=True)
class CacheKey:
    canonical_url: str
    model: str
    prompt_version: str
    length: str

    @property
    def value(self) -> str:
        return "\x1f".join((self.canonical_url, self.model, self.prompt_version, self.length))


class DigestCache:
    """Finished digests by canonical URL + model + pipeline revision (column prompt_version) + length."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: CacheKey) -> Digest | None:
        async with self._db.conn.execute(
            "SELECT payload FROM digests WHERE cache_key = ?", (key.value,)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else Digest.from_dict(json.loads(row["payload"]))

    async def put(self, key: CacheKey, digest: Digest) -> None:
        await self._db.conn.execute(
            "INSERT OR REPLACE INTO digests"
            " (cache_key, canonical_url, model, prompt_version, length, payload, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key.value,
                key.canonical_url,
                key.model,
                key.prompt_version,
                key.length,
                json.dumps(digest.to_dict(), ensure_ascii=False),
                time.time(),
            ),
        )
        await self._db.conn.commit()

    async def count(self) -> int:
        async with self._db.conn.execute("SELECT COUNT(*) FROM digests") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0


class SettingsRepository:
    """Raw per-scope settings as JSON values; validation lives in `bot.core.settings`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_all(self, scope: str) -> dict[str, Any]:
        async with self._db.conn.execute("SELECT key, value FROM settings WHERE scope = ?", (scope,)) as cur:
            rows = await cur.fetchall()
        return {row["key"]: json.loads(row["value"]) for row in rows}

    async def set(self, scope: str, key: str, value: Any, *, by: str | None = None) -> None:
        await self._db.conn.execute(
            "INSERT INTO settings (scope, key, value, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            (scope, key, json.dumps(value, ensure_ascii=False), time.time(), by),
        )
        await self._db.conn.commit()

    async def delete(self, scope: str, key: str) -> None:
        await self._db.conn.execute("DELETE FROM settings WHERE scope = ? AND key = ?", (scope, key))
        await self._db.conn.commit()

    async def with_key(self, key: str) -> list[tuple[str, Any, float]]:
        """(scope, value, updated_at) of every scope that stores `key`."""
        async with self._db.conn.execute(
            "SELECT scope, value, updated_at FROM settings WHERE key = ? ORDER BY scope", (key,)
        ) as cur:
            rows = await cur.fetchall()
        return [(row["scope"], json.loads(row["value"]), float(row["updated_at"])) for row in rows]

    async def last_change(self, scopes: tuple[str, ...], keys: tuple[str, ...]) -> float | None:
        """When any of `keys` was last set in any of `scopes` (None if never)."""
        if not scopes or not keys:
            return None
        sql = (
            f"SELECT MAX(updated_at) FROM settings WHERE scope IN ({', '.join('?' * len(scopes))})"
            f" AND key IN ({', '.join('?' * len(keys))})"
        )
        async with self._db.conn.execute(sql, (*scopes, *keys)) as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def scopes(self, prefix: str = "") -> list[str]:
        async with self._db.conn.execute(
            "SELECT DISTINCT scope FROM settings WHERE scope LIKE ? ESCAPE '\\' ORDER BY scope",
            (prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
        ) as cur:
            rows = await cur.fetchall()
        return [row["scope"] for row in rows]


@dataclass(frozen=True, slots=True)
class SharedLink:
    url: str
    cache_key: str | None
    error: str | None
    shared_by: str | None
    shared_at: float
    job_id: int | None = None


class SharedLinks:
    """What was shared where, for roundups."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        scope: str,
        url: str,
        *,
        cache_key: str | None,
        error: str | None,
        by: str | None,
        job_id: int | None = None,
        shared_at: float | None = None,
    ) -> None:
        """Record a shared link; a job's link is recorded once however often the job ran."""
        await self._db.conn.execute(
            "INSERT OR IGNORE INTO shared_links (scope, url, cache_key, error, shared_by, shared_at, job_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (scope, url, cache_key, error, by, time.time() if shared_at is None else shared_at, job_id),
        )
        await self._db.conn.commit()

    async def between(self, scope: str, start: float, end: float) -> list[SharedLink]:
        async with self._db.conn.execute(
            "SELECT url, cache_key, error, shared_by, shared_at, job_id FROM shared_links"
            " WHERE scope = ? AND shared_at >= ? AND shared_at < ? ORDER BY shared_at, id",
            (scope, start, end),
        ) as cur:
            rows = await cur.fetchall()
        return [SharedLink(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    async def mark_roundup(self, scope: str, period_end: float) -> bool:
        """Record a roundup as posted; False if it already was (so it is never posted twice)."""
        cur = await self._db.conn.execute(
            "INSERT OR IGNORE INTO roundups (scope, period_end, posted_at) VALUES (?, ?, ?)",
            (scope, period_end, time.time()),
        )
        await self._db.conn.commit()
        return cur.rowcount == 1

    async def last_roundup(self, scope: str) -> float | None:
        """End of the latest period whose roundup was posted here, if any."""
        async with self._db.conn.execute("SELECT MAX(period_end) FROM roundups WHERE scope = ?", (scope,)) as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])


class Channels:
    """Channels the bot was configured in, with their server (migration 004)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def remember(self, channel_key: str, platform: str, channel: str, server: str | None) -> None:
        await self._db.conn.execute(
            "INSERT INTO channels (channel_key, platform, channel, server, seen_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (channel_key) DO UPDATE SET server = excluded.server, seen_at = excluded.seen_at",
            (channel_key, platform, channel, server, time.time()),
        )
        await self._db.conn.commit()

    async def get(self, channel_key: str) -> tuple[str, str, str | None] | None:
        """(platform, channel, server) of a channel key, if it was remembered."""
        async with self._db.conn.execute(
            "SELECT platform, channel, server FROM channels WHERE channel_key = ?", (channel_key,)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else (str(row[0]), str(row[1]), None if row[2] is None else str(row[2]))


async def get_by_key(db: Database, cache_key: str) -> Digest | None:
    """A cached digest by its raw key (roundups link to what was written)."""
    async with db.conn.execute("SELECT payload FROM digests WHERE cache_key = ?", (cache_key,)) as cur:
        row = await cur.fetchone()
    return None if row is None else Digest.from_dict(json.loads(row["payload"]))
