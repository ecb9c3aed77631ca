"""Shared fixtures: the corpus, a loopback web server serving it, and app configs for tests."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("AGORA_CORPUS", ROOT.parent / "shared" / "corpus"))


def corpus_dir() -> Path:
    if not (CORPUS / "index.json").is_file():
        pytest.skip(f"test corpus not found at {CORPUS} (set AGORA_CORPUS)")
    return CORPUS


@dataclass(frozen=True)
class CorpusServer:
    base: str

    def url(self, folder: str) -> str:
        return f"{self.base}/{folder}"


def _content_type(folder: Path) -> str:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    name = meta.get("file", "source.html")
    return {"source.pdf": "application/pdf", "source.jpg": "image/jpeg"}.get(name, "text/html")


@pytest.fixture
async def corpus_server() -> AsyncIterator[CorpusServer]:
    """Serves every corpus page at /<folder> on 127.0.0.1, as bytes, without a charset parameter."""
    corpus = corpus_dir()

    async def page(request: web.Request) -> web.Response:
        folder = corpus / request.match_info["folder"]
        if not (folder / "meta.json").is_file():
            raise web.HTTPNotFound()
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        body = (folder / meta.get("file", "source.html")).read_bytes()
        return web.Response(body=body, headers={"Content-Type": _content_type(folder)})

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/{request.match_info['folder']}")

    app = web.Application()
    app.router.add_get("/r/{folder}", redirect)
    app.router.add_get("/{folder}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield CorpusServer(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
