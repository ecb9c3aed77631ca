"""Slash commands and the "Résumer" message action, with discord.py against the fake Discord."""

from __future__ import annotations

import time

from bot.core.types import Digest, Length, Part
from bot.platforms.discord import render
from tests.discord.conftest import StartBot
from tests.discord.fake_discord import MESSAGE_CONTENT_INTENT
from tests.discord.helpers import (
    DIGEST,
    ERROR,
    WORKING,
    assert_no_mentions_anywhere,
    assert_within_limits,
    colour,
    digest_done,
    embeds_of,
    message_body,
    opt,
    sub,
    text_of,
)


async def test_resume_defers_at_once_then_shows_progress_then_the_digest(start_bot: StartBot) -> None:
    bot = await start_bot()
    fake = bot.fake
    url = bot.corpus.url("fr09-ledevoir-trottinettes")
    issued = await fake.slash("resume", [opt("url", url), opt("longueur", "court")])
    await fake.wait_for(lambda: digest_done(fake, issued), what="the digest")
    await bot.settled(issued)

    calls = fake.for_interaction(issued)
    # The 3-second rule: the first thing sent is the deferred acknowledgement ("thinking").
    assert calls[0].path.endswith("/callback") and calls[0].body["type"] == 5
    assert all(r.path.startswith(f"/webhooks/{fake.app_id}/{issued.token}") for r in calls[1:])
    # Then a "⏳" status on the original response, then the digest in it.
    assert colour(calls[1]) == WORKING and "⏳" in text_of(calls[1]) and url in text_of(calls[1])
    final = [r for r in calls if colour(r) == DIGEST]
    assert final[0].method == "PATCH" and final[0].path.endswith("/messages/@original")
    assert calls.index(final[0]) > 1
    embeds = [e for r in final for e in embeds_of(r)]
    titles = [e.get("title") for e in embeds]
    assert titles[1:] == [p.heading for p in Part if p not in (Part.ACCROCHE, Part.REFERENCE)]
    assert embeds[0]["url"] == url
    assert "Article en référence :" in embeds[0]["description"]
    for r in final:
        assert_within_limits(embeds_of(r))
    assert_no_mentions_anywhere(fake)
    # The real pipeline ran, with the chosen length, and the link is recorded for roundups.
    assert await bot.app.cache.get(bot.app.cache_key(url, Length.COURT)) is not None
    assert [link.url for link in await bot.core.links.between(f"discord:channel:{fake.channel_id}", 0, 2e9)] == [url]


