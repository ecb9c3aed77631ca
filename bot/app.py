"""Builds every component from the Config and owns them: `async with Agora(config) as app`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.config import Config
from bot.core.settings import Settings
from bot.core.types import Article, Digest, FetchedDocument, Length
from bot.model.factory import backend_loader, model_key
from bot.model.runner import ModelRunner
from bot.model.store import ModelStore
from bot.pipeline.extract import extract
from bot.pipeline.fetch import Fetcher, FetchSettings
from bot.pipeline.prompts import PromptSet
from bot.pipeline.summarize import Summarizer
from bot.pipeline.urls import canonicalize
from bot.storage.database import Database
from bot.storage.repositories import CacheKey, DigestCache, SettingsRepository

log = logging.getLogger(__name__)

ProgressFn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DigestOutcome:
    digest: Digest
    cached: bool
    seconds: float


class Agora:
    """The application: storage, fetcher, model runner and summarizer, built from one Config."""

    def __init__(self, config: Config, *, runner: ModelRunner | None = None) -> None:
        self.config = config
        self.data_dir = config.data_path
        self.store = ModelStore(self.data_dir)
        self.db = Database(self.data_dir / "agora.sqlite3")
        self.cache = DigestCache(self.db)
        self.settings = Settings(SettingsRepository(self.db), {"longueur": config.digest.default_length})
        self.prompts = PromptSet.load(config.digest.prompts_dir or None)
        self.model_key = model_key(config.model)
        self.runner = runner or ModelRunner(
            backend_loader(config.model, self.store),
            max_batch_size=config.model.max_batch_size,
            queue_size=config.model.queue_size,
        )
        self.summarizer = Summarizer(
            self.runner,
            self.prompts,
            article_tokens=config.digest.article_tokens,
            anticopy_strength=config.digest.anticopy_strength,
            anticopy_span=config.digest.anticopy_span,
        )
        f = config.fetch
        self.fetcher = Fetcher(
            FetchSettings(
                max_bytes=f.max_bytes,
                connect_timeout=f.connect_timeout,
                read_timeout=f.read_timeout,
                total_timeout=f.total_timeout,
                max_redirects=f.max_redirects,
                allow_loopback=f.allow_loopback,
                user_agent=f.user_agent,
            )
        )
        self._inflight: dict[str, asyncio.Future[Digest]] = {}
        #: bot.ops.metrics.Metrics when metrics are enabled (`agora run`): the job queue reports each
        #: answered request to it (`observe_digest`, `count_error`). None otherwise.
        self.metrics: Any = None

    async def __aenter__(self) -> Agora:
        await self.db.open()
        await self.fetcher.__aenter__()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.runner.close()
        await self.fetcher.aclose()
        await self.db.close()

    def start_model(self) -> None:
        """Begin loading the model in its thread (bots do this at start; the CLI on first need)."""
        self.runner.start()

    def cache_key(self, url: str, length: Length) -> CacheKey:
        return CacheKey(canonicalize(url), self.model_key, self.summarizer.revision, length.value)

    async def digest_url(
        self, url: str, length: Length = Length.STANDARD, *, progress: ProgressFn | None = None
    ) -> DigestOutcome:
        """Fetch, extract and summarize a link; a repeat answers from the cache at once.

        Several requests for the same link at once share one generation.
        """
        started = time.monotonic()
        key = self.cache_key(url, length)
        cached = await self.cache.get(key)
        if cached is not None:
            return DigestOutcome(cached, True, time.monotonic() - started)
        running = self._inflight.get(key.value)
        if running is not None:
            digest = await asyncio.shield(running)
            return DigestOutcome(digest, False, time.monotonic() - started)
        future: asyncio.Future[Digest] = asyncio.get_running_loop().create_future()
        self._inflight[key.value] = future
        try:
            digest = await self._generate(url, length, progress)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: sharers re-raise it themselves
            raise
        else:
            future.set_result(digest)
            await self.cache.put(key, digest)
        finally:
            self._inflight.pop(key.value, None)
        return DigestOutcome(digest, False, time.monotonic() - started)

    async def _generate(self, url: str, length: Length, progress: ProgressFn | None) -> Digest:
        notify = progress or (lambda _m: None)
        self.start_model()  # loading overlaps with the fetch
        notify("téléchargement de la page…")
        doc = await self.fetcher.fetch(url)
        notify("extraction de l'article…")
        article = await self.extract(doc)
        return await self.summarize(article, length, progress=progress)

    async def extract(self, doc: FetchedDocument) -> Article:
        """Extraction is CPU work (lxml, pypdf): run it off the event loop."""
        return await asyncio.to_thread(extract, doc, min_words=self.config.digest.min_article_words)

    async def summarize(
        self, article: Article, length: Length, *, progress: ProgressFn | None = None
    ) -> Digest:
        notify = progress or (lambda _m: None)
        if self.runner.info is None:
            notify("chargement du modèle…")
        return await self.summarizer.summarize(article, length, progress=progress)

    async def digest_file(
        self, path: Path, length: Length = Length.STANDARD, *, progress: ProgressFn | None = None
    ) -> DigestOutcome:
        """Digest a local file (HTML, PDF or text), never cached (it has no canonical URL)."""
        started = time.monotonic()
        data = await asyncio.to_thread(path.read_bytes)
        uri = await asyncio.to_thread(lambda: path.resolve().as_uri())
        doc = document_from_bytes(data, url=uri, name=path.name)
        self.start_model()
        article = await self.extract(doc)
        digest = await self.summarize(article, length, progress=progress)
        return DigestOutcome(digest, False, time.monotonic() - started)

    async def digest_bytes(
        self, data: bytes, length: Length = Length.STANDARD, *, progress: ProgressFn | None = None
    ) -> DigestOutcome:
        """Digest a document read from standard input."""
        started = time.monotonic()
        doc = document_from_bytes(data, url="stdin:", name="")
        self.start_model()
        article = await self.extract(doc)
        digest = await self.summarize(article, length, progress=progress)
        return DigestOutcome(digest, False, time.monotonic() - started)


def document_from_bytes(data: bytes, *, url: str, name: str) -> FetchedDocument:
    """Guess a local document's type from its name, then its first bytes."""
    lower = name.lower()
    head = data[:512].lstrip().lower()
    if lower.endswith(".pdf") or data.startswith(b"%PDF-"):
        ctype = "application/pdf"
    elif lower.endswith((".html", ".htm", ".xhtml")) or head.startswith((b"<!doctype", b"<html", b"<?xml")):
        ctype = "text/html"
    elif b"<html" in head or b"<body" in head or b"<meta" in head:
        ctype = "text/html"
    else:
        ctype = "text/plain"
    return FetchedDocument(url=url, final_url=url, content_type=ctype, charset=None, body=data)
