"""The transformers backend: runs a causal LM with torch on CUDA, MPS or CPU.

GGUF files are dequantized by transformers once and cached as safetensors (see `ModelStore.converted_dir`),
because converting takes far longer than loading the cache. A session's KV cache is kept between turns
so that the article, which opens every turn of a digest, is prefilled once.

On a GPU the model runs in bfloat16 (float16 where bf16 is missing) with SDPA attention. Requests that
the runner hands over together are decoded as one batch. Sessionless ones are left-padded and prefilled
together; when any has a session, each row is prefilled on its own (reusing its session's cache), the rows'
caches are left-padded into one batch cache and decoded together, and each session gets its rows back.
With `kv_cache="static"` (or "auto" on CUDA) every call takes that second path into a preallocated
`StaticCache`, one per batch size bucket (1, 2, 4, 8...), reused from call to call, which lets transformers
compile the decoding step with CUDA graphs (`torch.compile`, "reduce-overhead"): for a small model, the
launch overhead of a step's hundreds of kernels, not the GPU's memory, bounds uncompiled decoding. Out of
GPU memory, a batch is retried in halves, then the model moves to the CPU (a warning says so) rather
than fail the digest. Without CUDA, or MPS, the model runs on the CPU, with a log line saying so.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import importlib.util
import inspect
import json
import logging
import os
import shutil
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StaticCache,
)
from transformers.cache_utils import DynamicLayer

from bot.errors import ConfigError, ModelError
from bot.model.backend import (
    GenerationParams,
    GenerationRequest,
    GenerationResult,
    LogitsHook,
    ModelInfo,
    require_batchable,
)
from bot.model.store import ModelSource, ModelStore

logger = logging.getLogger(__name__)

#: Written last into a conversion directory: its presence means the conversion is complete.
CONVERSION_META = "agora-conversion.json"

#: Tokens that end an assistant turn in common chat templates, besides the declared eos.
TURN_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>")

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

#: "dynamic": caches grow token by token (no preallocation); "static": batches decode in preallocated,
#: reused caches, compiled on CUDA; "auto": static on CUDA, dynamic elsewhere.
KvCacheMode = Literal["auto", "dynamic", "static"]
KV_CACHE_MODES = ("auto", "dynamic", "static")

#: Prompt tokens decoded together with the answer so that a leading space survives decoding.
_DECODE_CONTEXT = 4


@dataclass(frozen=True, slots=True)
class _Session:
    """What a session's KV cache holds: the cache and the token ids it was computed for."""

    ids: tuple[int, ...]
    cache: DynamicCache


@dataclass(slots=True)
class _Row:
    """One request of a batch, prefilled: `cache` holds the KV of every prompt token but the last."""

    request: GenerationRequest
    prompt: list[int]
    reused: int
    cache: DynamicCache


