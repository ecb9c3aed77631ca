"""Test doubles for the model: a backend whose answers the test scripts, so repairs can be checked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from bot.model.backend import GenerationRequest, GenerationResult, ModelInfo


class ScriptedBackend:
    """Answers each request with `script(request)`; records every request and the thread it ran on.
    An answer of as many words as the request's max_new_tokens was cut by the limit (finish_reason)."""

    def __init__(self, script: Callable[[GenerationRequest], str], *, delay: float = 0.0) -> None:
        self.script = script
        self.delay = delay
        self.calls: list[list[GenerationRequest]] = []
        self.threads: set[str] = set()
        self.ended: list[str] = []
        self.closed = False
        self.info = ModelInfo("scripted", "test", "scripted", "cpu", "float32", 4096)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        self.threads.add(threading.current_thread().name)
        self.calls.append(list(requests))
        if self.delay:
            time.sleep(self.delay)
        out = []
        for r in requests:
            text = self.script(r)
            prompt = sum(len(m.content.split()) for m in r.messages)
            written = len(text.split())  # a word for a token
            finish = "length" if written >= r.params.max_new_tokens else "stop"
            out.append(GenerationResult(text, prompt, prompt, written, 0.001, 0.001, finish_reason=finish))
        return out

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def end_session(self, session: str) -> None:
        self.ended.append(session)

    def close(self) -> None:
        self.closed = True
