"""The nio boundary: login/restore, one sync at a time, E2EE housekeeping, sends with retry.

nio returns error objects instead of raising, and raises aiohttp errors when the homeserver cannot be
reached. Every response is checked here; nothing above this module sees a nio error object.
nio's own retry loops are switched off (`max_timeouts=0`, `max_limit_exceeded=0`) so that every wait
goes through one `Backoff` that honours `retry_after_ms` and is capped by `matrix.backoff_max`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    LoginResponse,
    RoomForgetResponse,
    RoomGetStateResponse,
    RoomLeaveResponse,
    RoomSendResponse,
    SyncResponse,
    WhoamiResponse,
)
from nio.crypto import ENCRYPTION_ENABLED
from nio.exceptions import EncryptionError, GroupEncryptionError, LocalProtocolError, OlmTrustError

from bot.config import MatrixConfig
from bot.errors import ConfigError

log = logging.getLogger(__name__)

#: Raised by aiohttp/asyncio when the homeserver is down, restarting or too slow.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError)
#: Sending again will not help.
_FATAL_SEND = frozenset({"M_FORBIDDEN", "M_TOO_LARGE", "M_NOT_FOUND", "M_BAD_JSON", "M_NOT_JSON", "M_UNKNOWN_TOKEN"})
#: Long-poll syncs: keep the timeline of a busy room complete between two syncs.
SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 100}}}
#: The first sync after a start is never answered: state only (full), one event of timeline.
FIRST_SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 1}}}


class Backoff:
    """Exponential waits with jitter: 0.5 s, 1 s, 2 s… up to `maximum`; a server's retry_after wins."""

    def __init__(self, maximum: float, first: float = 0.5) -> None:
        self.first = min(first, maximum)
        self.maximum = maximum
        self._next = self.first

    def delay(self, retry_after_ms: int | None = None) -> float:
        wait = self._next * random.uniform(0.9, 1.1)
        self._next = min(self._next * 2, self.maximum)
        if retry_after_ms:
            wait = max(wait, retry_after_ms / 1000)
        return min(wait, max(self.maximum, (retry_after_ms or 0) / 1000))

    def reset(self) -> None:
        self._next = self.first


@dataclass(frozen=True, slots=True)
class Credentials:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str


def _describe(error: object) -> str:
    if isinstance(error, ErrorResponse):
        return f"{error.status_code}: {error.message}"
    return repr(error)


def _transient(resp: ErrorResponse) -> bool:
    """A rate limit or a server-side failure: worth trying again."""
    if resp.status_code == "M_LIMIT_EXCEEDED":
        return True
    transport = getattr(resp, "transport_response", None)
    status = getattr(transport, "status", None)
    return status is None or status >= 500


def _retry_after(error: object) -> int | None:
    return getattr(error, "retry_after_ms", None) if isinstance(error, ErrorResponse) else None


