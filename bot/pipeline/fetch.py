"""Fetch a shared link safely: public addresses only, bounded in time, size and redirects."""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType

import httpx

from bot.core.types import FetchedDocument
from bot.errors import (
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
from bot.pipeline.netguard import parse_ip_host, resolve_and_check

_ACCEPTED_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/pdf", "text/plain"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Limits and identity of the fetcher."""

    max_bytes: int = 5_000_000  # decoded body size
    connect_timeout: float = 5.0
    read_timeout: float = 10.0  # between two received chunks
    total_timeout: float = 20.0  # whole fetch: DNS, redirects and body
    max_redirects: int = 5
    allow_loopback: bool = False  # tests and local development only
    user_agent: str = "AgoraBot/0.1 (+https://github.com/agora-bot)"
    accept_language: str = "fr,en;q=0.8"


class Fetcher:
    """Downloads links into `FetchedDocument`s; use as `async with Fetcher(settings) as fetcher`."""

    def __init__(
        self,
        settings: FetchSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        settings = settings or FetchSettings()
        self._settings = settings
        if transport is None:
            # No keep-alive: the pool keys connections by (scheme, IP, port), so a kept connection
            # whose TLS session was verified for one name could otherwise carry a request for
            # another name that resolves to the same IP. trust_env=False: a proxy from the
            # environment would do its own DNS and defeat the address check.
            transport = httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_keepalive_connections=0), trust_env=False
            )
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            follow_redirects=False,  # done by hand: every hop is resolved and checked first
            trust_env=False,
            # The client jar would file cookies under the IP literal we connect to and replay them
            # to other sites on that IP; cookies live in a per-fetch jar instead (see _send).
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            headers={
                "User-Agent": settings.user_agent,
                "Accept": "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.1",
                "Accept-Language": settings.accept_language,
                # Only what _Inflater decodes with a bound on its output.
                "Accept-Encoding": "gzip, deflate",
            },
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client and its connections."""
        await self._client.aclose()

    async def fetch(self, url: str) -> FetchedDocument:
        """Download `url`; raises a FetchError subclass with a French user message on failure."""
        try:
            async with asyncio.timeout(self._settings.total_timeout):
                return await self._fetch(url)
        except TimeoutError as exc:
            raise FetchTimeout(f"{url}: no complete answer in {self._settings.total_timeout}s") from exc
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"{url}: {type(exc).__name__}") from exc
        except httpx.InvalidURL as exc:
            raise InvalidURL(f"{url}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise ConnectionFailed(f"{url}: {type(exc).__name__}: {exc}") from exc

    async def _fetch(self, url: str) -> FetchedDocument:
        current = _parse_url(url)
        cookies = httpx.Cookies()
        for _hop in range(self._settings.max_redirects + 1):
            response = await self._send(current, cookies)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECT_STATUSES and location:
                    current = _parse_url(location, base=current)
                    continue
                return await self._read(url, current, response)
            finally:
                await response.aclose()
        raise TooManyRedirects(f"{url}: more than {self._settings.max_redirects} redirects")

    async def _send(self, url: httpx.URL, cookies: httpx.Cookies) -> httpx.Response:
        """GET `url` on one of its checked addresses, never on a name httpx would resolve again."""
        host = url.raw_host.decode("ascii")
        port = url.port or _DEFAULT_PORTS[url.scheme]
        addresses = await resolve_and_check(host, port, allow_loopback=self._settings.allow_loopback)
        failure: httpx.TransportError | None = None
        for address in addresses:
            # Built on the name, so the Host header and cookie matching use the name; only then is
            # the URL pointed at the checked address.
            request = self._client.build_request("GET", url)
            cookies.set_cookie_header(request)
            if url.scheme == "https" and parse_ip_host(host) is None:
                # httpcore passes this as server_hostname to the TLS handshake: SNI and certificate
                # verification use the name although the socket is opened on an IP literal.
                request.extensions["sni_hostname"] = host.rstrip(".")
            request.url = url.copy_with(host=str(address))
            try:
                response = await self._client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc  # try the next address, as a resolver-driven connect would
                continue
            cookies.extract_cookies(
                httpx.Response(
                    response.status_code, headers=response.headers, request=httpx.Request("GET", url)
                )
            )
            return response
        assert failure is not None  # resolve_and_check never returns an empty list
        raise failure

    async def _read(self, original: str, url: httpx.URL, response: httpx.Response) -> FetchedDocument:
        if response.status_code >= 400:
            raise HTTPStatusError(response.status_code, f"{url}: HTTP {response.status_code}")
        media_type, charset = parse_content_type(response.headers.get("content-type", ""))
        if media_type and media_type not in _ACCEPTED_TYPES:
            raise UnsupportedContentType(media_type)
        limit = self._settings.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"{url}: Content-Length {declared} > {limit}")
        body = await _read_body(response, limit)
        content_type = media_type or sniff_media_type(body)
        if content_type is None:
            raise UnsupportedContentType("")
        return FetchedDocument(
            url=original, final_url=str(url), content_type=content_type, charset=charset, body=body
        )


def _parse_url(text: str, *, base: httpx.URL | None = None) -> httpx.URL:
    """Parse (or resolve against `base`) a link the fetcher may follow; raises InvalidURL."""
    try:
        url = httpx.URL(text.strip()) if base is None else base.join(text.strip())
        port = url.port
        # Copying re-parses the host, and httpx refuses some hosts it produced itself from IDNA
        # (`0.0.00。0` becomes `0.0.00.0`, an invalid IPv4 literal): inside the try, so it is InvalidURL.
        url = url.copy_with(fragment=None)
        # Decoding the host is how httpx fills the Host header: an invalid A-label (`xn--`, `xn--xn--a`)
        # would raise idna.IDNAError (a UnicodeError) only when the request is built, after DNS.
        url.host  # noqa: B018
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise InvalidURL(f"unparsable URL {text!r}: {exc}") from exc
    if url.scheme not in _DEFAULT_PORTS:
        raise InvalidURL(f"not an http(s) URL: {text!r}")
    if not url.raw_host:
        raise InvalidURL(f"URL without host: {text!r}")
    if b"%" in url.raw_host and b":" not in url.raw_host:
        # httpx keeps `%xx` in a name, which DNS would then be asked about, while browsers and the
        # cache key (urls.canonicalize) decode it first: `lemonde%2efr` must not be cached as lemonde.fr.
        raise InvalidURL(f"percent-encoded host in {text!r}")
    if url.userinfo:
        raise InvalidURL("credentials in URL")
    if port is not None and not 0 < port < 65536:
        raise InvalidURL(f"invalid port in {text!r}")
    return url


def parse_content_type(header: str) -> tuple[str, str | None]:
    """Split a Content-Type header into (lower-case media type or "", lower-case charset or None)."""
    media_type, *params = header.split(";")
    media_type = media_type.strip().lower()
    if media_type.count("/") != 1 or " " in media_type:
        # A malformed type is as good as none: the body is sniffed instead.
        media_type = ""
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower() or None
    return media_type, charset


def sniff_media_type(body: bytes) -> str | None:
    """Guess the media type of an undeclared body from its first bytes (PDF or HTML), else None."""
    if b"%PDF-" in body[:1024]:  # readers accept leading junk before the header
        return "application/pdf"
    head = body[:512].removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n\f").lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    return None


class _Inflater:
    """One content-coding layer, decoded with zlib's output bound so a bomb never expands past `limit`."""

    def __init__(self, coding: str, limit: int) -> None:
        self._coding = coding
        self._limit = limit
        self._produced = 0
        self._first = True
        if coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise UnsupportedContent(f"content-encoding {coding!r}")

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._zlib.decompress(data, self._limit - self._produced + 1)
        except zlib.error as exc:
            if self._coding == "deflate" and self._first:
                # Servers disagree on whether "deflate" has a zlib header; retry as raw deflate.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._first = False
                return self.feed(data)
            raise FetchError(f"corrupt {self._coding} body: {exc}") from exc
        self._first = False
        return self._count(out)

    def flush(self) -> bytes:
        return self._count(self._zlib.flush())

    def _count(self, out: bytes) -> bytes:
        self._produced += len(out)
        if self._produced > self._limit:
            raise TooLarge(f"{self._coding} body expands past {self._limit} bytes")
        return out


