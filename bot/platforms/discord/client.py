"""The discord.py client: intents from the config, commands synced in `setup_hook`, automatic digests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from urllib.parse import urlsplit

import discord

from bot import messages
from bot.config import DiscordConfig
from bot.core.bot import BotCore
from bot.platforms.discord.commands import AgoraTree, Handlers, build_commands, count_error
from bot.platforms.discord.convert import scope_of, user_id
from bot.platforms.discord.delivery import NO_MENTIONS, SeenIds, Tasks
from bot.platforms.discord.jobs import DiscordDeliverer, message_target

log = logging.getLogger(__name__)

#: Where the hash of the last synced command tree is kept, per target (a guild, or "global").
SYNC_STATE = "discord-commands.json"


def intents_for(config: DiscordConfig) -> discord.Intents:
    """Only what the bot uses: guilds (channels, permissions); messages only for automatic digests."""
    intents = discord.Intents.none()
    intents.guilds = True
    # Reading every message needs the privileged message-content intent; without it, commands and the
    # "Résumer" action still work (interactions carry what they need).
    intents.guild_messages = config.message_content_intent
    intents.message_content = config.message_content_intent
    return intents


class AgoraClient(discord.Client):
    """One Discord connection; every rule lives in BotCore, every answer goes through `delivery`."""

    def __init__(self, config: DiscordConfig, core: BotCore, data_dir: Path, tasks: Tasks) -> None:
        super().__init__(intents=intents_for(config), allowed_mentions=NO_MENTIONS)
        self.config = config
        self.core = core
        self.data_dir = data_dir
        self.tasks = tasks
        self.seen = SeenIds()
        self.tree = AgoraTree(self, seen=self.seen, count_error=self.count_error)
        self.deliverer = DiscordDeliverer(self)
        self.handlers = Handlers(core, config, tasks, self.deliverer)
        for command in build_commands(self.handlers):
            self.tree.add_command(command)
        self.synced: bool | None = None  # True: synced at start; False: unchanged, skipped

    async def setup_hook(self) -> None:
        """Runs once, after login and before the gateway connects: sync commands here, never in on_ready."""
        try:
            self.synced = await self.sync_commands()
        except discord.HTTPException:
            log.exception("could not sync application commands (they will be retried at next start)")
        # Logged in: answers can be posted over HTTP now, those left over from before a restart first.
        self.deliverer.bind()
        await self.core.attach(self.deliverer)

    async def sync_commands(self) -> bool:
        """Sync to the development guild when set, globally otherwise, only if the tree changed."""
        guild = discord.Object(self.config.dev_guild_id) if self.config.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        target = f"guild:{guild.id}" if guild is not None else "global"
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(
            json.dumps(
                {"application_id": self.application_id, "commands": payload}, sort_keys=True, ensure_ascii=False
            ).encode()
        ).hexdigest()
        state_file = self.data_dir / SYNC_STATE
        state = await asyncio.to_thread(_read_state, state_file)
        if state.get(target) == digest:
            log.info("application commands unchanged (%s): not synced", target)
            return False
        synced = await self.tree.sync(guild=guild)
        state[target] = digest
        await asyncio.to_thread(_write_state, state_file, state)
        log.info("synced %d application commands (%s)", len(synced), target)
        return True

    def count_error(self, kind: str | BaseException) -> None:
        """One error for agora_errors_total{platform="discord"} when metrics are on."""
        count_error(self.core, kind)

    async def on_error(self, event_method: str, /, *args: object, **kwargs: object) -> None:
        """An event handler (`on_message`: automatic digests) raised: logged, counted, the bot goes on."""
        log.exception("Discord event %s failed", event_method)
        self.count_error("internal")

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s, in %d servers", self.user, len(self.guilds))

    async def on_resumed(self) -> None:
        log.info("Discord session resumed")

    async def on_message(self, message: discord.Message) -> None:
        """Automatic digests of links posted in watched channels (message-content intent only)."""
        if not self.config.message_content_intent or message.guild is None or message.author.bot:
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        if isinstance(message.channel, discord.Thread):  # watched channels, not their threads
            return
        if not self.seen.add(message.id):  # a gateway replay after a reconnect
            log.info("message %s already handled", message.id)
            return
        scope = scope_of(message.channel, message.guild.id)
        urls = await self.core.auto_links(scope, message.content)
        if not urls:
            return
        # Jobs are made here, before anything else is awaited for long: once made, a crash loses nothing.
        values = await self.core.settings_for(scope)
        me = message.guild.me
        channel = message.channel
        embeds_allowed = True
        if me is not None and isinstance(channel, discord.abc.GuildChannel):
            embeds_allowed = channel.permissions_for(me).embed_links
        host = urlsplit(urls[0]).hostname or urls[0]
        target = message_target(
            message,
            thread=values["reponse"] == "fil",
            thread_name=messages.DISCORD_THREAD_NAME.format(title=host),
            embeds=embeds_allowed,
        )
        after: int | None = None
        for url in urls:
            job = await self.core.submit(
                scope, user_id(message.author), url, None, target=target,
                request_key=f"discord:message:{message.id}|{url}", after=after,
            )
            after = job.id
            self.tasks.spawn(self.core.jobs.wait_delivered(job.id), name=f"discord-auto-{message.id}-{job.id}")


def _read_state(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.warning("ignoring unreadable %s", path)
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_state(path: Path, state: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
