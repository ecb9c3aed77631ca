"""A model-free backend that answers with sentences of the article, for fast pipeline tests."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Sequence

from bot.errors import ModelError
from bot.model.backend import GenerationRequest, GenerationResult, Message, ModelInfo

#: Markers of prompts/fr/article.md: the article is what lies between them, when present.
ARTICLE_START = "--- DÉBUT DE L'ARTICLE ---"
ARTICLE_END = "--- FIN DE L'ARTICLE ---"

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_MAX_ARTICLES = 64


class EchoBackend:
    """Deterministic stand-in for a model: one whitespace word is one token.

    The answer to a request is made of sentences of the first user message's article, starting
    at a sentence that moves with each new instruction asked about that article (its rank among
    them), so the parts differ whichever turns the conversation keeps, and a retry of the same
    instruction gets the same answer.
    With `echo_instruction`, the first sentence of the last instruction comes first, so tests can
    see which prompt produced which text. `delay` sleeps that many seconds per request (to test
    the runner). Every request seen is appended to `calls`, every batch size to `batches`.
    """

    def __init__(self, *, delay: float = 0.0, echo_instruction: bool = False, max_sessions: int = 4) -> None:
        self.info = ModelInfo(
            name="echo", source="echo", backend="echo", device="cpu", dtype="none", context_length=1_000_000
        )
        self.delay = delay
        self.echo_instruction = echo_instruction
        self.max_sessions = max_sessions
        self.calls: list[GenerationRequest] = []
        self.batches: list[int] = []
        self.closed = False
        # Per session, the words "in the cache" after the last turn, to report new_prompt_tokens
        # the way a KV-reusing backend would.
        self._sessions: OrderedDict[str, list[str]] = OrderedDict()
        # Per article (first user message), the rank of each instruction in the order first seen;
        # the articles least recently asked about are forgotten past _MAX_ARTICLES.
        self._ranks: OrderedDict[str, dict[str, int]] = OrderedDict()

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Answer each request with article sentences, honouring max_new_tokens and stop strings."""
        if self.closed:
            raise ModelError("the echo backend is closed")
        self.batches.append(len(requests))
        results = []
        for request in requests:
            self.calls.append(request)
            if self.delay:
                time.sleep(self.delay)
            results.append(self._answer(request))
        return results

    def _answer(self, request: GenerationRequest) -> GenerationResult:
        params = request.params
        words = self._compose(request.messages).split()
        finish: str = "stop"
        if len(words) > params.max_new_tokens:
            words = words[: params.max_new_tokens]
            finish = "length"
        text = " ".join(words)
        for stop in params.stop:
            cut = text.find(stop) if stop else -1
            if cut >= 0:
                text = text[:cut]
                finish = "stop"
        # A real model continues the forced prefix, so its answer starts with a space after a word.
        if request.assistant_prefix and not request.assistant_prefix[-1].isspace() and text:
            text = " " + text

        prompt = _prompt_words(request.messages, request.assistant_prefix)
        new_prompt = len(prompt)
        if request.session is not None:
            cached = self._sessions.pop(request.session, [])
            new_prompt = len(prompt) - _common_prefix(cached, prompt)
            self._sessions[request.session] = prompt + text.split()
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return GenerationResult(
            text=text,
            prompt_tokens=len(prompt),
            new_prompt_tokens=max(new_prompt, 1),
            completion_tokens=len(text.split()),
            prefill_seconds=0.0,
            decode_seconds=self.delay,  # the configured delay, not measured: results stay comparable
            finish_reason="length" if finish == "length" else "stop",
        )

    def _compose(self, messages: Sequence[Message]) -> str:
        users = [m.content for m in messages if m.role == "user"]
        if not users:
            return ""
        article, first_instruction = _split_article(users[0])
        instruction = users[-1] if len(users) > 1 else first_instruction
        sentences = _sentences(article)
        # By the article, not the first message: a first turn asked again (the recap's retry, its
        # advice added after the instruction) is another instruction on the same article, and must
        # not get the first attempt's answer.
        ranks = self._ranks.pop(article, {})
        self._ranks[article] = ranks
        if len(self._ranks) > _MAX_ARTICLES:
            self._ranks.popitem(last=False)
        rank = ranks.setdefault(instruction, len(ranks))
        parts: list[str] = []
        if self.echo_instruction:
            parts.extend(_sentences(instruction)[:1])
        if sentences:
            start = (rank * 2) % len(sentences)
            parts.extend(sentences[start:] + sentences[:start])
        return " ".join(parts)

    def count_tokens(self, text: str) -> int:
        """Whitespace-separated words in `text`."""
        return len(text.split())

    def end_session(self, session: str) -> None:
        """Forget the session's simulated cache."""
        self._sessions.pop(session, None)

    def close(self) -> None:
        """Mark the backend closed; later generate calls raise."""
        self.closed = True
        self._sessions.clear()


def _split_article(content: str) -> tuple[str, str]:
    """(article, instruction) of a first user message; the whole message is the article without markers."""
    start = content.find(ARTICLE_START)
    end = content.find(ARTICLE_END)
    if start < 0 or end < start:
        return content, ""
    return content[start + len(ARTICLE_START) : end], content[end + len(ARTICLE_END) :]


def _sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(" ".join(text.split()))) if s]


def _prompt_words(messages: Sequence[Message], prefix: str) -> list[str]:
    words: list[str] = []
    for message in messages:
        words.append(f"<{message.role}>")
        words.extend(message.content.split())
    words.append("<assistant>")
    words.extend(prefix.split())
    return words


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