async def _read_body(response: httpx.Response, limit: int) -> bytes:
    """Read and decode the body, failing as soon as it exceeds `limit` bytes.

    httpx's own decoders inflate each network chunk without bound (64 KiB of gzip is 64 MB of
    zeros, and "gzip, gzip" multiplies that again), so the raw bytes are decoded here instead.
    """
    if response.is_stream_consumed:
        # A transport like httpx.MockTransport hands over a body that httpx already read and decoded.
        if len(response.content) > limit:
            raise TooLarge(f"body larger than {limit} bytes")
        return response.content
    codings = [
        c.strip().lower()
        for c in response.headers.get_list("content-encoding", split_commas=True)
        if c.strip().lower() not in ("", "identity")
    ]
    # Codings are listed in the order they were applied: undo them last first.
    layers = [_Inflater(coding, limit) for coding in reversed(codings)]
    chunks: list[bytes] = []
    size = 0

    def push(data: bytes, start: int) -> None:
        nonlocal size
        for index in range(start, len(layers)):
            data = layers[index].feed(data)
        size += len(data)
        if size > limit:
            raise TooLarge(f"body larger than {limit} bytes")
        chunks.append(data)

    async for raw in response.aiter_raw():
        push(raw, 0)
    # Flush each layer in order, passing what it releases through the layers after it.
    for index, layer in enumerate(layers):
        push(layer.flush(), index + 1)
    return b"".join(chunks)
