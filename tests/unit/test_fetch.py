"""The fetcher against hostile links (no connection at all) and a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import subprocess
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from bot.errors import (
    BlockedAddress,
    ConnectionFailed,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    InvalidURL,
    TooLarge,
    TooManyRedirects,
    UnsupportedContent,
    UnsupportedContentType,
)
from bot.pipeline.fetch import Fetcher, FetchSettings, parse_content_type, sniff_media_type

PAGE = "<!doctype html><html><head><title>Été</title></head><body><p>Bonjour</p></body></html>"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CAP = 200_000  # byte cap used against the local server: small, so the tests stay fast


class FakeDNS:
    """Stands in for `loop.getaddrinfo`: fixed answers, and a record of the names asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.answers[host]
        ]


def install_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> FakeDNS:
    dns = FakeDNS(answers)
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", dns)
    return dns


# --- hostile links: refused before any connection ------------------------------------------------


@dataclass
class RecordingTransport(httpx.AsyncBaseTransport):
    """Answers every request with `reply`, or fails the test when `reply` is None; records requests."""

    reply: Callable[[httpx.Request], httpx.Response] | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.reply is None:
            raise AssertionError(f"unexpected connection to {request.url}")
        return self.reply(request)


HOSTILE = {
    "http://127.1": BlockedAddress,
    "http://127.0.0.1:8080/admin": BlockedAddress,
    "http://0x7f000001": BlockedAddress,
    "http://2130706433/": BlockedAddress,
    "http://0x7f.1/": BlockedAddress,
    "http://[::1]/": BlockedAddress,
    "http://[::ffff:10.0.0.1]/": BlockedAddress,
    "http://[::ffff:127.0.0.1]/": BlockedAddress,
    "http://[::ffff:7f00:1]/": BlockedAddress,
    "http://[64:ff9b::a9fe:a9fe]/": BlockedAddress,
    "http://10.0.0.1/": BlockedAddress,
    "http://192.168.1.1/": BlockedAddress,
    "http://172.16.0.1/": BlockedAddress,
    "http://100.64.0.1/": BlockedAddress,
    "http://169.254.169.254/latest/meta-data": BlockedAddress,
    "http://[fe80::1]/": BlockedAddress,
    "http://[fe80::1%25eth0]/": BlockedAddress,
    "http://[fd00::1]/": BlockedAddress,
    "http://224.0.0.1/": BlockedAddress,
    "http://255.255.255.255/": BlockedAddress,
    "http://0.0.0.0/": BlockedAddress,
    "http://0/": BlockedAddress,
    "http://[::]/": BlockedAddress,
    "http://localhost/": BlockedAddress,
    "http://LOCALHOST.:8000/": BlockedAddress,
    "http://api.localhost/": BlockedAddress,
    "https://198.51.100.1/": BlockedAddress,
    "file:///etc/passwd": InvalidURL,
    "gopher://x/": InvalidURL,
    "ftp://example.com/f": InvalidURL,
    "javascript:alert(1)": InvalidURL,
    "data:text/html,<h1>x</h1>": InvalidURL,
    "dict://127.0.0.1:11211/": InvalidURL,
    "http://user:pass@example.com/": InvalidURL,
    "http://user@example.com/": InvalidURL,
    "http://example.com\\@127.0.0.1/": InvalidURL,
    "http:///path": InvalidURL,
    "http://": InvalidURL,
    "example.com": InvalidURL,
    "http://0177.0.0.1/": InvalidURL,  # httpx rejects leading zeros in dotted quads outright
    "http://1.2.3.999/": InvalidURL,
    "http://example.com:99999/": InvalidURL,
}


@pytest.mark.parametrize(("url", "error"), HOSTILE.items())
async def test_hostile_links_are_refused_before_connecting(
    url: str, error: type[FetchError], monkeypatch: pytest.MonkeyPatch
) -> None:
    dns = install_dns(monkeypatch, {})
    transport = RecordingTransport()
    async with Fetcher(FetchSettings(allow_loopback=False), transport=transport) as fetcher:
        with pytest.raises(error) as caught:
            await fetcher.fetch(url)
    assert transport.requests == []
    assert dns.calls == []  # none of these even needs DNS
    assert caught.value.user_message  # a French sentence for the chat


