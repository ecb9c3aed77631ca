"""Fuzzing the address guard and the fetcher: no link reaches a non-public address, in any spelling.

The transport records every request and the DNS is a stand-in, so nothing leaves the machine. The
stand-in parses numeric hosts with the C library (what a real resolver would hand back for
`0177.1` or `127.1`) and answers names with addresses the test chooses.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import BlockedAddress, ConnectionFailed, FetchError, InvalidURL
from bot.pipeline.fetch import Fetcher, FetchSettings
from bot.pipeline.netguard import (
    is_loopback_address,
    is_public_address,
    parse_ip_host,
    resolve_and_check,
    unmap,
)
from tests.fuzz.settings import fuzz
from tests.fuzz.strategies import (
    hostile_url,
    ipv4_spelling,
    private_host,
    private_v4,
    private_v6,
    public_v4,
    url_to,
)

#: What fetching a hostile link may raise: the documented FetchError subclasses, nothing else.
REFUSALS = (BlockedAddress, InvalidURL, ConnectionFailed)


def libc_numeric(host: str, port: int) -> list[str]:
    """What the system resolver returns for a numeric host (no network: AI_NUMERICHOST), or []."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return []
    return [str(info[4][0]) for info in infos]


@dataclass
class StandInDNS:
    """Replaces `loop.getaddrinfo`: numeric hosts as libc parses them, names as `names` says."""

    names: list[str] = field(default_factory=list)  # every name resolves to these addresses
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int, **_kw: object) -> list[tuple[object, ...]]:
        self.asked.append(host)
        answers = libc_numeric(host, port) or list(self.names)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers
        ]


@dataclass
class RecordingTransport(httpx.AsyncBaseTransport):
    """Records every request that would have opened a connection; answers a tiny text page."""

    requests: list[httpx.Request] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, headers={"content-type": "text/plain"}, content=b"ok")


@dataclass
class Rig:
    dns: StandInDNS
    transport: RecordingTransport
    strict: Fetcher  # allow_loopback=False, the production setting
    loopback: Fetcher  # allow_loopback=True, the tests' setting

    def reset(self, names: Iterable[str] = ()) -> None:
        self.dns.names = list(names)
        self.dns.asked.clear()
        self.transport.requests.clear()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    loop = asyncio.get_running_loop()
    dns = StandInDNS()
    transport = RecordingTransport()
    original = loop.getaddrinfo
    loop.getaddrinfo = dns  # type: ignore[method-assign]
    strict = Fetcher(FetchSettings(allow_loopback=False, max_redirects=0), transport=transport)
    loopback = Fetcher(FetchSettings(allow_loopback=True, max_redirects=0), transport=transport)
    try:
        yield Rig(dns, transport, strict, loopback)
    finally:
        loop.getaddrinfo = original  # type: ignore[method-assign]
        await strict.aclose()
        await loopback.aclose()


def contacted(rig: Rig) -> list[IPv4Address | IPv6Address]:
    """The address each recorded request went to (the fetcher always connects to an IP literal)."""
    out = []
    for request in rig.transport.requests:
        literal = parse_ip_host(request.url.host)
        assert literal is not None, f"connected to a name, not a checked address: {request.url}"
        out.append(literal)
    return out


@fuzz
@given(target=private_host(), data=st.data())
async def test_private_address_in_any_spelling_is_refused_before_connecting(
    rig: Rig, target: tuple[str, IPv4Address | IPv6Address], data: st.DataObject
) -> None:
    host, address = target
    url = data.draw(url_to(host), label="url")
    rig.reset()
    with pytest.raises(REFUSALS):
        await rig.strict.fetch(url)
    assert rig.transport.requests == []
    # With loopback allowed (tests only), the other private blocks stay closed.
    rig.reset()
    try:
        await rig.loopback.fetch(url)
    except REFUSALS:
        pass
    for ip in contacted(rig):
        assert is_loopback_address(ip), (url, ip)
        assert is_loopback_address(address), (url, address)


