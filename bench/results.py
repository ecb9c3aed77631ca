"""bench/RESULTS.md is shared by every benchmark: each one replaces only its own `## Title` section."""

from __future__ import annotations

import re
from pathlib import Path


def replace_section(results: Path, title: str, body: str) -> None:
    """Write `## title` + body into `results`, replacing that section only (appended if absent)."""
    section = f"## {title}\n\n{body.rstrip()}\n"
    old = results.read_text(encoding="utf-8") if results.exists() else "# Benchmarks\n"
    match = re.search(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", old, flags=re.M | re.S)
    if match:
        new = old[: match.start()] + section + ("\n" if old[match.end() :] else "") + old[match.end() :]
    else:
        new = old.rstrip() + "\n\n" + section
    results.write_text(new, encoding="utf-8")


def publish(results: Path, title: str, body: str, *, write: bool) -> None:
    """Print a bench's section, and with `write` (no --no-write) put it into `results` (replace_section)."""
    print(body)
    if write:
        replace_section(results, title, body)
