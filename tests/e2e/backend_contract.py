"""Checks every real `Backend` must pass, written once for all backends (SmolLM2-135M, greedy, CPU).

Each `check_*` function takes a loaded backend and asserts one part of the contract in
`bot.model.backend`; a backend's test module calls them from its own tests. Nothing here depends on
a backend's tokenizer or array type: scores are only read through `argmax()`, `max()`, indexing,
subtraction and `abs()`, which torch tensors and numpy arrays both support.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bot.errors import ModelError
from bot.model.backend import Backend, GenerationParams, GenerationRequest, GenerationResult, Message

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
THIRD = Message("user", "Now give one argument against it.")
CAPITAL = Message("user", "Name the capital of Italy.")
GREEDY = GenerationParams(max_new_tokens=16)


def one(backend: Backend, *messages: Message, **kwargs: Any) -> GenerationResult:
    return backend.generate([GenerationRequest(messages=messages, **kwargs)])[0]


def texts(results: Sequence[GenerationResult]) -> list[str]:
    return [r.text for r in results]


def first_choice(backend: Backend, *messages: Message, params: GenerationParams = GREEDY) -> int:
    """The token the model picks first for `messages`, read from the scores a logits hook sees."""
    picked: list[int] = []

    def spy(token_ids: Sequence[int], scores: Any) -> Any:
        if not token_ids:
            picked.append(int(scores.argmax()))
        return scores

    one(backend, *messages, params=params, logits_hook=spy)
    assert len(picked) == 1
    return picked[0]


#: How far a reused KV cache may move the next logits from a cold run's. llama.cpp's CPU kernels are
#: not batch-invariant (a decoded token's keys and values differ slightly from the same token prefilled
#: in a batch): 0.5-0.9 measured with SmolLM2 on AVX2 and AVX-512 CPUs. An off-by-one in the cache
#: moves them by far more (12 seen at a wrong position).
REUSE_TOLERANCE = 2.0
#: Two greedy runs may part only where the cold run's top two tokens are this close.
NEAR_TIE = 1.0


def scored(backend: Backend, *messages: Message, **kwargs: Any) -> tuple[GenerationResult, list[Any]]:
    """The result and a copy of the scores the model gave at each step (a logits hook that reads only)."""
    steps: list[Any] = []

    def spy(token_ids: Sequence[int], scores: Any) -> Any:
        steps.append(scores.clone() if hasattr(scores, "clone") else scores.copy())
        return scores

    return one(backend, *messages, logits_hook=spy, **kwargs), steps


def assert_same_greedy_path(reused: list[Any], cold: list[Any]) -> None:
    """Greedy runs agree token by token, except that they may part at a near-tie of the cold run.

    Exact text equality holds for a batch-invariant backend (transformers in float32) but not for
    llama.cpp on every CPU: its text matched a cold run on one machine and parted at a tie of 0.005
    at the 15th token on another.
    """
    assert reused and cold
    assert float(abs(reused[0] - cold[0]).max()) < REUSE_TOLERANCE
    for warm_step, cold_step in zip(reused, cold, strict=False):
        warm_pick, cold_pick = int(warm_step.argmax()), int(cold_step.argmax())
        if warm_pick != cold_pick:
            assert float(cold_step[cold_pick] - cold_step[warm_pick]) < NEAR_TIE
            return


def check_greedy_is_deterministic(backend: Backend) -> None:
    first = one(backend, SYSTEM, FIRST, params=GREEDY)
    second = one(backend, SYSTEM, FIRST, params=GREEDY)

    assert first.text == second.text
    assert first.text.strip()
    assert first.completion_tokens == 16 and first.finish_reason == "length"
    assert first.prompt_tokens > 100
    assert first.prefill_seconds > 0 and first.decode_seconds > 0


def check_session_reuses_the_prefix_and_matches_a_fresh_run(backend: Backend, session: str = "contract") -> None:
    """A session's second turn prefills only its new tokens and writes what a cold run writes."""
    backend.end_session(session)
    turn1 = one(backend, SYSTEM, FIRST, params=GREEDY, session=session)
    history = (SYSTEM, FIRST, Message("assistant", turn1.text), SECOND)

    cached, cached_steps = scored(backend, *history, params=GREEDY, session=session)
    fresh, fresh_steps = scored(backend, *history, params=GREEDY)

    assert cached.prompt_tokens == fresh.prompt_tokens
    assert cached.new_prompt_tokens < cached.prompt_tokens / 4
    assert_same_greedy_path(cached_steps, fresh_steps)  # an off-by-one in the cache would part at once

    # A history that diverges before the end of the cache is cropped there, then matches again. (It
    # diverges at the answer's first token: with llama.cpp, whose CPU kernels give slightly different
    # numbers for a token decoded alone and the same token prefilled in a batch, a crop after reused
    # decoded tokens can flip a near-tie; test_llamacpp_backend measures that separately.)
    rewritten = (SYSTEM, FIRST, Message("assistant", "A pool will close in Lyon."), SECOND)
    cropped, cropped_steps = scored(backend, *rewritten, params=GREEDY, session=session)
    assert cropped.new_prompt_tokens < cropped.prompt_tokens / 2
    assert_same_greedy_path(cropped_steps, scored(backend, *rewritten, params=GREEDY)[1])
    backend.end_session(session)


