"""A local fake of Discord's HTTP API and gateway, on 127.0.0.1, for discord.py to talk to unchanged.

It speaks the real protocols: a websocket gateway (HELLO, IDENTIFY -> READY + GUILD_CREATE with
channels, roles and members, heartbeats and their ACKs, RESUME with replay of missed events,
INVALID_SESSION for an unknown session, forced reconnects) and the REST routes the bot calls
(interaction callbacks, webhook follow-ups and `@original`, channel messages, threads from a
message, application command bulk overwrites, users/@me, applications/@me, gateway/bot).

Every HTTP request and every gateway frame is recorded, so tests assert what the bot sent. Answers
are JSON with the content type exactly `application/json`, as discord.py checks it before parsing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1_420_070_400_000
API_PREFIX = "/api/v10"
TOKEN = "fake-bot-token"
TOKEN_LIFETIME_S = 15 * 60

# Permission bits (https://discord.com/developers/docs/topics/permissions).
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
MANAGE_GUILD = 1 << 5
MEMBER_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
MESSAGE_CONTENT_INTENT = 1 << 15

BODY = web.RequestKey("body", object)  # the parsed JSON body of a request


def iso(ms: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp((time.time() * 1000 if ms is None else ms) / 1000, dt.UTC)
    return moment.isoformat()


@dataclass
class Recorded:
    """One HTTP request the bot made."""

    method: str
    path: str  # without the /api/v10 prefix, e.g. "/channels/1/messages"
    query: dict[str, str]
    body: Any  # parsed JSON (or the payload_json of a multipart body), None when empty
    at: float = field(default_factory=time.monotonic)

    def __repr__(self) -> str:
        return f"<{self.method} {self.path}>"


@dataclass
class Issued:
    """An interaction the fake sent; its token authorises the webhook routes for 15 minutes."""

    id: int
    token: str
    channel_id: int
    created_ms: float
    payload: dict[str, Any]
    original: dict[str, Any] | None = None


class FakeDiscord:
    """One application, one bot user, one guild with text channels, two members (a moderator and not)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.app_id = self.snowflake()
        self.bot_id = self.app_id
        self.guild_id = self.snowflake()
        self.channel_id = self.snowflake()  # "#général"
        self.other_channel_id = self.snowflake()  # "#liens"
        self.no_embed_channel_id = self.snowflake()  # "#sans-embeds": embed links denied to @everyone
        self.mod_role_id = self.snowflake()
        self.member_id = self.snowflake()
        self.moderator_id = self.snowflake()
        self.channels: dict[int, dict[str, Any]] = {
            self.channel_id: self._channel(self.channel_id, "général", 0),
            self.other_channel_id: self._channel(self.other_channel_id, "liens", 1),
            self.no_embed_channel_id: self._channel(self.no_embed_channel_id, "sans-embeds", 2),
        }
        self.channels[self.no_embed_channel_id]["permission_overwrites"] = [
            {"id": str(self.guild_id), "type": 0, "allow": "0", "deny": str(EMBED_LINKS)}
        ]
        self.messages: dict[int, dict[str, Any]] = {}
        self.nonces: dict[str, int] = {}  # enforced nonces of channel messages -> the message created
        self.requests: list[Recorded] = []
        self.received: list[dict[str, Any]] = []  # gateway frames from the bot
        self.sent: list[dict[str, Any]] = []  # gateway frames to the bot
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or "guild:<id>" -> commands
        self.interactions: dict[str, Issued] = {}  # by token
        self.seq = 0
        self.session_id = ""
        self.events: list[dict[str, Any]] = []  # dispatches of the current session, for RESUME replays
        self.intents: int | None = None
        self._live: web.WebSocketResponse | None = None  # the identified (or resumed) connection
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0
        #: Answer interaction callbacks "Unknown interaction" (what Discord says after the 3 seconds).
        self.refuse_callbacks = False
        #: Refuse gateway connections (503), as during a Discord outage.
        self.refuse_gateway = False

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/", self._gateway)
        r = app.router
        p = API_PREFIX
        r.add_get(p + "/users/@me", self._me)
        r.add_get(p + "/oauth2/applications/@me", self._application)
        r.add_get(p + "/applications/@me", self._application)
        r.add_get(p + "/gateway", self._gateway_url)
        r.add_get(p + "/gateway/bot", self._gateway_url)
        r.add_put(p + "/applications/{app}/commands", self._put_commands)
        r.add_put(p + "/applications/{app}/guilds/{guild}/commands", self._put_commands)
        r.add_get(p + "/applications/{app}/commands", self._get_commands)
        r.add_get(p + "/applications/{app}/guilds/{guild}/commands", self._get_commands)
        r.add_post(p + "/interactions/{id}/{token}/callback", self._callback)
        r.add_get(p + "/webhooks/{app}/{token}/messages/{message}", self._webhook_get)
        r.add_patch(p + "/webhooks/{app}/{token}/messages/{message}", self._webhook_edit)
        r.add_delete(p + "/webhooks/{app}/{token}/messages/{message}", self._webhook_delete)
        r.add_post(p + "/webhooks/{app}/{token}", self._webhook_send)
        r.add_get(p + "/channels/{channel}", self._get_channel)
        r.add_post(p + "/channels/{channel}/messages", self._channel_send)
        r.add_get(p + "/channels/{channel}/messages/{message}", self._channel_get_message)
        r.add_patch(p + "/channels/{channel}/messages/{message}", self._channel_edit)
        r.add_post(p + "/channels/{channel}/messages/{message}/threads", self._thread_from_message)
        r.add_route("*", p + "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    # --- ids and payloads ----------------------------------------------------------------------------

    def snowflake(self, ms: float | None = None) -> int:
        now = time.time() * 1000 if ms is None else ms
        return (int(now) - DISCORD_EPOCH_MS) << 22 | (next(self._ids) & 0x3FFFFF)

    def _channel(self, channel_id: int, name: str, position: int) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": position,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def user(self, user_id: int) -> dict[str, Any]:
        names = {self.bot_id: "Agora", self.member_id: "membre", self.moderator_id: "modo"}
        return {
            "id": str(user_id),
            "username": names.get(user_id, f"user{user_id}"),
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": user_id == self.bot_id,
            "public_flags": 0,
            "flags": 0,
        }

    def member(self, user_id: int, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(self.mod_role_id)] if user_id == self.moderator_id else [],
            "joined_at": iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "avatar": None,
            "pending": False,
            "premium_since": None,
        }
        if with_user:
            data["user"] = self.user(user_id)
        return data

    def guild(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id),
            "name": "Serveur de test",
            "icon": None,
            "owner_id": str(self.moderator_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "preferred_locale": "fr",
            "features": [],
            "roles": [
                self._role(self.guild_id, "@everyone", MEMBER_PERMISSIONS, 0),
                self._role(self.mod_role_id, "Modération", MEMBER_PERMISSIONS | MANAGE_GUILD, 1),
            ],
            "emojis": [],
            "stickers": [],
            "channels": list(self.channels.values()),
            "threads": [],
            "members": [self.member(self.bot_id), self.member(self.member_id), self.member(self.moderator_id)],
            "member_count": 3,
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "large": False,
            "unavailable": False,
            "joined_at": iso(),
            "lazy": True,
        }

    def _role(self, role_id: int, name: str, permissions: int, position: int) -> dict[str, Any]:
        return {
            "id": str(role_id),
            "name": name,
            "color": 0,
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def message(
        self,
        content: str,
        *,
        author_id: int | None = None,
        channel_id: int | None = None,
        message_id: int | None = None,
        embeds: list[dict[str, Any]] | None = None,
        flags: int = 0,
        webhook_id: int | None = None,
        reference: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message payload as Discord sends it (MESSAGE_CREATE, REST answers, resolved messages)."""
        author_id = self.member_id if author_id is None else author_id
        channel_id = self.channel_id if channel_id is None else channel_id
        data: dict[str, Any] = {
            "id": str(message_id or self.snowflake()),
            "channel_id": str(channel_id),
            "author": self.user(author_id),
            "content": content,
            "timestamp": iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": embeds or [],
            "pinned": False,
            "type": 19 if reference else 0,
            "flags": flags,
            "components": [],
        }
        if reference:
            data["message_reference"] = reference
        if webhook_id:
            data["webhook_id"] = str(webhook_id)
        return data

    # --- gateway -------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_gateway:
            return web.Response(status=503, text="fake: gateway unavailable")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await self._send(ws, {"op": 10, "d": {"heartbeat_interval": 41_250}, "s": None, "t": None})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                self.received.append(frame)
                op = frame.get("op")
                if op == 1:
                    await self._send(ws, {"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    await self._identify(ws, frame["d"])
                elif op == 6:
                    await self._resume(ws, frame["d"])
        finally:
            self._sockets.discard(ws)
            if self._live is ws:
                self._live = None
        return ws

    async def _send(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        self.sent.append(frame)
        await ws.send_str(json.dumps(frame))

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != TOKEN:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        self.intents = int(data.get("intents", 0))
        self.session_id = secrets.token_hex(16)
        self.seq = 0
        self.events = []
        self._live = ws
        await self._dispatch_to(
            ws,
            "READY",
            {
                "v": 10,
                "user": self.user(self.bot_id),
                "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                "session_id": self.session_id,
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.app_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
            },
        )
        await self._dispatch_to(ws, "GUILD_CREATE", self.guild())

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != TOKEN or data.get("session_id") != self.session_id:
            await self._send(ws, {"op": 9, "d": False, "s": None, "t": None})
            return
        self._live = ws
        after = int(data.get("seq") or 0)
        for frame in [e for e in self.events if e["s"] > after]:  # what the bot missed
            await self._send(ws, frame)
        await self._dispatch_to(ws, "RESUMED", {})

    async def _dispatch_to(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        frame = {"op": 0, "t": event, "s": self.seq, "d": data}
        self.events.append(frame)
        await self._send(ws, frame)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway event to the bot (kept for a RESUME replay if the bot is disconnected)."""
        if self._live is None:
            self.seq += 1
            self.events.append({"op": 0, "t": event, "s": self.seq, "d": data})
            return
        await self._dispatch_to(self._live, event, data)

    @property
    def connected(self) -> bool:
        return self._live is not None

    def identified(self) -> int:
        return sum(1 for f in self.received if f.get("op") == 2)

    def resumed(self) -> int:
        return sum(1 for f in self.received if f.get("op") == 6)

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the gateway connection the way Discord does before a resumable reconnect."""
        ws = self._live
        self._live = None
        if ws is not None:
            await ws.close(code=code, message=b"fake: reconnect")

    async def post_message(self, content: str, **kwargs: Any) -> dict[str, Any]:
        """A member posts in a channel: MESSAGE_CREATE (content stripped without the intent, as Discord does)."""
        data = self.message(content, **kwargs)
        data["guild_id"] = str(self.guild_id)
        data["member"] = self.member(int(data["author"]["id"]), with_user=False)
        self.messages[int(data["id"])] = data
        event = dict(data)
        if self.intents is not None and not self.intents & MESSAGE_CONTENT_INTENT:
            event["content"] = ""
        await self.dispatch("MESSAGE_CREATE", event)
        return data

    # --- interactions --------------------------------------------------------------------------------

    def _interaction(
        self,
        itype: int,
        data: dict[str, Any],
        *,
        user_id: int,
        channel_id: int | None,
        created_ms: float | None,
    ) -> Issued:
        created = time.time() * 1000 if created_ms is None else created_ms
        interaction_id = self.snowflake(created)
        token = "itk-" + secrets.token_urlsafe(24)
        channel_id = self.channel_id if channel_id is None else channel_id
        member = self.member(user_id)
        permissions = MEMBER_PERMISSIONS | (MANAGE_GUILD if user_id == self.moderator_id else 0)
        member["permissions"] = str(permissions)
        payload = {
            "id": str(interaction_id),
            "application_id": str(self.app_id),
            "type": itype,
            "data": data,
            "guild_id": str(self.guild_id),
            "guild": {"id": str(self.guild_id), "locale": "fr", "features": []},
            "channel_id": str(channel_id),
            "channel": {**self.channels[channel_id], "permissions": str(permissions)},
            "member": member,
            "token": token,
            "version": 1,
            "app_permissions": str(MEMBER_PERMISSIONS),
            "locale": "fr",
            "guild_locale": "fr",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        issued = Issued(interaction_id, token, channel_id, created, payload)
        self.interactions[token] = issued
        return issued

    def _command_id(self, name: str) -> str:
        for commands in self.commands.values():
            for command in commands:
                if command["name"] == name:
                    return str(command["id"])
        return str(self.snowflake())

    async def slash(
        self,
        name: str,
        options: list[dict[str, Any]] | None = None,
        *,
        user_id: int | None = None,
        channel_id: int | None = None,
        resolved: dict[str, Any] | None = None,
        created_ms: float | None = None,
        autocomplete: bool = False,
    ) -> Issued:
        """A member runs `/name options…` (type 2), or types in an option with autocompletion (type 4)."""
        data: dict[str, Any] = {
            "id": self._command_id(name),
            "name": name,
            "type": 1,
            "options": options or [],
            "guild_id": str(self.guild_id),
        }
        if resolved:
            data["resolved"] = resolved
        issued = self._interaction(
            4 if autocomplete else 2,
            data,
            user_id=self.member_id if user_id is None else user_id,
            channel_id=channel_id,
            created_ms=created_ms,
        )
        await self.dispatch("INTERACTION_CREATE", issued.payload)
        return issued

    async def message_action(self, name: str, message: dict[str, Any], *, user_id: int | None = None) -> Issued:
        """A member picks Apps → `name` on a message (a message context-menu command, type 3)."""
        data = {
            "id": self._command_id(name),
            "name": name,
            "type": 3,
            "target_id": message["id"],
            "resolved": {"messages": {message["id"]: message}},
            "guild_id": str(self.guild_id),
        }
        issued = self._interaction(
            2,
            data,
            user_id=self.member_id if user_id is None else user_id,
            channel_id=int(message["channel_id"]),
            created_ms=None,
        )
        await self.dispatch("INTERACTION_CREATE", issued.payload)
        return issued

    # --- HTTP ----------------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        body: Any = None
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if getattr(part, "name", None) == "payload_json":
                    body = json.loads(await part.text())  # type: ignore[union-attr]
        elif request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        request[BODY] = body
        self.requests.append(Recorded(request.method, request.path[len(API_PREFIX) :], dict(request.query), body))
        authorised = request.headers.get("Authorization") == f"Bot {TOKEN}"
        token_routes = ("/webhooks/", "/interactions/")
        if not authorised and not any(request.path[len(API_PREFIX) :].startswith(t) for t in token_routes):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return await handler(request)

    async def _me(self, request: web.Request) -> web.Response:
        return _json(self.user(self.bot_id))

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.app_id),
                "name": "Agora",
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.user(self.moderator_id),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "rpc_origins": [],
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "tags": [],
                "approximate_guild_count": 1,
            }
        )

    async def _gateway_url(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            }
        )

    def _target(self, request: web.Request) -> str:
        guild = request.match_info.get("guild")
        return f"guild:{guild}" if guild else "global"

    async def _put_commands(self, request: web.Request) -> web.Response:
        stored = []
        for command in request[BODY] or []:
            item = {
                "id": str(self.snowflake()),
                "application_id": str(self.app_id),
                "version": str(self.snowflake()),
                "default_member_permissions": None,
                "nsfw": False,
                "description": "",
                "options": [],
                **command,
            }
            if request.match_info.get("guild"):
                item["guild_id"] = request.match_info["guild"]
            stored.append(item)
        self.commands[self._target(request)] = stored
        return _json(stored)

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(self.commands.get(self._target(request), []))

    def _issued(self, request: web.Request) -> Issued | None:
        issued = self.interactions.get(request.match_info["token"])
        if issued is None:
            return None
        if time.time() * 1000 - issued.created_ms >= TOKEN_LIFETIME_S * 1000:
            return None
        return issued

    async def _callback(self, request: web.Request) -> web.Response:
        # Lenient on purpose: accepts a callback for an interaction "created" long ago, so tests can
        # simulate a digest outliving the 15-minute token without waiting 15 minutes.
        issued = self.interactions.get(request.match_info["token"])
        if issued is None or str(issued.id) != request.match_info["id"] or self.refuse_callbacks:
            return _json({"message": "Unknown interaction", "code": 10062}, status=404)
        body = request[BODY] or {}
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(issued.id),
                "type": issued.payload["type"],
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(int(data.get("flags", 0) or 0) & 64),
            }
        }
        if kind in (4, 5):
            flags = int(data.get("flags", 0) or 0) | (128 if kind == 5 else 0)
            message = self.message(
                data.get("content", "") or "",
                author_id=self.bot_id,
                channel_id=issued.channel_id,
                embeds=data.get("embeds"),
                flags=flags,
                webhook_id=self.app_id,
            )
            issued.original = message
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": kind, "message": message}
        return _json(answer)

    def _find_webhook_message(self, issued: Issued, message: str) -> dict[str, Any] | None:
        if message == "@original" or (issued.original is not None and message == issued.original["id"]):
            return issued.original  # the original response is a webhook message too, with its own id
        found = self.messages.get(int(message)) if message.isdigit() else None
        return found if found is not None and found.get("webhook_id") else None

    async def _webhook_get(self, request: web.Request) -> web.Response:
        issued = self._issued(request)
        found = issued and self._find_webhook_message(issued, request.match_info["message"])
        if not found:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return _json(found)

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        issued = self._issued(request)
        if issued is None:
            return _json({"message": "Invalid Webhook Token", "code": 50027}, status=401)
        found = self._find_webhook_message(issued, request.match_info["message"])
        if found is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        _apply_edit(found, request[BODY] or {})
        found["flags"] = int(found.get("flags", 0)) & ~128  # no longer "thinking"
        return _json(found)

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _webhook_send(self, request: web.Request) -> web.Response:
        issued = self._issued(request)
        if issued is None:
            return _json({"message": "Invalid Webhook Token", "code": 50027}, status=401)
        body = request[BODY] or {}
        message = self.message(
            body.get("content", "") or "",
            author_id=self.bot_id,
            channel_id=issued.channel_id,
            embeds=body.get("embeds"),
            flags=int(body.get("flags", 0) or 0),
            webhook_id=self.app_id,
        )
        self.messages[int(message["id"])] = message
        return _json(message)

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self.channels.get(int(request.match_info["channel"]))
        if channel is None:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        return _json(channel)

    async def _channel_send(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel"])
        if channel_id not in self.channels:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        body = request[BODY] or {}
        nonce = body.get("nonce") if body.get("enforce_nonce") else None
        if nonce is not None and nonce in self.nonces:
            # Discord: "if another message was created by the same author with the same nonce, that
            # message will be returned and no new message will be created" (a few minutes' window).
            return _json(self.messages[self.nonces[nonce]])
        message = self.message(
            body.get("content", "") or "",
            author_id=self.bot_id,
            channel_id=channel_id,
            embeds=body.get("embeds"),
            reference=body.get("message_reference"),
        )
        message["guild_id"] = str(self.guild_id)
        if nonce is not None:
            message["nonce"] = nonce
            self.nonces[nonce] = int(message["id"])
        self.messages[int(message["id"])] = message
        return _json(message)

    async def _channel_get_message(self, request: web.Request) -> web.Response:
        found = self.messages.get(int(request.match_info["message"]))
        if found is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return _json(found)

    async def _channel_edit(self, request: web.Request) -> web.Response:
        found = self.messages.get(int(request.match_info["message"]))
        if found is None or found["channel_id"] != request.match_info["channel"]:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        _apply_edit(found, request[BODY] or {})
        return _json(found)

    async def _thread_from_message(self, request: web.Request) -> web.Response:
        parent = int(request.match_info["channel"])
        message_id = int(request.match_info["message"])
        if message_id not in self.messages:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        if message_id in self.channels:
            return _json({"message": "A thread has already been created for this message", "code": 160004}, 400)
        body = request[BODY] or {}
        thread = {
            **self._channel(message_id, str(body.get("name", "")), 0),
            "type": 11,
            "parent_id": str(parent),
            "owner_id": str(self.bot_id),
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": int(body.get("auto_archive_duration", 1440)),
                "archive_timestamp": iso(),
                "locked": False,
            },
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
        }
        self.channels[message_id] = thread  # a thread started from a message has the message's id
        return _json(thread, status=201)

    async def _unknown(self, request: web.Request) -> web.Response:
        return _json({"message": "404: Not Found", "code": 0}, status=404)

    # --- what tests read -----------------------------------------------------------------------------

    def calls(self, method: str | None = None, prefix: str = "") -> list[Recorded]:
        return [r for r in self.requests if (method is None or r.method == method) and r.path.startswith(prefix)]

    def sent_messages(self) -> Iterator[Recorded]:
        """Every request that posts or edits a message (where allowed_mentions matters)."""
        for r in self.requests:
            if r.method in ("POST", "PATCH") and (
                r.path.endswith("/messages")
                or ("/messages/" in r.path and not r.path.endswith("/threads"))
                or r.path.startswith("/webhooks/")
                or r.path.endswith("/callback")
            ):
                yield r

    def for_interaction(self, issued: Issued) -> list[Recorded]:
        """Callback, then webhook requests, of one interaction, in order."""
        return [
            r for r in self.requests if r.path.startswith(f"/interactions/{issued.id}/") or f"/{issued.token}" in r.path
        ]

    async def wait_for(self, predicate: Callable[[], Any], *, within: float = 20.0, what: str = "condition") -> Any:
        """Poll until `predicate()` is truthy (returns it); fails with what was recorded at the deadline."""
        deadline = time.monotonic() + within
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; requests: {self.requests}")
            await asyncio.sleep(0.02)


def _apply_edit(message: dict[str, Any], body: dict[str, Any]) -> None:
    for key in ("content", "embeds", "components", "flags"):
        if key in body:
            message[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
    message["edited_timestamp"] = iso()


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only when the content type is exactly "application/json".
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})
