"""Agora on a real Synapse: real nio clients talk to the bot; only the model is the echo backend."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import vodozemac

from bot import messages
from bot.core.types import Digest, Length, Part
from tests.conftest import CorpusServer
from tests.matrix.conftest import Bot, Person, stop_bot, wait_until

pytestmark = pytest.mark.synapse

People = Callable[[str], Awaitable[Person]]
Bots = Callable[..., Awaitable[Bot]]

HEADINGS = [p.heading for p in Part if p.heading]
ARTICLE = "fr09-ledevoir-trottinettes"


def content(event: Any) -> dict[str, Any]:
    return dict(event.source.get("content") or {})


def assert_in_order(text: str, needles: list[str]) -> None:
    positions = [text.index(n) for n in needles]
    assert positions == sorted(positions), (needles, positions)


async def room_with_bot(person: Person, bot: Bot, **kwargs: Any) -> str:
    room_id = await person.create_room(invite=[bot.user_id], **kwargs)
    await wait_until(lambda: room_id in bot.platform.client.nio.rooms, what="the bot to join")
    await wait_until(lambda: bot.user_id in person.client.rooms[room_id].users, what="the bot's join in sync")
    return room_id


async def test_command_gets_a_digest_that_replaces_the_progress_notice(
    people: People, bots: Bots, corpus_server: CorpusServer
) -> None:
    bot = await bots()
    alice = await people("alice")
    room = await room_with_bot(alice, bot)
    url = corpus_server.url(ARTICLE)

    command = await alice.say(room, f"!resume {url} court")
    progress = await alice.answer(room, command)
    body = content(progress)
    assert body["body"].startswith("⏳") and url in body["body"]
    assert body["msgtype"] == "m.notice" and body["m.mentions"] == {}
    # Answered in a thread on the command (the default "reponse = fil").
    assert body["m.relates_to"]["rel_type"] == "m.thread"
    assert body["m.relates_to"]["event_id"] == command

    edit = content(await alice.edit_of(room, progress.event_id))
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": progress.event_id}
    assert edit["m.mentions"] == {}
    new = edit["m.new_content"]
    assert new["msgtype"] == "m.notice" and new["m.mentions"] == {}
    assert new["format"] == "org.matrix.custom.html"
    assert_in_order(new["body"], HEADINGS)
    assert_in_order(new["formatted_body"], [f"<h4>{h}</h4>" for h in HEADINGS if h != Part.REFERENCE.heading])
    assert f'<strong>{Part.REFERENCE.heading}</strong> <a href="{url}">' in new["formatted_body"]
    assert "⏳" not in new["body"]
    assert await bot.action(command) == "resume"

    # The links digested here are what the roundup gathers.
    roundup = await alice.say(room, "!roundup")
    answer = content(await alice.answer(room, roundup))
    assert answer["body"].startswith("📚 Récapitulatif des liens partagés")
    assert url in answer["body"] and "<strong>" in answer["formatted_body"]


async def test_help_usage_config_view_mentions_and_errors(
    people: People, bots: Bots, corpus_server: CorpusServer
) -> None:
    bot = await bots()
    alice = await people("alice")
    room = await room_with_bot(alice, bot)

    sent = {
        "aide": await alice.say(room, "!aide"),
        "usage": await alice.say(room, "!resume"),
        "unknown": await alice.say(room, "!inconnu"),
        "config": await alice.say(room, "!config"),
    }
    answers = {name: content(await alice.answer(room, event_id)) for name, event_id in sent.items()}
    assert answers["aide"]["body"].startswith("Agora résume en français")
    assert "<strong>Agora</strong>" in answers["aide"]["formatted_body"]
    assert answers["usage"]["body"] == messages.usage("!")
    assert answers["unknown"]["body"].startswith("Commande inconnue : « inconnu »")
    assert answers["config"]["body"].startswith(messages.CONFIG_HEADER)
    assert "resume_auto = non" in answers["config"]["body"]
    for answer in answers.values():
        assert answer["msgtype"] == "m.notice" and answer["m.mentions"] == {}

    # A mention with a link works like !resume (the bot is named with an intentional mention).
    url = corpus_server.url("fr05-lopinion-glyphosate")
    mention = await alice.say(
        room, f"{bot.user_id} que penser de {url} ?", **{"m.mentions": {"user_ids": [bot.user_id]}}
    )
    progress = await alice.answer(room, mention)
    digest = content(await alice.edit_of(room, progress.event_id))["m.new_content"]
    assert_in_order(digest["body"], HEADINGS)

    # A link that is not an article: the progress notice becomes the French reason.
    image = corpus_server.url("tricky10-jpeg-image")
    failing = await alice.say(room, f"!resume {image}")
    progress = await alice.answer(room, failing)
    failure = content(await alice.edit_of(room, progress.event_id))["m.new_content"]
    assert failure["body"].startswith("⚠️ Résumé impossible pour " + image)
    assert "image/jpeg" in failure["body"]


async def test_moderators_automatic_digests_threads_and_replies(
    people: People, bots: Bots, corpus_server: CorpusServer
) -> None:
    bot = await bots()
    alice, bob, carol = await people("alice"), await people("bob"), await people("carol")
    room = await alice.create_room(invite=[bot.user_id, bob.user_id, carol.user_id], moderators=[carol.user_id])
    await bob.join(room)
    await carol.join(room)
    await wait_until(lambda: room in bot.platform.client.nio.rooms, what="the bot to join")
    url = corpus_server.url(ARTICLE)

    # bob (power level 0) may not change settings; carol (50) may; alice created the room (v12: creator).
    refused = await bob.say(room, "!config resume_auto oui")
    answer = content(await bob.answer(room, refused))["body"]
    assert answer == messages.MATRIX_NOT_MODERATOR.format(level=50, prefix="!")
    plain = await bob.say(room, f"regardez {url}")
    await wait_until(lambda: bot.action(plain), what="the bot to look at bob's link")
    assert await bot.action(plain) == "ignore"

    allowed = await carol.say(room, "!config resume_auto oui")
    assert content(await carol.answer(room, allowed))["body"] == "✅ Réglage « resume_auto » : oui."

    # Automatic digest, in a thread on the original message (the default).
    shared = await bob.say(room, f"Un article intéressant : {url}")
    progress = await bob.answer(room, shared)
    rel = content(progress)["m.relates_to"]
    assert rel["rel_type"] == "m.thread" and rel["event_id"] == shared
    assert rel["m.in_reply_to"] == {"event_id": shared}
    digest = content(await bob.edit_of(room, progress.event_id))["m.new_content"]
    assert_in_order(digest["body"], HEADINGS)
    assert await bot.action(shared) == "auto"

    # reponse = reponse: a plain reply, no thread.
    mode = await alice.say(room, "!config reponse reponse")
    assert content(await alice.answer(room, mode))["body"] == "✅ Réglage « reponse » : reponse."
    shared2 = await bob.say(room, f"Et celui-ci : {corpus_server.url('fr05-lopinion-glyphosate')}")
    progress2 = await bob.answer(room, shared2)
    assert content(progress2)["m.relates_to"] == {"m.in_reply_to": {"event_id": shared2}}
    await bob.edit_of(room, progress2.event_id)

    # Off again: links are left alone.
    off = await carol.say(room, "!config resume_auto non")
    assert content(await carol.answer(room, off))["body"] == "✅ Réglage « resume_auto » : non."
    shared3 = await bob.say(room, f"Encore un : {url}")
    await wait_until(lambda: bot.action(shared3), what="the bot to look at the third link")
    assert await bot.action(shared3) == "ignore"
    later = await bob.say(room, "!aide")
    await bob.answer(room, later)
    assert bob.related(room, shared3) == []
    assert bob.related(room, plain) == []


async def test_no_answers_to_history_and_same_device_after_restart(
    people: People, bots: Bots, corpus_server: CorpusServer
) -> None:
    bot = await bots()
    alice = await people("alice")
    url = corpus_server.url(ARTICLE)
    # Said before the bot joined: history, never answered.
    room = await alice.create_room()
    before_join = await alice.say(room, f"!resume {url}")
    await alice.client.room_invite(room, bot.user_id)
    await wait_until(lambda: room in bot.platform.client.nio.rooms, what="the bot to join")
    first = await alice.say(room, "!aide")
    await alice.answer(room, first)
    device = bot.device_id
    devices = {d.id for d in (await bot.platform.client.nio.devices()).devices}  # type: ignore[union-attr]
    assert device in devices

    # Said while the bot was stopped: replayed by the first sync after the restart, never answered.
    await stop_bot(bot)
    while_down = [await alice.say(room, f"!resume {url}"), await alice.say(room, "!aide")]
    again = await bots(user_id=bot.user_id, data=bot.data)
    assert again.device_id == device  # the stored session was reused: no new device
    after = await alice.say(room, "!aide")
    await alice.answer(room, after)

    for old in [before_join, *while_down]:
        assert alice.related(room, old) == [], old
        assert await again.action(old) is None
    assert len([e for _, e in alice.events if e.sender == bot.user_id and content(e).get("msgtype")]) == 2
    # The registration API made a device too; the restart added none.
    assert {d.id for d in (await again.platform.client.nio.devices()).devices} == devices  # type: ignore[union-attr]
    creds = json.loads((bot.data / "matrix" / "credentials.json").read_text())
    assert creds["device_id"] == device and creds["user_id"] == bot.user_id


async def test_encrypted_room_digest_split_and_undecryptable_notice(
    people: People, bots: Bots, corpus_server: CorpusServer
) -> None:
    bot = await bots()
    alice = await people("alice")
    room = await room_with_bot(alice, bot, encrypted=True)
    assert bot.platform.client.nio.rooms[room].encrypted
    url = corpus_server.url(ARTICLE)

    command = await alice.say(room, f"!resume {url} court")
    progress = await alice.answer(room, command)
    assert progress.decrypted and content(progress)["body"].startswith("⏳")
    edit = await alice.edit_of(room, progress.event_id)
    assert edit.decrypted
    assert_in_order(content(edit)["m.new_content"]["body"], HEADINGS)

    # A digest of ~16 000 characters: several events, each accepted by Synapse, in order.
    big_url = corpus_server.url("fr21-lemonde-loi-renseignement")
    big = _big_digest(big_url)
    await bot.app.cache.put(bot.app.cache_key(big_url, Length.LONG), big)
    command = await alice.say(room, f"!resume {big_url} long")
    progress = await alice.answer(room, command)
    first = content(await alice.edit_of(room, progress.event_id))["m.new_content"]["body"]
    marker = big.parts[Part.PESSIMISTE].split()[-1]

    def pieces() -> list[str] | None:
        rest = [content(e)["body"] for e in alice.related(room, command) if e.event_id != progress.event_id]
        bodies = [first, *rest]
        return bodies if marker in bodies[-1] else None

    bodies = await wait_until(pieces, what="every piece of the long digest")
    assert len(bodies) >= 2
    sections = [f"\n{h}\n" for h in HEADINGS if h != Part.REFERENCE.heading]
    assert_in_order("\n\n".join(bodies), [big.parts[Part.ACCROCHE][:40], f"{Part.REFERENCE.heading} ", *sections])
    assert sum(len(b) for b in bodies) >= 16_000

    # An event encrypted with a Megolm session that was never shared with the bot.
    crafted = await _send_with_unshared_session(alice, room, "!aide")
    notice = content(await alice.answer(room, crafted))
    assert notice["body"] == messages.UNDECRYPTABLE
    assert await bot.action(crafted) == "undecryptable"


async def test_survives_a_synapse_restart(people: People, bots: Bots, synapse: Any) -> None:
    bot = await bots()
    alice = await people("alice")
    room = await room_with_bot(alice, bot)
    await alice.answer(room, await alice.say(room, "!aide"))

    await asyncio.to_thread(synapse.restart)
    after = await alice.say(room, "!aide")
    assert content(await alice.answer(room, after, within=60))["body"].startswith("Agora résume")
    assert not bot.task.done()


async def test_invites_from_strangers_are_refused_and_kicks_are_clean(
    people: People, bots: Bots, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.platforms.matrix")
    alice, bob = await people("alice"), await people("bob")
    bot = await bots(allowed_inviters=(alice.user_id,))

    strangers = await bob.create_room(invite=[bot.user_id])
    await wait_until(lambda: _is(bob.membership(strangers, bot.user_id), "leave"), what="the refusal")
    assert strangers not in bot.platform.client.nio.rooms

    room = await room_with_bot(alice, bot)
    kicked = await alice.client.room_kick(room, bot.user_id, reason="test")
    assert not hasattr(kicked, "status_code"), kicked
    await wait_until(lambda: room not in bot.platform.client.nio.rooms, what="the bot to forget the room")
    assert bot.platform.store is not None and await bot.platform.store.joined_at(room) is None
    assert await alice.membership(room, bot.user_id) == "leave"
    await wait_until(
        lambda: any(f"left and forgot {room}" in r.getMessage() for r in caplog.records),
        what="the server to forget the room for the bot",
    )

    # Invited again, it joins again and answers as before.
    await alice.client.room_invite(room, bot.user_id)
    await wait_until(lambda: room in bot.platform.client.nio.rooms, what="the bot to join again")
    help_ = await alice.say(room, "!aide")
    assert content(await alice.answer(room, help_))["body"].startswith("Agora résume")
    assert not bot.task.done()


async def _is(value: Awaitable[str | None], expected: str) -> bool:
    return await value == expected


def _big_digest(url: str) -> Digest:
    sentence = "Le conseil régional a voté hier une réforme des transports scolaires très discutée"
    para = " ".join(f"{sentence} ({i})." for i in range(18))
    body = "\n\n".join([para] * 2)
    parts = {p: body for p in Part}
    parts[Part.ACCROCHE] = "Une réforme des transports scolaires divise la région. 🚌 #Transports #Région"
    parts[Part.REFERENCE] = f"{url} — Journal Test"
    parts[Part.PESSIMISTE] = body + " FIN-DU-RESUME"
    return Digest(url=url, final_url=url, title="Réforme", length=Length.LONG, parts=parts, model="echo")


async def _send_with_unshared_session(person: Person, room: str, text: str) -> str:
    """A real Megolm event whose session key goes to nobody: nobody else can decrypt it."""
    session = vodozemac.GroupSession()
    payload = {"type": "m.room.message", "content": {"msgtype": "m.text", "body": text}, "room_id": room}
    assert person.client.olm is not None
    encrypted = {
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": session.encrypt(json.dumps(payload).encode()).to_base64(),
        "sender_key": person.client.olm.account.identity_keys["curve25519"],
        "session_id": session.session_id,
        "device_id": person.client.device_id,
    }
    url = f"{person.client.homeserver}/_matrix/client/v3/rooms/{room}/send/m.room.encrypted/{uuid.uuid4().hex}"
    headers = {"Authorization": f"Bearer {person.client.access_token}"}
    async with aiohttp.ClientSession() as http, http.put(url, json=encrypted, headers=headers) as resp:
        data = await resp.json()
        assert resp.status == 200, data
        return str(data["event_id"])