def check_interleaved_sessions_match_separate_runs(backend: Backend) -> None:
    """Two conversations taking turns on one backend write what each writes alone."""

    def run_alone(opening: Message, session: str) -> list[str]:
        backend.end_session(session)
        history: list[Message] = [SYSTEM, opening]
        out: list[str] = []
        for follow_up in (SECOND, THIRD):
            result = one(backend, *history, params=GREEDY, session=session)
            out.append(result.text)
            history += [Message("assistant", result.text), follow_up]
        out.append(one(backend, *history, params=GREEDY, session=session).text)
        backend.end_session(session)
        return out

    alone_a = run_alone(FIRST, "alone-a")
    alone_b = run_alone(Message("user", f"{ARTICLE}\n\nWho protested, and why?"), "alone-b")

    histories: dict[str, list[Message]] = {
        "mixed-a": [SYSTEM, FIRST],
        "mixed-b": [SYSTEM, Message("user", f"{ARTICLE}\n\nWho protested, and why?")],
    }
    outputs: dict[str, list[str]] = {"mixed-a": [], "mixed-b": []}
    prefilled: dict[str, list[GenerationResult]] = {"mixed-a": [], "mixed-b": []}
    for step in range(3):
        for name in ("mixed-a", "mixed-b"):
            result = one(backend, *histories[name], params=GREEDY, session=name)
            outputs[name].append(result.text)
            prefilled[name].append(result)
            if step < 2:
                histories[name] += [Message("assistant", result.text), (SECOND, THIRD)[step]]
    for name in outputs:
        backend.end_session(name)

    assert outputs["mixed-a"] == alone_a
    assert outputs["mixed-b"] == alone_b
    # The later turns of each conversation reused its own cache despite the other one in between.
    for name, results in prefilled.items():
        for result in results[1:]:
            assert result.new_prompt_tokens < result.prompt_tokens / 3, (name, result)


def check_batch_matches_single_requests(backend: Backend) -> None:
    short = (SYSTEM, CAPITAL)
    long = (SYSTEM, FIRST)
    batched = backend.generate([GenerationRequest(short, GREEDY), GenerationRequest(long, GREEDY)])
    singles = [one(backend, *short, params=GREEDY), one(backend, *long, params=GREEDY)]

    assert texts(batched) == texts(singles)
    assert [r.prompt_tokens for r in batched] == [r.prompt_tokens for r in singles]
    assert [r.completion_tokens for r in batched] == [r.completion_tokens for r in singles]


