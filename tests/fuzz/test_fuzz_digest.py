"""Hostile model output and hostile pages cannot change a digest's structure or make it ping anyone.

The model is scripted (tests/fakes.py) to answer every turn with injected headings, mentions, HTML
and instructions; the article itself (title and text) carries the same. Every renderer is checked:
Markdown, plain text, Matrix notices (body and HTML) and Discord embeds and plain messages.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.types import Article, Digest, Length, Part
from bot.model.backend import GenerationRequest
from bot.model.runner import ModelRunner
from bot.pipeline.prompts import PromptSet
from bot.pipeline.render import to_markdown, to_plain
from bot.pipeline.summarize import Summarizer
from tests.fakes import ScriptedBackend
from tests.fuzz.settings import fuzz
from tests.fuzz.strategies import model_output

pytest.importorskip("discord")
pytest.importorskip("nio")

from bot.platforms.discord import render as discord_render
from bot.platforms.matrix import render as matrix_render
from tests.fuzz.test_fuzz_commands import assert_inert

PROMPTS = PromptSet.load()
BODY_HEADINGS = [p.heading for p in Part if p not in (Part.ACCROCHE, Part.REFERENCE)]
REFERENCE = Part.REFERENCE.heading
_MD_HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}(\s|$)", re.MULTILINE)
_HTML_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)")
_ALLOWED_TAGS = {"p", "br", "h4", "strong", "a"}

_ARTICLE_TEXT = " ".join(f"Phrase numéro {i} sur la réforme des retraites et le débat au Parlement." for i in range(40))


@st.composite
def hostile_article(draw: st.DrawFn) -> Article:
    title = draw(st.one_of(st.just("Réforme des retraites"), model_output.map(lambda t: t[:120] or "Titre")))
    injected = draw(model_output)
    return Article(
        url="https://ex.fr/a",
        final_url="https://ex.fr/a",
        title=title,
        text=f"{injected}\n\n{_ARTICLE_TEXT}\n\n{injected}",
        site=draw(st.one_of(st.none(), st.just("@everyone"), st.just("Ex"))),
    )


async def _summarize(article: Article, answers: list[str], length: Length) -> Digest:
    turns = iter(answers)

    def script(_request: GenerationRequest) -> str:
        return next(turns, "")

    runner = ModelRunner(lambda: ScriptedBackend(script), max_batch_size=1)
    try:
        return await Summarizer(runner, PROMPTS, article_tokens=300).summarize(article, length)
    finally:
        await runner.close()


def _heading_lines(text: str, form: str) -> list[str]:
    """Lines that look like one of the digest's headings, in order."""
    names = [*BODY_HEADINGS, REFERENCE]
    found = []
    for line in text.split("\n"):
        bare = line.strip()
        for name in names:
            marker = form.format(name)
            # A line that is a heading, or (Markdown) one that opens with the bold heading.
            if (
                bare == marker
                or (marker != name and bare.startswith(marker))
                or (
                    marker == name == REFERENCE and bare.startswith(name)  # plain text: an inline heading
                )
            ):
                found.append(name)
    return found


def check_markdown_and_plain(digest: Digest) -> None:
    expected = [REFERENCE, *BODY_HEADINGS]
    markdown = to_markdown(digest)
    assert_inert(markdown)
    assert not _MD_HEADING_LINE.search(markdown), markdown
    assert _heading_lines(markdown, "**{}**") == expected, markdown
    plain = to_plain(digest)
    assert_inert(plain)
    assert _heading_lines(plain, "{}") == expected, plain


def check_matrix(digest: Digest) -> None:
    headings: list[str] = []
    for content in matrix_render.digest_notices(digest):
        assert content["m.mentions"] == {}
        assert content["msgtype"] == "m.notice"
        assert_inert(content["body"])
        html = content["formatted_body"]
        assert_inert(html)
        assert {tag for _slash, tag in _HTML_TAG.findall(html)} <= _ALLOWED_TAGS, html
        for href in re.findall(r'<a href="([^"]*)"', html):
            assert href.startswith(("http://", "https://")) and "matrix.to" not in href.split("/", 3)[2], href
        headings += re.findall(r"<h4>(.*?)</h4>", html)
    assert headings == BODY_HEADINGS


def check_discord(digest: Digest) -> None:
    titles = []
    for message in discord_render.digest_messages(digest):
        assert len(message) <= discord_render.EMBEDS_PER_MESSAGE
        assert sum(len(e) for e in message) <= discord_render.EMBEDS_TOTAL_LIMIT
        for embed in message:
            description = embed.description or ""
            assert len(description) <= discord_render.DESCRIPTION_LIMIT
            assert_inert(description)
            assert_inert(embed.title or "")
            assert not _MD_HEADING_LINE.search(description), description
            if embed.title and not embed.title.endswith(discord_render.CONTINUED.strip()):
                titles.append(embed.title)
    assert titles[1:] == BODY_HEADINGS
    for chunk in discord_render.digest_plain(digest):
        assert len(chunk) <= discord_render.CONTENT_LIMIT
        assert_inert(chunk)


@fuzz
@given(
    article=hostile_article(),
    answers=st.lists(model_output, min_size=1, max_size=12),
    length=st.sampled_from(list(Length)),
)
async def test_hostile_model_output_keeps_structure_and_pings_nobody(
    article: Article, answers: list[str], length: Length
) -> None:
    digest = await _summarize(article, answers, length)
    assert set(digest.parts) == set(Part)
    assert all(digest.parts[p].strip() for p in Part)
    assert len(digest.parts[Part.ACCROCHE]) <= 280
    check_markdown_and_plain(digest)
    check_matrix(digest)
    check_discord(digest)
