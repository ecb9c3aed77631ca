"""Tokens an answer may not write: the article's people, while the analogy is written.

The analogy transposes the article's stakes to everyday life and names none of its people (its
prompt says so). The embedded model names them anyway now and then, in its body (« … ce homme est
Nordahl Lelandais ») and in its closing question (« … Marine Le Pen … ? »): on 2026-12-06, 2 of 19
analogies were left without their question because the only one the model wrote named someone, and
4 sentences of analogies were dropped for a name. Cleaning afterwards can only drop such a sentence;
barring the first token of each name while the analogy is written (or its second, after a short
first piece) makes the model write something else in its place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bot.model.backend import LogitsHook

#: Words of a name that are no name of their own: « Marine Le Pen », « Ursula von der Leyen ».
_PARTICLES = frozenset("de du des la le les l d van von der den di da del dos y ben bin".split())
#: A token standing for a name's start must hold this many letters of it, unless it is the whole
#: word: Qwen writes « Lelandais » as « Le » + « land » + « ais », and barring « Le » would bar the article.
MIN_PIECE = 4


@dataclass(frozen=True, slots=True)
class NameBar:
    """What an answer may not write: `tokens` anywhere, and `after[t]` right after the token `t`."""

    tokens: frozenset[int] = frozenset()
    after: Mapping[int, frozenset[int]] = field(default_factory=lambda: MappingProxyType({}))

    def __bool__(self) -> bool:
        return bool(self.tokens or self.after)


#: No token barred: the parts written with names allowed.
NO_BAR = NameBar()


def name_bar(names: Iterable[str], tokenize: Callable[[str], list[int]], token_text: Callable[[int], str]) -> NameBar:
    """The tokens that open the words of `names` (`bot.pipeline.textmetrics.people`), after a space or not.

    A word's first token is barred when it is the whole word or holds at least MIN_PIECE characters
    of it. When it is a shorter piece (« Le » of « Lelandais », « Mac » of « Macron »), the word's
    second token is barred right after it instead, if the two hold MIN_PIECE letters and the second
    at least two: « Le » stays free, « Le » + « land » does not. Particles and words of fewer than 3
    letters are left alone.
    """
    barred: set[int] = set()
    after: dict[int, set[int]] = {}
    for word in sorted({w for name in names for w in name.split()}):
        if len(word) < 3 or word.lower() in _PARTICLES or not word[:1].isupper():
            continue
        for text in (f" {word}", word):
            ids = tokenize(text)
            if not ids:
                continue
            first = token_text(ids[0]).strip()
            if len(ids) == 1 or len(first) >= MIN_PIECE:
                barred.add(ids[0])
                continue
            second = token_text(ids[1])
            if first.isalpha() and second.isalpha() and len(second) >= 2 and len(first + second) >= MIN_PIECE:
                after.setdefault(ids[0], set()).add(ids[1])
    return NameBar(frozenset(barred), MappingProxyType({t: frozenset(n) for t, n in after.items()}))


class BarredTokens:
    """A `LogitsHook`: `inner`'s adjustment (the anti-copy hook), then `bar`'s tokens made impossible.

    `avoided` counts the steps at which a barred token was the best-scored one: names kept out.
    """

    def __init__(self, bar: NameBar, inner: LogitsHook | None = None) -> None:
        self.bar = bar
        self.inner = inner
        self._always = sorted(bar.tokens)
        self.avoided = 0

    def __call__(self, token_ids: Sequence[int], scores: Any) -> Any:
        if self.inner is not None:
            returned = self.inner(token_ids, scores)
            if returned is not None:
                scores = returned
        now = self._always
        if token_ids and token_ids[-1] in self.bar.after:
            now = sorted({*now, *self.bar.after[token_ids[-1]]})
        if now:
            if int(scores.argmax()) in now:
                self.avoided += 1
            scores[now] = -math.inf  # numpy array or torch tensor: both index in place
        return scores
