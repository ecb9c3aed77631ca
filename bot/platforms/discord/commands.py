"""Application commands: /resume, the "Résumer" message action, /config, /roundup, /aide.

Handlers are small: they acknowledge the interaction within Discord's 3 seconds (an answer, or
`defer(thinking=True)` when work follows), then call BotCore. Slow work runs as a tracked
background task that fills in the deferred response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands

from bot import messages
from bot.config import DiscordConfig
from bot.core.bot import BotCore, parse_length
from bot.core.settings import SPEC_BY_KEY, SPECS
from bot.core.types import Length
from bot.errors import AgoraError, InvalidURL, PermissionDenied, user_message
from bot.ops.metrics import report_error
from bot.pipeline.urls import find_urls
from bot.platforms.discord import render
from bot.platforms.discord.convert import interaction_scope, is_moderator, scope_of, user_id
from bot.platforms.discord.delivery import (
    NO_MENTIONS,
    InteractionSink,
    SeenIds,
    Tasks,
    deliver_text,
)
from bot.platforms.discord.jobs import DiscordDeliverer, interaction_target

log = logging.getLogger(__name__)

LENGTH_CHOICES = [app_commands.Choice(name=v, value=v) for v in ("court", "standard", "long")]
KEY_CHOICES = [app_commands.Choice(name=render.truncate(f"{s.key} — {s.help}", 100), value=s.key) for s in SPECS]
RESET_WORD = "défaut"


def count_error(core: BotCore, kind: str | BaseException) -> None:
    """One error for agora_errors_total{platform="discord"} when metrics are on (`agora run`)."""
    report_error(getattr(core.app, "metrics", None), kind, "discord")


class AgoraTree(app_commands.CommandTree):
    """The command tree, with French answers for refusals and failures."""

    def __init__(
        self,
        client: discord.Client,
        *,
        seen: SeenIds,
        count_error: Callable[[str | BaseException], None] | None = None,
    ) -> None:
        super().__init__(client)
        self._seen = seen
        self._count_error = count_error or (lambda kind: None)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        # A gateway replay must not run a command twice.
        return self._seen.add(interaction.id)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        cause: BaseException = error
        if isinstance(error, app_commands.CommandInvokeError):
            cause = error.original
        if isinstance(cause, app_commands.MissingPermissions | PermissionDenied):
            text = messages.DISCORD_NEEDS_MANAGE_GUILD
        elif isinstance(cause, app_commands.NoPrivateMessage):
            text = messages.DISCORD_GUILD_ONLY
        elif isinstance(cause, AgoraError):
            text = cause.user_message
        else:
            log.error("command %s failed", getattr(interaction.command, "qualified_name", "?"), exc_info=cause)
            self._count_error("internal")
            text = user_message(cause)
        if not await reply_ephemeral(interaction, text):
            self._count_error("delivery.lost")


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> bool:
    """A private French answer, whether or not the interaction was already acknowledged; False if lost."""
    embed = render.error_embed(text)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except Exception as exc:  # the last resort (also used by on_error): it must never raise
        log.warning("could not answer interaction %s: %r", interaction.id, exc)
        return False
    return True


class Handlers:
    """What each command does; one method per command, all going through BotCore."""

    def __init__(self, core: BotCore, config: DiscordConfig, tasks: Tasks, deliverer: DiscordDeliverer) -> None:
        self.core = core
        self.config = config
        self.tasks = tasks
        self.deliverer = deliverer

    # --- digests -------------------------------------------------------------------------------------

    async def resume(self, interaction: discord.Interaction, url: str, length: str | None) -> None:
        found = find_urls(url, limit=1)
        if not found:
            if not await reply_ephemeral(interaction, InvalidURL().user_message):
                count_error(self.core, "delivery.lost")
            return
        chosen = parse_length(length, "/") if length else None
        callback = await interaction.response.defer(thinking=True)  # the 3-second rule: acknowledge first
        await self._digest_links(interaction, found, chosen, callback)

    async def summarize_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        values = await self.core.settings_for(interaction_scope(interaction))
        # The interaction carries the target message's content even without the message-content intent.
        found = find_urls(message.content, limit=int(values["liens_par_message"]))
        if not found:
            if not await reply_ephemeral(interaction, messages.NO_LINK):
                count_error(self.core, "delivery.lost")
            return
        callback = await interaction.response.defer(thinking=True)
        await self._digest_links(interaction, found, None, callback)

    async def _digest_links(
        self, interaction: discord.Interaction, urls: list[str], length: Length | None, callback: Any
    ) -> None:
        """One job per link: the first answers in the deferred response, the others in follow-ups."""
        scope = interaction_scope(interaction)
        user = user_id(interaction.user)
        # The deferred response's id lets a restarted bot edit it through the token, without the object.
        original_id = getattr(callback, "message_id", None)
        after: int | None = None
        for index, url in enumerate(urls):
            target = interaction_target(
                interaction, original_id=original_id, slot="original" if index == 0 else "followup"
            )
            job = await self.core.submit(
                scope, user, url, length, target=target,
                request_key=f"discord:interaction:{interaction.id}|{url}", after=after,
            )
            self.deliverer.remember(job.id, interaction)
            after = job.id
            self.tasks.spawn(self.core.jobs.wait_delivered(job.id), name=f"discord-job-{job.id}")

    # --- settings ------------------------------------------------------------------------------------

    async def config_view(self, interaction: discord.Interaction) -> None:
        text = await self.core.config_view(interaction_scope(interaction))
        embeds = render.text_messages(text)
        await interaction.response.send_message(embeds=embeds[0], ephemeral=True, allowed_mentions=NO_MENTIONS)
        for more in embeds[1:]:
            await interaction.followup.send(embeds=more, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def config_set(self, interaction: discord.Interaction, key: str, value: str) -> None:
        text = await self.core.config_set(
            interaction_scope(interaction),
            key,
            value,
            is_moderator=is_moderator(interaction),
            by=user_id(interaction.user),
        )
        await interaction.response.send_message(embed=render.info_embed(text), allowed_mentions=NO_MENTIONS)

    async def value_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Autocompletion of `valeur` from the chosen setting: its choices, its value, its default."""
        spec = SPEC_BY_KEY.get(str(getattr(interaction.namespace, "réglage", "") or ""))
        if spec is None:
            return []
        options = list(spec.choices)
        if not options:
            values = await self.core.settings_for(interaction_scope(interaction))
            options = [spec.show(values.get(spec.key, spec.default)), spec.show(spec.default)]
        options.append(RESET_WORD)
        typed = current.strip().lower()
        unique = list(dict.fromkeys(o for o in options if typed in o.lower()))
        return [app_commands.Choice(name=render.truncate(o, 100), value=o[:100]) for o in unique[:25]]

    async def auto_channel(self, interaction: discord.Interaction, channel: Any, enable: bool) -> None:
        scope = scope_of(channel, interaction.guild_id)
        await self.core.config_set(
            scope,
            "resume_auto",
            "oui" if enable else "non",
            is_moderator=is_moderator(interaction),
            by=user_id(interaction.user),
        )
        template = messages.DISCORD_AUTO_ON if enable else messages.DISCORD_AUTO_OFF
        text = template.format(channel=f"<#{channel.id}>")
        if enable and not self.config.message_content_intent:
            text = f"{text}\n{messages.DISCORD_AUTO_INTENT_OFF}"
        await interaction.response.send_message(embed=render.info_embed(text), allowed_mentions=NO_MENTIONS)

    # --- the rest ------------------------------------------------------------------------------------

    async def roundup(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        scope = interaction_scope(interaction)
        sink = InteractionSink(interaction)

        async def work() -> None:
            try:
                text = await self.core.roundup(scope)
            except Exception as exc:
                if not isinstance(exc, AgoraError):
                    log.exception("roundup failed")
                    count_error(self.core, exc)
                await sink.open(content=None, embeds=[render.error_embed(user_message(exc))])
                return
            await deliver_text(sink, text)

        self.tasks.spawn(work(), name=f"discord-roundup-{interaction.id}")

    async def help(self, interaction: discord.Interaction) -> None:
        embed = render.info_embed(messages.help_text("/", slash=True))
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)


