"""discord.py objects -> the core's platform-neutral values."""

from __future__ import annotations

import discord

from bot.core.bot import Scope

PLATFORM = "discord"


def settings_channel(channel: object) -> int | None:
    """The channel whose settings apply: a thread follows its parent channel."""
    if isinstance(channel, discord.Thread):
        return channel.parent_id
    return getattr(channel, "id", None)


def scope_of(channel: object, guild_id: int | None) -> Scope:
    """Scope("discord", channel, server) of a channel; a DM has no server."""
    channel_id = settings_channel(channel) or 0
    return Scope(PLATFORM, channel=str(channel_id), server=str(guild_id) if guild_id else None)


def interaction_scope(interaction: discord.Interaction) -> Scope:
    channel = interaction.channel
    if channel is None:
        return Scope(PLATFORM, channel=str(interaction.channel_id or 0), server=_guild(interaction.guild_id))
    return scope_of(channel, interaction.guild_id)


def user_id(user: discord.abc.User) -> str:
    """How the core names a member in rate limits and shared links."""
    return str(user.id)


def is_moderator(interaction: discord.Interaction) -> bool:
    """Manage Server, as Discord computed it for this member in this channel (the interaction's own)."""
    return interaction.guild_id is not None and interaction.permissions.manage_guild


def _guild(guild_id: int | None) -> str | None:
    return str(guild_id) if guild_id else None
