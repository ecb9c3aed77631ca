"""The remote backend: an OpenAI-compatible HTTP engine (vLLM, llama.cpp's llama-server, TGI...).

For operators who outgrow one machine: several bot processes point at one engine that runs the model
on a GPU cluster and batches their requests itself. Each request is one streamed
`POST {remote_url}/chat/completions` carrying the whole conversation, so the engine's own prefix
cache (vLLM's automatic prefix caching, llama-server's `cache_prompt`) plays the part of our
sessions: `end_session` has nothing to drop.

Choices, and why:

- Retries. Connect errors, 408, 429 (after its Retry-After), 5xx and a stream that breaks or stalls
  are retried with exponential backoff and jitter, within the request's total deadline. A stream that
  broke after some tokens is retried *from scratch* too: generation is stateless (the whole prompt is
  sent every time) and nothing is returned before the stream completes, so a partial answer is never
  shown or mixed with the next attempt's; the cost is the tokens generated twice. Other 4xx fail at
  once with the server's message: sending the same request again cannot help.
- Concurrency. The runner hands over a batch of requests; they run on a pool of at most
  `max_concurrency` threads (the engine batches them on its side), so one process never has more
  requests in flight than that. Results come back in request order.
- Assistant prefix ("Imaginez que"). Mode "continue" sends it as a final assistant message with vLLM's
  `continue_final_message`/`add_generation_prompt` fields (llama-server also continues a final
  assistant message); mode "instruction" (the default: it works on every server) asks for it in the
  last user message and strips it from the answer when the model repeats it. The llama-cpp-python
  server does not continue a final assistant message: it closes that turn and opens a new one.
- Sampling fields. OpenAI's API has no repetition penalty; llama.cpp's servers read
  `repeat_penalty`, vLLM reads `repetition_penalty`. With `sampling_extras` both are sent with every
  request, 1.0 included, because the llama-cpp-python server's default is 1.1, which changes greedy
  output. An endpoint that refuses unknown fields needs `sampling_extras = false`.
- Logits hooks (the anti-copy decoding) cannot cross HTTP: they are ignored, logged once. This
  backend deliberately has no `tokenize`/`token_text` methods, so the summarizer knows it cannot build
  such a hook.
- Token counts. `count_tokens` uses the engine's tokenizer when it exposes one (llama-server and vLLM:
  `POST /tokenize`; llama-cpp-python's server: `POST /extras/tokenize`), probed once; otherwise it
  estimates one token per 3.5 characters, rounded up. Measured on ten French articles of the test
  corpus: 3.5 characters a token with Qwen2.5's tokenizer (the embedded model's), 2.9 with SmolLM2's
  small vocabulary; the large vocabularies of the models an engine serves (Qwen, Llama 3) do at least
  as well as Qwen2.5. Usage figures come from the stream's final `usage` chunk when the server sends
  one (`stream_options.include_usage`), estimates otherwise.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import email.utils
import json
import logging
import math
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx

from bot.errors import ModelError
from bot.model.backend import GenerationRequest, GenerationResult, ModelInfo, require_batchable

if TYPE_CHECKING:
    from bot.config import ModelConfig

log = logging.getLogger(__name__)

_T = TypeVar("_T")

PrefixMode = Literal["instruction", "continue"]

#: Appended to the last user message in "instruction" mode (the model reads French prompts).
PREFIX_INSTRUCTION = "\n\nCommence ta réponse exactement par « {prefix} »."

#: Estimate when the engine has no tokenizer endpoint: characters per token (see the module docstring).
CHARS_PER_TOKEN = 3.5

#: Tokens a chat template adds around each message (role markers), for prompt estimates.
MESSAGE_OVERHEAD_TOKENS = 4

#: HTTP statuses worth sending the same request again for.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

#: Fields named in a server's refusal that `sampling_extras = false` avoids sending.
_EXTRA_FIELDS = ("repeat_penalty", "repetition_penalty")

_COUNT_CACHE_SIZE = 512


@dataclass(frozen=True, slots=True)
class RemoteSettings:
    """Where the engine is and how to talk to it (built from `[model]` by `from_config`)."""

    url: str  # base URL up to /v1: requests go to {url}/chat/completions
    model: str = ""  # served model id; empty: the first id GET {url}/models lists
    api_key: str = field(default="", repr=False)
    max_concurrency: int = 4
    connect_timeout: float = 5.0
    read_timeout: float = 120.0  # longest wait for the next piece of a stream, first token included
    total_timeout: float = 600.0  # one request, retries and waits included
    retries: int = 3
    prefix_mode: PrefixMode = "instruction"
    sampling_extras: bool = True
    context_length: int = 4096
    backoff_base: float = 0.5  # first retry waits about this long, then twice as long each time
    backoff_max: float = 30.0

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> RemoteSettings:
        """Settings from `[model]`; the API key is read from the variable `remote_api_key_env` names."""
        env = cfg.remote_api_key_env
        return cls(
            url=cfg.remote_url.strip().rstrip("/"),
            model=cfg.remote_model,
            api_key=os.environ.get(env, "") if env else "",
            max_concurrency=cfg.remote_max_concurrency,
            connect_timeout=cfg.remote_connect_timeout,
            read_timeout=cfg.remote_read_timeout,
            total_timeout=cfg.remote_total_timeout,
            retries=cfg.remote_retries,
            prefix_mode=cfg.remote_prefix_mode,
            sampling_extras=cfg.remote_sampling_extras,
            context_length=cfg.context_tokens,
        )


@dataclass(slots=True)
class RemoteStats:
    """What the backend did on the wire (read by tests and logs); updated under the backend's lock."""

    requests: int = 0  # HTTP generation requests sent, retries included
    retries: int = 0
    failures: int = 0  # requests that ended in a ModelError