AppCommand = app_commands.Command[Any, ..., Any] | app_commands.Group | app_commands.ContextMenu


def build_commands(h: Handlers) -> list[AppCommand]:
    """The application commands, French names and descriptions; each one calls a Handlers method."""

    @app_commands.command(name="resume", description=messages.DISCORD_RESUME)
    @app_commands.describe(url=messages.DISCORD_RESUME_URL, longueur=messages.DISCORD_RESUME_LENGTH)
    @app_commands.choices(longueur=LENGTH_CHOICES)
    async def resume(
        interaction: discord.Interaction, url: str, longueur: app_commands.Choice[str] | None = None
    ) -> None:
        await h.resume(interaction, url, longueur.value if longueur else None)

    async def summarize_message(interaction: discord.Interaction, message: discord.Message) -> None:
        await h.summarize_message(interaction, message)

    action = app_commands.ContextMenu(name=messages.DISCORD_MESSAGE_ACTION, callback=summarize_message)

    config = app_commands.Group(name="config", description=messages.DISCORD_CONFIG, guild_only=True)
    # Moderation is checked in code (has_permissions, then BotCore): `default_permissions` would hide
    # the whole /config group, `voir` included, and is only a hint servers can override anyway.
    auto = app_commands.Group(name="salon-auto", description=messages.DISCORD_AUTO, parent=config)

    @config.command(name="voir", description=messages.DISCORD_CONFIG_VIEW)
    async def config_view(interaction: discord.Interaction) -> None:
        await h.config_view(interaction)

    @config.command(name="definir", description=messages.DISCORD_CONFIG_SET)
    @app_commands.rename(reglage="réglage")
    @app_commands.describe(reglage=messages.DISCORD_CONFIG_KEY, valeur=messages.DISCORD_CONFIG_VALUE)
    @app_commands.choices(reglage=KEY_CHOICES)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def config_set(interaction: discord.Interaction, reglage: str, valeur: str) -> None:
        await h.config_set(interaction, reglage, valeur)

    @config_set.autocomplete("valeur")
    async def config_values(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await h.value_choices(interaction, current)

    @auto.command(name="ajouter", description=messages.DISCORD_AUTO_ADD)
    @app_commands.describe(salon=messages.DISCORD_AUTO_CHANNEL)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def auto_add(interaction: discord.Interaction, salon: discord.TextChannel) -> None:
        await h.auto_channel(interaction, salon, True)

    @auto.command(name="retirer", description=messages.DISCORD_AUTO_REMOVE)
    @app_commands.describe(salon=messages.DISCORD_AUTO_CHANNEL)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def auto_remove(interaction: discord.Interaction, salon: discord.TextChannel) -> None:
        await h.auto_channel(interaction, salon, False)

    @app_commands.command(name="roundup", description=messages.DISCORD_ROUNDUP)
    @app_commands.guild_only()
    async def roundup(interaction: discord.Interaction) -> None:
        await h.roundup(interaction)

    @app_commands.command(name="aide", description=messages.DISCORD_HELP)
    async def aide(interaction: discord.Interaction) -> None:
        await h.help(interaction)

    return [resume, action, config, roundup, aide]
