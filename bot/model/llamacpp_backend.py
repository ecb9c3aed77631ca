"""The llama.cpp backend: runs a GGUF file on the CPU with llama-cpp-python (the `cpu` extra).

On a CPU this decodes the embedded Q4_K_M model several times faster than transformers, which has to
dequantize it to float32 (measured figures: bench/RESULTS.md, "Speed").

One llama.cpp context holds one token sequence. A request is rendered with the GGUF's own chat
template, tokenized, and handed to `Llama.generate`, which keeps the longest common prefix of the
tokens already in the context and evaluates only the rest. So the turns of one digest, each of which
repeats the previous ones, prefill the article once. When another conversation needs the context,
the current session's state (its KV cache) is copied aside and copied back when that session returns:
a copy of some megabytes instead of a re-prefill of the whole article.

A request without a session, and the first turn of a new session, start from an empty context (as
with transformers): what a digest says never depends on what the context held before. One exception,
which keeps that promise: the system message, the same ~190 tokens for every digest, is evaluated
alone once and its state kept; a fresh start restores that state and evaluates the rest, exactly as
the request that built it did (about 3 s of prefill saved per digest on 2 CPU cores).

Note on `Llama.generate` (0.3.36): the prefix reuse happens with `reset=True`, the default;
`reset=False` skips the prefix match and appends the prompt after whatever the context holds.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import Llama, LogitsProcessorList
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from bot.errors import ModelError
from bot.model.backend import (
    GenerationParams,
    GenerationRequest,
    GenerationResult,
    LogitsHook,
    Message,
    ModelInfo,
    require_batchable,
)
from bot.model.store import ModelSource, ModelStore

logger = logging.getLogger(__name__)

#: Tokens that end an assistant turn in common chat templates (llama.cpp marks most as end-of-generation).
TURN_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>")

#: A system message shorter than this is evaluated with the rest (keeping its state would not pay).
MIN_PREFIX_TOKENS = 32

#: Used when a GGUF carries no chat template.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

#: `general.file_type` -> quantization name ("Q4_K_M"), from llama.cpp's own constants.
FILE_TYPES = {
    value: name.removeprefix("LLAMA_FTYPE_MOSTLY_").removeprefix("LLAMA_FTYPE_")
    for name, value in vars(llama_cpp).items()
    if name.startswith("LLAMA_FTYPE_") and isinstance(value, int) and name != "LLAMA_FTYPE_GUESSED"
}


class _Llama(Llama):
    """`Llama` counting the tokens it evaluates, so that `new_prompt_tokens` is measured, not guessed."""

    evaluated = 0

    def eval(self, tokens: Sequence[int]) -> None:
        self.evaluated += len(tokens)
        super().eval(tokens)


@dataclass(slots=True)
class _SavedState:
    """A session's context copied aside: llama.cpp's state (its KV cache) and the tokens it holds."""

    data: Any  # ctypes uint8 array
    size: int
    ids: np.ndarray
    seconds: float  # what saving it cost


@dataclass(slots=True)
class SessionStats:
    """How sessions used the one context (read by the tests and the bench)."""

    saves: int = 0
    restores: int = 0
    save_seconds: float = 0.0
    restore_seconds: float = 0.0
    saved_bytes: int = 0  # size of the last state saved
    evicted: int = 0
    prefix_builds: int = 0  # system-message prefixes evaluated and kept
    prefix_hits: int = 0  # fresh starts that restored a kept prefix instead of evaluating it
    history: list[tuple[str, float, int]] = field(default_factory=list)  # (op, seconds, bytes), last 32


class LlamaCppBackend:
    """A GGUF model run by llama.cpp behind the `Backend` protocol. Only the runner's thread calls it."""

    def __init__(self, llm: _Llama, info: ModelInfo, *, max_sessions: int = 4, prefix_cache: bool = True) -> None:
        self.llm: _Llama | None = llm
        self.info = info
        self.max_sessions = max(1, max_sessions)
        #: Keep the system message's evaluated state for fresh starts (see the module docstring). Not for
        #: recurrent or hybrid models: llama.cpp cannot cut their state back to a prefix, so
        #: `Llama.generate` would evaluate the whole prompt again anyway.
        self.prefix_cache = prefix_cache and not (
            getattr(llm, "_is_recurrent", False) or getattr(llm, "_is_hybrid", False)
        )
        self._prefix: tuple[tuple[int, ...], _SavedState] | None = None
        self.session_stats = SessionStats()
        self._vocab = llm._model.vocab
        #: Sessions by recency; the value is None for the session whose tokens the context holds now.
        self._sessions: OrderedDict[str, _SavedState | None] = OrderedDict()
        self._active: str | None = None
        metadata = llm.metadata
        eos_id, bos_id = llm.token_eos(), llm.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE,
            eos_token=llm._model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=llm._model.token_get_text(bos_id) if bos_id != -1 else "",
            add_generation_prompt=True,
        )
        end_ids = {eos_id} if eos_id != -1 else set()
        for text in TURN_END_TOKENS:
            ids = llm.tokenize(text.encode(), add_bos=False, special=True)
            # Only a special token of this vocabulary counts, never a plain word that happens to match.
            if len(ids) == 1 and (
                llama_cpp.llama_vocab_is_control(self._vocab, ids[0])
                or llama_cpp.llama_vocab_is_eog(self._vocab, ids[0])
            ):
                end_ids.add(ids[0])
        self._end_ids = frozenset(end_ids)

    # --- loading ------------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        source: ModelSource | str,
        *,
        store: ModelStore,
        context_tokens: int = 4096,
        threads: int | None = None,
        max_sessions: int = 4,
    ) -> LlamaCppBackend:
        """Load a GGUF (memory-mapped, about a second). Blocking: run it in a thread."""
        started = time.perf_counter()
        if isinstance(source, str):
            source = store.resolve(source)
        if source.kind != "gguf":
            raise ModelError(f"the llama.cpp backend needs a .gguf file, not {source.location}")
        n_threads = threads or _cpu_count()
        try:
            llm = _Llama(
                model_path=source.location,
                n_ctx=context_tokens,
                n_batch=512,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_gpu_layers=0,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"llama.cpp could not load {source.location}: {exc}") from exc
        metadata = llm.metadata
        info = ModelInfo(
            name=metadata.get("general.name") or Path(source.location).stem,
            source=source.location,
            backend="llama.cpp",
            device="cpu",
            dtype=_quant_name(metadata),
            context_length=llm.n_ctx(),
            load_seconds=time.perf_counter() - started,
        )
        logger.info(
            "Loaded %s with llama.cpp (%s, %d threads, context %d) in %.1f s",
            info.name,
            info.dtype,
            n_threads,
            info.context_length,
            info.load_seconds,
        )
        return cls(llm, info, max_sessions=max_sessions)

    # --- Backend protocol ---------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """One result per request, in order; on a CPU, requests are generated one after the other."""
        if not requests:
            return []
        if self.llm is None:
            raise ModelError("the model is closed")
        require_batchable(requests)
        return [self._generate_one(request) for request in requests]

    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` takes in this model's tokenizer (no BOS, special tokens as text)."""
        if self.llm is None:
            raise ModelError("the model is closed")
        if not text:
            return 0
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def tokenize(self, text: str) -> list[int]:
        """`text`'s token ids as they appear inside a prompt (no BOS, special tokens as text)."""
        if self.llm is None:
            raise ModelError("the model is closed")
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else []

    def token_text(self, token_id: int) -> str:
        """One token's text, leading space included (a partial UTF-8 character comes out replaced)."""
        return self._piece(token_id).decode("utf-8", errors="replace")

    def end_session(self, session: str) -> None:
        """Forget `session`'s saved state. Its tokens may stay in the context as a plain prefix cache."""
        self._sessions.pop(session, None)
        if self._active == session:
            self._active = None

    def close(self) -> None:
        """Free the model, the context and every saved state."""
        self._sessions.clear()
        self._prefix = None
        self._active = None
        if self.llm is not None:
            self.llm.close()
            self.llm = None

    # --- prompts ------------------------------------------------------------------------------------

    def render(self, request: GenerationRequest) -> str:
        """The prompt text: the chat template with an open assistant turn, then the forced prefix."""
        messages: Any = [{"role": m.role, "content": m.content} for m in request.messages]
        return self._formatter(messages=messages).prompt + request.assistant_prefix

    def _template_ids(self, request: GenerationRequest) -> list[int]:
        assert self.llm is not None
        # The template writes the special tokens it wants: no BOS added, special tokens parsed.
        return self.llm.tokenize(self.render(request).encode("utf-8"), add_bos=False, special=True)

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        ids = self._template_ids(request)
        limit = self.info.context_length
        if len(ids) + request.params.max_new_tokens > limit:
            raise ModelError(
                f"prompt of {len(ids)} tokens plus {request.params.max_new_tokens} new ones "
                f"exceeds the context of {limit} (model.context_tokens)"
            )
        return ids

    def system_prefix(self, request: GenerationRequest, prompt: Sequence[int]) -> list[int]:
        """The tokens of `prompt` that only its system message decides ([] without one).

        Found without knowing the template: the tokens shared by the prompt and by the same system
        message followed by two different user messages (what the template writes before a user's text).
        """
        if not request.messages or request.messages[0].role != "system":
            return []
        probes = [
            self._template_ids(GenerationRequest((request.messages[0], Message("user", text)), request.params))
            for text in ("a", "z")
        ]
        n = 0
        for a, b, c in zip(prompt, *probes, strict=False):
            if not a == b == c:
                break
            n += 1
        return list(prompt[:n])

    def _start_from_prefix(self, request: GenerationRequest, prompt: Sequence[int]) -> int:
        """On a fresh context, put the system message's state in it. Returns the tokens evaluated for it."""
        llm = self.llm
        assert llm is not None and llm.n_tokens == 0
        prefix = tuple(self.system_prefix(request, prompt))
        if len(prefix) < MIN_PREFIX_TOKENS or len(prefix) >= len(prompt):
            return 0
        if self._prefix is not None and self._prefix[0] == prefix:
            try:
                self._restore(self._prefix[1], session=False)
            except ModelError:
                logger.warning("could not restore the kept system prefix: evaluating it again")
                self._prefix = None
                llm.reset()
            else:
                self.session_stats.prefix_hits += 1
                return 0
        llm.eval(prefix)
        self._prefix = (prefix, self._save(session=False))
        self.session_stats.prefix_builds += 1
        return len(prefix)

    # --- sessions -----------------------------------------------------------------------------------

    def _switch_to(self, session: str | None) -> None:
        """Make the context hold `session`'s tokens (restoring them if saved), keeping the leaver's aside."""
        if session is not None and session == self._active:
            self._sessions.move_to_end(session)
            return
        leaving = self._active
        if leaving is not None and leaving in self._sessions:
            self._sessions[leaving] = self._save()
        self._active = None
        saved = self._sessions.pop(session, None) if session is not None else None
        if saved is not None:
            self._restore(saved)
        elif self.llm is not None:
            self.llm.reset()  # a fresh start: nothing is reused by chance
        if session is None:
            return
        self._sessions[session] = None
        self._active = session
        while len(self._sessions) > self.max_sessions:
            oldest = next(iter(self._sessions))
            if oldest == session:  # pragma: no cover - the active session is always the newest
                break
            del self._sessions[oldest]
            self.session_stats.evicted += 1

    def _save(self, *, session: bool = True) -> _SavedState:
        """Copy the context's state aside; `session=False` (the system prefix) leaves the session stats alone."""
        llm = self.llm
        assert llm is not None
        started = time.perf_counter()
        size = llama_cpp.llama_state_get_size(llm.ctx)
        data = (ctypes.c_uint8 * size)()
        written = int(llama_cpp.llama_state_get_data(llm.ctx, data, size))
        if written > size:
            raise ModelError("llama.cpp wrote more state than it announced")
        ids = np.array(llm.input_ids[: llm.n_tokens], copy=True)
        seconds = time.perf_counter() - started
        if session:
            stats = self.session_stats
            stats.saves += 1
            stats.save_seconds += seconds
            stats.saved_bytes = written
            stats.history = [*stats.history[-31:], ("save", seconds, written)]
        return _SavedState(data, written, ids, seconds)

    def _restore(self, saved: _SavedState, *, session: bool = True) -> None:
        llm = self.llm
        assert llm is not None
        started = time.perf_counter()
        if llama_cpp.llama_state_set_data(llm.ctx, saved.data, saved.size) != saved.size:
            llm.reset()
            raise ModelError("llama.cpp could not restore a session's state")
        n = len(saved.ids)
        llm.input_ids[:n] = saved.ids
        llm.n_tokens = n
        # The restored logits are not trusted: an exact prompt hit must decode its last token again.
        llm._requires_eval = True
        seconds = time.perf_counter() - started
        if not session:
            return
        stats = self.session_stats
        stats.restores += 1
        stats.restore_seconds += seconds
        stats.history = [*stats.history[-31:], ("restore", seconds, saved.size)]

    # --- generation ---------------------------------------------------------------------------------

    def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        llm = self.llm
        assert llm is not None
        prompt = self.prompt_ids(request)
        params = request.params
        started = time.perf_counter()
        try:
            self._switch_to(request.session)
            evaluated = self._start_from_prefix(request, prompt) if self.prefix_cache and llm.n_tokens == 0 else 0
            result = self._decode_loop(llm, prompt, params, request.logits_hook, started)
            return dataclasses.replace(result, new_prompt_tokens=result.new_prompt_tokens + evaluated)
        except ModelError:
            raise
        except Exception as exc:
            # The context may be half-updated: start the next request from a clean one.
            llm.reset()
            if request.session is not None:
                self._sessions.pop(request.session, None)
            self._active = None
            raise ModelError(f"llama.cpp generation failed: {exc}") from exc

    def _decode_loop(
        self,
        llm: _Llama,
        prompt: list[int],
        params: GenerationParams,
        hook: LogitsHook | None,
        started: float,
    ) -> GenerationResult:
        greedy = params.temperature <= 0
        processors = LogitsProcessorList([_HookAdapter(hook, len(prompt))]) if hook is not None else None
        llm.evaluated = 0
        tokens = llm.generate(
            prompt,
            temp=0.0 if greedy else params.temperature,
            top_k=1 if greedy else 0,  # 0: no top-k cut, as in transformers' sampling here
            top_p=1.0 if greedy else params.top_p,
            min_p=0.0,
            typical_p=1.0,
            repeat_penalty=params.repetition_penalty,
            logits_processor=processors,
        )
        answer: list[int] = []
        raw = bytearray()
        text = ""
        cut = -1
        ended = False
        first: float | None = None
        new_prompt_tokens = len(prompt)
        try:
            for token in tokens:
                if first is None:
                    first = time.perf_counter()
                    new_prompt_tokens = llm.evaluated
                if token in self._end_ids or llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    ended = True
                    break
                answer.append(token)
                raw += self._piece(token)
                if params.stop:
                    text = raw.decode("utf-8", errors="ignore")
                    cut = _first_stop(text, params.stop)
                    if cut >= 0:
                        break
                if len(answer) >= params.max_new_tokens:
                    break
        finally:
            tokens.close()
        finished = time.perf_counter()
        if cut < 0:
            text = raw.decode("utf-8", errors="ignore")
        else:
            text = text[:cut]
        first = first if first is not None else finished
        return GenerationResult(
            text=text,
            prompt_tokens=len(prompt),
            new_prompt_tokens=new_prompt_tokens,
            completion_tokens=len(answer),
            prefill_seconds=first - started,
            decode_seconds=finished - first,
            finish_reason="length" if not ended and cut < 0 and len(answer) >= params.max_new_tokens else "stop",
        )

    def _piece(self, token: int) -> bytes:
        """The token's bytes, leading space included, special tokens rendered as nothing."""
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
        return buf.raw[: max(n, 0)]


class _HookAdapter:
    """llama-cpp-python passes logits processors every id in the context; a hook gets the generated ones."""

    def __init__(self, hook: LogitsHook, prompt_length: int) -> None:
        self._hook = hook
        self._prompt_length = prompt_length

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        out = self._hook(input_ids[self._prompt_length :].tolist(), scores)
        return scores if out is None else out


def _first_stop(text: str, stops: Sequence[str]) -> int:
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found, default=-1)


def _quant_name(metadata: dict[str, str]) -> str:
    try:
        return FILE_TYPES.get(int(metadata.get("general.file_type", "")), "unknown")
    except ValueError:
        return "unknown"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
