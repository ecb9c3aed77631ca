"""TransformersBackend's GPU path, run on the CPU with a tiny random Qwen2 of the real architecture.

Batching across requests, sessions inside batches, the static KV cache, per-row stops and hooks, and the
fallbacks (no CUDA, out of memory at load and while generating, a failing compiler) are checked here,
where a GPU is not needed: the code is the same, only the device differs. A random model writes
nonsense, but greedy nonsense is deterministic, and equal token ids are all these tests compare.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.gpu import TINY, prompt_words, write_model
from bot.errors import ConfigError, ModelError
from bot.model import transformers_backend as tb
from bot.model.backend import GenerationParams, GenerationRequest, GenerationResult, Message
from bot.model.store import ModelStore
from bot.model.transformers_backend import TransformersBackend

GREEDY = GenerationParams(max_new_tokens=10)
VOCAB = TINY["vocab_size"]


def words(count: int, seed: int) -> str:
    return prompt_words(count, seed, VOCAB)


def conversation(seed: int, length: int) -> tuple[Message, ...]:
    return (Message("system", words(6, 1000 + seed)), Message("user", words(length, seed)))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    return ModelStore(tmp_path_factory.mktemp("agora-data"))


def _load(model_dir: Path, store: ModelStore, **kwargs: Any) -> TransformersBackend:
    return TransformersBackend.load(str(model_dir), store=store, device="cpu", threads=1, **kwargs)


@pytest.fixture(scope="module")
def dynamic(model_dir: Path, store: ModelStore) -> Iterator[TransformersBackend]:
    backend = _load(model_dir, store, max_sessions=8)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def static(model_dir: Path, store: ModelStore) -> Iterator[TransformersBackend]:
    backend = _load(model_dir, store, max_sessions=8, kv_cache="static", static_cache_tokens=256)
    yield backend
    backend.close()


def one(backend: TransformersBackend, messages: tuple[Message, ...], **kwargs: Any) -> GenerationResult:
    return backend.generate([GenerationRequest(messages, kwargs.pop("params", GREEDY), **kwargs)])[0]


def ids(backend: TransformersBackend, results: Sequence[GenerationResult]) -> list[list[int]]:
    return [backend.tokenizer(r.text, add_special_tokens=False)["input_ids"] for r in results]


PROMPTS = [conversation(1, 30), conversation(2, 7), conversation(3, 18)]


def test_load_on_cpu_picks_float32_sdpa_and_the_mode_asked(dynamic: TransformersBackend) -> None:
    assert dynamic.info.device == "cpu" and dynamic.info.dtype == "float32"
    assert dynamic.model.config._attn_implementation == "sdpa"
    assert dynamic.kv_cache == "dynamic"


def test_auto_kv_cache_is_dynamic_on_cpu(model_dir: Path, store: ModelStore) -> None:
    backend = _load(model_dir, store, kv_cache="auto")
    assert backend.kv_cache == "dynamic" and backend.kv_cache_setting == "auto"
    backend.close()
    with pytest.raises(ConfigError, match="KV cache"):
        _load(model_dir, store, kv_cache="paged")  # type: ignore[arg-type]


def test_batched_greedy_equals_one_by_one(dynamic: TransformersBackend) -> None:
    singles = [one(dynamic, p) for p in PROMPTS]
    batched = dynamic.generate([GenerationRequest(p, GREEDY) for p in PROMPTS])

    assert [r.text for r in batched] == [r.text for r in singles]
    assert [r.prompt_tokens for r in batched] == [r.prompt_tokens for r in singles]
    assert all(r.completion_tokens == 10 and r.finish_reason == "length" for r in batched)
    assert len({r.text for r in singles}) == 3  # the rows really differ


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_each_row_of_a_batch_keeps_its_own_token_limit(
    mode: str, dynamic: TransformersBackend, static: TransformersBackend
) -> None:
    backend = dynamic if mode == "dynamic" else static
    limits = [3, 10, 6]
    params = [dataclasses.replace(GREEDY, max_new_tokens=n) for n in limits]
    singles = [backend.generate([GenerationRequest(p, q)])[0] for p, q in zip(PROMPTS, params, strict=True)]
    batched = backend.generate([GenerationRequest(p, q) for p, q in zip(PROMPTS, params, strict=True)])

    assert [r.completion_tokens for r in batched] == limits
    assert [r.text for r in batched] == [r.text for r in singles]
    assert all(r.finish_reason == "length" for r in batched)
    with pytest.raises(ModelError, match="share"):
        backend.generate(
            [GenerationRequest(PROMPTS[0], GREEDY), GenerationRequest(PROMPTS[1], GenerationParams(temperature=0.5))]
        )


def test_static_cache_gives_the_dynamic_greedy_output(
    dynamic: TransformersBackend, static: TransformersBackend
) -> None:
    singles = [one(dynamic, p) for p in PROMPTS]

    assert [one(static, p).text for p in PROMPTS] == [r.text for r in singles]
    # Three rows use the bucket of four: the padding row must change nothing, twice in a row.
    for _ in range(2):
        batched = static.generate([GenerationRequest(p, GREEDY) for p in PROMPTS])
        assert [r.text for r in batched] == [r.text for r in singles]
        assert [r.completion_tokens for r in batched] == [10, 10, 10]
    assert set(static._static) == {1, 4}  # reused, not reallocated


def test_a_prompt_too_long_for_the_static_cache_goes_the_dynamic_way(
    dynamic: TransformersBackend, static: TransformersBackend
) -> None:
    long = conversation(9, 240)
    assert one(static, long).text == one(dynamic, long).text


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_sessions_inside_a_batch_are_reused_and_match_fresh_runs(
    mode: str, dynamic: TransformersBackend, static: TransformersBackend
) -> None:
    backend = dynamic if mode == "dynamic" else static
    first = backend.generate([GenerationRequest(p, GREEDY, session=f"{mode}-{i}") for i, p in enumerate(PROMPTS)])
    assert [r.new_prompt_tokens for r in first] == [r.prompt_tokens for r in first]
    assert [r.text for r in first] == [one(dynamic, p).text for p in PROMPTS]

    follow = [
        (*p, Message("assistant", r.text.strip()), Message("user", words(5, 50 + i)))
        for i, (p, r) in enumerate(zip(PROMPTS, first, strict=True))
    ]
    second = backend.generate([GenerationRequest(p, GREEDY, session=f"{mode}-{i}") for i, p in enumerate(follow)])
    fresh = [one(dynamic, p) for p in follow]

    assert [r.text for r in second] == [r.text for r in fresh]
    assert [r.prompt_tokens for r in second] == [r.prompt_tokens for r in fresh]
    # Only the new user turn (and the template around it) is prefilled; the rest is each row's session.
    assert all(r.new_prompt_tokens <= 12 for r in second), [r.new_prompt_tokens for r in second]

    # A rewritten answer forces a crop of the session's cache, inside a batch too.
    rewritten = [
        (*p, Message("assistant", words(3, 70 + i)), Message("user", words(5, 50 + i))) for i, p in enumerate(PROMPTS)
    ]
    third = backend.generate([GenerationRequest(p, GREEDY, session=f"{mode}-{i}") for i, p in enumerate(rewritten)])
    assert [r.text for r in third] == [one(dynamic, p).text for p in rewritten]
    assert all(r.new_prompt_tokens < r.prompt_tokens / 2 for r in third)
    for i in range(len(PROMPTS)):
        backend.end_session(f"{mode}-{i}")


def test_a_batch_mixing_sessions_and_none(dynamic: TransformersBackend) -> None:
    requests = [GenerationRequest(PROMPTS[0], GREEDY, session="mixed"), GenerationRequest(PROMPTS[1], GREEDY)]
    results = dynamic.generate(requests)
    assert [r.text for r in results] == [one(dynamic, p).text for p in PROMPTS[:2]]
    assert "mixed" in dynamic._sessions and len(dynamic._sessions["mixed"].ids) == results[0].prompt_tokens + 9
    dynamic.end_session("mixed")


def _end_after(backend: TransformersBackend, count: int) -> Any:
    end = backend.tokenizer.convert_tokens_to_ids("<|im_end|>")

    def hook(token_ids: Sequence[int], scores: torch.Tensor) -> None:
        if len(token_ids) == count:
            scores[:] = -float("inf")
            scores[end] = 0.0

    return hook


@pytest.mark.parametrize("mode", ["dynamic", "static"])
@pytest.mark.parametrize("sessions", [False, True])
def test_rows_stop_on_their_own_and_hooks_stay_on_their_row(
    mode: str, sessions: bool, dynamic: TransformersBackend, static: TransformersBackend
) -> None:
    backend = dynamic if mode == "dynamic" else static
    plain = [one(dynamic, p) for p in PROMPTS]
    requests = [
        GenerationRequest(PROMPTS[0], GREEDY, logits_hook=_end_after(backend, 3), session="r0" if sessions else None),
        GenerationRequest(PROMPTS[1], GREEDY, session="r1" if sessions else None),
        GenerationRequest(PROMPTS[2], GREEDY, logits_hook=_end_after(backend, 6), session="r2" if sessions else None),
    ]
    results = backend.generate(requests)

    assert [r.completion_tokens for r in results] == [3, 10, 6]
    assert [r.finish_reason for r in results] == ["stop", "length", "stop"]
    assert results[1].text == plain[1].text
    assert ids(backend, results)[0] == ids(backend, plain)[0][:3]
    assert ids(backend, results)[2] == ids(backend, plain)[2][:6]
    for name in ("r0", "r1", "r2"):
        backend.end_session(name)


def test_stop_strings_apply_per_row(dynamic: TransformersBackend) -> None:
    plain = [one(dynamic, p) for p in PROMPTS[:2]]
    stop = plain[0].text.split()[4]
    params = GenerationParams(max_new_tokens=10, stop=(stop,))
    results = dynamic.generate([GenerationRequest(p, params, session=f"st{i}") for i, p in enumerate(PROMPTS[:2])])

    assert results[0].text == plain[0].text[: plain[0].text.index(stop)]
    assert results[0].finish_reason == "stop" and results[0].completion_tokens < 10
    expected = plain[1].text if stop not in plain[1].text else plain[1].text[: plain[1].text.index(stop)]
    assert results[1].text == expected
    dynamic.end_session("st0")
    dynamic.end_session("st1")


# --- out of memory and missing devices -----------------------------------------------------------


def _oom_first(backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch, *, times: int, when: Any) -> list[int]:
    """Make `_dispatch` raise a CUDA out-of-memory error `times` times for calls where `when(requests)`."""
    real = backend._dispatch
    sizes: list[int] = []

    def dispatch(requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        sizes.append(len(requests))
        if when(requests) and sizes.count(-1) < times:
            sizes.append(-1)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(requests)

    monkeypatch.setattr(backend, "_dispatch", dispatch)
    return sizes


def _fake_gpu(model_dir: Path, store: ModelStore, **kwargs: Any) -> TransformersBackend:
    """A CPU model whose backend believes it is on CUDA: enough to drive the out-of-memory paths."""
    loaded = _load(model_dir, store)
    info = dataclasses.replace(loaded.info, device="cuda:0", dtype="bfloat16")
    return TransformersBackend(loaded.model, loaded.tokenizer, info, **kwargs)


def test_oom_in_a_batch_retries_in_halves(
    model_dir: Path, store: ModelStore, dynamic: TransformersBackend, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    backend = _load(model_dir, store)
    sizes = _oom_first(backend, monkeypatch, times=1, when=lambda requests: len(requests) > 1)
    with caplog.at_level(logging.WARNING, logger=tb.__name__):
        results = backend.generate([GenerationRequest(p, GREEDY) for p in PROMPTS])

    assert [r.text for r in results] == [one(dynamic, p).text for p in PROMPTS]
    assert sizes == [3, -1, 1, 2]
    assert "retrying in halves" in caplog.text
    assert backend.info.device == "cpu"


def test_oom_on_one_request_moves_the_model_to_the_cpu(
    model_dir: Path, store: ModelStore, dynamic: TransformersBackend, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    backend = _fake_gpu(model_dir, store, kv_cache="auto")
    assert backend.kv_cache == "static"  # auto on "CUDA"
    _oom_first(backend, monkeypatch, times=2, when=lambda _requests: backend._device.type == "cuda")
    backend._sessions["other"] = tb._Session((), tb.DynamicCache())

    with caplog.at_level(logging.WARNING, logger=tb.__name__):
        result = one(backend, PROMPTS[0], session="s")

    assert result.text == one(dynamic, PROMPTS[0]).text
    assert backend.info.device == "cpu" and backend.info.dtype == "float32"
    assert backend.kv_cache == "dynamic"  # auto on the CPU
    assert "moving the model to the CPU" in caplog.text
    assert "other" not in backend._sessions  # every cache was freed
    assert one(backend, PROMPTS[1]).text == one(dynamic, PROMPTS[1]).text


def test_oom_that_a_retry_cures_stays_on_the_gpu(
    model_dir: Path, store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _fake_gpu(model_dir, store)
    # The device is fake: the retry is answered by a stub, as generating on "cuda" can't run here.
    stub = GenerationResult("ok", 1, 1, 1, 0.0, 0.0)
    calls: list[int] = []

    def dispatch(requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        calls.append(len(requests))
        if len(calls) == 1:
            raise RuntimeError("CUDA error: out of memory")
        return [stub]

    monkeypatch.setattr(backend, "_dispatch", dispatch)
    assert backend.generate([GenerationRequest(PROMPTS[0], GREEDY)]) == [stub]
    assert backend.info.device == "cuda:0"


def test_oom_without_a_fallback_is_a_model_error(
    model_dir: Path, store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_cpu = _load(model_dir, store)
    _oom_first(on_cpu, monkeypatch, times=5, when=lambda _r: True)
    with pytest.raises(ModelError, match="out of memory"):
        one(on_cpu, PROMPTS[0])

    no_fallback = _fake_gpu(model_dir, store, cpu_fallback=False)
    _oom_first(no_fallback, monkeypatch, times=5, when=lambda _r: True)
    with pytest.raises(ModelError, match="out of memory"):
        one(no_fallback, PROMPTS[0])
    assert no_fallback.info.device == "cuda:0"


def test_other_errors_are_not_taken_for_oom(
    model_dir: Path, store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _fake_gpu(model_dir, store)

    def dispatch(_requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        raise RuntimeError("CUDA error: device-side assert triggered")

    monkeypatch.setattr(backend, "_dispatch", dispatch)
    with pytest.raises(RuntimeError, match="device-side assert"):
        one(backend, PROMPTS[0])
    assert backend.info.device == "cuda:0"


def test_oom_while_loading_on_cuda_loads_on_the_cpu(
    model_dir: Path, store: ModelStore, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    real = tb._load_model
    devices: list[str] = []

    def load_model(location: str, device: str, dtype: torch.dtype, kv_cache: str = "dynamic") -> Any:
        devices.append(device)
        if device.startswith("cuda"):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB")
        return real(location, device, dtype, kv_cache)

    monkeypatch.setattr(tb, "_pick_device", lambda _device: "cuda:0")
    monkeypatch.setattr(tb, "_pick_dtype", lambda dtype, device: torch.bfloat16 if device != "cpu" else torch.float32)
    monkeypatch.setattr(tb, "_load_model", load_model)
    with caplog.at_level(logging.WARNING, logger=tb.__name__):
        backend = TransformersBackend.load(str(model_dir), store=store, device="cuda")

    assert devices == ["cuda:0", "cpu"]
    assert backend.info.device == "cpu" and backend.info.dtype == "float32"
    assert "falling back to the CPU" in caplog.text
    assert one(backend, PROMPTS[1]).completion_tokens == 10
    backend.close()


def test_missing_cuda_or_mps_falls_back_to_the_cpu(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger=tb.__name__):
        assert tb._pick_device("auto") == "cpu"
        assert tb._pick_device("cuda") == "cpu"
        assert tb._pick_device("cuda:1") == "cpu"
        assert tb._pick_device("mps") == "cpu"
    assert "CUDA is not available: running on the CPU" in caplog.text
    assert "MPS is not available" in caplog.text
    with pytest.raises(ConfigError, match="unknown model device"):
        tb._pick_device("tpu")


def test_gpu_dtype_and_attention_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert tb._pick_dtype("auto", "cuda:0") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert tb._pick_dtype("auto", "cuda:0") is torch.float16
    assert tb._pick_dtype("auto", "cpu") is torch.float32
    with pytest.raises(ConfigError):
        tb._pick_dtype("int4", "cpu")

    monkeypatch.setattr(tb, "_flash_attn_usable", lambda: False)
    assert tb.attention_for("cuda:0", torch.bfloat16) == "sdpa"
    monkeypatch.setattr(tb, "_flash_attn_usable", lambda: True)
    assert tb.attention_for("cuda:0", torch.bfloat16) == "flash_attention_2"
    assert tb.attention_for("cuda:0", torch.bfloat16, "static") == "sdpa"  # compiled static decoding
    assert tb.attention_for("cuda:0", torch.bfloat16, "auto") == "sdpa"
    assert tb.attention_for("cuda:0", torch.float32) == "sdpa"
    assert tb.attention_for("cpu", torch.bfloat16) == "sdpa"


def test_flash_attn_is_used_only_if_it_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tb.importlib.util, "find_spec", lambda name: None)
    assert not tb._flash_attn_usable()


def test_a_failing_compiler_is_turned_off_and_the_call_retried(
    model_dir: Path, store: ModelStore, dynamic: TransformersBackend, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    backend = _load(model_dir, store, kv_cache="static", static_cache_tokens=256)
    monkeypatch.setattr(backend, "_compiling", lambda: backend.compile)  # as on CUDA
    real = backend.model.generate
    calls: list[bool] = []

    def generate(**kwargs: Any) -> Any:
        calls.append(bool(kwargs.get("disable_compile")))
        if len(calls) == 1:
            raise RuntimeError("Cannot find a working triton installation")
        return real(**kwargs)

    monkeypatch.setattr(backend.model, "generate", generate)
    with caplog.at_level(logging.WARNING, logger=tb.__name__):
        results = backend.generate([GenerationRequest(p, GREEDY, session=f"c{i}") for i, p in enumerate(PROMPTS)])

    assert [r.text for r in results] == [one(dynamic, p).text for p in PROMPTS]
    assert calls == [False, True]
    assert not backend.compile
    assert "decoding uncompiled" in caplog.text
    backend.close()


def test_closed_backend_refuses(model_dir: Path, store: ModelStore) -> None:
    backend = _load(model_dir, store, kv_cache="static", static_cache_tokens=256)
    one(backend, PROMPTS[0])
    backend.close()
    assert backend._static == {}
    with pytest.raises(ModelError, match="closed"):
        one(backend, PROMPTS[0])


def test_tokenize_and_token_text_for_logits_hooks(dynamic: TransformersBackend) -> None:
    text = words(5, 4)
    ids_ = dynamic.tokenize(" " + text)
    assert len(ids_) == 5 and dynamic.tokenize("") == []
    assert "".join(dynamic.token_text(i) for i in ids_) == " " + text
    assert dynamic.token_text(ids_[0]).startswith(" ")
