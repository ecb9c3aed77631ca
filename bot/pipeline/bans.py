"""Tokens an answer may not write: the article's people, while the analogy is written.

The analogy transposes the article's stakes to everyday life and names none of its people (its
prompt says so). The embedded model names them anyway now and then, in its body (« … ce homme est
Nordahl Lelandais ») and in its closing question (« … Marine Le Pen … ? »): on 2026-12-06, 2 of 19
analogies were left without their question because the only one the model wrote named someone, and
4 sentences of analogies were dropped for a name. Cleaning afterwards can only drop such a sentence;
barring the first token of each name while the analogy is written makes the model write something
else in its place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bot.model.backend import LogitsHook

#: Words of a name that are no name of their own: « Marine Le Pen », « Ursula von der Leyen ».
_PARTICLES = frozenset("de du des la le les l d van von der den di da del dos y ben bin".split())
#: A token standing for a name's start must hold this many letters of it, unless it is the whole
#: word: Qwen writes « Lelandais » as « Le » + « land » + « ais », and barring « Le » would bar the article.
MIN_PIECE = 4


def name_token_ids(
    names: Iterable[str], tokenize: Callable[[str], list[int]], token_text: Callable[[int], str]
) -> frozenset[int]:
    """The tokens that open the words of `names` (`bot.pipeline.textmetrics.people`), after a space or not.

    A word's first token is barred when it is the whole word or holds at least MIN_PIECE characters
    of it; particles and words of fewer than 3 letters are left alone.
    """
    barred: set[int] = set()
    for word in sorted({w for name in names for w in name.split()}):
        if len(word) < 3 or word.lower() in _PARTICLES or not word[:1].isupper():
            continue
        for text in (f" {word}", word):
            ids = tokenize(text)
            if ids and (len(ids) == 1 or len(token_text(ids[0]).strip()) >= MIN_PIECE):
                barred.add(ids[0])
    return frozenset(barred)


class BarredTokens:
    """A `LogitsHook`: `inner`'s adjustment (the anti-copy hook), then `barred` tokens made impossible.

    `avoided` counts the steps at which a barred token was the best-scored one: names kept out.
    """

    def __init__(self, barred: Iterable[int], inner: LogitsHook | None = None) -> None:
        self.barred = sorted(set(barred))
        self.inner = inner
        self._barred_set = frozenset(self.barred)
        self.avoided = 0

    def __call__(self, token_ids: Sequence[int], scores: Any) -> Any:
        if self.inner is not None:
            returned = self.inner(token_ids, scores)
            if returned is not None:
                scores = returned
        if self.barred:
            if int(scores.argmax()) in self._barred_set:
                self.avoided += 1
            scores[self.barred] = -math.inf  # numpy array or torch tensor: both index in place
        return scores
