"""RemoteBackend against a scripted OpenAI-compatible engine on 127.0.0.1 (tests/fake_engine.py).

What a real engine won't do on demand: fail with 503 or 429, refuse with 400, stall, break a stream,
leave out the usage chunk. The same backend against a real llama-cpp-python server is in
tests/e2e/test_remote_backend.py.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, ModelConfig, parse_config
from bot.errors import ConfigError, ModelError
from bot.model.backend import GenerationParams, GenerationRequest, Message
from bot.model.factory import backend_loader, describe_model, model_key, resolve_backend
from bot.model.remote_backend import (
    MESSAGE_OVERHEAD_TOKENS,
    PREFIX_INSTRUCTION,
    RemoteBackend,
    RemoteSettings,
    _retry_after,
    estimate_tokens,
    strip_repeated_prefix,
)
from bot.model.store import ModelStore
from tests.fake_engine import FakeEngine, Reply

PARAMS = GenerationParams(max_new_tokens=32)


def ask(text: str, **kwargs: Any) -> GenerationRequest:
    return GenerationRequest((Message("system", "Tu es un assistant."), Message("user", text)), PARAMS, **kwargs)


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine().start()
    yield fake
    fake.stop()


@pytest.fixture
def make(engine: FakeEngine) -> Iterator[Callable[..., RemoteBackend]]:
    """Builds backends on the fake engine with fast retries; closes them at the end."""
    made: list[RemoteBackend] = []

    def build(**changes: Any) -> RemoteBackend:
        settings = RemoteSettings(
            url=engine.url,
            model="fake-model",
            read_timeout=2.0,
            total_timeout=10.0,
            retries=3,
            backoff_base=0.01,
            backoff_max=0.05,
        )
        backend = RemoteBackend(replace(settings, **changes), "fake-model")
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.close()


# --- answers and counts ---------------------------------------------------------------------------


def test_streams_an_answer_and_reads_the_usage_chunk(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    usage = {"prompt_tokens": 42, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 30}}
    engine.replies.append(Reply(pieces=("Bonjour", " le", " monde."), usage=usage))

    result = make().generate([ask("Salut")])[0]

    assert result.text == "Bonjour le monde."
    assert (result.prompt_tokens, result.new_prompt_tokens, result.completion_tokens) == (42, 12, 3)
    assert result.finish_reason == "stop"
    assert result.prefill_seconds > 0 and result.decode_seconds >= 0
    body = engine.bodies[0]
    assert body["model"] == "fake-model"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (32, 0.0, 1.0)
    # Sent even at 1.0: llama-cpp-python's server would otherwise apply its default of 1.1.
    assert body["repeat_penalty"] == body["repetition_penalty"] == 1.0
    assert "stop" not in body and "continue_final_message" not in body
    assert body["messages"] == [
        {"role": "system", "content": "Tu es un assistant."},
        {"role": "user", "content": "Salut"},
    ]


def test_without_usage_or_tokenizer_counts_are_estimates(
    engine: FakeEngine, make: Callable[..., RemoteBackend]
) -> None:
    engine.replies.append(Reply(pieces=("Un", " deux", " trois", " quatre"), finish="length"))
    backend = make()

    result = backend.generate([ask("Compte jusqu'à quatre.")])[0]

    assert result.completion_tokens == 4  # one piece, one token (llama.cpp's servers stream that way)
    expected = (
        estimate_tokens("Tu es un assistant.") + estimate_tokens("Compte jusqu'à quatre.") + 2 * MESSAGE_OVERHEAD_TOKENS
    )
    assert result.prompt_tokens == result.new_prompt_tokens == expected + MESSAGE_OVERHEAD_TOKENS // 2
    assert result.finish_reason == "length"
    assert not backend.exact_token_counts
    assert backend.count_tokens("") == 0
    assert backend.count_tokens("abcdefg") == 2  # 7 characters / 3.5
    assert estimate_tokens("abcdefgh") == 3  # rounded up


def test_count_tokens_uses_the_engine_tokenizer_probed_once(
    engine: FakeEngine, make: Callable[..., RemoteBackend]
) -> None:
    engine.tokenizer = "content"  # llama-server's POST /tokenize {"content": ...}
    backend = make()

    assert backend.count_tokens("un deux trois") == 3
    assert backend.count_tokens("un deux trois quatre") == 4
    assert backend.count_tokens("un deux trois") == 3  # cached: no request
    assert engine.paths.count("/tokenize") == 3  # the probe, then the two new texts
    result = backend.generate([ask("un deux")])[0]
    assert result.prompt_tokens == 4 + 2 + 2 * MESSAGE_OVERHEAD_TOKENS + MESSAGE_OVERHEAD_TOKENS // 2


def test_extras_tokenize_is_found_and_its_bos_discounted(
    engine: FakeEngine, make: Callable[..., RemoteBackend]
) -> None:
    engine.tokenizer, engine.bos = "input", True  # llama-cpp-python's POST /extras/tokenize adds a BOS
    backend = make()

    assert backend.count_tokens("un deux trois") == 3
    assert backend.exact_token_counts
    assert "/extras/tokenize" in engine.paths


def test_a_prompt_beyond_the_context_is_refused_before_sending(
    engine: FakeEngine, make: Callable[..., RemoteBackend]
) -> None:
    """With exact counts only: llama-cpp-python's server answers an over-long prompt with an empty stream."""
    engine.tokenizer = "content"
    backend = make(context_length=64)
    with pytest.raises(ModelError, match="exceeds the context of 64"):
        backend.generate([ask("mot " * 40)])
    assert engine.generations == 0
    assert backend.generate([ask("court")])[0].text == "court"


