"""TOML configuration -> frozen dataclasses, validated at start.

Unknown keys and bad values stop the program with a message naming the key. Secrets never live in
the file: a `*_env` key names the environment variable that holds them.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.errors import ConfigError

LengthName = Literal["court", "standard", "long"]


@dataclass(frozen=True, slots=True)
class GeneralConfig:
    data_dir: str = "data"  # relative paths are relative to the config file's folder
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"


@dataclass(frozen=True, slots=True)
class ModelConfig:
    source: str = "embedded"  # "embedded", "smollm2", a .gguf file, a model directory or a hub id
    # auto: llamacpp for a GGUF on CPU, transformers otherwise; "remote" is never chosen by auto
    backend: Literal["auto", "llamacpp", "transformers", "remote", "echo"] = "auto"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    threads: int = 0  # 0: the library's default
    max_batch_size: int = 4
    queue_size: int = 64
    context_tokens: int = 4096
    sessions: int = 4  # conversations whose KV cache is kept between turns
    # transformers backend: "static" preallocates the KV cache and compiles decoding (CUDA graphs) on a
    # GPU; "auto" = static on CUDA. Dynamic by default until bench/gpu.py shows the gain on a real GPU.
    kv_cache: Literal["auto", "dynamic", "static"] = "dynamic"
    # backend = "remote": an OpenAI-compatible engine (vLLM, llama-server, TGI), see remote_backend.py
    remote_url: str = ""  # base URL up to /v1, e.g. "http://10.0.0.5:8000/v1"
    remote_model: str = ""  # served model id; empty: the first one GET /models lists
    remote_api_key_env: str = "AGORA_REMOTE_API_KEY"  # sent as a Bearer token when this variable is set
    remote_max_concurrency: int = 4  # requests in flight from this process
    remote_connect_timeout: float = 5.0
    remote_read_timeout: float = 120.0  # longest silence in a stream, first token included
    remote_total_timeout: float = 600.0  # one request, retries included
    remote_retries: int = 3
    remote_prefix_mode: Literal["instruction", "continue"] = "instruction"
    remote_sampling_extras: bool = True  # send repeat_penalty / repetition_penalty (non-OpenAI fields)

    def __post_init__(self) -> None:
        _check_range("model.threads", self.threads, 0, 256)
        _check_range("model.max_batch_size", self.max_batch_size, 1, 256)
        _check_range("model.queue_size", self.queue_size, 1, 100_000)
        _check_range("model.context_tokens", self.context_tokens, 512, 1_000_000)
        _check_range("model.sessions", self.sessions, 1, 64)
        _check_range("model.remote_max_concurrency", self.remote_max_concurrency, 1, 256)
        _check_range("model.remote_connect_timeout", self.remote_connect_timeout, 0.01, 600)
        _check_range("model.remote_read_timeout", self.remote_read_timeout, 0.01, 3600)
        _check_range("model.remote_total_timeout", self.remote_total_timeout, 0.01, 86_400)
        _check_range("model.remote_retries", self.remote_retries, 0, 20)
        url = self.remote_url.strip()
        if url and (not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1].strip("/")) == 0):
            raise ConfigError(f"model.remote_url: {url!r} is not an http:// or https:// address")
        if self.backend == "remote" and not url:
            raise ConfigError('model.remote_url: required with backend = "remote" (e.g. "http://127.0.0.1:8000/v1")')


@dataclass(frozen=True, slots=True)
class FetchConfig:
    max_bytes: int = 5_000_000
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 20.0
    max_redirects: int = 5
    allow_loopback: bool = False  # tests only: lets the fetcher read 127.0.0.1
    user_agent: str = "AgoraBot/0.1 (+https://github.com/agora-bot/agora)"

    def __post_init__(self) -> None:
        _check_range("fetch.max_bytes", self.max_bytes, 1_000, 500_000_000)
        _check_range("fetch.max_redirects", self.max_redirects, 0, 20)
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            _check_range(f"fetch.{name}", getattr(self, name), 0.01, 600)


@dataclass(frozen=True, slots=True)
class DigestConfig:
    default_length: LengthName = "standard"
    #: Budget for the (condensed) article in the prompt; bench/RESULTS.md § "The article budget".
    article_tokens: int = 800
    prompts_dir: str = ""  # empty: the prompts/fr shipped with Agora
    min_article_words: int = 60
    anticopy_strength: float = 4.0  # logit penalty on extending a copied run; 0 = off (bot.pipeline.anticopy)
    anticopy_span: int = 6  # tokens in a run that counts as copied

    def __post_init__(self) -> None:
        _check_range("digest.article_tokens", self.article_tokens, 100, 100_000)
        _check_range("digest.min_article_words", self.min_article_words, 1, 10_000)
        _check_range("digest.anticopy_strength", self.anticopy_strength, 0.0, 100.0)
        _check_range("digest.anticopy_span", self.anticopy_span, 2, 64)


@dataclass(frozen=True, slots=True)
class MatrixConfig:
    enabled: bool = False
    homeserver: str = "https://matrix.example.org"
    user_id: str = "@agora:example.org"
    password_env: str = "AGORA_MATRIX_PASSWORD"  # used for the first login only
    access_token_env: str = "AGORA_MATRIX_TOKEN"  # alternative to a password
    device_name: str = "Agora"
    command_prefix: str = "!"
    moderator_level: int = 50
    allowed_inviters: tuple[str, ...] = ()  # "@user:server" or ":server"; empty = anyone
    reply_in_thread: bool = True  # default when a room has no "reponse" setting
    sync_timeout: float = 30.0  # seconds the homeserver may hold a sync open
    backoff_max: float = 60.0  # longest wait between two retries (sync, login, send)
    send_attempts: int = 5  # tries for one message before it is logged as lost
    decrypt_wait: float = 5.0  # seconds to wait for a late room key before saying "undecryptable"

    def __post_init__(self) -> None:
        _check_range("matrix.moderator_level", self.moderator_level, 0, 100)
        _check_range("matrix.sync_timeout", self.sync_timeout, 0.1, 300)
        _check_range("matrix.backoff_max", self.backoff_max, 0.1, 3600)
        _check_range("matrix.send_attempts", self.send_attempts, 1, 100)
        _check_range("matrix.decrypt_wait", self.decrypt_wait, 0, 600)
        if not self.command_prefix or len(self.command_prefix) > 3:
            raise ConfigError("matrix.command_prefix: one to three characters")


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    enabled: bool = False
    token_env: str = "AGORA_DISCORD_TOKEN"
    message_content_intent: bool = False  # privileged: needed for automatic digests
    dev_guild_id: int = 0  # sync commands to this guild only (instant) while developing
    api_base: str = ""  # tests only: a local fake of Discord's HTTP API
    gateway_url: str = ""  # tests only: a local fake gateway


@dataclass(frozen=True, slots=True)
class OpsConfig:
    metrics_enabled: bool = False  # /metrics (Prometheus) and /healthz over HTTP, during `agora run`
    metrics_host: str = "127.0.0.1"  # never exposed beyond the machine unless configured
    metrics_port: int = 9464  # 0: any free port (tests)

    def __post_init__(self) -> None:
        _check_range("ops.metrics_port", self.metrics_port, 0, 65535)
        if not self.metrics_host.strip():
            raise ConfigError("ops.metrics_host: an address to listen on, such as 127.0.0.1")


@dataclass(frozen=True, slots=True)
class Config:
    general: GeneralConfig = field(default_factory=GeneralConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    matrix: MatrixConfig = field(default_factory=MatrixConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)
    #: Folder relative paths are resolved against (the config file's folder).
    base_dir: str = "."

    @property
    def data_path(self) -> Path:
        return (Path(self.base_dir) / self.general.data_dir).resolve()

    def replace(self, **sections: Any) -> Config:
        """Copy with some sections or section keys changed: `cfg.replace(model={"source": "x"})`."""
        changes: dict[str, Any] = {}
        for name, value in sections.items():
            current = getattr(self, name)
            if isinstance(value, dict):
                value = dataclasses.replace(current, **value)
            changes[name] = value
        return dataclasses.replace(self, **changes)


def load_config(path: str | Path | None) -> Config:
    """Read and validate a TOML file; `None` gives the defaults."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {p}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from exc
    return parse_config(data, base_dir=p.resolve().parent)


