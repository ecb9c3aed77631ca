"""The address guard: a link may only make the bot connect to public unicast addresses.

Everything here is about the addresses a host name *resolves to*, not about how the name is
spelled: the fetcher resolves once, checks every address, then connects to a checked address
literal, so a second (rebound) DNS answer can never be used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from bot.errors import BlockedAddress, ConnectionFailed, InvalidURL

IPAddress = IPv4Address | IPv6Address

# IANA special-purpose IPv4 blocks that must never be reached from a link. A few blocks that
# IANA lists as "globally reachable" (192.0.0.9/32 and friends inside 192.0.0.0/24) are blocked
# anyway: no web page lives there.
_BLOCKED_V4: tuple[IPv4Network, ...] = tuple(
    IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, includes cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes broadcast 255.255.255.255
    )
)

# IPv6 is checked with an allow-list (global unicast 2000::/3) minus these blocks, because
# everything outside 2000::/3 is unallocated, local or special.
_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
_BLOCKED_V6: tuple[IPv6Network, ...] = tuple(
    IPv6Network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments (Teredo 2001::/32 is decided before this)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
_MAPPED_V6 = IPv6Network("::ffff:0:0/96")
_NAT64_V6 = IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix: last 32 bits are the v4 target
_TEREDO_V6 = IPv6Network("2001::/32")
_SIXTOFOUR_V6 = IPv6Network("2002::/16")

_LOOPBACK_V4 = IPv4Network("127.0.0.0/8")
_LOOPBACK_V6 = IPv6Address("::1")


def is_public_address(ip: IPAddress) -> bool:
    """True only for a globally routable unicast address that is safe for the bot to contact."""
    if isinstance(ip, IPv4Address):
        return not any(ip in net for net in _BLOCKED_V4)
    if ip.scope_id:
        # A zone index only makes sense for link-local or site-local destinations.
        return False
    if ip in _MAPPED_V6:
        # A dual-stack socket turns ::ffff:a.b.c.d into a plain IPv4 connection to a.b.c.d.
        return is_public_address(IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _NAT64_V6:
        # A NAT64 gateway forwards to the embedded IPv4 address.
        return is_public_address(IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _TEREDO_V6:
        # Teredo embeds the server address and the (obfuscated) client address.
        teredo = ip.teredo
        return teredo is not None and all(is_public_address(v4) for v4 in teredo)
    if ip in _SIXTOFOUR_V6:
        sixtofour = ip.sixtofour
        return sixtofour is not None and is_public_address(sixtofour)
    if ip not in _GLOBAL_UNICAST_V6:
        # Covers ::/128, ::1, IPv4-compatible ::/96, 64:ff9b:1::/48, 100::/64, 5f00::/16,
        # fc00::/7, fe80::/10, fec0::/10, ff00::/8 and all unallocated space.
        return False
    return not any(ip in net for net in _BLOCKED_V6)


def is_loopback_address(ip: IPAddress) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.y.z)."""
    ip = unmap(ip)
    if isinstance(ip, IPv4Address):
        return ip in _LOOPBACK_V4
    return ip == _LOOPBACK_V6 and not ip.scope_id


def unmap(ip: IPAddress) -> IPAddress:
    """The IPv4 address behind an IPv4-mapped IPv6 address, else `ip` unchanged."""
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_ip_host(host: str) -> IPAddress | None:
    """Parse a URL host as an IP literal the way browsers do, or None for a domain name.

    IPv4 follows the WHATWG URL standard (the inet_aton forms: `127.1`, `0x7f000001`,
    `2130706433`, `0177.0.0.1`); IPv6 may be bracketed and may carry a zone (`%25eth0`).
    Raises InvalidURL for a host that ends in a number but is not a valid IPv4 address
    (`1.2.3.999`), as browsers do.
    """
    if host.startswith("[") and host.endswith("]"):
        literal = host[1:-1].replace("%25", "%", 1)
        try:
            return IPv6Address(literal)
        except ValueError as exc:
            raise InvalidURL(f"invalid IPv6 literal {host!r}") from exc
    if ":" in host:
        try:
            return IPv6Address(host.replace("%25", "%", 1))
        except ValueError as exc:
            raise InvalidURL(f"invalid IPv6 literal {host!r}") from exc
    if not _ends_in_number(host):
        return None
    value = _parse_whatwg_ipv4(host)
    if value is None:
        raise InvalidURL(f"invalid IPv4 address {host!r}")
    return IPv4Address(value)


def _ends_in_number(host: str) -> bool:
    parts = host.split(".")
    if parts[-1] == "":
        if len(parts) == 1:
            return False
        parts.pop()
    last = parts[-1]
    if last and last.isascii() and last.isdigit():
        return True
    return _parse_ipv4_number(last) is not None and last[:2].lower() == "0x"


def _parse_ipv4_number(part: str) -> int | None:
    if not part or not part.isascii():
        return None
    radix = 10
    if part[:2].lower() == "0x":
        part, radix = part[2:], 16
    elif len(part) >= 2 and part[0] == "0":
        part, radix = part[1:], 8
    if not part:
        return 0
    # int() would accept "_", "+" and whitespace, which browsers do not.
    digits = "0123456789abcdef"[:radix]
    if any(c not in digits for c in part.lower()):
        return None
    return int(part, radix)


def _parse_whatwg_ipv4(host: str) -> int | None:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        return None
    numbers: list[int] = []
    for part in parts:
        number = _parse_ipv4_number(part)
        if number is None:
            return None
        numbers.append(number)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number * 256 ** (3 - index)
    return value


def _is_localhost_name(host: str) -> bool:
    # "localhost" and "*.localhost" are loopback by definition (RFC 6761), whatever DNS says.
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def _check(addresses: Iterable[IPAddress], host: str, allow_loopback: bool) -> list[IPAddress]:
    checked: list[IPAddress] = []
    for ip in addresses:
        if not is_public_address(ip) and not (allow_loopback and is_loopback_address(ip)):
            raise BlockedAddress(f"{host} resolves to non-public address {ip}")
        # Connect to the plain IPv4 form: it works on IPv4-only hosts and compares equal in logs.
        ip = unmap(ip)
        if ip not in checked:
            checked.append(ip)
    return checked


async def resolve_and_check(host: str, port: int, *, allow_loopback: bool) -> list[IPAddress]:
    """Resolve `host` and return its addresses, all of them public (or loopback if allowed).

    Raises BlockedAddress when ANY address is not public: a name that resolves to one public and
    one private address is refused, since the caller could be handed either. Raises
    ConnectionFailed when the name does not resolve, InvalidURL for a malformed numeric host.
    """
    if not host:
        raise InvalidURL("empty host")
    literal = parse_ip_host(host)
    if literal is not None:
        return _check([literal], host, allow_loopback)
    if _is_localhost_name(host) and not allow_loopback:
        raise BlockedAddress(f"{host} is a loopback name")
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConnectionFailed(f"cannot resolve {host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for family, *_rest, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            addresses.append(ipaddress.ip_address(sockaddr[0]))
        except ValueError as exc:
            # An address we cannot classify is an address we do not contact.
            raise BlockedAddress(f"{host} resolves to unparsable address {sockaddr[0]!r}") from exc
    if not addresses:
        raise ConnectionFailed(f"{host} has no IPv4 or IPv6 address")
    return _check(addresses, host, allow_loopback)