def test_stop_strings_are_sent_and_enforced(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    engine.replies.append(Reply(pieces=("Un.", " FIN", " deux.")))  # an engine that ignored the stop
    params = GenerationParams(max_new_tokens=8, stop=("FIN",))

    result = make().generate([GenerationRequest((Message("user", "x"),), params)])[0]

    assert engine.bodies[0]["stop"] == ["FIN"]
    assert result.text == "Un. "


def test_an_engine_that_ignores_stream_answers_in_json(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    engine.replies.append(Reply(pieces=("Tout", " d'un", " bloc."), json_body=True))
    assert make().generate([ask("x")])[0].text == "Tout d'un bloc."


# --- retries and errors ---------------------------------------------------------------------------


def test_503_then_success_is_retried(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    engine.replies.append(Reply(status=503, body='{"error": {"message": "loading model"}}'))
    backend = make()

    result = backend.generate([ask("encore une fois")])[0]

    assert result.text == "encore une fois"
    assert engine.generations == 2
    assert (backend.stats.requests, backend.stats.retries, backend.stats.failures) == (2, 1, 0)


def test_429_waits_as_long_as_retry_after_says(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    engine.replies.append(Reply(status=429, headers={"Retry-After": "1"}, body='{"error": "slow down"}'))
    backend = make()

    started = time.monotonic()
    result = backend.generate([ask("patience")])[0]

    assert 1.0 <= time.monotonic() - started < 5
    assert result.text == "patience" and backend.stats.retries == 1


def test_a_retry_after_beyond_the_deadline_fails_at_once(
    engine: FakeEngine, make: Callable[..., RemoteBackend]
) -> None:
    engine.replies.append(Reply(status=429, headers={"Retry-After": "120"}, body="{}"))
    started = time.monotonic()
    with pytest.raises(ModelError, match="HTTP 429"):
        make(total_timeout=5.0).generate([ask("x")])
    assert time.monotonic() - started < 2


def test_400_fails_at_once_with_the_server_message(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    engine.replies.append(Reply(status=400, body='{"error": {"message": "messages: field required"}}'))
    backend = make()

    with pytest.raises(ModelError, match=r"HTTP 400.*messages: field required"):
        backend.generate([ask("x")])
    assert engine.generations == 1
    assert (backend.stats.retries, backend.stats.failures) == (0, 1)


def test_a_url_without_v1_gets_a_hint(engine: FakeEngine) -> None:
    backend = RemoteBackend(RemoteSettings(url=engine.url.removesuffix("/v1")), "m")
    try:
        with pytest.raises(ModelError, match=r"HTTP 404.*/chat/completions: does model.remote_url end with /v1"):
            backend.generate([ask("x")])
    finally:
        backend.close()


def test_a_refused_extra_field_names_the_setting(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    message = "Unrecognized request argument supplied: repeat_penalty"
    engine.replies.append(Reply(status=400, body=f'{{"error": {{"message": "{message}"}}}}'))
    with pytest.raises(ModelError, match="remote_sampling_extras = false"):
        make().generate([ask("x")])

    backend = make(sampling_extras=False)
    backend.generate([GenerationRequest((Message("user", "x"),), replace(PARAMS, repetition_penalty=1.2))])
    assert "repeat_penalty" not in engine.bodies[-1] and "repetition_penalty" not in engine.bodies[-1]


def test_a_stalled_stream_times_out(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    engine.replies.append(Reply(pieces=("Un", " deux"), stall_after=1))
    started = time.monotonic()
    with pytest.raises(ModelError, match="timed out"):
        make(read_timeout=0.3, retries=0).generate([ask("x")])
    assert time.monotonic() - started < 3


def test_a_stall_hidden_by_pings_is_still_a_stall(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    """sse-starlette's comment pings keep the socket busy; the silence between data lines counts."""
    engine.replies.append(Reply(pieces=("Un", " deux"), stall_after=1, ping_while_stalled=True))
    engine.replies.append(Reply(pieces=("Un", " deux"), stall_after=1, ping_while_stalled=True))
    backend = make(read_timeout=0.3, retries=1)

    with pytest.raises(ModelError, match=r"stalled.*2 attempts"):
        backend.generate([ask("x")])
    assert engine.generations == 2


def test_a_broken_stream_is_retried_from_scratch(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    engine.replies.append(Reply(pieces=("Début", " perdu", " ici"), break_after=2))
    engine.replies.append(Reply(pieces=("Réponse", " complète.")))
    backend = make()

    result = backend.generate([ask("x")])[0]

    assert result.text == "Réponse complète."  # never the first attempt's pieces
    assert result.completion_tokens == 2 and backend.stats.retries == 1


def test_done_without_a_finish_reason_is_an_interrupted_stream(
    engine: FakeEngine, make: Callable[..., RemoteBackend]
) -> None:
    """llama-cpp-python's server (interrupt_requests, its default) ends a stream that way when another
    request arrives: the answer is cut, not finished."""
    engine.replies.append(Reply(pieces=("Coupé",), finish=None, done=True))
    backend = make()
    assert backend.generate([ask("entier")])[0].text == "entier"
    assert backend.stats.retries == 1


def test_an_error_chunk_mid_stream_is_retried(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    engine.replies.append(Reply(pieces=("Un",), error_chunk="engine dead"))
    assert make().generate([ask("de nouveau")])[0].text == "de nouveau"


def test_the_total_deadline_bounds_a_slow_stream(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    engine.replies.append(Reply(pieces=tuple(f" mot{i}" for i in range(20)), piece_delay=0.2))
    started = time.monotonic()
    with pytest.raises(ModelError, match="longer than"):
        make(total_timeout=1.0).generate([ask("x")])
    assert time.monotonic() - started < 3


def test_retries_give_up_with_a_model_error(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    engine.default = Reply(status=502, body="bad gateway")
    backend = make(retries=2)
    with pytest.raises(ModelError, match=r"HTTP 502: bad gateway \(generation, 3 attempts\)"):
        backend.generate([ask("x")])
    assert engine.generations == 3 and backend.stats.failures == 1


def test_an_unreachable_engine_is_a_model_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    settings = RemoteSettings(url=f"http://127.0.0.1:{port}/v1", model="m", retries=1, backoff_base=0.01)
    backend = RemoteBackend(settings, "m")
    try:
        with pytest.raises(ModelError, match=r"connection failed.*2 attempts"):
            backend.generate([ask("x")])
    finally:
        backend.close()


# --- concurrency ----------------------------------------------------------------------------------


def test_max_concurrency_is_respected_and_results_keep_their_order(
    engine: FakeEngine, make: Callable[..., RemoteBackend]
) -> None:
    engine.default = Reply(piece_delay=0.05)
    backend = make(max_concurrency=2)
    requests = [ask(f"réponse numéro {i}") for i in range(6)]

    started = time.monotonic()
    results = backend.generate(requests)

    assert [r.text for r in results] == [f"réponse numéro {i}" for i in range(6)]
    assert engine.peak == 2
    assert time.monotonic() - started < 6 * 3 * 0.05  # requests overlapped


def test_one_failure_fails_the_batch_after_the_others_finish(
    engine: FakeEngine, make: Callable[..., RemoteBackend]
) -> None:
    engine.replies.extend([Reply(piece_delay=0.05), Reply(status=400, body="non"), Reply(piece_delay=0.05)])
    with pytest.raises(ModelError, match="HTTP 400"):
        make(max_concurrency=3).generate([ask("a"), ask("b"), ask("c")])
    assert engine.active == 0


def test_requests_of_a_batch_must_share_parameters(make: Callable[..., RemoteBackend]) -> None:
    other = GenerationRequest((Message("user", "x"),), GenerationParams(temperature=0.5))
    with pytest.raises(ModelError, match="share"):
        make().generate([ask("x"), other])


def test_a_closed_backend_refuses_work(make: Callable[..., RemoteBackend]) -> None:
    backend = make()
    backend.close()
    with pytest.raises(ModelError, match="closed"):
        backend.generate([ask("x")])


# --- assistant prefix, hooks, sessions ------------------------------------------------------------


def test_prefix_by_instruction_is_asked_for_and_stripped(
    engine: FakeEngine, make: Callable[..., RemoteBackend]
) -> None:
    engine.replies.append(Reply(pieces=("Imaginez", " que", " vous", " ouvrez.")))
    engine.replies.append(Reply(pieces=("Vous", " ouvrez.")))
    backend = make()

    repeated = backend.generate([ask("Donne une analogie.", assistant_prefix="Imaginez que")])[0]
    ignored = backend.generate([ask("Donne une analogie.", assistant_prefix="Imaginez que")])[0]

    assert repeated.text == " vous ouvrez."  # continues the prefix, as with a local backend
    assert ignored.text == "Vous ouvrez."  # the summarizer's join_prefix mends this one
    last = engine.bodies[0]["messages"][-1]
    assert last == {"role": "user", "content": "Donne une analogie." + PREFIX_INSTRUCTION.format(prefix="Imaginez que")}
    assert "continue_final_message" not in engine.bodies[0]


def test_prefix_by_continuation_sends_a_final_assistant_message(
    engine: FakeEngine, make: Callable[..., RemoteBackend]
) -> None:
    engine.replies.append(Reply(pieces=(" vous", " ouvrez.")))
    result = make(prefix_mode="continue").generate([ask("Donne une analogie.", assistant_prefix="Imaginez que")])[0]

    body = engine.bodies[0]
    assert body["messages"][-1] == {"role": "assistant", "content": "Imaginez que"}
    assert body["messages"][-2] == {"role": "user", "content": "Donne une analogie."}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert result.text == " vous ouvrez."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Imaginez que vous", " vous"),
        ("  « Imaginez que » vous", " vous"),
        ('"Imaginez que" vous', " vous"),
        ("imaginez que vous", " vous"),
        ("Vous imaginez que", "Vous imaginez que"),
        ("Imaginez", "Imaginez"),
    ],
)
def test_strip_repeated_prefix(text: str, expected: str) -> None:
    assert strip_repeated_prefix(text, "Imaginez que") == expected


def test_logits_hooks_are_ignored_and_logged_once(
    engine: FakeEngine, make: Callable[..., RemoteBackend], caplog: pytest.LogCaptureFixture
) -> None:
    backend = make()
    assert not hasattr(backend, "tokenize") and not hasattr(backend, "token_text")  # no anti-copy hook built
    with caplog.at_level(logging.INFO, logger="bot.model.remote_backend"):
        for _ in range(2):
            result = backend.generate([ask("avec crochet", logits_hook=lambda ids, scores: scores)])[0]
    assert result.text == "avec crochet"
    assert sum("anti-copy decoding is unavailable" in r.getMessage() for r in caplog.records) == 1


def test_sessions_need_no_state(engine: FakeEngine, make: Callable[..., RemoteBackend]) -> None:
    backend = make()
    backend.generate([ask("un", session="digest-1")])
    backend.end_session("digest-1")
    backend.end_session("never-seen")
    assert "session" not in engine.bodies[0]


# --- connecting, configuration, factory ----------------------------------------------------------


def test_connect_asks_the_engine_for_its_model(engine: FakeEngine) -> None:
    engine.models = ["/srv/models/Qwen2.5-7B-Instruct-Q4_K_M.gguf", "other"]
    backend = RemoteBackend.connect(RemoteSettings(url=engine.url + "/", context_length=8192))
    try:
        assert backend.model_id == "/srv/models/Qwen2.5-7B-Instruct-Q4_K_M.gguf"
        info = backend.info
        assert info.name == "Qwen2.5-7B-Instruct-Q4_K_M.gguf"  # never the engine's file system
        assert (info.backend, info.device, info.context_length) == ("remote", f"127.0.0.1:{engine.port}", 8192)
        assert info.source == engine.url
        backend.generate([ask("x")])
        assert engine.bodies[0]["model"] == "/srv/models/Qwen2.5-7B-Instruct-Q4_K_M.gguf"
    finally:
        backend.close()


def test_connect_to_an_engine_that_is_down() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    fast = RemoteSettings(url=url, retries=1, backoff_base=0.01)
    with pytest.raises(ModelError, match="remote_model"):
        RemoteBackend.connect(fast)
    # With the model named, the bot starts anyway: its requests retry once the engine is back.
    backend = RemoteBackend.connect(replace(fast, model="qwen"))
    assert backend.model_id == "qwen"
    backend.close()


def test_connect_with_a_wrong_key_fails_even_with_the_model_named(engine: FakeEngine) -> None:
    engine.models_status = 401
    with pytest.raises(ModelError, match=r"HTTP 401.*API key"):
        RemoteBackend.connect(RemoteSettings(url=engine.url, model="fake-model", backoff_base=0.01))


def test_api_key_is_sent_as_bearer_and_never_logged(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TEST_AGORA_ENGINE_KEY", "sk-very-secret-123")
    cfg = ModelConfig(backend="remote", remote_url=engine.url, remote_api_key_env="TEST_AGORA_ENGINE_KEY")
    settings = RemoteSettings.from_config(cfg)
    assert "sk-very-secret" not in repr(settings)
    engine.replies.append(Reply(status=503, body="busy"))
    with caplog.at_level(logging.DEBUG):
        backend = RemoteBackend.connect(replace(settings, backoff_base=0.01))
        backend.generate([ask("x")])
        backend.close()
    assert engine.headers[-1]["authorization"] == "Bearer sk-very-secret-123"
    assert "sk-very-secret" not in caplog.text


def test_no_key_variable_set_means_no_authorization(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGORA_REMOTE_API_KEY", raising=False)
    backend = RemoteBackend(RemoteSettings.from_config(ModelConfig(backend="remote", remote_url=engine.url)), "m")
    backend.generate([ask("x")])
    backend.close()
    assert "authorization" not in engine.headers[0]


def test_settings_come_from_the_model_section() -> None:
    cfg = parse_config(
        {
            "model": {
                "backend": "remote",
                "remote_url": "http://10.0.0.5:8000/v1/",
                "remote_model": "Qwen/Qwen2.5-7B-Instruct",
                "remote_max_concurrency": 16,
                "remote_read_timeout": 30,
                "remote_retries": 0,
                "remote_prefix_mode": "continue",
                "remote_sampling_extras": False,
                "context_tokens": 8192,
            }
        }
    ).model
    settings = RemoteSettings.from_config(cfg)
    assert settings.url == "http://10.0.0.5:8000/v1"
    assert (settings.model, settings.max_concurrency, settings.read_timeout) == ("Qwen/Qwen2.5-7B-Instruct", 16, 30.0)
    assert (settings.retries, settings.prefix_mode, settings.sampling_extras) == (0, "continue", False)
    assert settings.context_length == 8192


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ({"backend": "remote"}, "model.remote_url"),
        ({"backend": "remote", "remote_url": "10.0.0.5:8000/v1"}, "model.remote_url"),
        ({"remote_url": "ftp://engine/v1"}, "model.remote_url"),
        ({"remote_max_concurrency": 0}, "model.remote_max_concurrency"),
        ({"remote_retries": -1}, "model.remote_retries"),
        ({"remote_read_timeout": 0}, "model.remote_read_timeout"),
        ({"remote_prefix_mode": "prefill"}, "model.remote_prefix_mode"),
        ({"remote_sampling_extras": "yes"}, "model.remote_sampling_extras"),
    ],
)
def test_bad_remote_settings_name_the_key(model: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"model": model})
    assert key in str(info.value)


def test_remote_is_never_chosen_by_auto_and_has_its_own_cache_key() -> None:
    auto = ModelConfig(remote_url="http://engine:8000/v1")
    assert resolve_backend(auto) != "remote"
    remote = ModelConfig(backend="remote", remote_url="http://engine:8000/v1/")
    assert resolve_backend(remote) == "remote"
    assert model_key(remote) == "remote:http://engine:8000/v1"
    assert model_key(replace(remote, remote_model="qwen-7b")) == "remote:qwen-7b"


def test_factory_connects_and_describes(engine: FakeEngine, tmp_path: Path) -> None:
    cfg = Config().replace(model={"backend": "remote", "remote_url": engine.url, "remote_retries": 0}).model
    store = ModelStore(tmp_path)
    backend = backend_loader(cfg, store)()
    try:
        assert isinstance(backend, RemoteBackend) and backend.model_id == "fake-model"
    finally:
        backend.close()
    described = describe_model(cfg, store)
    assert described == {
        "source": engine.url,
        "backend": "remote",
        "model": "annoncé par le serveur (GET /models)",
        "context": "4096",
    }
    loaded = describe_model(cfg, store, load=True)
    assert (loaded["name"], loaded["device"]) == ("fake-model", f"127.0.0.1:{engine.port}")


def test_retry_after_forms() -> None:
    assert _retry_after("2") == 2.0
    assert _retry_after("0.5") == 0.5
    assert _retry_after(None) is None and _retry_after("soon") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: at once


def test_the_key_variable_is_redacted_from_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.ops.logging import SecretFilter, secret_env_names

    assert "AGORA_REMOTE_API_KEY" in secret_env_names(Config())
    monkeypatch.setenv("AGORA_REMOTE_API_KEY", "sk-remote-engine-456")
    record = logging.LogRecord("x", logging.INFO, "f", 1, "sent %s", ("sk-remote-engine-456",), None)
    SecretFilter.from_env(secret_env_names(Config())).filter(record)
    assert "sk-remote-engine-456" not in record.getMessage()