class TransformersBackend:
    """A Hugging Face causal LM behind the `Backend` protocol. Only the runner's thread calls it."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        info: ModelInfo,
        *,
        max_sessions: int = 4,
        converted: bool = False,
        conversion_seconds: float = 0.0,
        kv_cache: KvCacheMode = "dynamic",
        static_cache_tokens: int = 4096,
        compile: bool = True,
        cpu_fallback: bool = True,
        cpu_dtype: str = "auto",
    ) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ModelError(f"model {info.name} has no chat template: use an instruct/chat model")
        if kv_cache not in KV_CACHE_MODES:
            raise ConfigError(f"unknown KV cache mode {kv_cache!r} ({', '.join(KV_CACHE_MODES)})")
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.max_sessions = max_sessions
        #: True when this load had to convert a GGUF (false when the safetensors cache was used).
        self.converted = converted
        #: Seconds spent converting a GGUF during this load (0 when the cache was used).
        self.conversion_seconds = conversion_seconds
        #: The mode asked for; `kv_cache` is the one in use ("auto" resolved, "dynamic" after a fallback).
        self.kv_cache_setting = kv_cache
        self.static_cache_tokens = static_cache_tokens
        #: Whether transformers may compile the decoding step (CUDA and a static cache only).
        self.compile = compile
        self.cpu_fallback = cpu_fallback
        self._cpu_dtype = cpu_dtype
        self._device = torch.device(info.device)
        self.kv_cache: Literal["dynamic", "static"] = _resolve_kv_cache(kv_cache, self._device)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        #: Static caches by batch size bucket, kept between calls (their addresses must not change
        #: for the compiled step's CUDA graphs to be replayed).
        self._static: dict[int, StaticCache] = {}
        #: Whether per-row caches can be padded into one batch cache (plain full-attention layers only).
        self._mergeable = _full_attention_only(model.config)
        if self.kv_cache == "static" and not self._mergeable:
            logger.warning("model %s has sliding-window or other special layers: dynamic KV cache", info.name)
            self.kv_cache = "dynamic"
        vocab = tokenizer.get_vocab()
        end_ids = set(_as_id_list(model.generation_config.eos_token_id))
        end_ids.update(_as_id_list(tokenizer.eos_token_id))
        end_ids.update(vocab[token] for token in TURN_END_TOKENS if token in vocab)
        if not end_ids:
            raise ModelError(f"model {info.name} declares no end-of-sequence token")
        self._end_ids = sorted(end_ids)
        pad = tokenizer.pad_token_id
        # Without a pad token, an end token pads batches: padded positions are masked out anyway.
        self._pad_id: int = pad if pad is not None else self._end_ids[0]
        # Sampling defaults shipped with a checkpoint (temperature, top_k...) would leak into our
        # greedy calls and make transformers warn; every call states its own parameters instead.
        model.generation_config = GenerationConfig(
            bos_token_id=model.generation_config.bos_token_id,
            eos_token_id=self._end_ids,
            pad_token_id=self._pad_id,
        )

    # --- loading ------------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        source: ModelSource | str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        store: ModelStore,
        threads: int | None = None,
        max_sessions: int = 4,
        kv_cache: KvCacheMode = "dynamic",
        static_cache_tokens: int = 4096,
        compile: bool = True,
    ) -> TransformersBackend:
        """Load a model (converting and caching a GGUF first if needed). Blocking: run it in a thread."""
        started = time.perf_counter()
        if threads:
            torch.set_num_threads(threads)
        if isinstance(source, str):
            source = store.resolve(source)
        target_device = _pick_device(device)
        target_dtype = _pick_dtype(dtype, target_device)

        converted = False
        conversion_seconds = 0.0
        name = source.location
        location = source.location
        if source.kind == "gguf":
            cache_dir = store.converted_dir(source.path)
            if not (cache_dir / CONVERSION_META).is_file():
                conversion_started = time.perf_counter()
                _convert_gguf(source.path, cache_dir)
                conversion_seconds = time.perf_counter() - conversion_started
                converted = True
            location = str(cache_dir)
            name = _read_meta(cache_dir).get("name") or source.path.stem
        elif source.kind == "directory":
            name = source.path.name

        try:
            model = _load_model(location, target_device, target_dtype, kv_cache)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not target_device.startswith("cuda") or not _is_oom(exc):
                raise
            logger.warning("Out of GPU memory loading %s (%s); falling back to the CPU", name, exc)
            gc.collect()
            torch.cuda.empty_cache()
            target_device = "cpu"
            target_dtype = _pick_dtype(dtype, "cpu")
            model = _load_model(location, target_device, target_dtype, kv_cache)
        tokenizer = AutoTokenizer.from_pretrained(location)

        info = ModelInfo(
            name=name,
            source=source.location,
            backend="transformers",
            device=target_device,
            dtype=str(target_dtype).removeprefix("torch."),
            context_length=int(getattr(model.config, "max_position_embeddings", 0) or 0),
            load_seconds=time.perf_counter() - started,
        )
        backend = cls(
            model,
            tokenizer,
            info,
            max_sessions=max_sessions,
            converted=converted,
            conversion_seconds=conversion_seconds,
            kv_cache=kv_cache,
            static_cache_tokens=static_cache_tokens,
            compile=compile,
            cpu_dtype=dtype,
        )
        logger.info(
            "Loaded %s on %s (%s, %s attention, %s KV cache) in %.1f s%s",
            name,
            info.device,
            info.dtype,
            getattr(model.config, "_attn_implementation", "default"),
            backend.kv_cache,
            info.load_seconds,
            f", including {conversion_seconds:.1f} s of GGUF conversion" if converted else "",
        )
        return backend

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, name: str, **kwargs: Any) -> TransformersBackend:
        """Wrap a model already in memory (benchmarks build randomly initialised ones)."""
        parameter = next(model.parameters())
        info = ModelInfo(
            name=name,
            source="memory",
            backend="transformers",
            device=str(parameter.device),
            dtype=str(parameter.dtype).removeprefix("torch."),
            context_length=int(getattr(model.config, "max_position_embeddings", 0) or 0),
        )
        model.eval()
        return cls(model, tokenizer, info, **kwargs)

    # --- Backend protocol ---------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Generate one result per request; a request with a session reuses that session's KV cache."""
        if not requests:
            return []
        if self.model is None:
            raise ModelError("the model is closed")
        require_batchable(requests)
        try:
            return self._generate(requests)
        except Exception as exc:
            if not _is_oom(exc):
                raise
            return self._after_oom(requests, exc)

    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` takes in this model's tokenizer (no special tokens added)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def tokenize(self, text: str) -> list[int]:
        """`text`'s token ids as they appear inside a prompt (no special tokens added)."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    def token_text(self, token_id: int) -> str:
        """One token's text, leading space included (SentencePiece's "▁" is a space too)."""
        text = str(self.tokenizer.decode([token_id], clean_up_tokenization_spaces=False))
        piece = self.tokenizer.convert_ids_to_tokens(token_id)
        if isinstance(piece, str) and piece.startswith("▁") and not text.startswith(" "):
            text = " " + text
        return text

    def end_session(self, session: str) -> None:
        """Drop the KV cache kept for `session`."""
        self._sessions.pop(session, None)

    def close(self) -> None:
        """Release the model and every cache."""
        self._sessions.clear()
        self._static.clear()
        self.model = None
        gc.collect()
        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    # --- out of memory ------------------------------------------------------------------------------

    def _after_oom(self, requests: Sequence[GenerationRequest], exc: BaseException) -> list[GenerationResult]:
        """Free every cache, then retry: a batch in halves; one request once more, then on the CPU."""
        self._free_caches()
        if len(requests) > 1:
            half = len(requests) // 2
            logger.warning("Out of memory generating a batch of %d (%s); retrying in halves", len(requests), exc)
            return self.generate(requests[:half]) + self.generate(requests[half:])
        if self._device.type == "cpu" or not self.cpu_fallback:
            raise ModelError(f"out of memory while generating: {exc}") from exc
        try:
            return self._generate(requests)
        except Exception as again:
            if not _is_oom(again):
                raise
            logger.warning(
                "Out of %s memory generating one request, even with every cache freed (%s); "
                "moving the model to the CPU, where it stays",
                self._device,
                again,
            )
            self._move_to_cpu()
            return self._generate(requests)

    def _free_caches(self) -> None:
        self._sessions.clear()
        self._static.clear()
        gc.collect()
        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    def _move_to_cpu(self) -> None:
        dtype = _pick_dtype(self._cpu_dtype, "cpu")
        self.model.to(device="cpu", dtype=dtype)
        if getattr(self.model, "hf_device_map", None) is not None:
            self.model.hf_device_map = {"": "cpu"}
        if getattr(self.model.config, "_attn_implementation", "sdpa") != "sdpa":
            self.model.set_attn_implementation("sdpa")  # flash-attn kernels are CUDA only
        was = self._device
        self._device = torch.device("cpu")
        self.kv_cache = _resolve_kv_cache(self.kv_cache_setting, self._device)
        self.info = dataclasses.replace(self.info, device="cpu", dtype=str(dtype).removeprefix("torch."))
        if was.type == "cuda":
            torch.cuda.empty_cache()

    # --- generation ---------------------------------------------------------------------------------

    def _generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        try:
            return self._dispatch(requests)
        except _RetryUncompiled:
            self._static.clear()  # possibly half-written by the failed compiled step
            return self._dispatch(requests)

    def _dispatch(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        prompts = [self._prompt_ids(r) for r in requests]
        longest = max(len(p) for p in prompts) + _batch_params(requests).max_new_tokens
        static = self.kv_cache == "static" and longest <= self.static_cache_tokens
        if static or (len(requests) > 1 and any(r.session is not None for r in requests)):
            if self._mergeable and min(len(p) for p in prompts) > 1:
                return self._generate_rows(requests, prompts, static=static)
            # Sliding-window or linear-attention layers can't be padded into one batch cache:
            # such requests are served one by one, each with its session.
            return [self._generate_one(r, p) for r, p in zip(requests, prompts, strict=True)]
        if len(requests) == 1:
            return [self._generate_one(requests[0], prompts[0])]
        return self._generate_batch(requests, prompts)

    def _prompt_ids(self, request: GenerationRequest) -> list[int]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # The template already writes the special tokens it wants; the tokenizer must not add a BOS.
        ids = list(self.tokenizer(text + request.assistant_prefix, add_special_tokens=False)["input_ids"])
        limit = self.info.context_length
        if limit and len(ids) + request.params.max_new_tokens > limit:
            raise ModelError(
                f"prompt of {len(ids)} tokens plus {request.params.max_new_tokens} new ones "
                f"exceeds the model's context of {limit}"
            )
        return ids

    def _take_session(self, request: GenerationRequest, prompt: list[int]) -> tuple[int, DynamicCache | None]:
        """The request's session cache cropped to what `prompt` shares with it (taken out: a failed
        generation must not leave a half-updated cache behind)."""
        if request.session is None:
            return 0, None
        stored = self._sessions.pop(request.session, None)
        if stored is None:
            return 0, None
        return _reuse(stored, prompt)

    def _keep_session(self, session: str, ids: tuple[int, ...], cache: DynamicCache) -> None:
        self._sessions[session] = _Session(ids, cache)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)

    def _generate_one(self, request: GenerationRequest, prompt: list[int]) -> GenerationResult:
        """One request, dynamic cache: the session's cache (if any) is extended in place."""
        reused, cache = self._take_session(request, prompt)
        if request.session is not None and cache is None:
            cache = DynamicCache(config=self.model.config)
        input_ids = torch.tensor([prompt], dtype=torch.long, device=self._device)
        clock = _FirstCallClock(self._device)
        started = time.perf_counter()
        mask = torch.ones_like(input_ids)
        sequences = self._run(input_ids, mask, request.params, [request.logits_hook], clock, cache)
        finished = time.perf_counter()
        if request.session is not None and cache is not None:
            kept = int(cache.get_seq_length())
            self._keep_session(request.session, tuple(sequences[0, :kept].tolist()), cache)
        generated = sequences[0, len(prompt) :].tolist()
        return self._result(prompt, generated, request.params, len(prompt) - reused, clock, started, finished)

    def _generate_batch(
        self, requests: Sequence[GenerationRequest], prompts: list[list[int]]
    ) -> list[GenerationResult]:
        """Sessionless requests, dynamic cache: one left-padded batch, prefilled and decoded together."""
        params = _batch_params(requests)
        width = max(len(p) for p in prompts)
        # Left padding keeps every row's last prompt token in the last column, where generation starts.
        input_ids = torch.tensor(_left_pad(prompts, width, self._pad_id), dtype=torch.long, device=self._device)
        attention_mask = torch.tensor(_pad_mask(prompts, width), dtype=torch.long, device=self._device)
        clock = _FirstCallClock(self._device)
        started = time.perf_counter()
        hooks = [r.logits_hook for r in requests]
        limits = [r.params.max_new_tokens for r in requests]
        sequences = self._run(input_ids, attention_mask, params, hooks, clock, None, limits=limits)
        finished = time.perf_counter()
        return [
            self._result(prompt, sequences[row, width:].tolist(), r.params, len(prompt), clock, started, finished)
            for row, (r, prompt) in enumerate(zip(requests, prompts, strict=True))
        ]

    def _generate_rows(
        self, requests: Sequence[GenerationRequest], prompts: list[list[int]], *, static: bool
    ) -> list[GenerationResult]:
        """Prefill each row alone (reusing its session), then decode every row in one batch cache."""
        params = _batch_params(requests)
        clock = _FirstCallClock(self._device)
        started = time.perf_counter()
        rows: list[_Row] = []
        for request, prompt in zip(requests, prompts, strict=True):
            reused, cache = self._take_session(request, prompt)
            if cache is None:
                reused, cache = 0, DynamicCache(config=self.model.config)
            if reused < len(prompt) - 1:
                self._prefill(cache, prompt[reused:-1])
            rows.append(_Row(request, prompt, reused, cache))
        width = max(len(p) for p in prompts)
        # Rows that pad the batch up to its bucket copy the first row and are made to end at once.
        size = _bucket(len(rows)) if static else len(rows)
        order = list(range(len(rows))) + [0] * (size - len(rows))
        batch_cache = self._merge([rows[i] for i in order], width, static=static)
        padded = [rows[i].prompt for i in order]
        input_ids = torch.tensor(_left_pad(padded, width, self._pad_id), dtype=torch.long, device=self._device)
        attention_mask = torch.tensor(_pad_mask(padded, width), dtype=torch.long, device=self._device)
        hooks: list[LogitsHook | None] = [row.request.logits_hook for row in rows] + [None] * (size - len(rows))
        filler = range(len(rows), size)
        limits = [rows[i].request.params.max_new_tokens for i in order]
        sequences = self._run(
            input_ids, attention_mask, params, hooks, clock, batch_cache, filler=filler, limits=limits
        )
        finished = time.perf_counter()
        kept = int(batch_cache.get_seq_length())
        for index, row in enumerate(rows):
            if row.request.session is not None:
                start = width - len(row.prompt)
                ids = tuple(sequences[index, start:kept].tolist())
                self._keep_session(row.request.session, ids, _split_row(batch_cache, index, start, kept, self.model))
        return [
            self._result(
                row.prompt,
                sequences[i, width:].tolist(),
                row.request.params,
                len(row.prompt) - row.reused,
                clock,
                started,
                finished,
            )
            for i, row in enumerate(rows)
        ]

    def _prefill(self, cache: DynamicCache, ids: list[int]) -> None:
        """Run `ids` through the model after what `cache` holds, extending it (no logits but the last)."""
        input_ids = torch.tensor([ids], dtype=torch.long, device=self._device)
        with torch.no_grad():
            self.model(input_ids=input_ids, use_cache=True, logits_to_keep=1, **{_cache_kwarg(self.model): cache})

    def _merge(self, rows: list[_Row], width: int, *, static: bool) -> DynamicCache | StaticCache:
        """One batch cache: row i's KV (its prompt minus the last token) right-aligned at column width - 1."""
        length = width - 1
        # Plain full-attention layers only (see `_full_attention_only`): keys/values [batch, heads, seq, dim].
        sources: list[list[Any]] = [list(row.cache.layers) for row in rows]
        if static:
            cache = self._static_cache(len(rows))
            cache.reset()  # what a padding column holds is masked, but must not be NaN: zeroed
            layers: list[Any] = list(cache.layers)
            for index, layer in enumerate(layers):
                for i, row_layers in enumerate(sources):
                    source = row_layers[index]
                    start = length - source.keys.shape[-2]
                    layer.keys[i, :, start:length] = source.keys[0]
                    layer.values[i, :, start:length] = source.values[0]
                layer.cumulative_length.fill_(length)
            return cache
        merged = DynamicCache(config=self.model.config)
        for index in range(len(sources[0])):
            keys = [_pad_left(row_layers[index].keys, length) for row_layers in sources]
            values = [_pad_left(row_layers[index].values, length) for row_layers in sources]
            merged.update(torch.cat(keys), torch.cat(values), index)
        return merged

    def _static_cache(self, size: int) -> StaticCache:
        cache = self._static.get(size)
        if cache is None:
            config = self.model.config.get_text_config(decoder=True)
            cache = StaticCache(config=config, max_cache_len=self.static_cache_tokens)
            head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
            cache.early_initialization(
                batch_size=size,
                num_heads=config.num_key_value_heads,
                head_dim=head_dim,
                dtype=self.model.dtype,
                device=self._device,
            )
            self._static[size] = cache
        return cache

    def _run(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        params: GenerationParams,
        hooks: list[LogitsHook | None],
        clock: _FirstCallClock,
        cache: DynamicCache | StaticCache | None,
        *,
        filler: range = range(0),
        limits: list[int] | None = None,
    ) -> torch.Tensor:
        processors: list[LogitsProcessor] = [clock]
        if any(hook is not None for hook in hooks):
            processors.append(_HookProcessor(hooks, input_ids.shape[1]))
        if filler:
            processors.append(_EndAtOnce(list(filler), self._end_ids[0]))
        if limits is not None and min(limits) < params.max_new_tokens:
            processors.append(_RowLimits(limits, input_ids.shape[1], self._end_ids[0]))
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "eos_token_id": self._end_ids,
            "pad_token_id": self._pad_id,
            "logits_processor": LogitsProcessorList(processors),
        }
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            # Greedy: temperature/top_p are not passed at all, or transformers warns they are unused.
            kwargs["do_sample"] = False
        if params.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = params.repetition_penalty
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        if cache is not None:
            kwargs[_cache_kwarg(self.model)] = cache
        if isinstance(cache, StaticCache) and not self._compiling():
            kwargs["disable_compile"] = True
        # generate() runs under no_grad itself; inference_mode is avoided because a session's cache
        # made of inference tensors could not be cropped outside it.
        try:
            return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        except Exception as exc:
            if _is_oom(exc) or not (isinstance(cache, StaticCache) and self._compiling()):
                raise
            # A compiler that fails here (no triton, an unsupported GPU...) must not stop the bot:
            # the same static cache works uncompiled. The cache must be rebuilt: it may be half-written.
            logger.warning(
                "Compiled decoding failed (%s: %s); decoding uncompiled from now on", type(exc).__name__, exc
            )
            self.compile = False
            raise _RetryUncompiled from exc

    def _compiling(self) -> bool:
        """Whether transformers compiles the decoding step of a static cache: on CUDA, unless told not to."""
        return self.compile and self._device.type == "cuda"

    def _result(
        self,
        prompt: list[int],
        generated: list[int],
        params: GenerationParams,
        new_prompt_tokens: int,
        clock: _FirstCallClock,
        started: float,
        finished: float,
    ) -> GenerationResult:
        generated = generated[: params.max_new_tokens]  # a row of a batch with a longer limit went on
        stops = set(self._end_ids) | {self._pad_id}
        ended = next((i for i, tid in enumerate(generated) if tid in stops), None)
        answer = generated if ended is None else generated[:ended]
        text = self._decode(prompt, answer)
        cut = min((i for i in (text.find(s) for s in params.stop if s) if i >= 0), default=-1)
        if cut >= 0:
            text = text[:cut]
        hit_length = ended is None and cut < 0 and len(generated) >= params.max_new_tokens
        first = clock.first if clock.first is not None else finished
        return GenerationResult(
            text=text,
            prompt_tokens=len(prompt),
            new_prompt_tokens=new_prompt_tokens,
            completion_tokens=len(answer),
            prefill_seconds=first - started,
            decode_seconds=finished - first,
            finish_reason="length" if hit_length else "stop",
        )

    def _decode(self, prompt: list[int], answer: list[int]) -> str:
        """Decode the answer as a continuation of the prompt, so a leading space is not lost."""
        context = prompt[-_DECODE_CONTEXT:]
        head = self.tokenizer.decode(context, skip_special_tokens=True)
        full = self.tokenizer.decode(context + answer, skip_special_tokens=True)
        if full.startswith(head):
            return full[len(head) :]
        return str(self.tokenizer.decode(answer, skip_special_tokens=True))


class _RetryUncompiled(Exception):
    """The compiled decoding step failed; compilation is now off and the call is to be made again."""


class _FirstCallClock(LogitsProcessor):
    """Records when the first logits arrive: the end of the prefill (time to first token)."""

    def __init__(self, device: torch.device | None = None) -> None:
        self.first: float | None = None
        self._device = device

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.first is None:
            # GPU work is queued, not done, when the logits tensor exists: wait for it, once.
            if self._device is not None and self._device.type == "cuda":
                torch.cuda.synchronize(self._device)
            elif self._device is not None and self._device.type == "mps":
                torch.mps.synchronize()
            self.first = time.perf_counter()
        return scores


class _HookProcessor(LogitsProcessor):
    """Calls each row's `LogitsHook` with that row's generated ids (not the prompt) and scores."""

    def __init__(self, hooks: list[LogitsHook | None], prompt_width: int) -> None:
        self.hooks = hooks
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row, hook in enumerate(self.hooks):
            if hook is None:
                continue
            row_scores = scores[row]
            returned = hook(input_ids[row, self.prompt_width :].tolist(), row_scores)
            if returned is not None and returned is not row_scores:
                scores[row] = torch.as_tensor(returned, dtype=scores.dtype, device=scores.device)
        return scores


class _EndAtOnce(LogitsProcessor):
    """Makes the rows that only pad a batch up to its bucket size end at their first token."""

    def __init__(self, rows: list[int], end_id: int) -> None:
        self.rows = rows
        self.end_id = end_id

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores[self.rows] = -float("inf")
        scores[self.rows, self.end_id] = 0.0
        return scores


class _RowLimits(LogitsProcessor):
    """Ends each row of a batch at its own token limit (the batch runs to the largest one)."""

    def __init__(self, limits: list[int], prompt_width: int, end_id: int) -> None:
        self.limits = limits
        self.prompt_width = prompt_width
        self.end_id = end_id

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids.shape[1] - self.prompt_width
        done = [row for row, limit in enumerate(self.limits) if generated >= limit]
        if done:
            scores[done] = -float("inf")
            scores[done, self.end_id] = 0.0
        return scores


def _batch_params(requests: Sequence[GenerationRequest]) -> GenerationParams:
    """The batch's shared sampling parameters, run to the largest token limit among its requests."""
    return replace(requests[0].params, max_new_tokens=max(r.params.max_new_tokens for r in requests))


def _reuse(stored: _Session, prompt: list[int]) -> tuple[int, DynamicCache | None]:
    """Crop a session's cache to the longest prefix it shares with `prompt`; (tokens reused, cache)."""
    shared = 0
    for old, new in zip(stored.ids, prompt, strict=False):
        if old != new:
            break
        shared += 1
    # At least one prompt token must be fed to the model to get the next token's logits.
    shared = min(shared, len(prompt) - 1)
    if shared <= 0:
        return 0, None
    cache = stored.cache
    surplus = cache.get_seq_length() - shared
    if surplus > 0:
        # Only plain full-attention layers can be cut back; sliding-window or linear-attention
        # layers have forgotten what a crop would need, so such a cache is rebuilt instead.
        if not all(type(layer) is DynamicLayer for layer in cache.layers):
            return 0, None
        cache.crop(-surplus)
    return shared, cache


def _is_oom(exc: BaseException) -> bool:
    """Whether `exc` says the device ran out of memory (torch raises several kinds for it)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "cublas_status_alloc_failed" in text)


def _resolve_kv_cache(mode: str, device: torch.device) -> Literal["dynamic", "static"]:
    if mode == "auto":
        return "static" if device.type == "cuda" else "dynamic"
    return "static" if mode == "static" else "dynamic"


def _full_attention_only(config: Any) -> bool:
    """Whether every layer's cache is a plain full-attention one (which can be padded, cropped, merged)."""
    try:
        return all(type(layer) is DynamicLayer for layer in DynamicCache(config=config).layers)
    except Exception:  # a cache layout transformers can't build from the config: take no chances
        return False


def _bucket(size: int) -> int:
    """Batch sizes are rounded up to a power of two, so that few shapes are ever compiled."""
    return 1 << (size - 1).bit_length()


def _left_pad(prompts: list[list[int]], width: int, pad_id: int) -> list[list[int]]:
    return [[pad_id] * (width - len(p)) + p for p in prompts]


def _pad_mask(prompts: list[list[int]], width: int) -> list[list[int]]:
    return [[0] * (width - len(p)) + [1] * len(p) for p in prompts]


def _pad_left(states: torch.Tensor, length: int) -> torch.Tensor:
    """[1, heads, n, dim] -> [1, heads, length, dim], zeros in front."""
    return torch.nn.functional.pad(states, (0, 0, length - states.shape[-2], 0))


def _split_row(cache: Any, row: int, start: int, end: int, model: Any) -> DynamicCache:
    """Row `row`'s columns [start, end) of a batch cache, copied into a cache of its own."""
    out = DynamicCache(config=model.config)
    layers: list[Any] = list(cache.layers)
    for index, layer in enumerate(layers):
        keys = layer.keys[row : row + 1, :, start:end]
        values = layer.values[row : row + 1, :, start:end]
        out.update(keys.contiguous().clone(), values.contiguous().clone(), index)
    return out


def _pick_device(device: str) -> str:
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        if torch.backends.mps.is_available():
            return "mps"
        logger.info("No CUDA or MPS device: the model runs on the CPU")
        return "cpu"
    if device == "cuda":
        device = "cuda:0"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            logger.warning("Model device %r requested but CUDA is not available: running on the CPU", device)
            return "cpu"
    elif device == "mps":
        if not torch.backends.mps.is_available():
            logger.warning("Model device 'mps' requested but MPS is not available: running on the CPU")
            return "cpu"
    elif device != "cpu":
        raise ConfigError(f"unknown model device {device!r} (auto, cuda, cuda:N, mps or cpu)")
    return device


def _pick_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device == "mps":
            return torch.float16
        return torch.float32  # CPU half-precision matmuls are slow or missing
    if dtype not in DTYPES:
        raise ConfigError(f"unknown model dtype {dtype!r} (auto, {', '.join(DTYPES)})")
    return DTYPES[dtype]


def _load_model(location: str, device: str, dtype: torch.dtype, kv_cache: str = "dynamic") -> Any:
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": attention_for(device, dtype, kv_cache)}
    if device != "cpu":
        kwargs["device_map"] = {"": device}
    model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    model.eval()
    return model


def attention_for(device: str, dtype: torch.dtype, kv_cache: str = "dynamic") -> str:
    """SDPA everywhere; FlashAttention-2 on CUDA in half precision when flash_attn is installed, except
    with a static cache, whose compiled decoding step it would break into pieces (transformers says so)."""
    if (
        device.startswith("cuda")
        and dtype in (torch.float16, torch.bfloat16)
        and _resolve_kv_cache(kv_cache, torch.device(device)) == "dynamic"
        and _flash_attn_usable()
    ):
        return "flash_attention_2"
    return "sdpa"


def _flash_attn_usable() -> bool:
    if importlib.util.find_spec("flash_attn") is None:
        return False
    try:
        import flash_attn  # noqa: F401
    except Exception:  # installed for another torch or CUDA: a broken build must not stop the load
        logger.warning("flash_attn is installed but does not import: using SDPA attention", exc_info=True)
        return False
    return bool(torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8)


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantize `gguf` with transformers and save it, with its tokenizer, as safetensors in `target`."""
    logger.info("Converting %s for transformers (once; cached in %s)", gguf, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f"{target.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a crashed conversion
    if target.exists():
        shutil.rmtree(target)  # incomplete (no meta file): not ours to trust
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        load_kwargs: dict[str, Any] = {"gguf_file": gguf.name, "dtype": torch.float32}
        gguf_config = getattr(transformers, "GgufConfig", None)
        if gguf_config is not None:
            # Asking for a dequantized load drops the GGUF quantizer, which otherwise marks the
            # (already dense) model as not serializable.
            load_kwargs["quantization_config"] = gguf_config(dequantize=True)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, **load_kwargs)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        del model
        meta = {"name": _gguf_name(gguf), "gguf": str(gguf), "size": gguf.stat().st_size}
        (tmp / CONVERSION_META).write_text(json.dumps(meta), encoding="utf-8")
        try:
            tmp.rename(target)
        except OSError:
            if not (target / CONVERSION_META).is_file():
                raise
            # Another process finished the same conversion first; its copy is as good as ours.
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        gc.collect()


def _read_meta(cache_dir: Path) -> dict[str, Any]:
    try:
        meta = json.loads((cache_dir / CONVERSION_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _gguf_name(gguf: Path) -> str:
    """The model's name from the GGUF metadata (`general.name`), else the file name."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(gguf).fields.get("general.name")
        if field is not None:
            return str(field.contents())
    except Exception:  # a name is cosmetic: never fail a load over it
        logger.debug("no general.name in %s", gguf, exc_info=True)
    return gguf.stem


def _as_id_list(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def _cache_kwarg(model: Any) -> str:
    """The name a model takes its KV cache under: `cache` since transformers 5.24, which deprecates
    `past_key_values` (a FutureWarning now, an error from 5.40); older releases know only the latter."""
    model_class: type = type(model)
    return _cache_kwarg_of(model_class)


@functools.cache
def _cache_kwarg_of(model_class: type) -> str:
    parameters = inspect.signature(model_class.forward).parameters  # type: ignore[attr-defined]
    return "cache" if "cache" in parameters else "past_key_values"