async def test_names_resolving_to_private_addresses_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    install_dns(
        monkeypatch,
        {
            "intranet.test": ["10.1.2.3"],
            "mixed.test": ["93.184.215.14", "192.168.0.10"],
            "v6.test": ["fd00::5"],
        },
    )
    transport = RecordingTransport()
    async with Fetcher(transport=transport) as fetcher:
        for url in ("http://intranet.test/", "https://mixed.test/", "http://v6.test:8080/"):
            with pytest.raises(BlockedAddress):
                await fetcher.fetch(url)
        with pytest.raises(ConnectionFailed):
            await fetcher.fetch("http://unknown.test/")
    assert transport.requests == []


async def test_request_goes_to_the_checked_ip_with_the_name_in_host_and_sni(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dns = install_dns(
        monkeypatch, {"news.test": ["93.184.215.14"], "xn--actualit-i1a.test": ["93.184.215.15"]}
    )

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/html; charset=UTF-8"}, content=PAGE.encode()
        )

    transport = RecordingTransport(reply)
    async with Fetcher(transport=transport) as fetcher:
        doc = await fetcher.fetch("https://news.test/article?id=1#comments")
        await fetcher.fetch("http://actualité.test:8080/")
    assert dns.calls == ["news.test", "xn--actualit-i1a.test"]
    first, second = transport.requests
    assert str(first.url) == "https://93.184.215.14/article?id=1"
    assert first.headers["host"] == "news.test"
    assert first.extensions["sni_hostname"] == "news.test"
    assert first.headers["accept-language"] == "fr,en;q=0.8"
    assert first.headers["user-agent"].startswith("AgoraBot/")
    assert first.headers["accept-encoding"] == "gzip, deflate"
    assert str(second.url) == "http://93.184.215.15:8080/"
    assert second.headers["host"] == "xn--actualit-i1a.test:8080"
    assert "sni_hostname" not in second.extensions  # plain http: no TLS
    assert doc.url == "https://news.test/article?id=1#comments"
    assert doc.final_url == "https://news.test/article?id=1"
    assert (doc.content_type, doc.charset) == ("text/html", "utf-8")


async def test_next_address_is_tried_when_one_does_not_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    install_dns(monkeypatch, {"multi.test": ["2606:4700::1", "93.184.215.14"]})

    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.host == "2606:4700::1":
            raise httpx.ConnectError("network unreachable", request=request)
        return httpx.Response(200, headers={"content-type": "text/plain"}, content=b"ok")

    transport = RecordingTransport(reply)
    async with Fetcher(transport=transport) as fetcher:
        doc = await fetcher.fetch("http://multi.test/")
    assert doc.body == b"ok"
    assert [r.url.host for r in transport.requests] == ["2606:4700::1", "93.184.215.14"]

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with Fetcher(transport=RecordingTransport(refuse)) as fetcher:
        with pytest.raises(ConnectionFailed):
            await fetcher.fetch("http://multi.test/")


def test_parse_content_type() -> None:
    assert parse_content_type("text/html; charset=UTF-8") == ("text/html", "utf-8")
    assert parse_content_type('Text/HTML;Charset="ISO-8859-1";q=1') == ("text/html", "iso-8859-1")
    assert parse_content_type("application/pdf") == ("application/pdf", None)
    assert parse_content_type("") == ("", None)
    assert parse_content_type("html") == ("", None)


def test_sniff_media_type() -> None:
    assert sniff_media_type(PDF) == "application/pdf"
    assert sniff_media_type(b"\xef\xbb\xbf\n  <!DOCTYPE html><html>") == "text/html"
    assert sniff_media_type(b"<HTML><body>") == "text/html"
    assert sniff_media_type(b"\xff\xd8\xff\xe0JFIF") is None
    assert sniff_media_type(b"") is None


