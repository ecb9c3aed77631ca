"""The one interface every model backend implements, and the data that crosses it.

Backends are synchronous and are only ever called from the runner's worker thread
(see `bot.model.runner`), so they may block, hold the GPU and keep caches without locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from bot.errors import ModelError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


class LogitsHook(Protocol):
    """Adjusts next-token scores during decoding (the quality work's anti-copy penalty uses it).

    `token_ids` are the ids generated so far for this request (not the prompt); `scores` is a
    1-D float array-like over the vocabulary (a torch tensor or numpy array, per backend), modified
    in place or returned.
    """

    def __call__(self, token_ids: Sequence[int], scores: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class GenerationParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = ()


def batchable(a: GenerationParams, b: GenerationParams) -> bool:
    """Whether two requests may be generated in one batch: same sampling, token limits may differ.

    Each part of a digest has its own `max_new_tokens`, so requiring equal limits meant concurrent
    digests at different parts were never batched; a backend honours each request's own limit.
    """
    return replace(a, max_new_tokens=0) == replace(b, max_new_tokens=0)


def require_batchable(requests: Sequence[GenerationRequest]) -> None:
    """Raise ModelError unless `requests`, generated in one call, are all `batchable` with the first."""
    if requests and not all(batchable(r.params, requests[0].params) for r in requests):
        raise ModelError("requests generated together must share their sampling parameters")


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One assistant turn to generate.

    The backend renders `messages` with the model's chat template, opens an assistant turn and
    forces `assistant_prefix` as the first words of the answer (the returned text excludes it).
    `session` names a conversation whose earlier turns are a prefix of this one: a backend that can
    keeps that prefix's KV cache so a digest's article is read once, not once per part.
    """

    messages: tuple[Message, ...]
    params: GenerationParams = field(default_factory=GenerationParams)
    assistant_prefix: str = ""
    session: str | None = None
    logits_hook: LogitsHook | None = None


@dataclass(frozen=True, slots=True)
class GenerationResult:
    text: str
    prompt_tokens: int  # tokens in the rendered prompt
    new_prompt_tokens: int  # prompt tokens actually prefilled (the rest came from the session cache)
    completion_tokens: int
    prefill_seconds: float
    decode_seconds: float
    finish_reason: Literal["stop", "length"] = "stop"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str  # human-readable model name
    source: str  # hub id, directory or GGUF path it was loaded from
    backend: str  # "transformers", "echo", ...
    device: str  # "cpu", "cuda:0", "mps"
    dtype: str  # "float32", "bfloat16", ...
    context_length: int
    load_seconds: float = 0.0


class Backend(Protocol):
    """A loaded model. Not thread-safe: only the runner's worker thread calls it."""

    info: ModelInfo

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Generate one result per request, in order.

        Requests in one call are `batchable`: the same params except `max_new_tokens`, which each
        request's result must respect on its own.
        """
        ...

    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` takes in this model's tokenizer."""
        ...

    # Optional, for local backends whose logits a hook can see (bot.pipeline.anticopy looks them up):
    #   tokenize(text: str) -> list[int]   the ids of `text` as inside a prompt, no BOS
    #   token_text(token_id: int) -> str   one token's text, leading space included

    def end_session(self, session: str) -> None:
        """Drop any cache kept for `session`."""
        ...

    def close(self) -> None:
        """Release the model's memory."""
        ...
