"""Discord and the job queue: a restart mid-digest, an expired token, nonces, limits, scheduled roundups."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from bot import messages
from bot.app import Agora
from bot.core.types import Length
from bot.errors import RateLimited
from bot.model.echo_backend import EchoBackend
from bot.model.runner import ModelRunner
from bot.pipeline.summarize import Summarizer
from bot.platforms.discord import render
from bot.platforms.discord.delivery import content_fields
from tests.discord.conftest import Bot, StartBot
from tests.discord.fake_discord import FakeDiscord, Issued
from tests.discord.helpers import (
    DIGEST,
    ERROR,
    WORKING,
    assert_no_mentions_anywhere,
    colour,
    digest_done,
    opt,
    sub,
    text_of,
)

ARTICLE = "fr21-lemonde-loi-renseignement"


def slow_model(app: Agora, delay: float) -> None:
    """An echo model that takes `delay` seconds per turn (a digest has six): time to stop mid-digest."""
    app.runner = ModelRunner(lambda: EchoBackend(delay=delay), max_batch_size=4, queue_size=64)
    app.summarizer = Summarizer(app.runner, app.prompts, article_tokens=app.config.digest.article_tokens)


def jobs(app: Agora) -> list[dict[str, Any]]:
    with sqlite3.connect(app.db.path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM jobs ORDER BY id")]


def delivered(app: Agora) -> bool:
    rows = jobs(app)
    return bool(rows) and all(r["delivered_at"] is not None for r in rows)


def digest_edits(fake: FakeDiscord, issued: Issued) -> list[Any]:
    return [r for r in fake.for_interaction(issued) if r.method == "PATCH" and colour(r) == DIGEST]


async def ready(start_bot: StartBot, **discord: Any) -> Bot:
    """A started bot past READY (stopped before it, discord.py would dispatch READY to a closed client)."""
    bot = await start_bot(**discord)
    await bot.fake.wait_for(bot.platform.is_ready, what="READY")
    return bot


async def stopped_mid_digest(start_bot: StartBot) -> tuple[Bot, Issued, str]:
    bot = await ready(start_bot)
    fake = bot.fake
    slow_model(bot.app, 0.4)
    url = bot.corpus.url(ARTICLE)
    issued = await fake.slash("resume", [opt("url", url)])
    # The status is up (and recorded) and the model is writing: stop the bot there.
    def under_way() -> bool:
        rows = jobs(bot.app)
        return bool(rows) and rows[0]["state"] == "running" and "p" in json.loads(rows[0]["delivery"])

    await fake.wait_for(under_way, what="the digest under way")
    await bot.stop()
    [row] = jobs(bot.app)
    assert row["state"] == "queued" and row["delivered_at"] is None
    assert json.loads(row["delivery"]) == {"p": f"original::{issued.original['id']}"}  # type: ignore[index]
    assert not digest_edits(fake, issued)
    return bot, issued, url


async def test_a_restart_mid_digest_finishes_it_in_the_same_response(start_bot: StartBot) -> None:
    first, issued, url = await stopped_mid_digest(start_bot)
    fake = first.fake
    second = await ready(start_bot)  # a new process would do the same: same database, no Interaction object
    # About 6 s on an idle machine; 30 s ran out once with a model bench running beside the suite.
    await fake.wait_for(lambda: delivered(second.app), within=60, what="the digest after the restart")

    original = issued.original["id"]  # type: ignore[index]
    [final] = digest_edits(fake, issued)
    # Edited through the token by the response's id (the restarted bot has no Interaction object).
    assert final.path == f"/webhooks/{fake.app_id}/{issued.token}/messages/{original}"
    assert "url" in json.dumps(final.body) and url in json.dumps(final.body)
    # Nothing new was posted: one status (before the stop), edited into the digest; nothing in the channel.
    # Nothing posted twice: one status (before the stop), edited into the digest's first message, then
    # the digest's other messages as follow-ups, each once; nothing in the channel.
    [row] = jobs(second.app)
    digest = await second.app.cache.get(second.app.cache_key(url, Length.STANDARD))
    assert digest is not None
    pieces = render.digest_messages(digest)
    posts = [r for r in fake.for_interaction(issued) if r.method == "POST"]
    assert posts[0].path.endswith("/callback")
    assert [colour(r) for r in posts[1:]] == [DIGEST] * (len(pieces) - 1)
    assert len(json.loads(row["delivery"])) == 1 + len(pieces)  # "p", "a0", "a1", ...
    assert not fake.calls("POST", f"/channels/{fake.channel_id}/messages")
    assert row["state"] == "done" and row["attempts"] == 1 and row["answer_link"].endswith(f"/{original}")
    assert_no_mentions_anywhere(fake)


async def test_a_restart_after_the_token_expired_posts_in_the_channel(start_bot: StartBot) -> None:
    first, issued, url = await stopped_mid_digest(start_bot)
    fake = first.fake
    # The bot was down past the token's 15 minutes.
    await first.app.db.conn.execute("UPDATE jobs SET target = json_set(target, '$.expires_at', 0)")
    await first.app.db.conn.commit()
    second = await ready(start_bot)
    await fake.wait_for(lambda: delivered(second.app), within=60, what="the digest after the restart")

    assert not digest_edits(fake, issued)
    channel = fake.calls("POST", f"/channels/{fake.channel_id}/messages")
    # For whom (a mention that pings nobody), then the digest as normal messages, once.
    assert f"<@{fake.member_id}>" in channel[0].body["content"]
    assert colour(channel[1]) == DIGEST and url in json.dumps(channel[1].body)
    assert all(r.body.get("enforce_nonce") for r in channel)
    assert len([r for r in channel if colour(r) == DIGEST and embeds_url(r) == url]) == 1
    assert_no_mentions_anywhere(fake)


def embeds_url(r: Any) -> str | None:
    embeds = (r.body or {}).get("embeds") or []
    return embeds[0].get("url") if embeds else None


async def test_a_piece_sent_again_is_deduplicated_by_its_nonce(start_bot: StartBot) -> None:
    bot = await ready(start_bot, message_content_intent=True)
    fake = bot.fake
    url = bot.corpus.url("fr09-ledevoir-trottinettes")
    issued = await fake.slash("resume", [opt("url", url)])
    await fake.wait_for(lambda: delivered(bot.app), what="the digest")
    await bot.settled(issued)
    job = await bot.core.jobs.store.get(jobs(bot.app)[0]["id"])
    assert job is not None
    deliverer = bot.platform.client.deliverer
    # What a crash between posting a piece and recording it would do after the restart: send it again.
    before = len(fake.messages)
    once = await deliverer._channel_send(job, fake.channel_id, "a9", content_fields("un morceau"))
    again = await deliverer._channel_send(job, fake.channel_id, "a9", content_fields("un morceau"))
    assert once == again and len(fake.messages) == before + 1


async def test_limits_are_answered_in_french_in_the_response(start_bot: StartBot) -> None:
    bot = await ready(start_bot)
    fake = bot.fake
    await bot.app.settings.set(f"discord:server:{fake.guild_id}", "limite_utilisateur", "1")
    first = await fake.slash("resume", [opt("url", bot.corpus.url("fr09-ledevoir-trottinettes"))])
    await fake.wait_for(lambda: digest_done(fake, first), what="the first digest")
    refused = await fake.slash("resume", [opt("url", bot.corpus.url("fr05-lopinion-glyphosate"))])
    await fake.wait_for(lambda: digest_done(fake, refused), what="the refusal")
    await bot.settled(refused)
    calls = fake.for_interaction(refused)
    assert calls[0].body["type"] == 5  # acknowledged at once, like any digest
    assert colour(calls[-1]) == ERROR and calls[-1].path.endswith("/messages/@original")
    assert RateLimited.default_message in text_of(calls[-1]) and "Résumé impossible" in text_of(calls[-1])
    assert not [r for r in calls if colour(r) == WORKING]  # a refusal has no "⏳" first


async def test_scheduled_roundup_is_posted_in_the_channel_once(start_bot: StartBot) -> None:
    bot = await ready(start_bot)
    fake = bot.fake
    change = [sub("definir", opt("réglage", "recap"), opt("valeur", "quotidien"))]
    configured = await fake.slash("config", change, user_id=fake.moderator_id)
    await bot.settled(configured)
    url = bot.corpus.url("fr09-ledevoir-trottinettes")
    await fake.slash("resume", [opt("url", url)])
    await fake.wait_for(lambda: delivered(bot.app), what="the digest")

    tomorrow = time.time() + 86400  # the next 18:00 (Paris) has passed by then, after the setting
    [due] = await bot.core.roundups.run_due(tomorrow)
    assert due.scope.server == str(fake.guild_id)  # found with its server, whose time zone applies
    posted = fake.calls("POST", f"/channels/{fake.channel_id}/messages")
    assert posted and all(r.body.get("enforce_nonce") for r in posted)
    body = "\n".join(text_of(r) for r in posted)
    assert body.startswith("📚 Récapitulatif des liens partagés") and url in body
    assert messages.ROUNDUP_DEBATES in body
    assert "↳ Résumé complet : https://discord.com/channels/" in body  # a jump link to the digest
    # Not twice, not after a restart either.
    assert await bot.core.roundups.run_due(tomorrow + 60) == []
    await bot.stop()
    again = await ready(start_bot)
    assert await again.core.roundups.run_due(tomorrow + 120) == []
    assert len(fake.calls("POST", f"/channels/{fake.channel_id}/messages")) == len(posted)
    assert_no_mentions_anywhere(fake)


async def test_a_deleted_status_message_gets_the_digest_as_a_new_message(start_bot: StartBot) -> None:
    from tests.discord.test_auto import _watch

    bot = await ready(start_bot, message_content_intent=True)
    fake = bot.fake
    await _watch(bot, fake.channel_id)
    slow_model(bot.app, 0.3)
    url = bot.corpus.url("fr09-ledevoir-trottinettes")
    message = await fake.post_message(f"À lire : {url}")

    def status_id() -> int | None:
        rows = jobs(bot.app)
        posted = json.loads(rows[0]["delivery"]).get("p") if rows else None
        return int(posted.split(":")[-1]) if posted else None

    deleted = await fake.wait_for(status_id, what="the status in the thread")
    del fake.messages[deleted]  # a moderator deleted it while the digest was being written
    await fake.wait_for(lambda: delivered(bot.app), what="the digest")
    await bot.settled()
    thread = f"/channels/{message['id']}/messages"
    posts = [r for r in fake.calls("POST", thread) if colour(r) == DIGEST]
    assert posts and embeds_url(posts[0]) == url  # the first part of the digest, as a new message
    [row] = jobs(bot.app)
    assert row["delivery_error"] is None and json.loads(row["delivery"])["a0"] != json.loads(row["delivery"])["p"]
