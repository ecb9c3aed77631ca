"""Anti-copy decoding: a logits hook that stops the model pasting long runs of the article.

Why (issue #6, measured on the embedded 1.5B model): asked to summarise, a small model copies whole
sentences of its source. llama.cpp's repeat/frequency penalties only look at the last 64 generated
tokens, so they cannot see the article. This hook indexes every run of `span - 1` tokens of the
sources (the article as the model read it, and the digest's earlier parts); whenever the last
`span - 1` generated tokens equal such a run, the tokens that continued it in a source get their
score lowered by `strength`, so the model has to leave the copied track and reformulate.
The text being generated is a source too: greedy decoding of a small model otherwise loops, writing
the same sentence two or three times in one part (seen in the first quality run).

Two exemptions keep the text correct, which a plain n-gram ban does not (a strong ban produced
misspellings and stray English words in the prototype):
- a token that continues a word (no leading space) is never penalised, so a word is never broken
  off half-written;
- a word that starts with a capital letter or a digit is never penalised, so proper names and
  figures are quoted exactly (the unsupported-facts measure wants them verbatim).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_SPAN = 6
DEFAULT_STRENGTH = 4.0
#: The answer's own runs get this share of the strength: at full strength the model escaped its loops
#: by near-copies with stray English words ("judges", "also"); bot.pipeline.postprocess drops what loops.
OWN_SHARE = 0.5


class Tokenizing(Protocol):
    """What a backend offers for the hook to be built (local backends do; a remote engine does not)."""

    def tokenize(self, text: str) -> list[int]: ...

    def token_text(self, token_id: int) -> str: ...


@dataclass
class AntiCopyStats:
    steps: int = 0  # decoding steps seen
    hits: int = 0  # steps where the recent tokens were a copied run
    penalised: int = 0  # token scores lowered, in all


class AntiCopyHook:
    """The `LogitsHook` (see bot.model.backend): penalises tokens that would extend a copied run."""

    def __init__(
        self,
        sources: Iterable[Sequence[int]],
        token_text: Callable[[int], str],
        *,
        span: int = DEFAULT_SPAN,
        strength: float = DEFAULT_STRENGTH,
    ) -> None:
        if span < 2:
            raise ValueError("span must be at least 2 tokens")
        self.span = span
        self.strength = float(strength)
        self._key = span - 1
        self._token_text = token_text
        self._exempt: dict[int, bool] = {}
        self._next: dict[tuple[int, ...], set[int]] = {}
        # The answer being generated, indexed as it grows (reset when a new answer starts).
        self._own: dict[tuple[int, ...], set[int]] = {}
        self._own_indexed = 0
        self.stats = AntiCopyStats()
        for ids in sources:
            self.add_source(ids)

    def add_source(self, ids: Sequence[int]) -> None:
        """Index one more text (e.g. a part just written) as something not to copy."""
        k = self._key
        for i in range(len(ids) - k):
            self._next.setdefault(tuple(ids[i : i + k]), set()).add(ids[i + k])

    def __call__(self, token_ids: Sequence[int], scores: Any) -> Any:
        self.stats.steps += 1
        k = self._key
        if self.strength <= 0 or len(token_ids) < k:
            self._own.clear()
            self._own_indexed = 0
            return scores
        self._index_own(token_ids)
        key = tuple(token_ids[-k:])
        from_sources = self._next.get(key, set())
        from_own = self._own.get(key, set()) - from_sources
        if not from_sources and not from_own:
            return scores
        self.stats.hits += 1
        for followers, strength in ((from_sources, self.strength), (from_own, self.strength * OWN_SHARE)):
            banned = sorted(t for t in followers if not self._is_exempt(t))
            if banned:
                self.stats.penalised += len(banned)
                scores[banned] -= strength  # numpy array or torch tensor: both index in place
        return scores

    def _index_own(self, token_ids: Sequence[int]) -> None:
        """Index the runs of the answer so far that are complete (a run and the token after it)."""
        k = self._key
        if len(token_ids) < self._own_indexed:  # a new answer: the previous one's index is stale
            self._own.clear()
            self._own_indexed = 0
        # Runs starting at i with their follower at i + k, all before the current position.
        for i in range(max(0, self._own_indexed - k), len(token_ids) - k):
            self._own.setdefault(tuple(token_ids[i : i + k]), set()).add(token_ids[i + k])
        self._own_indexed = len(token_ids)

    def _is_exempt(self, token: int) -> bool:
        known = self._exempt.get(token)
        if known is None:
            known = self._exempt[token] = is_free_token(self._token_text(token))
        return known


def is_free_token(text: str) -> bool:
    """True for a token the hook never penalises: one continuing a word, or a name or a figure."""
    if not text[:1].isspace():
        # Continues the word in progress, or punctuation glued to it: never cut a word in two.
        return True
    first = text.lstrip()[:1]
    return first.isupper() or first.isdigit()


def build_anticopy(
    backend: object, sources: Iterable[str], *, span: int = DEFAULT_SPAN, strength: float = DEFAULT_STRENGTH
) -> AntiCopyHook | None:
    """The hook for `backend`, or None when the backend cannot tokenize here (a remote engine)."""
    tokenize = getattr(backend, "tokenize", None)
    token_text = getattr(backend, "token_text", None)
    if tokenize is None or token_text is None or strength <= 0:
        return None
    return AntiCopyHook((tokenize(text) for text in sources if text), token_text, span=span, strength=strength)
