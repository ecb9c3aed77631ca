from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config, load_config, parse_config, secret_from_env
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid_and_equals_the_defaults() -> None:
    cfg = load_config(ROOT / "config.example.toml")
    defaults = Config()
    for section in ("general", "model", "fetch", "digest"):
        assert getattr(cfg, section) == getattr(defaults, section), section


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"model\.sorce"):
        parse_config({"model": {"sorce": "x"}})


def test_unknown_section_is_named() -> None:
    with pytest.raises(ConfigError, match=r"\[modle\]"):
        parse_config({"modle": {}})


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"model": {"device": "tpu"}}, "model.device"),
        ({"model": {"threads": "2"}}, "model.threads"),
        ({"model": {"max_batch_size": 0}}, "model.max_batch_size"),
        ({"fetch": {"allow_loopback": "yes"}}, "fetch.allow_loopback"),
        ({"fetch": {"max_bytes": True}}, "fetch.max_bytes"),
        ({"digest": {"default_length": "moyen"}}, "digest.default_length"),
        ({"general": {"data_dir": 3}}, "general.data_dir"),
    ],
)
def test_bad_values_name_the_key(data: dict[str, dict[str, object]], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert key in str(info.value)


def test_int_accepted_for_float_and_paths_relative_to_file(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[fetch]\ntotal_timeout = 3\n[general]\ndata_dir = "d"\n', encoding="utf-8")
    cfg = load_config(f)
    assert cfg.fetch.total_timeout == 3.0
    assert cfg.data_path == (tmp_path / "d").resolve()


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.toml")


def test_secret_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_TEST_SECRET", "s3cr3t")
    assert secret_from_env("AGORA_TEST_SECRET", "matrix.password_env") == "s3cr3t"
    monkeypatch.delenv("AGORA_TEST_SECRET")
    with pytest.raises(ConfigError, match=r"matrix\.password_env"):
        secret_from_env("AGORA_TEST_SECRET", "matrix.password_env")


def test_replace_changes_one_key() -> None:
    cfg = Config().replace(model={"source": "smollm2"})
    assert cfg.model.source == "smollm2"
    assert cfg.model.device == "auto"
