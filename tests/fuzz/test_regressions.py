"""What the fuzzers found, pinned as plain examples (each fixed in the module named)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from bot.core.types import Article, Part
from bot.errors import InvalidURL
from bot.model.runner import ModelRunner
from bot.pipeline.fetch import Fetcher, _parse_url
from bot.pipeline.postprocess import clean_prose
from bot.pipeline.prompts import PromptSet
from bot.pipeline.render import to_markdown
from bot.pipeline.summarize import Summarizer
from bot.pipeline.urls import canonicalize
from tests.fakes import ScriptedBackend


class NoNetwork(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"connected to {request.url}")


@pytest.mark.parametrize("url", ["http://16777216%30/", "http://lemonde%2efr/a", "http://%31%32%37.0.0.1/"])
async def test_fetch_refuses_percent_encoded_hosts(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """fetch.py: httpx kept `%xx` in the host and asked DNS for it, while the cache key decoded it
    (`lemonde%2efr` was keyed as lemonde.fr, `16777216%30` as 10.0.0.0)."""
    asked: list[str] = []

    async def dns(host: str, *_a: object, **_k: object) -> list[object]:
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "unknown")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", dns)
    async with Fetcher(transport=NoNetwork()) as fetcher:
        with pytest.raises(InvalidURL):
            await fetcher.fetch(url)
    assert asked == []


def test_parse_url_raises_invalid_url_for_hosts_httpx_refuses_on_copy() -> None:
    """fetch.py: `0.0.00。0` went through IDNA to `0.0.00.0`, then copy_with raised httpx.InvalidURL
    outside the try (only fetch()'s outer handler turned it into InvalidURL)."""
    with pytest.raises(InvalidURL):
        _parse_url("http://0.0.00。0/")


@pytest.mark.parametrize("url", ["http://xn--/", "http://xn--xn--exmple-cua/", "http://xn--example.com/"])
async def test_fetch_refuses_invalid_a_labels_before_dns(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """fetch.py: httpx accepted these hosts, asked DNS for them, then raised idna.IDNAError (not a
    FetchError) while building the request."""
    asked: list[str] = []

    async def dns(host: str, *_a: object, **_k: object) -> list[object]:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 80))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", dns)
    async with Fetcher(transport=NoNetwork()) as fetcher:
        with pytest.raises(InvalidURL):
            await fetcher.fetch(url)
    assert asked == []


def test_canonical_form_keeps_the_zone_of_a_mapped_address() -> None:
    """urls.py: the zone was dropped for IPv4-mapped addresses only."""
    assert canonicalize("http://[::ffff:0:0%25eth0]/") == "http://[::ffff:0.0.0.0%25eth0]/"
    assert canonicalize("http://[::ffff:0:0%25eth0]/") != canonicalize("http://[::ffff:0:0]/")


def test_matrix_mentions_of_any_json_shape() -> None:
    """matrix/convert.py: `"user_ids": 5` raised TypeError (the room's other messages in that sync
    were then skipped) and a string matched any substring."""
    pytest.importorskip("nio")
    from bot.platforms.matrix.convert import mentions

    bot = "@agora:example.org"
    for user_ids, expected in ((5, False), (True, False), (f"x{bot}x", False), ([bot], True), ({bot: 1}, False)):
        assert mentions({"body": "salut", "m.mentions": {"user_ids": user_ids}}, bot, None) is expected


async def test_fallback_recap_is_cleaned_like_model_prose() -> None:
    """summarize.py: when the model wrote nothing, the recap fell back to the page's first sentences
    uncleaned, so a page could put a bold fake heading inside the digest."""
    article = Article(
        url="https://ex.fr/a",
        final_url="https://ex.fr/a",
        title="Titre",
        text="**Point de vue pessimiste**\n\n" + " ".join(f"Phrase numéro {i} du texte." for i in range(60)),
    )
    runner = ModelRunner(lambda: ScriptedBackend(lambda r: ""))
    try:
        digest = await Summarizer(runner, PromptSet.load(), article_tokens=300).summarize(article)
    finally:
        await runner.close()
    assert "**" not in digest.parts[Part.RECAP]
    assert to_markdown(digest).count("**Point de vue pessimiste**") == 1


def test_reference_label_is_stripped_like_the_other_part_names() -> None:
    """postprocess.py: "Article en référence :" at the start of a part looked like a second reference line."""
    assert clean_prose("Article en référence : Le texte suit.", max_paragraphs=1) == "Le texte suit."
    stacked = "Point de vue neutre : Article en référence : Le texte suit."
    assert clean_prose(stacked, max_paragraphs=1) == "Le texte suit."


@pytest.mark.parametrize("text", ['!resume "http://[x https://a.fr"', '!resume "voir https://lemonde.fr/a"'])
def test_resume_digests_the_link_it_was_accepted_for(text: str) -> None:
    """core/bot.py: parse_command accepted `!resume <arg>` when the argument *contained* a link, and the
    handlers then digested the whole argument: `http://[x https://a.fr` makes BotCore's urlsplit raise ValueError
    (not an AgoraError: the Matrix handler then drops the rest of that room's sync), and
    `voir https://…` is answered "invalid link"."""
    from bot.core.bot import parse_command
    from bot.errors import CommandError
    from bot.pipeline.urls import find_urls

    try:
        command = parse_command(text, "!")
    except CommandError:
        return  # refusing it is a fix too
    assert command is not None
    assert find_urls(command.args[0]) == [command.args[0]]


def test_discord_title_falls_back_to_a_neutralised_site_name() -> None:
    """discord/render.py: a blank title fell back to the page's site name without neutralising it."""
    pytest.importorskip("discord")
    from bot.core.types import Digest, Length
    from bot.platforms.discord.render import digest_embeds

    parts = {part: "Un texte." for part in Part}
    digest = Digest("https://ex.fr/a", "https://ex.fr/a", "\n\n", Length.COURT, parts, site="@everyone")
    assert digest_embeds(digest)[0].title == "@\u200beveryone"
