"""The whole pipeline with real fetch, extraction, storage and rendering; the model is the echo backend."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from bot.app import Agora
from bot.config import Config
from bot.core.types import Length, Part
from bot.errors import BlockedAddress, NoArticle, UnsupportedContent
from bot.pipeline.render import to_markdown
from tests.conftest import CorpusServer


def _config(tmp_path: Path, *, loopback: bool = True) -> Config:
    return Config(base_dir=str(tmp_path)).replace(
        model={"backend": "echo", "source": "echo"},
        fetch={"allow_loopback": loopback},
        general={"data_dir": "data"},
    )


async def test_link_to_digest_cached_by_canonical_url(tmp_path: Path, corpus_server: CorpusServer) -> None:
    async with Agora(_config(tmp_path)) as app:
        url = corpus_server.url("fr09-ledevoir-trottinettes")
        first = await app.digest_url(url + "?utm_source=twitter#top", Length.COURT)
        assert not first.cached
        digest = first.digest
        assert set(digest.parts) == set(Part)
        assert digest.parts[Part.REFERENCE].startswith(url)
        assert digest.parts[Part.EXEMPLE].startswith("Imaginez que")
        md = to_markdown(digest)
        assert md.index("**Récapitulatif factuel**") < md.index("**Point de vue pessimiste**")
        # Same article, tracking parameters differ: answered from the cache.
        again = await app.digest_url(url + "?utm_medium=x", Length.COURT)
        assert again.cached and again.digest == digest
        # Another length is another digest.
        assert not (await app.digest_url(url, Length.LONG)).cached
    with sqlite3.connect(tmp_path / "data" / "agora.sqlite3") as conn:
        rows = conn.execute("SELECT canonical_url, length, payload FROM digests ORDER BY length").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(url, "court"), (url, "long")]
    assert json.loads(rows[0][2])["parts"]["recap"]


async def test_a_digest_written_under_other_settings_is_written_again_not_served(
    tmp_path: Path, corpus_server: CorpusServer
) -> None:
    url = corpus_server.url("fr09-ledevoir-trottinettes")
    async with Agora(_config(tmp_path)) as app:
        assert not (await app.digest_url(url, Length.COURT)).cached
    # Same settings, a new process: the digest file on disk answers.
    async with Agora(_config(tmp_path)) as app:
        assert (await app.digest_url(url, Length.COURT)).cached
    # Another anti-copy strength or article budget writes other text: that digest is not reused.
    for digest_settings in ({"anticopy_strength": 2.0}, {"article_tokens": 600}):
        changed = _config(tmp_path).replace(digest=digest_settings)
        async with Agora(changed) as app:
            assert not (await app.digest_url(url, Length.COURT)).cached
            assert (await app.digest_url(url, Length.COURT)).cached
    with sqlite3.connect(tmp_path / "data" / "agora.sqlite3") as conn:
        revisions = [r[0] for r in conn.execute("SELECT prompt_version FROM digests")]
    assert len(set(revisions)) == 3


async def test_redirect_and_pdf(tmp_path: Path, corpus_server: CorpusServer) -> None:
    async with Agora(_config(tmp_path)) as app:
        redirected = await app.digest_url(corpus_server.url("r/fr05-lopinion-glyphosate"))
        assert "(redirigé vers" in redirected.digest.parts[Part.REFERENCE]
        pdf = await app.digest_url(corpus_server.url("tricky09-pdf-google-doc"))
        assert pdf.digest.parts[Part.RECAP]


async def test_same_link_requested_concurrently_is_generated_once(
    tmp_path: Path, corpus_server: CorpusServer
) -> None:
    async with Agora(_config(tmp_path)) as app:
        url = corpus_server.url("fr21-lemonde-loi-renseignement")
        outcomes = await asyncio.gather(*(app.digest_url(url) for _ in range(3)))
        assert len({o.digest.parts[Part.RECAP] for o in outcomes}) == 1
        # One digest: six model turns, plus one for each part its check sent back (the echo model
        # repeats the article, so a part can come out empty once earlier parts' sentences are dropped)
        # one more for a view both attempts left empty (a last attempt, opened for it), and one if the
        # analogy ended on a statement (a turn asks for its question).
        stats = outcomes[0].digest.stats
        extra = stats["regenerated_parts"] + stats["last_resorts"] + stats["question_turns"]
        assert app.runner.stats.requests == 6 + int(extra)


@pytest.mark.parametrize(
    ("folder", "error"),
    [("tricky08-little-text-403-botblock-en", NoArticle), ("tricky10-jpeg-image", UnsupportedContent)],
)
async def test_non_articles_are_errors_with_french_reasons(
    tmp_path: Path, corpus_server: CorpusServer, folder: str, error: type[Exception]
) -> None:
    async with Agora(_config(tmp_path)) as app:
        with pytest.raises(error) as info:
            await app.digest_url(corpus_server.url(folder))
        assert info.value.user_message  # type: ignore[attr-defined]
        assert await app.cache.count() == 0


async def test_loopback_refused_without_the_test_setting(tmp_path: Path, corpus_server: CorpusServer) -> None:
    async with Agora(_config(tmp_path, loopback=False)) as app:
        with pytest.raises(BlockedAddress):
            await app.digest_url(corpus_server.url("fr09-ledevoir-trottinettes"))
