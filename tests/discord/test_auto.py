"""Automatic digests of links posted in watched channels, and gateway reconnects without re-posting."""

from __future__ import annotations

from typing import Any

from bot.platforms.discord import render
from tests.discord.conftest import Bot, StartBot
from tests.discord.fake_discord import MESSAGE_CONTENT_INTENT, FakeDiscord
from tests.discord.helpers import (
    DIGEST,
    WORKING,
    assert_no_mentions_anywhere,
    assert_within_limits,
    colour,
    embeds_of,
    opt,
    sub,
    text_of,
)


async def _watch(bot: Bot, channel_id: int) -> None:
    """A moderator runs /config salon-auto ajouter #channel."""
    fake = bot.fake
    channel = fake.channels[channel_id]
    issued = await fake.slash(
        "config",
        [sub("salon-auto", sub("ajouter", opt("salon", str(channel_id), kind=7)), kind=2)],
        user_id=fake.moderator_id,
        resolved={"channels": {str(channel_id): {**channel, "permissions": "0"}}},
    )
    await bot.settled(issued)
    [callback] = fake.for_interaction(issued)
    assert "✅ Résumés automatiques activés" in text_of(callback), text_of(callback)


def _threads(fake: FakeDiscord, message: dict[str, Any]) -> list[Any]:
    return fake.calls("POST", f"/channels/{message['channel_id']}/messages/{message['id']}/threads")


def _digest_in(fake: FakeDiscord, channel_id: int | str) -> list[Any]:
    return [r for r in fake.calls(prefix=f"/channels/{channel_id}/messages") if colour(r) == DIGEST]


async def test_link_in_watched_channel_gets_a_digest_in_a_thread(start_bot: StartBot) -> None:
    bot = await start_bot(message_content_intent=True)
    fake = bot.fake
    assert fake.intents is not None and fake.intents & MESSAGE_CONTENT_INTENT
    await _watch(bot, fake.channel_id)
    url = bot.corpus.url("fr09-ledevoir-trottinettes")
    message = await fake.post_message(f"Vu ce matin : {url} — qu'en pensez-vous ?")

    await fake.wait_for(lambda: _digest_in(fake, message["id"]), what="the digest in the thread")
    await bot.settled()
    [thread] = _threads(fake, message)
    assert thread.body["name"].startswith("Débat : 127.0.0.1")
    in_thread = fake.calls(prefix=f"/channels/{message['id']}/messages")  # the thread has the message's id
    assert in_thread[0].method == "POST" and colour(in_thread[0]) == WORKING  # status first
    digest = _digest_in(fake, message["id"])
    assert digest[0].method == "PATCH"  # the status became the digest
    assert embeds_of(digest[0])[0]["url"] == url
    for r in digest:
        assert_within_limits(embeds_of(r))
    # Nothing was posted in the channel itself.
    assert not [r for r in fake.calls("POST") if r.path == f"/channels/{fake.channel_id}/messages"]
    assert_no_mentions_anywhere(fake)


async def test_unwatched_channel_and_per_message_limit(start_bot: StartBot) -> None:
    bot = await start_bot(message_content_intent=True)
    fake = bot.fake
    await _watch(bot, fake.channel_id)
    scope = f"discord:server:{fake.guild_id}"
    await bot.app.settings.set(scope, "liens_par_message", "1")
    ignored = await fake.post_message(
        f"Ailleurs : {bot.corpus.url('fr05-lopinion-glyphosate')}", channel_id=fake.other_channel_id
    )
    a, b = bot.corpus.url("fr09-ledevoir-trottinettes"), bot.corpus.url("fr21-lemonde-loi-renseignement")
    watched = await fake.post_message(f"Deux liens : {a} {b}")
    # Messages are handled in order: once the second is answered, the first was decided.
    await fake.wait_for(lambda: _digest_in(fake, watched["id"]), what="the digest of the watched channel")
    await bot.settled()
    assert not _threads(fake, ignored)
    assert not fake.calls(prefix=f"/channels/{fake.other_channel_id}/")
    urls = [embeds_of(r)[0].get("url") for r in _digest_in(fake, watched["id"]) if embeds_of(r)[0].get("url")]
    assert urls == [a]  # liens_par_message = 1


