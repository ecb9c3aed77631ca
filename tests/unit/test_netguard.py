"""The address guard: which addresses count as public, and how hosts are resolved and checked."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import BlockedAddress, ConnectionFailed, InvalidURL
from bot.pipeline.netguard import (
    is_loopback_address,
    is_public_address,
    parse_ip_host,
    resolve_and_check,
)

NON_PUBLIC = [
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.169.254",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.1",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::10.0.0.1",  # IPv4-compatible (deprecated)
    "::8.8.8.8",  # IPv4-compatible, even of a public address
    "64:ff9b::10.0.0.1",  # NAT64 to a private address
    "64:ff9b::127.0.0.1",
    "64:ff9b:1::1",  # local-use NAT64
    "100::1",  # discard-only
    "2001:db8::1",
    "2001:2::1",  # benchmarking
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo whose client is 192.0.2.45
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "3fff::1",
    "5f00::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",  # site-local (deprecated)
    "ff02::1",
    "ff0e::1",
]

PUBLIC = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.215.14",
    "100.63.255.255",
    "100.128.0.0",
    "172.32.0.1",
    "192.0.3.1",
    "223.255.255.255",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "2606:4700:4700::1111",
    "2a00:1450:4007:80c::200e",
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo: server 65.54.227.120, client 8.8.8.8
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public_address(ip_address(address))


BLOCKED_V4 = [
    IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]
BLOCKED_V6 = [
    IPv6Network(n)
    for n in ("::/96", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "2001:db8::/32", "100::/64")
]


@st.composite
def _v4_in_blocked(draw: st.DrawFn) -> IPv4Address:
    net = draw(st.sampled_from(BLOCKED_V4))
    offset = draw(st.integers(0, net.num_addresses - 1))
    return IPv4Address(int(net.network_address) + offset)


@st.composite
def _v6_in_blocked(draw: st.DrawFn) -> IPv6Address:
    net = draw(st.sampled_from(BLOCKED_V6))
    offset = draw(st.integers(0, net.num_addresses - 1))
    return IPv6Address(int(net.network_address) + offset)


@given(_v4_in_blocked())
def test_every_address_of_blocked_v4_networks_is_non_public(ip: IPv4Address) -> None:
    assert not is_public_address(ip)
    # The same address behind IPv4-mapped, NAT64 and 6to4 prefixes is just as blocked.
    assert not is_public_address(IPv6Address(0xFFFF_0000_0000 | int(ip)))
    assert not is_public_address(IPv6Address((0x64FF9B << 96) | int(ip)))
    assert not is_public_address(IPv6Address((0x2002 << 112) | (int(ip) << 80) | 1))


@given(_v6_in_blocked())
def test_every_address_of_blocked_v6_networks_is_non_public(ip: IPv6Address) -> None:
    assert not is_public_address(ip)


def test_loopback_recognition() -> None:
    assert is_loopback_address(ip_address("127.0.0.1"))
    assert is_loopback_address(ip_address("127.3.2.1"))
    assert is_loopback_address(ip_address("::1"))
    assert is_loopback_address(ip_address("::ffff:127.0.0.1"))
    assert not is_loopback_address(ip_address("10.0.0.1"))
    assert not is_loopback_address(ip_address("0.0.0.0"))
    assert not is_loopback_address(ip_address("::"))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("1.2.3.4.", "1.2.3.4"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("::ffff:10.0.0.1", "::ffff:a00:1"),
        ("[fe80::1%25eth0]", "fe80::1%eth0"),
    ],
)
def test_parse_ip_host_numeric_forms(host: str, expected: str) -> None:
    assert parse_ip_host(host) == ip_address(expected)


@pytest.mark.parametrize("host", ["example.com", "localhost", "a.0x1g", "1.example", "xn--80ak6aa92e.com"])
def test_parse_ip_host_names(host: str) -> None:
    assert parse_ip_host(host) is None


@pytest.mark.parametrize("host", ["1.2.3.999", "1.2.3.4.5", "09.1.1.1", "1..2", "4294967296", "[zz]", "1:2"])
def test_parse_ip_host_invalid_numbers(host: str) -> None:
    with pytest.raises(InvalidURL):
        parse_ip_host(host)


@pytest.mark.parametrize(
    "host",
    ["127.1", "0x7f000001", "2130706433", "0177.0.0.1", "[::1]", "::ffff:127.0.0.1", "[::ffff:10.0.0.1]",
     "10.0.0.1", "169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", "localhost", "api.localhost."],
)  # fmt: skip
async def test_resolve_refuses_non_public_without_dns(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()

    async def no_dns(*args: object, **kwargs: object) -> list[object]:
        raise AssertionError("numeric and localhost names must not reach DNS")

    monkeypatch.setattr(loop, "getaddrinfo", no_dns)
    with pytest.raises(BlockedAddress):
        await resolve_and_check(host, 80, allow_loopback=False)


async def test_allow_loopback_allows_loopback_only() -> None:
    assert await resolve_and_check("127.1", 80, allow_loopback=True) == [IPv4Address("127.0.0.1")]
    assert await resolve_and_check("[::1]", 80, allow_loopback=True) == [IPv6Address("::1")]
    # Mapped loopback is returned as plain IPv4, the address actually connected to.
    assert await resolve_and_check("::ffff:127.0.0.1", 80, allow_loopback=True) == [IPv4Address("127.0.0.1")]
    for host in ("10.0.0.1", "192.168.0.1", "169.254.169.254", "0.0.0.0", "::", "[::ffff:10.0.0.1]"):
        with pytest.raises(BlockedAddress):
            await resolve_and_check(host, 80, allow_loopback=True)


class FakeDNS:
    """Stands in for `loop.getaddrinfo`: fixed answers, and a record of the names asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out: list[tuple[object, ...]] = []
        for address in self.answers[host]:
            if ":" in address:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return out


async def test_resolve_checks_every_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    dns = FakeDNS(
        {
            "public.test": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "93.184.215.14"],
            "mixed.test": ["93.184.215.14", "10.0.0.7"],
            "rebind.test": ["::ffff:192.168.0.1"],
            "loop.test": ["127.0.0.1", "::1"],
        }
    )
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", dns)
    assert await resolve_and_check("public.test", 443, allow_loopback=False) == [
        IPv4Address("93.184.215.14"),
        IPv6Address("2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
    ]
    with pytest.raises(BlockedAddress):  # one private answer is enough to refuse
        await resolve_and_check("mixed.test", 443, allow_loopback=False)
    with pytest.raises(BlockedAddress):
        await resolve_and_check("rebind.test", 443, allow_loopback=True)
    with pytest.raises(BlockedAddress):
        await resolve_and_check("loop.test", 443, allow_loopback=False)
    assert len(await resolve_and_check("loop.test", 443, allow_loopback=True)) == 2
    with pytest.raises(ConnectionFailed):
        await resolve_and_check("nowhere.test", 443, allow_loopback=False)
    assert dns.calls == ["public.test", "mixed.test", "rebind.test", "loop.test", "loop.test", "nowhere.test"]


async def test_resolve_uses_the_system_resolver_for_localhost() -> None:
    # Only with allow_loopback does "localhost" reach getaddrinfo; whatever it answers is loopback.
    addresses = await resolve_and_check("localhost", 80, allow_loopback=True)
    assert addresses and all(is_loopback_address(a) for a in addresses)


async def test_resolve_rejects_malformed_numeric_host() -> None:
    with pytest.raises(InvalidURL):
        await resolve_and_check("1.2.3.999", 80, allow_loopback=True)
    with pytest.raises(InvalidURL):
        await resolve_and_check("", 80, allow_loopback=True)
