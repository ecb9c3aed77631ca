"""Prompt templates: one file per section in prompts/fr, hashed into the digest cache key."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path

#: Files every prompt set must hold (without the .md suffix).
REQUIRED = ("system", "article", "recap", "neutre", "exemple", "optimiste", "pessimiste", "accroche")


def default_prompts_dir() -> Path:
    """prompts/fr next to the package (source checkout) or installed beside it."""
    here = Path(__file__).resolve()
    for base in (here.parents[2], here.parents[1]):
        candidate = base / "prompts" / "fr"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("prompts/fr not found next to the bot package")


@dataclass(frozen=True, slots=True)
class PromptSet:
    templates: dict[str, str]
    version: str  # short hash of every template: changes when any prompt changes

    @classmethod
    def load(cls, directory: str | Path | None = None) -> PromptSet:
        """Read and check every template; raises ValueError naming a missing file or a bad field."""
        d = Path(directory) if directory else default_prompts_dir()
        templates: dict[str, str] = {}
        digest = hashlib.sha256()
        for name in REQUIRED:
            path = d / f"{name}.md"
            if not path.is_file():
                raise ValueError(f"prompt file missing: {path}")
            text = path.read_text(encoding="utf-8").strip()
            if not text:
                raise ValueError(f"prompt file is empty: {path}")
            for _, field_name, _, _ in string.Formatter().parse(text):
                if field_name is not None and not field_name.isidentifier():
                    raise ValueError(f"{path}: bad placeholder {{{field_name}}}")
            templates[name] = text
            digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        return cls(templates, digest.hexdigest()[:12])

    def render(self, name: str, **values: object) -> str:
        """Fill a template; a placeholder with no value raises KeyError naming it."""
        return self.templates[name].format_map(values)