# --- a real server on 127.0.0.1 --------------------------------------------------------------------


def _gzip_bomb(size: int) -> bytes:
    return gzip.compress(bytes(size), compresslevel=9)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    single = _gzip_bomb(32_000_000)  # ~31 KB on the wire, 32 MB inflated
    return {"single": single, "double": gzip.compress(single, compresslevel=9)}


@dataclass
class LocalServer:
    base: str
    port: int
    hosts: list[str]  # Host header of every request received
    sni: list[str | None]  # TLS server names received (https server only)


async def _serve(
    bombs: dict[str, bytes], ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[LocalServer]:
    hosts: list[str] = []
    sni: list[str | None] = []
    routes = web.RouteTableDef()

    @routes.get("/page")
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", charset="utf-8")

    @routes.get("/text")
    async def text(request: web.Request) -> web.Response:
        return web.Response(body="Bonjour, été".encode("latin-1"), headers={"Content-Type": "text/plain"})

    @routes.get("/xhtml")
    async def xhtml(request: web.Request) -> web.Response:
        return web.Response(body=PAGE.encode(), content_type="application/xhtml+xml")

    @routes.get("/pdf")
    async def pdf(request: web.Request) -> web.Response:
        return web.Response(body=PDF, content_type="application/pdf")

    @routes.get("/no-type/{kind}")
    async def no_type(request: web.Request) -> web.Response:
        body = {"pdf": PDF, "html": PAGE.encode(), "bin": b"\x00\x01\x02 binary"}[request.match_info["kind"]]
        return web.Response(body=body, headers={"X-Test-Drop-Content-Type": "1"})

    @routes.get("/jpeg")
    async def jpeg(request: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xd8\xff\xe0JFIF", content_type="image/jpeg")

    @routes.get("/octet")
    async def octet(request: web.Request) -> web.Response:
        return web.Response(body=PDF, content_type="application/octet-stream")

    @routes.get("/status/{code}")
    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="non", content_type="text/html")

    @routes.get("/go")
    async def go(request: web.Request) -> web.Response:
        # ?to= is sent as the Location header verbatim, relative or absolute.
        return web.Response(
            status=int(request.query.get("status", "302")), headers={"Location": request.query["to"]}
        )

    @routes.get("/chain/{n}")
    async def chain(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(text=PAGE, content_type="text/html")
        return web.Response(status=301, headers={"Location": str(n - 1)})  # relative to /chain/

    @routes.get("/set-cookie")
    async def set_cookie(request: web.Request) -> web.Response:
        response = web.Response(status=302, headers={"Location": "/needs-cookie"})
        response.set_cookie("consent", "yes")
        return response

    @routes.get("/needs-cookie")
    async def needs_cookie(request: web.Request) -> web.Response:
        if request.cookies.get("consent") != "yes":
            return web.Response(status=403, text="no consent")
        return web.Response(text=PAGE, content_type="text/html")

    @routes.get("/big-stream")
    async def big_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)  # chunked: no Content-Length to reject early
        for _ in range(64):  # 4 MB in all, far past CAP
            await response.write(b"<p>" + b"x" * 65_530 + b"</p>")
        return response

    @routes.get("/big-declared")
    async def big_declared(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (CAP + 1), content_type="text/html")

    @routes.get("/bomb/{kind}")
    async def bomb(request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        encoding = {"single": "gzip", "double": "gzip, gzip"}[kind]
        return web.Response(
            body=bombs[kind], headers={"Content-Type": "text/html", "Content-Encoding": encoding}
        )

    @routes.get("/encoded/{coding}")
    async def encoded(request: web.Request) -> web.Response:
        raw = PAGE.encode()
        coding = request.match_info["coding"]
        body = {
            "gzip": gzip.compress(raw),
            "deflate": zlib.compress(raw),
            "raw-deflate": zlib.compress(raw, wbits=-15),
            "br": raw,
        }[coding]
        name = "deflate" if coding == "raw-deflate" else coding
        return web.Response(body=body, headers={"Content-Type": "text/html", "Content-Encoding": name})

    @routes.get("/slow-headers")
    async def slow_headers(request: web.Request) -> web.Response:
        await asyncio.sleep(30)  # cancelled when the client goes away (handler_cancellation)
        return web.Response(text=PAGE, content_type="text/html")

    @routes.get("/drip")
    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        for _ in range(600):  # each byte arrives well within the read timeout; the whole never does
            await response.write(b"x")
            await asyncio.sleep(0.05)
        return response

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        hosts.append(request.headers.get("Host", ""))
        return await handler(request)

    async def drop_content_type(request: web.Request, response: web.StreamResponse) -> None:
        # aiohttp always adds a Content-Type; this runs after that and before headers are sent.
        if response.headers.pop("X-Test-Drop-Content-Type", None):
            response.headers.pop("Content-Type", None)

    app = web.Application(middlewares=[record])
    app.add_routes(routes)
    app.on_response_prepare.append(drop_content_type)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
    await runner.setup()
    if ssl_context is not None:

        def remember_sni(sock: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
            sni.append(server_name)

        ssl_context.sni_callback = remember_sni
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    scheme = "https" if ssl_context else "http"
    try:
        yield LocalServer(f"{scheme}://127.0.0.1:{port}", port, hosts, sni)
    finally:
        await runner.cleanup()


@pytest.fixture
async def server(bombs: dict[str, bytes]) -> AsyncIterator[LocalServer]:
    async for running in _serve(bombs):
        yield running


def _local(**overrides: Any) -> FetchSettings:
    """Settings for the local server: loopback allowed, a small cap."""
    return replace(FetchSettings(allow_loopback=True, max_bytes=CAP, total_timeout=5.0), **overrides)


async def test_local_server_is_refused_without_allow_loopback(server: LocalServer) -> None:
    async with Fetcher(FetchSettings()) as fetcher:
        with pytest.raises(BlockedAddress):
            await fetcher.fetch(f"{server.base}/page")
    assert server.hosts == []


async def test_normal_pages(server: LocalServer) -> None:
    async with Fetcher(_local()) as fetcher:
        page = await fetcher.fetch(f"{server.base}/page")
        text = await fetcher.fetch(f"{server.base}/text")
        xhtml = await fetcher.fetch(f"{server.base}/xhtml")
        pdf = await fetcher.fetch(f"{server.base}/pdf")
    assert page.url == page.final_url == f"{server.base}/page"
    assert (page.content_type, page.charset, page.body) == ("text/html", "utf-8", PAGE.encode())
    # Bytes are handed over undecoded: charset detection is the extractor's job.
    assert (text.content_type, text.charset, text.body) == (
        "text/plain",
        None,
        "Bonjour, été".encode("latin-1"),
    )
    assert xhtml.content_type == "application/xhtml+xml"
    assert (pdf.content_type, pdf.body) == ("application/pdf", PDF)
    assert server.hosts[0] == f"127.0.0.1:{server.port}"


async def test_missing_content_type_is_sniffed(server: LocalServer) -> None:
    async with Fetcher(_local()) as fetcher:
        pdf = await fetcher.fetch(f"{server.base}/no-type/pdf")
        html = await fetcher.fetch(f"{server.base}/no-type/html")
        with pytest.raises(UnsupportedContentType) as caught:
            await fetcher.fetch(f"{server.base}/no-type/bin")
    assert (pdf.content_type, pdf.charset, pdf.body) == ("application/pdf", None, PDF)
    assert html.content_type == "text/html"
    assert "inconnu" in caught.value.user_message


@pytest.mark.parametrize(
    ("path", "media_type"), [("/jpeg", "image/jpeg"), ("/octet", "application/octet-stream")]
)
async def test_unsupported_types(server: LocalServer, path: str, media_type: str) -> None:
    async with Fetcher(_local()) as fetcher:
        with pytest.raises(UnsupportedContent) as caught:
            await fetcher.fetch(server.base + path)
    assert caught.value.detail == media_type
    assert f"« {media_type} »" in caught.value.user_message


@pytest.mark.parametrize("code", [404, 410, 500, 503])
async def test_error_statuses(server: LocalServer, code: int) -> None:
    async with Fetcher(_local()) as fetcher:
        with pytest.raises(HTTPStatusError) as caught:
            await fetcher.fetch(f"{server.base}/status/{code}")
    assert caught.value.status == code
    assert f"HTTP {code}" in caught.value.user_message


async def test_redirects(server: LocalServer) -> None:
    async with Fetcher(_local()) as fetcher:
        relative = await fetcher.fetch(f"{server.base}/go?to=page")
        absolute_path = await fetcher.fetch(f"{server.base}/go?to=/text&status=303")
        full = await fetcher.fetch(f"{server.base}/go?to={server.base}/pdf&status=308")
        five = await fetcher.fetch(f"{server.base}/chain/5")
        with pytest.raises(TooManyRedirects):
            await fetcher.fetch(f"{server.base}/chain/6")
    assert relative.url == f"{server.base}/go?to=page"
    assert relative.final_url == f"{server.base}/page"
    assert absolute_path.final_url == f"{server.base}/text"
    assert full.content_type == "application/pdf"
    assert five.final_url == f"{server.base}/chain/0"


async def test_redirect_limit_is_configurable(server: LocalServer) -> None:
    async with Fetcher(_local(max_redirects=0)) as fetcher:
        await fetcher.fetch(f"{server.base}/chain/0")
        with pytest.raises(TooManyRedirects):
            await fetcher.fetch(f"{server.base}/chain/1")


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/",
        "http://0.0.0.0/",
        "http://[fe80::1]/",
    ],
)
async def test_redirect_to_private_address_is_blocked_even_with_allow_loopback(
    server: LocalServer, target: str
) -> None:
    async with Fetcher(_local()) as fetcher:
        with pytest.raises(BlockedAddress):
            await fetcher.fetch(f"{server.base}/go?to={target}")


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1/", "http://u:p@127.0.0.1/"])
async def test_redirect_to_other_scheme_or_credentials_is_refused(server: LocalServer, target: str) -> None:
    async with Fetcher(_local()) as fetcher:
        with pytest.raises(InvalidURL):
            await fetcher.fetch(f"{server.base}/go?to={target}")


async def test_redirect_to_mapped_loopback_is_treated_as_loopback(server: LocalServer) -> None:
    mapped = f"http://[::ffff:127.0.0.1]:{server.port}/page"
    async with Fetcher(_local()) as fetcher:
        doc = await fetcher.fetch(f"{server.base}/go?to={mapped}")
    # Allowed like 127.0.0.1 (it is 127.0.0.1), reached over IPv4, named as written.
    assert doc.final_url == mapped
    assert server.hosts[-1] == f"[::ffff:127.0.0.1]:{server.port}"
    async with Fetcher(FetchSettings()) as fetcher:
        with pytest.raises(BlockedAddress):
            await fetcher.fetch(mapped)


async def test_redirect_hops_are_each_resolved(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    dns = install_dns(
        monkeypatch, {"one.test": ["127.0.0.1"], "two.test": ["127.0.0.1"], "evil.test": ["10.9.8.7"]}
    )
    port = server.port
    async with Fetcher(_local()) as fetcher:
        doc = await fetcher.fetch(f"http://one.test:{port}/go?to=http://two.test:{port}/page")
        with pytest.raises(BlockedAddress):
            await fetcher.fetch(f"http://one.test:{port}/go?to=http://evil.test/")
    assert doc.final_url == f"http://two.test:{port}/page"
    assert dns.calls == ["one.test", "two.test", "one.test", "evil.test"]
    assert server.hosts[:2] == [f"one.test:{port}", f"two.test:{port}"]


async def test_cookies_live_for_one_fetch_only(server: LocalServer) -> None:
    async with Fetcher(_local()) as fetcher:
        doc = await fetcher.fetch(f"{server.base}/set-cookie")
        assert doc.final_url == f"{server.base}/needs-cookie"
        with pytest.raises(HTTPStatusError):  # the next fetch starts with no cookies
            await fetcher.fetch(f"{server.base}/needs-cookie")


async def test_streamed_body_over_the_cap(server: LocalServer) -> None:
    async with Fetcher(_local()) as fetcher:
        with pytest.raises(TooLarge):
            await fetcher.fetch(f"{server.base}/big-stream")
        with pytest.raises(TooLarge):
            await fetcher.fetch(f"{server.base}/big-declared")
        # The same page fits once the cap allows it.
    async with Fetcher(_local(max_bytes=CAP + 1)) as fetcher:
        assert len((await fetcher.fetch(f"{server.base}/big-declared")).body) == CAP + 1


@pytest.mark.parametrize("kind", ["single", "double"])
async def test_gzip_bomb_stops_at_the_cap_without_inflating(server: LocalServer, kind: str) -> None:
    async with Fetcher(_local()) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(TooLarge):
                await fetcher.fetch(f"{server.base}/bomb/{kind}")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # 32 MB would be inflated in one piece by httpx's own decoder; ours never holds much over CAP.
    assert peak < 8 * CAP


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_pages_are_decoded(server: LocalServer, coding: str) -> None:
    async with Fetcher(_local()) as fetcher:
        doc = await fetcher.fetch(f"{server.base}/encoded/{coding}")
    assert doc.body == PAGE.encode()


async def test_unrequested_content_coding_is_unsupported(server: LocalServer) -> None:
    async with Fetcher(_local()) as fetcher:
        with pytest.raises(UnsupportedContent):
            await fetcher.fetch(f"{server.base}/encoded/br")


async def test_slow_server_times_out(server: LocalServer) -> None:
    async with Fetcher(_local(read_timeout=0.2)) as fetcher:
        with pytest.raises(FetchTimeout):
            await fetcher.fetch(f"{server.base}/slow-headers")


async def test_total_timeout_bounds_a_dripping_body(server: LocalServer) -> None:
    async with Fetcher(_local(read_timeout=1.0, total_timeout=0.3)) as fetcher:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(FetchTimeout):
            await fetcher.fetch(f"{server.base}/drip")
        assert loop.time() - start < 1.0


async def test_connection_refused(unused_tcp_port: int) -> None:
    async with Fetcher(_local()) as fetcher:
        with pytest.raises(ConnectionFailed):
            await fetcher.fetch(f"http://127.0.0.1:{unused_tcp_port}/")


# --- TLS: SNI and certificate checks use the name while the socket uses the checked IP --------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=agora.test", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=DNS:agora.test"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def tls_server(bombs: dict[str, bytes], certificate: tuple[Path, Path]) -> AsyncIterator[LocalServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    async for running in _serve(bombs, context):
        yield running


def _trusting_transport(certificate: tuple[Path, Path]) -> httpx.AsyncHTTPTransport:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    return httpx.AsyncHTTPTransport(verify=context, limits=httpx.Limits(max_keepalive_connections=0))


async def test_tls_uses_the_name_for_sni_and_verification(
    tls_server: LocalServer, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    install_dns(monkeypatch, {"agora.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    port = tls_server.port
    async with Fetcher(_local(), transport=_trusting_transport(certificate)) as fetcher:
        doc = await fetcher.fetch(f"https://agora.test:{port}/page")
        assert doc.body == PAGE.encode()
        # Same IP, but the certificate does not name other.test: verification must fail.
        with pytest.raises(ConnectionFailed) as caught:
            await fetcher.fetch(f"https://other.test:{port}/page")
        # An IP literal is verified as an IP, which this certificate does not cover either.
        with pytest.raises(ConnectionFailed):
            await fetcher.fetch(f"https://127.0.0.1:{port}/page")
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.detail
    assert tls_server.sni[:2] == ["agora.test", "other.test"]
    assert tls_server.hosts == [f"agora.test:{port}"]