class _Refused(ModelError):
    """The engine refused the request with a status that another attempt would get again."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__(detail)
        self.status = status


class _Retryable(Exception):
    """An attempt failed in a way another attempt may not: connection, 408/429/5xx, broken stream."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(slots=True)
class _Answer:
    """One completed stream."""

    text: str = ""
    pieces: int = 0  # content chunks received (one token each on llama.cpp's servers)
    finish: str | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None  # llama-server's own figures (prompt_n = tokens prefilled)
    first_token_at: float | None = None


@dataclass(frozen=True, slots=True)
class _TokenizeEndpoint:
    """A tokenizer endpoint that answered the probe, and the tokens it adds to any text (a BOS)."""

    url: str
    style: Literal["content", "prompt", "input"]
    offset: int = 0


class RemoteBackend:
    """An OpenAI-compatible engine behind the `Backend` protocol. Called from the runner's thread."""

    def __init__(self, settings: RemoteSettings, model_id: str = "") -> None:
        if settings.url.endswith("/"):
            settings = dataclasses.replace(settings, url=settings.url.rstrip("/"))
        self.settings = settings
        self.model_id = model_id
        self.info = _model_info(settings, model_id)
        self.stats = RemoteStats()
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._client: httpx.Client | None = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(max_connections=settings.max_concurrency + 2),
            trust_env=False,  # an engine on a private network is never reached through a proxy
        )
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.max_concurrency, thread_name_prefix="agora-remote"
        )
        self._lock = threading.Lock()
        self._tokenizer: _TokenizeEndpoint | Literal[False] | None = None  # False: probed, none
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._hook_logged = False
        self._penalty_logged = False
        self._random = random.Random()

    # --- connecting ---------------------------------------------------------------------------------

    @classmethod
    def connect(cls, settings: RemoteSettings) -> RemoteBackend:
        """Ask the engine which model it serves (GET /models); blocking, run it in a thread.

        With `settings.model` set, an unreachable engine is only a warning: the bot starts and its
        requests retry, so a fleet survives an engine restart. Without it the model id is unknown and
        the load fails.
        """
        started = time.perf_counter()
        backend = cls(settings, settings.model)
        try:
            served = backend._served_models()
        except ModelError as exc:
            bad_key = isinstance(exc, _Refused) and exc.status in (401, 403)  # will not get better
            if bad_key or not settings.model:
                backend.close()
                hint = "" if bad_key else "; set model.remote_model to start without the engine"
                raise ModelError(f"{exc}{hint}") from exc
            log.warning("remote engine not ready (%s): using model %r, requests will retry", exc, settings.model)
            served = []
        model = settings.model or (served[0] if served else "")
        if not model:
            backend.close()
            raise ModelError(f"the remote engine at {backend.info.source} lists no model (GET /models)")
        if settings.model and served and settings.model not in served:
            log.warning("model %r is not among the ids the engine serves: %s", settings.model, ", ".join(served))
        elif not settings.model and len(served) > 1:
            log.info("the engine serves %s; using %s (set model.remote_model to choose)", ", ".join(served), model)
        backend.model_id = model
        backend.info = _model_info(backend.settings, model, load_seconds=time.perf_counter() - started)
        log.info("Using remote engine %s, model %s", backend.info.source, model)
        return backend

    def _served_models(self) -> list[str]:
        deadline = time.monotonic() + min(self.settings.total_timeout, 60.0)

        def attempt(timeout: httpx.Timeout) -> list[str]:
            response = self._client_or_fail().get(f"{self.settings.url}/models", timeout=timeout)
            _raise_for_status(response)
            data = response.json().get("data") or []
            return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]

        return self._with_retries(attempt, deadline, "GET /models")

    # --- Backend protocol ---------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """One result per request, in order; at most `max_concurrency` requests in flight at a time."""
        if not requests:
            return []
        self._client_or_fail()
        require_batchable(requests)
        if any(r.logits_hook is not None for r in requests) and not self._hook_logged:
            self._hook_logged = True
            log.info("anti-copy decoding is unavailable on a remote engine: logits hooks are ignored")
        if len(requests) == 1:
            return [self._generate_one(requests[0])]
        futures = [self._pool.submit(self._generate_one, r) for r in requests]
        results: list[GenerationResult] = []
        error: BaseException | None = None
        for future in futures:  # wait for every request, even after a failure: none is left running
            try:
                results.append(future.result())
            except BaseException as exc:
                error = error or exc
        if error is not None:
            raise error if isinstance(error, ModelError) else ModelError(f"remote generation failed: {error}")
        return results

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by the engine's tokenizer when it has an endpoint, else an estimate."""
        if not text:
            return 0
        with self._lock:
            if text in self._counts:
                self._counts.move_to_end(text)
                return self._counts[text]
        count, exact = self._count(text)
        if exact:
            with self._lock:
                self._counts[text] = count
                while len(self._counts) > _COUNT_CACHE_SIZE:
                    self._counts.popitem(last=False)
        return count

    def end_session(self, session: str) -> None:
        """Nothing to drop: the engine's prefix cache is its own business."""

    def close(self) -> None:
        """Close the connections and the request threads."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def exact_token_counts(self) -> bool:
        """Whether `count_tokens` asks the engine's tokenizer (probes it if not done yet)."""
        return isinstance(self._tokenize_endpoint(), _TokenizeEndpoint)

    # --- one request --------------------------------------------------------------------------------

    def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        started = time.monotonic()
        deadline = started + self.settings.total_timeout
        messages = self._messages(request)
        estimate = self._estimate_prompt(messages)
        if self.exact_token_counts and estimate + request.params.max_new_tokens > self.settings.context_length:
            # llama-cpp-python's server answers an over-long prompt with an empty stream: refuse it here.
            raise ModelError(
                f"prompt of about {estimate} tokens plus {request.params.max_new_tokens} new ones "
                f"exceeds the context of {self.settings.context_length} (model.context_tokens)"
            )
        body = self._body(request, messages)
        attempt_started = [started]

        def attempt(timeout: httpx.Timeout) -> _Answer:
            attempt_started[0] = time.monotonic()
            with self._lock:
                self.stats.requests += 1
            return self._stream(body, timeout, deadline)

        try:
            answer = self._with_retries(attempt, deadline, "generation")
        except ModelError:
            with self._lock:
                self.stats.failures += 1
            raise
        return self._result(request, answer, estimate, attempt_started[0])

    def _messages(self, request: GenerationRequest) -> list[dict[str, str]]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        prefix = request.assistant_prefix
        if not prefix:
            return messages
        if self.settings.prefix_mode == "continue":
            return [*messages, {"role": "assistant", "content": prefix}]
        ask = PREFIX_INSTRUCTION.format(prefix=prefix)
        if messages and messages[-1]["role"] == "user":
            messages[-1] = {"role": "user", "content": messages[-1]["content"] + ask}
        else:
            messages.append({"role": "user", "content": ask.strip()})
        return messages

    def _body(self, request: GenerationRequest, messages: list[dict[str, str]]) -> dict[str, Any]:
        params = request.params
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": params.max_new_tokens,
            "temperature": max(params.temperature, 0.0),
            "top_p": params.top_p if params.temperature > 0 else 1.0,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if self.settings.sampling_extras:
            body["repeat_penalty"] = params.repetition_penalty  # llama.cpp's servers
            body["repetition_penalty"] = params.repetition_penalty  # vLLM, TGI
        elif params.repetition_penalty != 1.0 and not self._penalty_logged:
            self._penalty_logged = True
            log.info("repetition penalty not sent: model.remote_sampling_extras is false")
        if request.assistant_prefix and self.settings.prefix_mode == "continue":
            body["continue_final_message"] = True  # vLLM; llama-server continues a final assistant turn
            body["add_generation_prompt"] = False
        return body

    def _stream(self, body: dict[str, Any], timeout: httpx.Timeout, deadline: float) -> _Answer:
        """One attempt: send, read the event stream to its end, and check that it really ended."""
        client = self._client_or_fail()
        url = f"{self.settings.url}/chat/completions"
        with client.stream("POST", url, json=body, timeout=timeout) as response:
            _raise_for_status(response, sent=body)
            if "text/event-stream" not in response.headers.get("content-type", ""):
                # A server that ignored `stream`: one JSON answer.
                return _answer_from_json(json.loads(response.read()))
            answer = _Answer()
            done = False
            for data in self._events(response, deadline):
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if not isinstance(chunk, dict):
                    raise _Retryable(f"malformed chunk {data[:80]!r}")
                _add_chunk(answer, chunk)
        if answer.finish is None:
            # llama-cpp-python's server ends an interrupted stream with [DONE] and no finish_reason.
            ended = "ended" if done else "broke"
            raise _Retryable(f"the stream {ended} before the answer was finished ({answer.pieces} pieces)")
        return answer

    def _events(self, response: httpx.Response, deadline: float) -> Iterator[str]:
        """The `data:` payloads of an event stream; a silence longer than the read timeout is a stall.

        The socket's read timeout alone would not do: sse-starlette servers send comment pings every
        15 s, which keep a stalled generation's connection alive.
        """
        last_data = time.monotonic()
        for line in response.iter_lines():
            now = time.monotonic()
            if now > deadline:
                raise ModelError(f"the remote engine took longer than {self.settings.total_timeout:.0f} s")
            if not line.startswith("data:"):
                if now - last_data > self.settings.read_timeout:
                    raise _Retryable(f"the stream stalled for {now - last_data:.0f} s")
                continue  # comments (pings), event names, blank separators
            last_data = now
            yield line[5:].strip()

    def _result(self, request: GenerationRequest, answer: _Answer, estimate: int, started: float) -> GenerationResult:
        """The protocol's result; `started` is when the successful attempt began (prefill = time to first token)."""
        finished = time.monotonic()
        first = answer.first_token_at if answer.first_token_at is not None else finished
        text = answer.text
        for stop in request.params.stop:  # the engines cut at stop strings; this only makes sure
            cut = text.find(stop) if stop else -1
            if cut >= 0:
                text = text[:cut]
        if request.assistant_prefix and self.settings.prefix_mode == "instruction":
            text = strip_repeated_prefix(text, request.assistant_prefix)
        usage = answer.usage or {}
        prompt_tokens = _int(usage.get("prompt_tokens")) or estimate
        completion_tokens = _int(usage.get("completion_tokens")) or answer.pieces
        return GenerationResult(
            text=text,
            prompt_tokens=prompt_tokens,
            new_prompt_tokens=_prefilled(usage, answer.timings, prompt_tokens),
            completion_tokens=completion_tokens,
            prefill_seconds=first - started,
            decode_seconds=finished - first,
            finish_reason="length" if answer.finish == "length" else "stop",
        )

    # --- retries ------------------------------------------------------------------------------------

    def _with_retries(self, attempt: Callable[[httpx.Timeout], _T], deadline: float, what: str) -> _T:
        """Run `attempt(timeout)` until it succeeds, retrying `_Retryable` failures with backoff."""
        settings = self.settings
        tries = settings.retries + 1
        for number in range(1, tries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ModelError(f"the remote engine took longer than {settings.total_timeout:.0f} s ({what})")
            timeout = httpx.Timeout(
                min(settings.read_timeout, remaining), connect=min(settings.connect_timeout, remaining)
            )
            try:
                return attempt(timeout)
            except _Retryable as exc:
                failure = exc
            except httpx.TimeoutException as exc:
                failure = _Retryable(f"timed out ({type(exc).__name__})")
            except httpx.TransportError as exc:
                failure = _Retryable(f"connection failed ({type(exc).__name__}: {exc})")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                failure = _Retryable(f"malformed answer ({exc})")
            wait = self._backoff(number, failure.retry_after)
            if number == tries or time.monotonic() + wait > deadline:
                attempts = f"{number} attempt{'s' if number > 1 else ''}"
                raise ModelError(f"remote engine {self.info.device}: {failure.reason} ({what}, {attempts})")
            log.warning(
                "remote engine %s: %s; retry %d/%d in %.1f s", self.info.device, failure.reason, number, tries - 1, wait
            )
            with self._lock:
                self.stats.retries += 1
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, number: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (concurrent bots do not retry in step); Retry-After wins."""
        base = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (number - 1))
        wait = base * (0.5 + self._random.random() / 2)
        return max(wait, retry_after) if retry_after is not None else wait

    # --- token counts -------------------------------------------------------------------------------

    def _estimate_prompt(self, messages: list[dict[str, str]]) -> int:
        tokens = sum(self.count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)
        return tokens + MESSAGE_OVERHEAD_TOKENS // 2  # the opened assistant turn

    def _count(self, text: str) -> tuple[int, bool]:
        """(count, exact): the tokenizer endpoint's count, or the estimate when there is none."""
        endpoint = self._tokenize_endpoint()
        if isinstance(endpoint, _TokenizeEndpoint):
            try:
                return max(_tokenize(self._client_or_fail(), endpoint, text) - endpoint.offset, 0), True
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.warning("tokenizer endpoint %s failed (%s): estimating this count", endpoint.url, exc)
        return estimate_tokens(text), False

    def _tokenize_endpoint(self) -> _TokenizeEndpoint | Literal[False] | None:
        """The engine's tokenizer endpoint, probed once (under the lock: worker threads count too)."""
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = self._probe_tokenizer()
            return self._tokenizer

    def _probe_tokenizer(self) -> _TokenizeEndpoint | Literal[False] | None:
        client = self._client_or_fail()
        root = self.settings.url.removesuffix("/v1")
        candidates = (
            _TokenizeEndpoint(f"{root}/tokenize", "content"),  # llama-server
            _TokenizeEndpoint(f"{root}/tokenize", "prompt"),  # vLLM
            _TokenizeEndpoint(f"{root}/extras/tokenize", "input"),  # llama-cpp-python's server
        )
        for candidate in candidates:
            try:
                _tokenize(client, candidate, "Bonjour", model=self.model_id)
                if candidate.style == "input":  # this one adds the model's BOS: measure it
                    candidate = _TokenizeEndpoint(
                        candidate.url, "input", _tokenize(client, candidate, "", model=self.model_id)
                    )
            except httpx.TransportError as exc:
                log.warning("could not probe the engine's tokenizer (%s): estimating token counts for now", exc)
                return None  # probe again next time
            except (httpx.HTTPStatusError, ValueError, KeyError, TypeError):
                continue
            log.info("token counts from the engine's tokenizer at %s", candidate.url)
            return candidate
        log.info("the engine has no tokenizer endpoint: token counts are estimates (%.1f chars/token)", CHARS_PER_TOKEN)
        return False

    def _client_or_fail(self) -> httpx.Client:
        if self._client is None:
            raise ModelError("the remote backend is closed")
        return self._client


def estimate_tokens(text: str) -> int:
    """One token per `CHARS_PER_TOKEN` characters, rounded up (0 for an empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def strip_repeated_prefix(text: str, prefix: str) -> str:
    """The answer without the forced prefix the model was asked to start with, when it did.

    "« Imaginez que » vous…" and "Imaginez que vous…" both give " vous…": the answer continues the
    prefix, as with a backend that forces it. An answer that started otherwise is returned as it is.
    """
    head = text.lstrip().lstrip("«\"“'").lstrip()
    if head[: len(prefix)].lower() != prefix.lower():
        return text
    rest = head[len(prefix) :]
    for closing in (" »", "»", "”", '"'):
        if rest.startswith(closing):
            return rest[len(closing) :]
    return rest


def _tokenize(client: httpx.Client, endpoint: _TokenizeEndpoint, text: str, *, model: str = "") -> int:
    body: dict[str, Any]
    if endpoint.style == "content":
        body = {"content": text, "add_special": False}
    elif endpoint.style == "prompt":
        body = {"model": model, "prompt": text, "add_special_tokens": False}
    else:
        body = {"input": text}
    response = client.post(endpoint.url, json=body)
    response.raise_for_status()
    data = response.json()
    if isinstance(data.get("tokens"), list):
        return len(data["tokens"])
    return int(data["count"])


def _raise_for_status(response: httpx.Response, *, sent: dict[str, Any] | None = None) -> None:
    """Retryable for 408/429/5xx (with the Retry-After), ModelError with the server's words otherwise."""
    status = response.status_code
    if status < 400:
        return
    response.read()
    message = _server_message(response)
    if status in RETRY_STATUSES or status >= 500:
        raise _Retryable(f"HTTP {status}: {message}", _retry_after(response.headers.get("retry-after")))
    hint = ""
    if sent is not None and any(name in message for name in _EXTRA_FIELDS):
        hint = " (set model.remote_sampling_extras = false for an engine that refuses these fields)"
    elif status in (401, 403):
        hint = " (check the API key in the variable model.remote_api_key_env names)"
    elif status == 404:
        hint = f" ({response.request.url.path}: does model.remote_url end with /v1?)"
    raise _Refused(f"the remote engine refused the request (HTTP {status}): {message}{hint}", status)


def _server_message(response: httpx.Response) -> str:
    """The error text of an OpenAI-style, FastAPI-style or plain answer, kept short."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message", data)))
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)[:300]
    return str(data)[:300]


def _retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (a number or an HTTP date), None when absent or bad."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _add_chunk(answer: _Answer, chunk: dict[str, Any]) -> None:
    """Fold one streamed chunk into the answer (content, finish reason, usage, llama-server timings)."""
    if "error" in chunk:  # vLLM reports a failure inside the stream
        raise _Retryable(f"the engine failed mid-stream: {_chunk_error(chunk['error'])}")
    for choice in chunk.get("choices") or []:
        if choice.get("index", 0) != 0:
            continue
        content = (choice.get("delta") or {}).get("content")
        if content:
            if answer.first_token_at is None:
                answer.first_token_at = time.monotonic()
            answer.text += content
            answer.pieces += 1
        if choice.get("finish_reason"):
            answer.finish = str(choice["finish_reason"])
    if isinstance(chunk.get("usage"), dict):
        answer.usage = chunk["usage"]
    if isinstance(chunk.get("timings"), dict):
        answer.timings = chunk["timings"]


def _answer_from_json(data: dict[str, Any]) -> _Answer:
    if "error" in data:
        raise _Retryable(f"the engine failed: {_chunk_error(data['error'])}")
    choice = (data.get("choices") or [{}])[0]
    text = (choice.get("message") or {}).get("content") or ""
    return _Answer(
        text=text,
        pieces=1 if text else 0,
        finish=choice.get("finish_reason") or "stop",
        usage=data.get("usage") if isinstance(data.get("usage"), dict) else None,
        first_token_at=time.monotonic(),
    )


def _chunk_error(error: Any) -> str:
    return str(error.get("message", error) if isinstance(error, dict) else error)[:300]


def _prefilled(usage: dict[str, Any], timings: dict[str, Any] | None, prompt_tokens: int) -> int:
    """Prompt tokens the engine really computed: vLLM's cached_tokens or llama-server's prompt_n, if told."""
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict) and _int(details.get("cached_tokens")) is not None:
        return max(prompt_tokens - (_int(details.get("cached_tokens")) or 0), 1)
    if timings and _int(timings.get("prompt_n")) is not None:
        return max(_int(timings.get("prompt_n")) or 0, 1)
    return prompt_tokens


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _model_info(settings: RemoteSettings, model_id: str, *, load_seconds: float = 0.0) -> ModelInfo:
    """Name: the served id; device: the engine's host and port; source: its URL, never credentials."""
    parts = urlsplit(settings.url)
    host = parts.hostname or "?"
    endpoint = f"{host}:{parts.port}" if parts.port else host
    return ModelInfo(
        name=_display_name(model_id) or "?",
        source=f"{parts.scheme}://{endpoint}{parts.path}",
        backend="remote",
        device=endpoint,
        dtype="remote",
        context_length=settings.context_length,
        load_seconds=load_seconds,
    )


def _display_name(model_id: str) -> str:
    """A served id as people read it: llama.cpp's servers name the model by its file path."""
    if model_id.startswith(("/", "./", "~")) or "\\" in model_id:
        return PurePosixPath(model_id.replace("\\", "/")).name
    return model_id