class MatrixClient:
    """One logged-in nio client whose device, token and crypto store live in `<data>/matrix/`."""

    def __init__(self, config: MatrixConfig, data_dir: Path) -> None:
        self.config = config
        self.dir = data_dir / "matrix"
        self.store_dir = self.dir / "store"
        self.credentials_path = self.dir / "credentials.json"
        self.backoff = Backoff(config.backoff_max)
        #: Syncs that failed in a row (0 again after one that worked), and when (time.monotonic()) the
        #: last one worked: the platform's health is read from them.
        self.sync_failures = 0
        self.last_sync_at: float | None = None
        self._nio: AsyncClient | None = None

    @property
    def nio(self) -> AsyncClient:
        if self._nio is None:
            raise RuntimeError("not connected")
        return self._nio

    @property
    def user_id(self) -> str:
        return self.nio.user_id

    @property
    def device_id(self) -> str:
        return str(self.nio.device_id)

    def _new_nio(self, device_id: str | None = None) -> AsyncClient:
        nio_config = AsyncClientConfig(
            encryption_enabled=ENCRYPTION_ENABLED,
            store_sync_tokens=False,  # the sync token lives in SQLite with the handled events
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=30,
        )
        return AsyncClient(
            self.config.homeserver.rstrip("/"),
            self.config.user_id,
            device_id=device_id,
            store_path=str(self.store_dir),
            config=nio_config,
        )

    # --- login ------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Restore the stored session, or log in once; waits (with backoff) while the server is down."""
        await asyncio.to_thread(self._prepare_dirs)
        while True:
            try:
                await self._connect_once()
            except NETWORK_ERRORS as exc:
                await self._close_nio()
                wait = self.backoff.delay()
                log.warning("homeserver unreachable (%r); retrying in %.1f s", exc, wait)
                await asyncio.sleep(wait)
            except _Retry as exc:
                await self._close_nio()
                wait = self.backoff.delay(exc.retry_after_ms)
                log.warning("login: %s; retrying in %.1f s", exc, wait)
                await asyncio.sleep(wait)
            else:
                self.backoff.reset()
                return

    async def _connect_once(self) -> None:
        creds = await asyncio.to_thread(self._load_credentials)
        if creds is not None and await self._restore(creds):
            return
        token = os.environ.get(self.config.access_token_env, "")
        password = os.environ.get(self.config.password_env, "")
        if token:
            await self._login_with_token(token)
        elif password:
            await self._login_with_password(password)
        else:
            raise ConfigError(
                f"matrix.password_env / matrix.access_token_env: set {self.config.password_env} or "
                f"{self.config.access_token_env} for the first login of {self.config.user_id}"
            )

    async def _restore(self, creds: Credentials) -> bool:
        """Reuse the stored token and device; False when the homeserver no longer accepts the token."""
        client = self._nio = self._new_nio(creds.device_id)
        client.restore_login(creds.user_id, creds.device_id, creds.access_token)  # loads the crypto store
        resp = await client.whoami()
        if isinstance(resp, WhoamiResponse):
            log.info("restored Matrix session %s (device %s)", resp.user_id, creds.device_id)
            return True
        if resp.status_code == "M_UNKNOWN_TOKEN":
            log.warning("stored Matrix access token was refused; logging in again (new device)")
            await self._close_nio()
            await asyncio.to_thread(self.credentials_path.unlink, True)
            return False
        raise _Retry(f"whoami: {_describe(resp)}", _retry_after(resp))

    async def _login_with_token(self, token: str) -> None:
        client = self._nio = self._new_nio()
        client.access_token = token
        resp = await client.whoami()
        if not isinstance(resp, WhoamiResponse):
            if resp.status_code == "M_UNKNOWN_TOKEN":
                raise ConfigError(f"matrix.access_token_env: the homeserver refused the token in "
                                  f"{self.config.access_token_env}")
            raise _Retry(f"whoami: {_describe(resp)}", _retry_after(resp))
        if not resp.device_id:
            raise ConfigError("matrix.access_token_env: this access token has no device (needed for E2EE)")
        await self._close_nio()
        client = self._nio = self._new_nio(resp.device_id)
        client.restore_login(resp.user_id, resp.device_id, token)
        await self._save(Credentials(self.config.homeserver, resp.user_id, resp.device_id, token))
        log.info("logged in to Matrix as %s with a token (device %s)", resp.user_id, resp.device_id)

    async def _login_with_password(self, password: str) -> None:
        client = self._nio = self._new_nio()
        resp = await client.login(password, device_name=self.config.device_name)
        if not isinstance(resp, LoginResponse):
            if resp.status_code in ("M_FORBIDDEN", "M_USER_DEACTIVATED", "M_INVALID_USERNAME"):
                raise ConfigError(f"matrix.password_env: login of {self.config.user_id} refused "
                                  f"({_describe(resp)})")
            raise _Retry(f"login: {_describe(resp)}", _retry_after(resp))
        await self._save(Credentials(self.config.homeserver, resp.user_id, resp.device_id, resp.access_token))
        log.info("logged in to Matrix as %s (new device %s)", resp.user_id, resp.device_id)

    # --- sync ---------------------------------------------------------------------------------------

    async def sync(self, *, since: str | None, first: bool) -> SyncResponse | None:
        """One sync; None after an error (having waited the backoff, so the caller just loops)."""
        timeout_ms = 0 if first else int(self.config.sync_timeout * 1000)
        try:
            resp = await self.nio.sync(
                timeout=timeout_ms,
                sync_filter=FIRST_SYNC_FILTER if first else SYNC_FILTER,
                since=since,
                full_state=True if first else None,  # nio keeps room state in memory only
            )
        except NETWORK_ERRORS as exc:
            self.sync_failures += 1  # counted before the wait: the health check sees it during the wait
            await self._wait("sync", exc)
            return None
        if not isinstance(resp, SyncResponse):
            if resp.status_code == "M_UNKNOWN_TOKEN":
                raise ConfigError(f"matrix: the homeserver no longer accepts the session of {self.user_id} "
                                  f"(delete {self.credentials_path} to log in again)")
            self.sync_failures += 1
            await self._wait("sync", resp)
            return None
        self.sync_failures = 0
        self.last_sync_at = time.monotonic()
        self.backoff.reset()
        return resp

    async def _wait(self, what: str, error: object) -> None:
        wait = self.backoff.delay(_retry_after(error))
        log.warning("%s failed (%s); retrying in %.1f s", what, _describe(error), wait)
        await asyncio.sleep(wait)

    async def housekeeping(self) -> None:
        """What nio's sync_forever does between syncs: to-device messages and Olm keys."""
        client = self.nio
        if client.olm is None:
            return
        steps: list[tuple[str, Any]] = [("to-device messages", client.send_to_device_messages)]
        if client.should_upload_keys:
            steps.append(("keys upload", client.keys_upload))
        if client.should_query_keys:
            steps.append(("keys query", client.keys_query))
        if client.should_claim_keys:
            steps.append(("keys claim", lambda: client.keys_claim(client.get_users_for_key_claiming())))
        for name, call in steps:
            try:
                result = await call()
            except (*NETWORK_ERRORS, LocalProtocolError) as exc:
                log.warning("%s failed (%r); tried again after the next sync", name, exc)
                continue
            for resp in result if isinstance(result, list) else [result]:
                if isinstance(resp, ErrorResponse):
                    log.warning("%s failed (%s); tried again after the next sync", name, _describe(resp))

    # --- room actions -------------------------------------------------------------------------------

    async def send(self, room_id: str, content: dict[str, Any], *, txn: str | None = None) -> str | None:
        """Send one `m.room.message` (encrypted where the room is); its event id, or None once given up.

        The transaction id stays the same across retries, so a send that reached the server before the
        connection broke is not posted twice. A caller that may send the same message again after a
        restart (the job queue) passes its own deterministic `txn`: the homeserver keeps transaction ids
        per device, and this device survives restarts, so the repeat returns the first event instead of
        posting a second one. In encrypted rooms the Megolm key goes to every device of the room's
        members (`ignore_unverified_devices`): a bot cannot verify devices interactively and what it
        posts is meant for everyone in the room; blacklisted devices still get nothing.
        """
        txn = txn or uuid4().hex
        backoff = Backoff(self.config.backoff_max)
        error: object = None
        for attempt in range(1, self.config.send_attempts + 1):
            try:
                resp = await self.nio.room_send(
                    room_id, "m.room.message", content, tx_id=txn, ignore_unverified_devices=True
                )
            except (*NETWORK_ERRORS, EncryptionError, GroupEncryptionError, OlmTrustError) as exc:
                error = exc
            except LocalProtocolError as exc:  # the room is unknown (left) or its members can't be synced
                if room_id not in self.nio.rooms:
                    log.warning("not sending to %s: %s", room_id, exc)
                    return None
                error = exc
            else:
                if isinstance(resp, RoomSendResponse):
                    return str(resp.event_id)
                error = resp
                if resp.status_code in _FATAL_SEND:
                    break
            if attempt < self.config.send_attempts:
                wait = backoff.delay(_retry_after(error))
                log.warning("send to %s failed (%s); retry %d in %.1f s", room_id, _describe(error), attempt, wait)
                await asyncio.sleep(wait)
        log.error("message to %s lost after %d attempt(s): %s", room_id, attempt, _describe(error))
        return None

    async def join(self, room_id: str) -> bool:
        return await self._room_call("join", room_id, self.nio.join, JoinResponse)

    async def leave(self, room_id: str) -> bool:
        """Leave a room, or reject an invite."""
        return await self._room_call("leave", room_id, self.nio.room_leave, RoomLeaveResponse)

    async def forget(self, room_id: str) -> bool:
        """Forget a room we are no longer in (nio then drops its state and keys for it)."""
        return await self._room_call("forget", room_id, self.nio.room_forget, RoomForgetResponse)

    async def _room_call(self, what: str, room_id: str, call: Any, ok: type) -> bool:
        backoff = Backoff(self.config.backoff_max)
        for attempt in range(1, self.config.send_attempts + 1):
            try:
                resp = await call(room_id)
            except NETWORK_ERRORS as exc:
                error: object = exc
            else:
                if isinstance(resp, ok):
                    return True
                error = resp
                if not _transient(resp):
                    break
            if attempt < self.config.send_attempts:
                await asyncio.sleep(backoff.delay(_retry_after(error)))
        log.warning("%s %s failed: %s", what, room_id, _describe(error))
        return False

    async def room_creators(self, room_id: str) -> set[str]:
        """Creators of a room (they outrank every power level from room version 12 on)."""
        try:
            resp = await self.nio.room_get_state(room_id)
        except NETWORK_ERRORS as exc:
            log.warning("room state of %s unavailable: %r", room_id, exc)
            return set()
        if not isinstance(resp, RoomGetStateResponse):
            log.warning("room state of %s unavailable: %s", room_id, _describe(resp))
            return set()
        for event in resp.events:
            if event.get("type") == "m.room.create":
                return creators_of(event)
        return set()

    # --- files and shutdown -------------------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self.dir, 0o700)

    def _load_credentials(self) -> Credentials | None:
        try:
            data = json.loads(self.credentials_path.read_text(encoding="utf-8"))
            creds = Credentials(**{k: str(data[k]) for k in ("homeserver", "user_id", "device_id", "access_token")})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable %s: %r", self.credentials_path, exc)
            return None
        if creds.user_id != self.config.user_id or creds.homeserver.rstrip("/") != self.config.homeserver.rstrip("/"):
            log.info("stored Matrix session is for %s on %s: not reused", creds.user_id, creds.homeserver)
            return None
        return creds

    async def _save(self, creds: Credentials) -> None:
        await asyncio.to_thread(self._write_credentials, creds)

    def _write_credentials(self, creds: Credentials) -> None:
        tmp = self.credentials_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(_as_dict(creds), fh)
        os.replace(tmp, self.credentials_path)

    async def _close_nio(self) -> None:
        if self._nio is not None:
            with contextlib.suppress(Exception):
                await self._nio.close()
            self._nio = None

    async def close(self) -> None:
        await self._close_nio()


class _Retry(Exception):
    """A transient answer during login (5xx, rate limit): wait and try again."""

    def __init__(self, message: str, retry_after_ms: int | None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


def _as_dict(creds: Credentials) -> dict[str, str]:
    return {
        "homeserver": creds.homeserver,
        "user_id": creds.user_id,
        "device_id": creds.device_id,
        "access_token": creds.access_token,
    }


def creators_of(create_event: dict[str, Any]) -> set[str]:
    """Users with unlimited power in a room, from its m.room.create event (room versions 12+ only)."""
    content = create_event.get("content") or {}
    version = str(content.get("room_version", "1"))
    if not _creators_privileged(version):
        return set()
    found = {str(create_event.get("sender", ""))}
    extra = content.get("additional_creators")
    if isinstance(extra, list):
        found |= {u for u in extra if isinstance(u, str)}
    return {u for u in found if u}


def _creators_privileged(version: str) -> bool:
    if version.isdigit():
        return int(version) >= 12
    return "hydra" in version
