"""Platform-neutral data types that flow through the pipeline."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Length(enum.StrEnum):
    """Digest length chosen by a member or a moderator."""

    COURT = "court"
    STANDARD = "standard"
    LONG = "long"

    @classmethod
    def parse(cls, value: str) -> Length:
        """Parse a user-typed length (case-insensitive); raises ValueError."""
        return cls(value.strip().lower())


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    """Raw bytes of a fetched link, before extraction."""

    url: str  # the link as shared
    final_url: str  # after redirects
    content_type: str  # media type without parameters, lower-case ("text/html")
    charset: str | None  # charset parameter of the Content-Type header, if any
    body: bytes


@dataclass(frozen=True, slots=True)
class Article:
    """The readable article extracted from a document."""

    url: str
    final_url: str
    title: str
    text: str  # main text, paragraphs separated by blank lines
    site: str | None = None
    author: str | None = None
    date: str | None = None  # ISO date (YYYY-MM-DD) when known
    language: str | None = None  # ISO 639-1 code when known

    @property
    def word_count(self) -> int:
        return len(self.text.split())


class Part(enum.IntEnum):
    """The parts of a digest, in the order of ../shared/DIGEST_FORMAT.md."""

    ACCROCHE = 0
    REFERENCE = 1
    RECAP = 2
    NEUTRE = 3
    EXEMPLE = 4
    OPTIMISTE = 5
    PESSIMISTE = 6

    @property
    def heading(self) -> str | None:
        """Heading shown above the part (the hook has none)."""
        return _HEADINGS[self]


_HEADINGS: dict[Part, str | None] = {
    Part.ACCROCHE: None,
    Part.REFERENCE: "Article en référence :",
    Part.RECAP: "Récapitulatif factuel",
    Part.NEUTRE: "Point de vue neutre",
    Part.EXEMPLE: "Exemple",
    Part.OPTIMISTE: "Point de vue optimiste",
    Part.PESSIMISTE: "Point de vue pessimiste",
}


@dataclass(frozen=True, slots=True)
class Digest:
    """A complete debate digest: one text per part, every part present, in order."""

    url: str
    final_url: str
    title: str
    length: Length
    parts: dict[Part, str]
    model: str = ""
    site: str | None = None
    author: str | None = None
    date: str | None = None
    stats: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [p.name for p in Part if not self.parts.get(p, "").strip()]
        if missing:
            raise ValueError(f"digest is missing parts: {', '.join(missing)}")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready structure (used by `agora digest --json` and the cache)."""
        return {
            "url": self.url,
            "final_url": self.final_url,
            "title": self.title,
            "length": self.length.value,
            "model": self.model,
            "site": self.site,
            "author": self.author,
            "date": self.date,
            "parts": {p.name.lower(): self.parts[p] for p in Part},
            "stats": dict(self.stats),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Digest:
        """Inverse of `to_dict`."""
        raw_parts = data["parts"]
        assert isinstance(raw_parts, dict)
        stats = data.get("stats") or {}
        assert isinstance(stats, dict)
        return cls(
            url=str(data["url"]),
            final_url=str(data["final_url"]),
            title=str(data["title"]),
            length=Length(str(data["length"])),
            parts={p: str(raw_parts[p.name.lower()]) for p in Part},
            model=str(data.get("model") or ""),
            site=_opt(data.get("site")),
            author=_opt(data.get("author")),
            date=_opt(data.get("date")),
            stats={str(k): float(v) for k, v in stats.items()},
        )


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a message was posted: a platform, a server (Discord guild; None on Matrix) and a channel."""

    platform: str  # "discord", "matrix", "console"
    channel: str
    server: str | None = None

    @property
    def server_key(self) -> str:
        """Scope for server-wide settings and limits (the room itself on Matrix)."""
        if self.server is None:
            return self.channel_key
        return f"{self.platform}:server:{self.server}"

    @property
    def channel_key(self) -> str:
        return f"{self.platform}:channel:{self.channel}"

    def keys(self) -> tuple[str, ...]:
        """Settings scopes from the widest to the most specific."""
        if self.server is None:
            return (self.channel_key,)
        return (self.server_key, self.channel_key)