def _long_digest(url: str) -> Digest:
    def paragraphs(tag: str, n: int, size: int) -> str:
        sentence = f"Phrase {tag} numéro {{i}} qui explique un point du débat avec précision. "
        return "\n\n".join(
            "".join(sentence.format(i=f"{p}.{i}") for i in range(size // len(sentence))).strip() for p in range(n)
        )

    parts = {
        Part.ACCROCHE: "Un article très long, et un @everyone glissé dans l'accroche <@123>. 📚 #Test",
        Part.REFERENCE: f"{url} — Site de test",
        Part.RECAP: paragraphs("recap", 5, 2500),  # > 12000 characters: several embeds and messages
        Part.NEUTRE: paragraphs("neutre", 2, 1500) + "\n\nPing <@&456> et @here.",
        Part.EXEMPLE: "Imaginez que " + paragraphs("exemple", 1, 1200),
        Part.OPTIMISTE: paragraphs("optimiste", 2, 1800),
        Part.PESSIMISTE: paragraphs("pessimiste", 2, 1800),
    }
    return Digest(url, url, "Un titre d'article " + "très " * 80 + "long", Length.STANDARD, parts)


async def test_long_digest_is_split_in_order_within_discord_limits(start_bot: StartBot) -> None:
    bot = await start_bot()
    fake = bot.fake
    url = "https://exemple.fr/un-long-article"
    digest = _long_digest(url)
    await bot.app.cache.put(bot.app.cache_key(url, Length.STANDARD), digest)  # answered from the cache

    issued = await fake.slash("resume", [opt("url", url)])
    await fake.wait_for(lambda: digest_done(fake, issued), what="the digest")
    await bot.settled(issued)

    parts = [r for r in fake.for_interaction(issued) if colour(r) == DIGEST]
    assert len(parts) >= 3
    assert parts[0].method == "PATCH" and parts[0].path.endswith("/@original")
    assert all(r.method == "POST" and r.path == f"/webhooks/{fake.app_id}/{issued.token}" for r in parts[1:])
    for r in parts:
        assert_within_limits(embeds_of(r))
    embeds = [e for r in parts for e in embeds_of(r)]
    assert len(embeds[0]["title"]) <= 256 and embeds[0]["title"].endswith("…")
    # In order, nothing lost: each part's embeds, joined, give back the (mention-safe) part.
    by_heading: dict[str, list[str]] = {}
    order: list[str] = []
    for e in embeds[1:]:
        heading = e["title"].removesuffix(render.CONTINUED)
        if heading not in order:
            order.append(heading)
        by_heading.setdefault(heading, []).append(e["description"])
    assert order == [p.heading for p in Part if p not in (Part.ACCROCHE, Part.REFERENCE)]
    for _, heading, text in render.safe_parts(digest):
        if heading in by_heading:
            assert "\n\n".join(by_heading[heading]) == text
    assert len(by_heading["Récapitulatif factuel"]) >= 3
    # Nothing can ping: mentions neutralised in the text, and allowed_mentions empty everywhere.
    everything = "\n".join(e.get("description", "") for e in embeds)
    assert "@everyone" not in everything and "@here" not in everything and "<@123>" not in everything
    assert_no_mentions_anywhere(fake)


async def test_not_a_link_and_unreachable_link_get_french_errors(start_bot: StartBot) -> None:
    bot = await start_bot()
    fake = bot.fake
    issued = await fake.slash("resume", [opt("url", "pas un lien")])
    await bot.settled(issued)
    [callback] = fake.for_interaction(issued)
    assert callback.body["type"] == 4 and callback.body["data"]["flags"] == 64
    assert "adresse web valide" in text_of(callback)

    missing = bot.corpus.url("cette-page-n-existe-pas")
    issued = await fake.slash("resume", [opt("url", missing)])
    await fake.wait_for(lambda: digest_done(fake, issued), what="the error")
    await bot.settled(issued)
    calls = fake.for_interaction(issued)
    assert calls[0].body["type"] == 5
    assert colour(calls[-1]) == ERROR
    assert "Résumé impossible" in text_of(calls[-1]) and "HTTP 404" in text_of(calls[-1])

    issued = await fake.slash("resume", [opt("url", "http://10.1.2.3/intranet")])
    await fake.wait_for(lambda: digest_done(fake, issued), what="the error")
    assert "adresse privée" in text_of(fake.for_interaction(issued)[-1])
    assert_no_mentions_anywhere(fake)


async def test_a_digest_that_outlives_the_token_goes_to_the_channel(start_bot: StartBot) -> None:
    bot = await start_bot()
    fake = bot.fake
    url = bot.corpus.url("fr21-lemonde-loi-renseignement")
    # An interaction created 16 minutes ago: its token is dead when the digest is ready.
    issued = await fake.slash("resume", [opt("url", url)], created_ms=time.time() * 1000 - 16 * 60 * 1000)
    channel = f"/channels/{fake.channel_id}/messages"
    await fake.wait_for(
        lambda: any(colour(r) == DIGEST for r in fake.calls(prefix=channel)), what="the digest in the channel"
    )
    await bot.settled(issued)
    assert [r.body["type"] for r in fake.for_interaction(issued)] == [5]  # no use of the dead token
    sent = fake.calls(prefix=channel)
    # Who asked (a mention that pings nobody), a status, then the digest in place of the status.
    assert sent[0].method == "POST" and f"<@{fake.member_id}>" in sent[0].body["content"]
    assert sent[1].method == "POST" and colour(sent[1]) == WORKING
    digest = next(r for r in sent if colour(r) == DIGEST)
    assert digest.method == "PATCH" and digest.path.startswith(channel + "/")
    assert_no_mentions_anywhere(fake)


async def test_config_definir_needs_manage_server(start_bot: StartBot) -> None:
    bot = await start_bot()
    fake = bot.fake
    change = [sub("definir", opt("réglage", "longueur"), opt("valeur", "court"))]

    refused = await fake.slash("config", change, user_id=fake.member_id)
    await bot.settled(refused)
    [callback] = fake.for_interaction(refused)
    assert callback.body["type"] == 4 and callback.body["data"]["flags"] == 64  # ephemeral
    assert "Gérer le serveur" in text_of(callback)
    scope = f"discord:channel:{fake.channel_id}"
    assert (await bot.app.settings.effective(f"discord:server:{fake.guild_id}", scope))["longueur"] == "standard"

    accepted = await fake.slash("config", change, user_id=fake.moderator_id)
    await bot.settled(accepted)
    [callback] = fake.for_interaction(accepted)
    assert callback.body["type"] == 4 and not callback.body["data"].get("flags", 0) & 64
    assert "✅ Réglage « longueur » : court." in text_of(callback)
    assert (await bot.app.settings.effective(f"discord:server:{fake.guild_id}", scope))["longueur"] == "court"

    bad = await fake.slash(
        "config", [sub("definir", opt("réglage", "longueur"), opt("valeur", "moyen"))], user_id=fake.moderator_id
    )
    await bot.settled(bad)
    [callback] = fake.for_interaction(bad)
    assert callback.body["data"]["flags"] == 64 and "Valeur invalide pour « longueur »" in text_of(callback)

    # Autocompletion of the value from the chosen setting's choices.
    typing = [sub("definir", opt("réglage", "reponse"), opt("valeur", "re", focused=True))]
    completed = await fake.slash("config", typing, user_id=fake.moderator_id, autocomplete=True)
    await bot.settled(completed)
    [callback] = fake.for_interaction(completed)
    assert callback.body == {"type": 8, "data": {"choices": [{"name": "reponse", "value": "reponse"}]}}


async def test_config_voir_for_anyone_and_aide(start_bot: StartBot) -> None:
    bot = await start_bot()
    fake = bot.fake
    issued = await fake.slash("config", [sub("voir")], user_id=fake.member_id)
    await bot.settled(issued)
    [callback] = fake.for_interaction(issued)
    assert callback.body["type"] == 4 and callback.body["data"]["flags"] == 64
    assert "Réglages de ce salon" in text_of(callback) and "longueur = standard" in text_of(callback)

    issued = await fake.slash("aide")
    await bot.settled(issued)
    [callback] = fake.for_interaction(issued)
    assert "/config salon-auto" in text_of(callback) and "« Résumer »" in text_of(callback)
    assert_no_mentions_anywhere(fake)


async def test_message_action_digests_the_links_of_a_message(start_bot: StartBot) -> None:
    bot = await start_bot()  # no message-content intent: the interaction carries the message
    fake = bot.fake
    assert fake.intents is not None and not fake.intents & MESSAGE_CONTENT_INTENT
    first = bot.corpus.url("fr09-ledevoir-trottinettes")
    second = bot.corpus.url("fr05-lopinion-glyphosate")
    message = fake.message(f"Deux articles : {first} et aussi {second}.")
    issued = await fake.message_action("Résumer", message)
    await fake.wait_for(lambda: digest_done(fake, issued), what="the first digest")
    await bot.settled(issued)

    calls = fake.for_interaction(issued)
    assert calls[0].body["type"] == 5
    digests = [r for r in calls if colour(r) == DIGEST]
    links = [embeds_of(r)[0].get("url") for r in digests if embeds_of(r)[0].get("url")]
    assert links == [first, second]  # one digest per link, in the message's order
    assert digests[0].path.endswith("/@original")
    # The second link got its own status message (a follow-up), then that message was edited.
    second_edit = next(r for r in digests if embeds_of(r)[0].get("url") == second)
    assert second_edit.method == "PATCH" and not second_edit.path.endswith("/@original")

    no_link = await fake.message_action("Résumer", fake.message("Bonjour à tous !"))
    await bot.settled(no_link)
    [callback] = fake.for_interaction(no_link)
    assert callback.body["data"]["flags"] == 64 and "Aucun lien" in text_of(callback)
    assert_no_mentions_anywhere(fake)


async def test_roundup_lists_what_was_digested_here(start_bot: StartBot) -> None:
    bot = await start_bot()
    fake = bot.fake
    url = bot.corpus.url("fr09-ledevoir-trottinettes")
    issued = await fake.slash("resume", [opt("url", url)])
    await fake.wait_for(lambda: digest_done(fake, issued), what="the digest")
    await bot.settled(issued)

    roundup = await fake.slash("roundup")
    await fake.wait_for(lambda: any(r.method == "PATCH" for r in fake.for_interaction(roundup)), what="the roundup")
    await bot.settled(roundup)
    calls = fake.for_interaction(roundup)
    assert calls[0].body["type"] == 5
    body = text_of(calls[-1])
    assert "Récapitulatif des liens partagés" in body and url in body and "Les débats de la période" in body
    assert message_body(calls[-1]) is not None
    assert_no_mentions_anywhere(fake)
