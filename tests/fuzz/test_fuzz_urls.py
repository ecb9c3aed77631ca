"""Fuzzing link discovery and the canonical form (the digest cache key).

The canonical form must be stable (canonical of canonical is itself), well formed, and name the same
host and port the fetcher would contact: otherwise one site's page could be cached under another
site's key.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from bot.errors import InvalidURL
from bot.pipeline.fetch import _parse_url
from bot.pipeline.netguard import is_public_address, parse_ip_host
from bot.pipeline.urls import canonicalize, find_urls
from tests.fuzz.settings import fuzz
from tests.fuzz.strategies import chat_text, hostile_url, private_host, url_to

_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_or_none(url: str) -> str | None:
    try:
        return canonicalize(url)
    except InvalidURL:
        return None


def host_port(url: str) -> tuple[object, int]:
    """(host, port) of a canonical URL: an ip_address for numeric hosts, else the lower-case name."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    numeric = parse_ip_host(f"[{host}]" if ":" in host else host)
    return (numeric if numeric is not None else host), parts.port or _DEFAULT_PORTS[parts.scheme]


@fuzz
@given(url=st.one_of(hostile_url(), st.text(max_size=60)))
def test_canonical_form_is_stable_and_well_formed(url: str) -> None:
    canonical = canonical_or_none(url)
    if canonical is None:
        return
    assert canonicalize(canonical) == canonical
    assert canonical.isascii() and canonical.isprintable() and " " not in canonical
    parts = urlsplit(canonical)
    assert parts.scheme in _DEFAULT_PORTS
    assert parts.hostname and not parts.username and not parts.password and "@" not in parts.netloc
    assert not parts.fragment and parts.path.startswith("/")
    assert parts.netloc == parts.netloc.lower()


@fuzz
@given(url=hostile_url())
def test_canonical_host_is_the_host_the_fetcher_contacts(url: str) -> None:
    canonical = canonical_or_none(url)
    try:
        fetched = _parse_url(url)
    except InvalidURL:
        return
    if canonical is None:
        return  # the cache refuses it, so nothing can be stored under a wrong key
    raw = fetched.raw_host.decode("ascii").rstrip(".").lower()
    literal = parse_ip_host(raw)
    host: object = literal if literal is not None else raw
    port = fetched.port or _DEFAULT_PORTS[fetched.scheme]
    assert (host, port) == host_port(canonical), (url, canonical, str(fetched))


@fuzz
@given(target=private_host(), data=st.data())
def test_every_spelling_of_a_private_address_has_one_canonical_form(
    target: tuple[str, IPv4Address | IPv6Address], data: st.DataObject
) -> None:
    host, address = target
    canonical = canonical_or_none(data.draw(url_to(host), label="url"))
    if canonical is None:
        return
    parsed, _port = host_port(canonical)
    assert isinstance(parsed, IPv4Address | IPv6Address), canonical
    assert not is_public_address(parsed)
    assert parsed == address or (isinstance(parsed, IPv6Address) and parsed.scope_id), (canonical, address)


@fuzz
@given(
    text=st.one_of(chat_text, st.lists(st.one_of(chat_text, hostile_url()), max_size=4).map(" ".join)),
    limit=st.one_of(st.none(), st.integers(1, 5)),
)
def test_find_urls_returns_trimmed_distinct_links_found_in_the_text(text: str, limit: int | None) -> None:
    found = find_urls(text, limit=limit)
    assert limit is None or len(found) <= limit
    keys = [canonical_or_none(u) or u for u in found]
    assert len(set(keys)) == len(keys)
    for url in found:
        assert url in text
        assert url.lower().startswith(("http://", "https://"))
        assert not any(c.isspace() for c in url)
        assert url[-1] not in ".,;:!?'\"»«›…*|"
        assert urlsplit(url).hostname
