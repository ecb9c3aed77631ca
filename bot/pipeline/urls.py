"""Links in chat text, and the canonical form of a link used as the digest cache key."""

from __future__ import annotations

import re
from ipaddress import IPv6Address
from urllib.parse import SplitResult, unquote, urlsplit

import idna

from bot.errors import InvalidURL
from bot.pipeline.netguard import parse_ip_host

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Query parameters that only identify where a click came from; they never change the page.
_TRACKING_PARAMS = frozenset(
    {
        # ad click identifiers
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "ttclid", "li_fat_id", "epik", "srsltid", "igshid", "igsh", "ocid",
        # Google Analytics / HubSpot / Marketo / Mailchimp / Vero / Olytics
        "_ga", "_gl", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp", "hsctatracking", "mkt_tok",
        "mc_cid", "mc_eid", "vero_conv", "vero_id", "oly_anon_id", "oly_enc_id", "_openstat",
        "rb_clickid", "s_cid", "wickedid",
        # comScore
        "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee",
        # Twitter embeds, NYT share links
        "ref_src", "ref_url", "smid",
        # AT Internet (Piano), used by most French news sites
        "xtor", "xtref", "xts", "at_medium", "at_campaign", "at_platform", "at_send_date",
        "at_creation", "at_variant", "at_format", "at_link", "at_term", "at_type", "at_origin",
        "at_recipient_id", "at_recipient_list", "at_ptr_name", "at_emailtype", "at_email",
        "at_custom1", "at_custom2", "at_custom3", "at_custom4",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_",)

_HEX = "0123456789ABCDEFabcdef"
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS = "!$&'()*+,;="
# Characters left as they are (RFC 3986 pchar, plus "/" and, in queries, "?").
_PATH_SAFE = frozenset(_UNRESERVED | set(_SUB_DELIMS) | set(":@/"))
_QUERY_SAFE = frozenset(_PATH_SAFE | {"?"})
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")


def canonicalize(url: str) -> str:
    """Canonical form of an http(s) link, equal for links that name the same page; raises InvalidURL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError as exc:
        raise InvalidURL(f"unparsable URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidURL(f"not an http(s) URL: {url!r}")
    userinfo, _, _ = parts.netloc.rpartition("@")
    if userinfo:
        raise InvalidURL("credentials in URL")
    host = _canonical_host(parts)
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _remove_dot_segments(_normalize_escapes(parts.path, _PATH_SAFE)) or "/"
    if not path.startswith("/"):
        path = "/" + path
    query = _clean_query(parts.query)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def _canonical_host(parts: SplitResult) -> str:
    raw = parts.hostname  # lower-cased, brackets removed
    if not raw:
        raise InvalidURL("URL without host")
    if ":" in raw:  # urlsplit already validated the IPv6 literal
        try:
            ip = IPv6Address(raw.replace("%25", "%", 1))
        except ValueError as exc:
            raise InvalidURL(f"invalid IPv6 literal {raw!r}") from exc
        # Spelled out by hand: str() of a mapped address changed between Python versions.
        text = f"::ffff:{ip.ipv4_mapped}" if ip.ipv4_mapped is not None else ip.compressed
        if ip.ipv4_mapped is not None and ip.scope_id:  # compressed keeps the zone; keep it here too
            text += f"%{ip.scope_id}"
        return f"[{text}]".replace("%", "%25")
    # Browsers percent-decode the host before IDNA processing.
    try:
        host = unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidURL(f"invalid host {raw!r}") from exc
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidURL(f"invalid international host {raw!r}") from exc
    # "example.com." is the same site as "example.com"; strip after IDNA, which may drop characters.
    host = host.lower().rstrip(".")
    if not host:
        raise InvalidURL("URL without host")
    numeric = parse_ip_host(host)
    if numeric is not None:
        return str(numeric)
    if not set(host) <= _HOST_CHARS or ".." in host:
        raise InvalidURL(f"invalid host {raw!r}")
    return host


def _normalize_escapes(text: str, safe: frozenset[str]) -> str:
    """Decode escapes of unreserved characters, upper-case the others, escape what must be."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "%" and i + 2 < len(text) and text[i + 1] in _HEX and text[i + 2] in _HEX:
            decoded = chr(int(text[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + text[i + 1 : i + 3].upper())
            i += 3
            continue
        if char in safe:
            out.append(char)
        else:
            try:
                encoded = char.encode("utf-8")
            except UnicodeEncodeError as exc:  # a lone surrogate
                raise InvalidURL("URL with invalid characters") from exc
            out.append("".join(f"%{byte:02X}" for byte in encoded))
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 section 5.2.4, on "/"-separated segments.
    if "." not in path:
        return path
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    result = "/".join(output)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    return result


def _clean_query(query: str) -> str:
    kept: list[str] = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = unquote(pair.partition("=")[0].replace("+", " ")).strip().lower()
        if name in _TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES):
            continue
        kept.append(_normalize_escapes(pair, _QUERY_SAFE))
    return "&".join(kept)


# A link starts at a scheme not glued to a preceding word and runs until whitespace or a character
# that never appears unescaped in links people paste (quotes, angle brackets, backticks).
_URL_RE = re.compile(r"(?<![A-Za-z0-9+.\-])https?://[^\s<>\"`\x00-\x1f\x7f]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"»«›…*|"
_BRACKETS = {")": "(", "]": "[", "}": "{"}


def trim_link(candidate: str) -> str:
    """Drop the punctuation a sentence put after a link (a closing bracket only when unbalanced)."""
    while candidate:
        last = candidate[-1]
        if last in _TRAILING:
            candidate = candidate[:-1]
        elif last in _BRACKETS and candidate.count(last) > candidate.count(_BRACKETS[last]):
            # "(see https://x.org/a)" ends the link, "https://w.org/wiki/A_(b)" does not.
            candidate = candidate[:-1]
        else:
            break
    return candidate


def find_urls(text: str, limit: int | None = None) -> list[str]:
    """The http(s) links in `text`, in order, without duplicates (same canonical form), at most `limit`."""
    found: list[str] = []
    seen: set[str] = set()
    for match in _URL_RE.finditer(text):
        if limit is not None and len(found) >= limit:
            break
        candidate = trim_link(match.group(0))
        try:
            if not urlsplit(candidate).hostname:
                continue
        except ValueError:
            continue
        try:
            key = canonicalize(candidate)
        except InvalidURL:
            # Still reported: the pipeline explains to the user why it cannot be read.
            key = candidate
        if key not in seen:
            seen.add(key)
            found.append(candidate)
    return found