def check_stop_strings_end_and_trim_the_answer(backend: Backend) -> None:
    full = one(backend, SYSTEM, FIRST, params=GREEDY)
    words = full.text.split()
    stop = words[len(words) // 2]

    stopped = one(backend, SYSTEM, FIRST, params=GenerationParams(max_new_tokens=16, stop=(stop,)))

    assert stopped.text == full.text[: full.text.index(stop)]
    assert stopped.finish_reason == "stop"
    assert stopped.completion_tokens < full.completion_tokens


def check_end_of_turn_is_stripped(backend: Backend) -> None:
    answer = one(backend, Message("user", "Say hello."), params=GenerationParams(max_new_tokens=40))

    assert answer.finish_reason == "stop"
    assert answer.completion_tokens < 40
    assert "<|im_end|>" not in answer.text and answer.text.strip()


def check_assistant_prefix_is_continued(backend: Backend) -> None:
    prefix = "The pool was built in"
    plain = one(backend, SYSTEM, FIRST, params=GREEDY)
    prefixed = one(backend, SYSTEM, FIRST, params=GREEDY, assistant_prefix=prefix)

    assert prefixed.prompt_tokens == plain.prompt_tokens + backend.count_tokens(prefix)
    assert not prefixed.text.startswith(prefix)
    assert prefixed.text.startswith(" ")  # continues the prefix's last word, space included
    assert "1962" in prefixed.text


def check_logits_hook_sees_generated_ids_and_steers(backend: Backend) -> None:
    plain = one(backend, SYSTEM, FIRST, params=GREEDY)
    banned = first_choice(backend, SYSTEM, FIRST)
    seen: list[list[int]] = []
    firsts: list[int] = []

    def ban_first_choice(token_ids: Sequence[int], scores: Any) -> Any:
        seen.append(list(token_ids))
        if not token_ids:
            scores[banned] = -float("inf")
            firsts.append(int(scores.argmax()))
        return scores

    steered = one(backend, SYSTEM, FIRST, params=GREEDY, logits_hook=ban_first_choice)

    assert steered.text != plain.text
    assert firsts and firsts[0] != banned
    assert [len(ids) for ids in seen] == list(range(len(seen)))  # generated ids only, never the prompt
    assert len(seen) == steered.completion_tokens
    assert seen[-1][0] == firsts[0]  # the first generated id is the one picked after the ban


def check_logits_hook_may_modify_in_place(backend: Backend) -> None:
    """A hook that returns None (it modified the scores in place) steers as well."""
    plain = one(backend, SYSTEM, CAPITAL, params=GREEDY)
    banned = first_choice(backend, SYSTEM, CAPITAL)

    def ban(token_ids: Sequence[int], scores: Any) -> None:
        scores[banned] = -float("inf")

    hooked = one(backend, SYSTEM, CAPITAL, params=GREEDY, logits_hook=ban)
    assert hooked.text != plain.text
    assert one(backend, SYSTEM, CAPITAL, params=GREEDY).text == plain.text  # no hook left behind


def check_count_tokens(backend: Backend) -> None:
    assert backend.count_tokens("") == 0
    assert 1 <= backend.count_tokens("Bonjour tout le monde") <= 8


def check_sampling_runs(backend: Backend) -> None:
    params = GenerationParams(max_new_tokens=8, temperature=0.8, top_p=0.9, repetition_penalty=1.1)
    result = one(backend, FIRST, params=params)
    assert 1 <= result.completion_tokens <= 8


def check_rejects_mixed_parameters(backend: Backend) -> None:
    with pytest.raises(ModelError, match="share"):
        backend.generate(
            [GenerationRequest((FIRST,), GREEDY), GenerationRequest((FIRST,), GenerationParams(temperature=0.7))]
        )


def check_batch_honours_each_token_limit(backend: Backend) -> None:
    """Requests batched together may have different `max_new_tokens` (each digest part has its own).

    The two rows have different prompts: a server that runs a batch's requests one after the other
    would otherwise answer the second from the first's whole cached prompt, and llama.cpp's kernels
    are not batch-invariant (a near-tie may flip) — that is the engine's numerics, not this contract.
    """
    short, long = GenerationParams(max_new_tokens=4), GenerationParams(max_new_tokens=12)
    capital, first = (SYSTEM, CAPITAL), (SYSTEM, FIRST)
    batched = backend.generate([GenerationRequest(capital, short), GenerationRequest(first, long)])
    alone_first = one(backend, *first, params=long)
    alone_capital = one(backend, *capital, params=long)
    assert batched[0].completion_tokens <= 4 < alone_capital.completion_tokens  # the short row was cut
    assert alone_capital.text.startswith(batched[0].text.rstrip())
    assert batched[1].text == alone_first.text  # the long row was not
    assert batched[1].completion_tokens == alone_first.completion_tokens


#: Every check, for a backend test module that wants them all: `@pytest.mark.parametrize("check", ALL)`.
ALL = (
    check_greedy_is_deterministic,
    check_session_reuses_the_prefix_and_matches_a_fresh_run,
    check_interleaved_sessions_match_separate_runs,
    check_batch_matches_single_requests,
    check_stop_strings_end_and_trim_the_answer,
    check_end_of_turn_is_stripped,
    check_assistant_prefix_is_continued,
    check_logits_hook_sees_generated_ids_and_steers,
    check_logits_hook_may_modify_in_place,
    check_count_tokens,
    check_sampling_runs,
    check_rejects_mixed_parameters,
    check_batch_honours_each_token_limit,
)
