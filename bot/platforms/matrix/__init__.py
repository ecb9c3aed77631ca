"""Agora on Matrix (matrix-nio, E2EE included): `MatrixPlatform(config, core, data_dir).run()`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from bot.config import MatrixConfig
from bot.core.bot import BotCore
from bot.ops.metrics import report_error
from bot.platforms.matrix.client import MatrixClient
from bot.platforms.matrix.delivery import MatrixDeliverer
from bot.platforms.matrix.handler import MatrixHandler
from bot.platforms.matrix.store import MatrixStore

log = logging.getLogger(__name__)

__all__ = ["MatrixPlatform"]

#: Disconnected (for /healthz and agora_platform_connected) after this many failed syncs in a row…
SYNC_FAILURES_DOWN = 2
#: …or when no sync has worked for this long past `matrix.sync_timeout` (twice it, plus this): a sync
#: the homeserver holds open lasts up to sync_timeout, and nio gives one up 15 s after that.
STALE_GRACE_S = 30.0


class MatrixPlatform:
    """Logs in (once: the device is kept in `<data>/matrix/`), then syncs and answers until cancelled."""

    def __init__(self, config: MatrixConfig, core: BotCore, data_dir: Path) -> None:
        self.config = config
        self.core = core
        self.client = MatrixClient(config, data_dir)
        #: Set once the first sync after the start has been caught up (answers go out from then on).
        self.ready = asyncio.Event()
        #: Seconds without a successful sync after which the connection counts as lost (`is_ready`).
        self.stale_after = 2 * config.sync_timeout + STALE_GRACE_S
        self.store: MatrixStore | None = None
        self.handler: MatrixHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.attached = False

    async def run(self) -> None:
        """Connect, then sync forever; every error on the way is retried with backoff."""
        try:
            await self.client.connect()
            store = self.store = MatrixStore(self.core.app.db, self.client.user_id)
            await store.prune()
            self.handler = MatrixHandler(
                self.client, self.core, self.config, store, self.spawn, count_error=self.count_error
            )
            await self._sync_loop(store, self.handler)
        finally:
            await self.close()

    async def _sync_loop(self, store: MatrixStore, handler: MatrixHandler) -> None:
        token = await store.sync_token()
        first = True
        while not self._closed:
            resp = await self.client.sync(since=token if first else None, first=first)
            if resp is None or self._closed:
                if resp is None and not self._closed:
                    self.count_error("sync")
                continue  # the client waited its backoff already
            await handler.on_sync(resp, first=first)
            await store.set_sync_token(resp.next_batch)
            await self.client.housekeeping()
            if first:
                first = False
                # Rooms are known now (encrypted sends need their members): answers can go out, those
                # left over from before a restart first.
                await self.core.attach(MatrixDeliverer(self.client))
                self.attached = True
                self.ready.set()
                log.info("Matrix: %s (device %s) caught up, answering from now on",
                         self.client.user_id, self.client.device_id)

    def is_ready(self) -> bool:
        """Connected now (/healthz, agora_platform_connected): caught up once, and syncing.

        The first sync having caught up is not enough: a homeserver that goes away later makes every
        sync fail (or hang), and the bot then reads nothing. Disconnected after `SYNC_FAILURES_DOWN`
        failed syncs in a row or `stale_after` seconds without a sync that worked; connected again at
        the next one that works.
        """
        if self._closed or not self.ready.is_set():
            return False
        if self.client.sync_failures >= SYNC_FAILURES_DOWN:
            return False
        last = self.client.last_sync_at
        return last is not None and time.monotonic() - last <= self.stale_after

    def count_error(self, kind: str | BaseException) -> None:
        """One error for agora_errors_total{platform="matrix"} when metrics are on."""
        report_error(getattr(self.core.app, "metrics", None), kind, "matrix")

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run `coro` as a task that is kept referenced and whose failure is logged."""
        if self._closed:
            coro.close()
            return
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            log.error("Matrix task %r failed", task.get_name(), exc_info=exc)
            self.count_error(exc)

    async def close(self) -> None:
        """Cancel the answers in progress and close the nio client (its crypto store is saved as it goes)."""
        if self._closed:
            return
        self._closed = True
        if self.attached:  # the job queue's reply tasks stop before the client they post with closes
            self.attached = False
            await self.core.detach(MatrixDeliverer.platform)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.client.close()
