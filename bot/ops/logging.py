"""Logging for people ("text") or collectors ("json"), with secrets redacted from every record.

`setup_logging(config)` installs one stderr handler on the root logger. Its filter replaces, in the
message, the arguments, the traceback and any extra field of every record (Agora's and every
library's): the values of the environment variables that the config's `*_env` keys name, any
`access_token=` query parameter or JSON field, and the credentials of an `Authorization` header.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from typing import IO, Any

from bot.config import Config

REDACTED = "«secret»"

#: Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime", "taskName"}
)
_PATTERNS = (
    # ?access_token=… in URLs (Matrix clients put the token there), also URL-encoded forms.
    re.compile(r"(?i)(\baccess_token(?:=|%3D))[^&\s\"'#<>]+"),
    # "access_token": "…" in JSON bodies (Matrix login answers), 'access_token': '…' in dict reprs.
    re.compile(r"(?i)([\"']access_token[\"']\s*:\s*[\"'])[^\"']+"),
    # password fields the same way (a login request logged at DEBUG).
    re.compile(r"(?i)([\"']password[\"']\s*:\s*[\"'])[^\"']+"),
    # Authorization: Bearer …, Bot … (Discord), Basic …; headers as text, dict or repr.
    re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|bot|basic)\s+)?)[^\s\"',}]+"),
)
#: Shorter values are not redacted: replacing "1" everywhere would make logs unreadable and hide nothing.
_MIN_SECRET = 6


def secret_env_names(config: Config) -> list[str]:
    """Names of the environment variables that hold secrets: the values of every `*_env` key."""
    names: list[str] = []
    for section in dataclasses.fields(config):
        value = getattr(config, section.name)
        if not dataclasses.is_dataclass(value):
            continue
        for key in dataclasses.fields(value):
            env = getattr(value, key.name)
            if key.name.endswith("_env") and isinstance(env, str) and env:
                names.append(env)
    return names


class SecretFilter(logging.Filter):
    """Redacts secret values and token-shaped strings from records; never drops a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)

    @classmethod
    def from_env(cls, names: Iterable[str]) -> SecretFilter:
        return cls(os.environ.get(name, "") for name in names)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(rf"\g<1>{REDACTED}", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, still redacted
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            # Format the traceback now (the formatter reuses exc_text) so its text can be redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                record.__dict__[key] = self._redact_value(value)
        return True

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, int | float):
            return value
        if isinstance(value, dict | list | tuple):
            return json.loads(self.redact(json.dumps(value, default=repr, ensure_ascii=False)))
        return self.redact(repr(value))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, then any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=repr)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, then extra fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = [f"{k}={v!r}" for k, v in record.__dict__.items() if k not in _STANDARD]
        if extras:
            head, sep, rest = text.partition("\n")
            text = f"{head} [{' '.join(extras)}]{sep}{rest}"
        return text


def setup_logging(config: Config, *, level: int | str | None = None, stream: IO[str] | None = None) -> logging.Handler:
    """Install Agora's log handler on the root logger (replacing any earlier one); returns it.

    `level` overrides `general.log_level` (the CLI's -v, or quieter one-shot commands).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if config.general.log_format == "json" else TextFormatter())
    handler.addFilter(SecretFilter.from_env(secret_env_names(config)))
    handler.set_name("agora")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "agora":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if level is not None else config.general.log_level)
    return handler