async def test_reply_mode_and_plain_text_where_embeds_are_denied(start_bot: StartBot) -> None:
    bot = await start_bot(message_content_intent=True)
    fake = bot.fake
    channel = fake.no_embed_channel_id
    await _watch(bot, channel)
    await bot.app.settings.set(f"discord:channel:{channel}", "reponse", "reponse")
    url = bot.corpus.url("fr09-ledevoir-trottinettes")
    message = await fake.post_message(f"À lire : {url}", channel_id=channel)

    def edited() -> list[Any]:
        return [r for r in fake.calls("PATCH", f"/channels/{channel}/messages/") if "⏳" not in text_of(r)]

    await fake.wait_for(edited, what="the plain digest")
    await bot.settled()
    assert not _threads(fake, message)
    sent = fake.calls(prefix=f"/channels/{channel}/messages")
    # A reply to the message (pinging nobody), plain text since the bot may not embed links here.
    assert str(sent[0].body["message_reference"]["message_id"]) == message["id"]
    assert sent[0].body["content"].startswith("⏳")
    for r in sent:
        assert not r.body.get("embeds")
        assert len(r.body.get("content") or "") <= render.CONTENT_LIMIT
    everything = "".join(r.body.get("content") or "" for r in sent)
    assert url in everything and "**Récapitulatif factuel**" in everything
    assert_no_mentions_anywhere(fake)


async def test_without_the_intent_nothing_is_read(start_bot: StartBot) -> None:
    bot = await start_bot()  # message_content_intent = false (the default)
    fake = bot.fake
    assert fake.intents is not None and not fake.intents & MESSAGE_CONTENT_INTENT
    await bot.app.settings.set(f"discord:channel:{fake.channel_id}", "resume_auto", "oui")
    await fake.post_message(f"Un lien : {bot.corpus.url('fr09-ledevoir-trottinettes')}")
    barrier = await fake.slash("aide")  # events are handled in order: answered means the message was seen
    await bot.settled(barrier)
    assert not fake.calls(prefix="/channels/")


async def test_a_gateway_reconnect_does_not_post_twice(start_bot: StartBot) -> None:
    bot = await start_bot(message_content_intent=True)
    fake = bot.fake
    await _watch(bot, fake.channel_id)
    first = await fake.post_message(f"Un lien : {bot.corpus.url('fr09-ledevoir-trottinettes')}")
    await fake.wait_for(lambda: _digest_in(fake, first["id"]), what="the first digest")
    await bot.settled()
    replayed = fake.events[-1]
    assert replayed["t"] == "MESSAGE_CREATE"
    before = len(fake.calls(prefix=f"/channels/{first['id']}/"))

    await fake.drop_connection()  # Discord closes the socket; discord.py reconnects and resumes
    await fake.wait_for(lambda: fake.resumed() == 1 and fake.connected, what="the RESUME")
    assert fake.identified() == 1  # resumed, not a new session
    await fake.dispatch("MESSAGE_CREATE", replayed["d"])  # the same message, delivered again
    second = await fake.post_message(f"Un autre : {bot.corpus.url('fr05-lopinion-glyphosate')}")
    await fake.wait_for(lambda: _digest_in(fake, second["id"]), what="the second digest")
    await bot.settled()

    assert len(_threads(fake, first)) == 1
    assert len(_threads(fake, second)) == 1
    # Nothing more went to the first message's thread after the reconnect.
    assert len(fake.calls(prefix=f"/channels/{first['id']}/")) == before


async def test_salon_auto_needs_manage_server_and_can_be_removed(start_bot: StartBot) -> None:
    bot = await start_bot()
    fake = bot.fake
    channel_scope = f"discord:channel:{fake.other_channel_id}"

    def toggle(action: str) -> list[dict[str, Any]]:
        return [sub("salon-auto", sub(action, opt("salon", str(fake.other_channel_id), kind=7)), kind=2)]

    resolved = {"channels": {str(fake.other_channel_id): {**fake.channels[fake.other_channel_id], "permissions": "0"}}}
    refused = await fake.slash("config", toggle("ajouter"), user_id=fake.member_id, resolved=resolved)
    await bot.settled(refused)
    [callback] = fake.for_interaction(refused)
    assert callback.body["data"]["flags"] == 64 and "Gérer le serveur" in text_of(callback)
    assert (await bot.app.settings.effective(channel_scope))["resume_auto"] is False

    added = await fake.slash("config", toggle("ajouter"), user_id=fake.moderator_id, resolved=resolved)
    await bot.settled(added)
    [callback] = fake.for_interaction(added)
    assert f"<#{fake.other_channel_id}>" in text_of(callback)
    assert "intention « contenu des messages »" in text_of(callback)  # this bot runs without the intent
    assert (await bot.app.settings.effective(channel_scope))["resume_auto"] is True

    removed = await fake.slash("config", toggle("retirer"), user_id=fake.moderator_id, resolved=resolved)
    await bot.settled(removed)
    assert "désactivés" in text_of(fake.for_interaction(removed)[0])
    assert (await bot.app.settings.effective(channel_scope))["resume_auto"] is False