def parse_config(data: dict[str, Any], *, base_dir: str | Path = ".") -> Config:
    """Build a Config from parsed TOML, rejecting unknown keys and wrong types."""
    sections: dict[str, Any] = {}
    hints = typing.get_type_hints(Config)
    known = {f.name for f in dataclasses.fields(Config) if f.name != "base_dir"}
    for name, value in data.items():
        if name not in known:
            raise ConfigError(f"unknown config section [{name}] (known: {', '.join(sorted(known))})")
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table")
        sections[name] = _build(hints[name], value, name)
    return Config(**sections, base_dir=str(base_dir))


def secret_from_env(var: str, key: str) -> str:
    """Value of the environment variable a `*_env` key names; ConfigError naming the key if unset."""
    value = os.environ.get(var, "")
    if not value:
        raise ConfigError(f"{key}: environment variable {var} is not set")
    return value


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}.{key}"
        if key not in fields:
            raise ConfigError(f"unknown config key {full!r} (known: {', '.join(sorted(fields))})")
        kwargs[key] = _coerce(hints[key], value, full)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # pragma: no cover - dataclass checks raise ConfigError
        raise ConfigError(f"[{prefix}]: {exc}") from exc


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key)
    if origin in (tuple, list):
        (item_tp, *_) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        return tuple(_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table")
        return _build(tp, value, key)
    raise ConfigError(f"{key}: unsupported type {tp!r}")  # pragma: no cover - programming error


def _check_range(key: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"{key}: {value!r} is out of range ({lo}..{hi})")
