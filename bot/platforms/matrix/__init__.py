"""Agora on Matrix (matrix-nio, E2EE included): `MatrixPlatform(config, core, data_dir).run()`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from bot.config import MatrixConfig
from bot.core.bot import BotCore
from bot.platforms.matrix.client import MatrixClient
from bot.platforms.matrix.delivery import MatrixDeliverer
from bot.platforms.matrix.handler import MatrixHandler
from bot.platforms.matrix.store import MatrixStore

log = logging.getLogger(__name__)

__all__ = ["MatrixPlatform"]


class MatrixPlatform:
    """Logs in (once: the device is kept in `<data>/matrix/`), then syncs and answers until cancelled."""

    def __init__(self, config: MatrixConfig, core: BotCore, data_dir: Path) -> None:
        self.config = config
        self.core = core
        self.client = MatrixClient(config, data_dir)
        #: Set once the first sync after the start has been caught up (tests and health checks).
        self.ready = asyncio.Event()
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
            self.handler = MatrixHandler(self.client, self.core, self.config, store, self.spawn)
            await self._sync_loop(store, self.handler)
        finally:
            await self.close()

    async def _sync_loop(self, store: MatrixStore, handler: MatrixHandler) -> None:
        token = await store.sync_token()
        first = True
        while not self._closed:
            resp = await self.client.sync(since=token if first else None, first=first)
            if resp is None or self._closed:
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
        if not task.cancelled() and task.exception() is not None:
            log.error("Matrix task %r failed", task.get_name(), exc_info=task.exception())

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
