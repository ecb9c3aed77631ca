"""Structured logs (json/text, general.log_level) and secrets redacted from every record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.config import Config, parse_config
from bot.ops.logging import REDACTED, SecretFilter, secret_env_names, setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _setup(config: Config) -> io.StringIO:
    stream = io.StringIO()
    setup_logging(config, stream=stream)
    return stream


def test_json_lines_carry_time_level_logger_message_and_extra_fields(restore_logging: None) -> None:
    stream = _setup(parse_config({"general": {"log_format": "json", "log_level": "DEBUG"}}))
    log = logging.getLogger("agora.test")
    log.info("digest of %s done", "https://ex.fr/a", extra={"job": 7, "platform": "matrix"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    # Other threads left by earlier tests may log at DEBUG meanwhile: keep this logger's lines.
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    first, second = (r for r in records if r["logger"] == "agora.test")
    assert first["level"] == "INFO" and first["logger"] == "agora.test"
    assert first["message"] == "digest of https://ex.fr/a done"
    assert first["job"] == 7 and first["platform"] == "matrix"
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


def test_text_format_and_level(restore_logging: None) -> None:
    stream = _setup(parse_config({"general": {"log_level": "WARNING"}}))
    log = logging.getLogger("agora.test")
    log.info("not shown")
    log.warning("shown %d", 1, extra={"room": "!r:ex.org"})
    (line,) = [x for x in stream.getvalue().splitlines() if " agora.test: " in x]
    assert " WARNING agora.test: shown 1 [room='!r:ex.org']" in line
    assert logging.getLogger().level == logging.WARNING


def test_setting_up_twice_keeps_one_handler(restore_logging: None) -> None:
    config = Config()
    setup_logging(config, stream=io.StringIO())
    setup_logging(config, stream=io.StringIO())
    assert [h.get_name() for h in logging.getLogger().handlers].count("agora") == 1


def test_secret_env_names_come_from_every_env_key() -> None:
    config = parse_config({"matrix": {"password_env": "MY_PW"}, "discord": {"token_env": "MY_TOKEN"}})
    assert set(secret_env_names(config)) == {"MY_PW", "AGORA_MATRIX_TOKEN", "MY_TOKEN", "AGORA_REMOTE_API_KEY"}


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_never_reach_the_log(restore_logging: None, monkeypatch: pytest.MonkeyPatch, log_format: str) -> None:
    secrets = {
        "MY_PW": "hunter2-correct-horse",
        "AGORA_MATRIX_TOKEN": "syt_YWdvcmE_abcdef",
        "MY_TOKEN": "MTIz.discord.tok",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    config = parse_config(
        {
            "general": {"log_format": log_format, "log_level": "DEBUG"},
            "matrix": {"password_env": "MY_PW"},
            "discord": {"token_env": "MY_TOKEN"},
        }
    )
    stream = _setup(config)
    log = logging.getLogger("nio.client")  # a library's logger: the filter sits on the handler
    log.debug("login with %s", secrets["MY_PW"])
    log.info("GET https://m.ex.org/_matrix/client/v3/sync?since=s1&access_token=tokenInQuery42&timeout=30")
    log.info("GET /sync?access_token%3Dencoded-token-99")
    log.info("headers: {'Authorization': 'Bot MTIz.discord.tok', 'User-Agent': 'x'}")
    log.info("Authorization: Bearer some-bearer-value-7")
    log.info('answer {"user_id": "@a:ex.org", "access_token": "json-token-55", "device_id": "D"}')
    log.info('request {"type": "m.login.password", "password": "typed-in-pw-66"}')
    log.warning("token kept in extra", extra={"headers": {"Authorization": f"Bot {secrets['MY_TOKEN']}"}})
    try:
        raise RuntimeError(f"refused {secrets['AGORA_MATRIX_TOKEN']}")
    except RuntimeError:
        log.exception("with a traceback")
    logging.getLogger("agora").info("not %(a)s a format", {"a": secrets["MY_PW"]})
    out = stream.getvalue()
    for value in [
        *secrets.values(),
        "tokenInQuery42",
        "encoded-token-99",
        "some-bearer-value-7",
        "json-token-55",
        "typed-in-pw-66",
    ]:
        assert value not in out, value
    assert out.count(REDACTED) >= 10
    assert "since=s1" in out and "timeout=30" in out and '"device_id": "D"' in out.replace('\\"', '"')


def test_short_values_are_not_treated_as_secrets() -> None:
    flt = SecretFilter(["1", "abc", "long-enough"])
    assert flt.redact("1 abc long-enough") == f"1 abc {REDACTED}"
