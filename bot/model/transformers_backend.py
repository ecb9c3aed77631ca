"""The transformers backend: runs a causal LM with torch on CUDA, MPS or CPU.

GGUF files are dequantized by transformers once and cached as safetensors (see `ModelStore.converted_dir`),
because converting takes far longer than loading the cache. A session's KV cache is kept between turns
so that the article, which opens every turn of a digest, is prefilled once.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
)
from transformers.cache_utils import DynamicLayer

from bot.errors import ConfigError, ModelError
from bot.model.backend import GenerationParams, GenerationRequest, GenerationResult, LogitsHook, ModelInfo
from bot.model.store import ModelSource, ModelStore

logger = logging.getLogger(__name__)

#: Written last into a conversion directory: its presence means the conversion is complete.
CONVERSION_META = "agora-conversion.json"

#: Tokens that end an assistant turn in common chat templates, besides the declared eos.
TURN_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>")

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

#: Prompt tokens decoded together with the answer so that a leading space survives decoding.
_DECODE_CONTEXT = 4


@dataclass(frozen=True, slots=True)
class _Session:
    """What a session's KV cache holds: the cache and the token ids it was computed for."""

    ids: tuple[int, ...]
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
    ) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ModelError(f"model {info.name} has no chat template: use an instruct/chat model")
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.max_sessions = max_sessions
        #: True when this load had to convert a GGUF (false when the safetensors cache was used).
        self.converted = converted
        #: Seconds spent converting a GGUF during this load (0 when the cache was used).
        self.conversion_seconds = conversion_seconds
        self._device = torch.device(info.device)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
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
            model = _load_model(location, target_device, target_dtype)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not target_device.startswith("cuda") or "out of memory" not in str(exc).lower():
                raise
            logger.warning("Out of GPU memory loading %s (%s); falling back to the CPU", name, exc)
            gc.collect()
            torch.cuda.empty_cache()
            target_device = "cpu"
            target_dtype = _pick_dtype(dtype, "cpu")
            model = _load_model(location, target_device, target_dtype)
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
        )
        logger.info(
            "Loaded %s on %s (%s) in %.1f s%s",
            name,
            info.device,
            info.dtype,
            info.load_seconds,
            f", including {conversion_seconds:.1f} s of GGUF conversion" if converted else "",
        )
        return backend

    # --- Backend protocol ---------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Generate one result per request; one request with a session reuses that session's KV cache."""
        if not requests:
            return []
        if self.model is None:
            raise ModelError("the model is closed")
        try:
            if len(requests) == 1:
                return [self._generate_one(requests[0])]
            return self._generate_batch(requests)
        except torch.OutOfMemoryError as exc:
            self._sessions.clear()
            if self._device.type == "cuda":
                torch.cuda.empty_cache()
            raise ModelError(f"out of memory while generating: {exc}") from exc

    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` takes in this model's tokenizer (no special tokens added)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def end_session(self, session: str) -> None:
        """Drop the KV cache kept for `session`."""
        self._sessions.pop(session, None)

    def close(self) -> None:
        """Release the model and every cache."""
        self._sessions.clear()
        self.model = None
        gc.collect()
        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    # --- generation ---------------------------------------------------------------------------------

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

    def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        prompt = self._prompt_ids(request)
        reused = 0
        cache = None
        if request.session is not None:
            # Taken out while generating: if generation fails, a half-updated cache is not kept.
            stored = self._sessions.pop(request.session, None)
            if stored is not None:
                reused, cache = _reuse(stored, prompt)
            if cache is None:
                cache = DynamicCache(config=self.model.config)
        input_ids = torch.tensor([prompt], dtype=torch.long, device=self._device)
        clock = _FirstCallClock()
        started = time.perf_counter()
        mask = torch.ones_like(input_ids)
        sequences = self._run(input_ids, mask, request.params, [request.logits_hook], clock, cache)
        finished = time.perf_counter()
        if request.session is not None and cache is not None:
            kept = cache.get_seq_length()
            self._sessions[request.session] = _Session(tuple(sequences[0, :kept].tolist()), cache)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        generated = sequences[0, len(prompt) :].tolist()
        return self._result(prompt, generated, request.params, len(prompt) - reused, clock, started, finished)

    def _generate_batch(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        params = requests[0].params
        if any(r.params != params for r in requests):
            raise ModelError("requests generated together must share their parameters")
        prompts = [self._prompt_ids(r) for r in requests]
        width = max(len(p) for p in prompts)
        # Left padding keeps every row's last prompt token in the last column, where generation starts.
        rows = [[self._pad_id] * (width - len(p)) + p for p in prompts]
        masks = [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
        input_ids = torch.tensor(rows, dtype=torch.long, device=self._device)
        attention_mask = torch.tensor(masks, dtype=torch.long, device=self._device)
        clock = _FirstCallClock()
        started = time.perf_counter()
        hooks = [r.logits_hook for r in requests]
        sequences = self._run(input_ids, attention_mask, params, hooks, clock, None)
        finished = time.perf_counter()
        return [
            self._result(prompt, sequences[row, width:].tolist(), params, len(prompt), clock, started, finished)
            for row, prompt in enumerate(prompts)
        ]

    def _run(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        params: GenerationParams,
        hooks: list[LogitsHook | None],
        clock: _FirstCallClock,
        cache: DynamicCache | None,
    ) -> torch.Tensor:
        processors: list[LogitsProcessor] = [clock]
        if any(hook is not None for hook in hooks):
            processors.append(_HookProcessor(hooks, input_ids.shape[1]))
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
            kwargs["past_key_values"] = cache
        # generate() runs under no_grad itself; inference_mode is avoided because a session's cache
        # made of inference tensors could not be cropped outside it.
        return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

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


class _FirstCallClock(LogitsProcessor):
    """Records when the first logits arrive: the end of the prefill (time to first token)."""

    def __init__(self) -> None:
        self.first: float | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.first is None:
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


def _pick_device(device: str) -> str:
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda":
        device = "cuda:0"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"model device {device!r} requested but CUDA is not available")
    elif device == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError("model device 'mps' requested but MPS is not available")
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


def _load_model(location: str, device: str, dtype: torch.dtype) -> Any:
    kwargs: dict[str, Any] = {"dtype": dtype}
    if device != "cpu":
        kwargs["device_map"] = {"": device}
    if device.startswith("cuda"):
        kwargs["attn_implementation"] = "sdpa"
    model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    model.eval()
    return model


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
