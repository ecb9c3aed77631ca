"""Matrix state in SQLite (migration 003): handled events, the sync token, when each room was joined."""

from __future__ import annotations

import time

from bot.storage.database import Database


class MatrixStore:
    """All of the Matrix adapter's SQL, for one account."""

    def __init__(self, db: Database, account: str) -> None:
        self._db = db
        self.account = account

    async def claim(self, event_id: str, room_id: str, action: str) -> bool:
        """Record an event as handled; False when it already was (then it must not be answered again)."""
        cur = await self._db.conn.execute(
            "INSERT OR IGNORE INTO matrix_events (event_id, room_id, action, handled_at) VALUES (?, ?, ?, ?)",
            (event_id, room_id, action, time.time()),
        )
        await self._db.conn.commit()
        return cur.rowcount == 1

    async def action(self, event_id: str) -> str | None:
        """What was decided for an event, None if it was never handled."""
        async with self._db.conn.execute(
            "SELECT action FROM matrix_events WHERE event_id = ?", (event_id,)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def prune(self, older_than_days: float = 30.0) -> int:
        """Forget handled events older than the given age (the sync token and join times cover them)."""
        cur = await self._db.conn.execute(
            "DELETE FROM matrix_events WHERE handled_at < ?", (time.time() - older_than_days * 86400,)
        )
        await self._db.conn.commit()
        return cur.rowcount

    async def sync_token(self) -> str | None:
        async with self._db.conn.execute(
            "SELECT value FROM matrix_state WHERE account = ? AND key = 'sync_token'", (self.account,)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def set_sync_token(self, token: str) -> None:
        await self._db.conn.execute(
            "INSERT INTO matrix_state (account, key, value) VALUES (?, 'sync_token', ?)"
            " ON CONFLICT (account, key) DO UPDATE SET value = excluded.value",
            (self.account, token),
        )
        await self._db.conn.commit()

    async def joined_at(self, room_id: str) -> int | None:
        """When the bot last joined the room (homeserver milliseconds), if known."""
        async with self._db.conn.execute(
            "SELECT joined_at_ms FROM matrix_rooms WHERE account = ? AND room_id = ?", (self.account, room_id)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else int(row[0])

    async def set_joined_at(self, room_id: str, ts_ms: int) -> None:
        await self._db.conn.execute(
            "INSERT INTO matrix_rooms (account, room_id, joined_at_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (account, room_id) DO UPDATE SET joined_at_ms = excluded.joined_at_ms",
            (self.account, room_id, ts_ms),
        )
        await self._db.conn.commit()

    async def forget_room(self, room_id: str) -> None:
        await self._db.conn.execute(
            "DELETE FROM matrix_rooms WHERE account = ? AND room_id = ?", (self.account, room_id)
        )
        await self._db.conn.commit()