@fuzz
@given(url=hostile_url(), names=st.lists(st.one_of(private_v4, public_v4, private_v6).map(str), max_size=3))
async def test_any_link_reaches_only_checked_public_addresses(rig: Rig, url: str, names: list[str]) -> None:
    """Whatever the link and whatever DNS answers, a connection only ever goes to a public address,
    and never for a name with any non-public answer (one bad address is enough to refuse)."""
    rig.reset(names)
    try:
        doc = await rig.strict.fetch(url)
    except FetchError as exc:
        assert isinstance(exc, REFUSALS), repr(exc)
        assert exc.user_message
        doc = None
    hosts = contacted(rig)
    assert all(is_public_address(ip) for ip in hosts), (url, hosts)
    if rig.dns.asked and hosts:
        answers = {unmap(ip_address(a)) for a in names}
        assert all(is_public_address(ip_address(a)) for a in names), (url, names)
        assert set(hosts) <= answers | {unmap(ip_address(a)) for a in libc_numeric(rig.dns.asked[-1], 80)}
    if doc is not None:
        assert hosts and doc.body == b"ok"


@fuzz
@given(address=st.one_of(private_v4, public_v4), data=st.data())
async def test_numeric_hosts_are_decided_without_dns_as_libc_would_read_them(
    address: IPv4Address, data: st.DataObject
) -> None:
    host = data.draw(ipv4_spelling(address), label="host")
    expected = libc_numeric(host, 80)
    # Every spelling the system resolver reads as an address is read as the same address here.
    if expected:
        assert parse_ip_host(host) == ip_address(expected[0]) == address

    async def no_dns(*_a: object, **_k: object) -> list[tuple[object, ...]]:
        raise AssertionError("a numeric host went to DNS")

    loop = asyncio.get_running_loop()
    original = loop.getaddrinfo
    loop.getaddrinfo = no_dns  # type: ignore[method-assign]
    try:
        if is_public_address(address):
            assert await resolve_and_check(host, 80, allow_loopback=False) == [address]
        else:
            with pytest.raises(BlockedAddress):
                await resolve_and_check(host, 80, allow_loopback=False)
    finally:
        loop.getaddrinfo = original  # type: ignore[method-assign]


@fuzz
@given(host=st.text(max_size=30))
def test_parse_ip_host_raises_only_invalid_url(host: str) -> None:
    try:
        parsed = parse_ip_host(host)
    except InvalidURL:
        return
    if parsed is not None:
        is_public_address(parsed)  # classifies every address it returns without raising


@fuzz
@given(address=st.ip_addresses())
def test_embedding_never_launders_a_private_ipv4_address(address: IPv4Address | IPv6Address) -> None:
    """An IPv6 form that carries an IPv4 address is public only if that address is."""
    if isinstance(address, IPv6Address):
        for embedded in (address.ipv4_mapped, address.sixtofour):
            if embedded is not None and not is_public_address(embedded):
                assert not is_public_address(address), address
        if address.teredo is not None and not all(is_public_address(a) for a in address.teredo):
            assert not is_public_address(address), address
        if int(address) >> 32 in (0, int(IPv6Address("64:ff9b::")) >> 32):  # IPv4-compatible, NAT64
            if not is_public_address(IPv4Address(int(address) & 0xFFFFFFFF)):
                assert not is_public_address(address), address
    if is_public_address(address):
        # Python's own classification, on the IPv4 address a mapped or NAT64 address really reaches.
        if isinstance(address, IPv6Address) and int(address) >> 32 in (0xFFFF, int(IPv6Address("64:ff9b::")) >> 32):
            address = IPv4Address(int(address) & 0xFFFFFFFF)
        assert not address.is_loopback and not address.is_link_local and not address.is_multicast, address
        assert not address.is_unspecified and not address.is_reserved, address
        assert isinstance(address, IPv6Address) or not address.is_private, address
        assert not is_loopback_address(address)
