"""Fit a long article into the model's budget by keeping its most salient sentences.

Nothing is cut silently: every stretch of the article contributes sentences (the article is split
into as many sections as the budget allows and each section keeps its best ones), the selection keeps
the original order, and gaps are marked "[…]" so the model knows the text was condensed.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

#: A sentence ends at . ! ? … (or a closing quote after one) before a space and a capital, a digit or an
#: opening quote; or, as in agency copy run together, right before a capital or a quote glued to it
#: (`artificiels.Confronté`, `indienne."Nous`).
_SENTENCE_END = re.compile(
    r"(?<=[.!?…»\"])\s+(?=[«\"A-ZÀ-ÖØ-Þ0-9])"
    r"|(?<=[a-zà-öø-ÿ0-9)][.!?…])(?=[«\"]?[A-ZÀ-ÖØ-Þ])"
)
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)

# Frequent French/English function words: they say nothing about what a sentence is about.
_STOP = frozenset(
    """
    a à au aux avec ce ces cet cette ci dans de des du elle elles en et eux il ils je la le les leur leurs
    lui ma mais me même mes moi mon ne nos notre nous on ou où par pas pour qu que qui sa se ses son sur
    ta te tes toi ton tu un une vos votre vous y été être avoir est sont était ont fait plus comme aussi
    dont tout tous toute toutes si sans sous entre après avant encore déjà très bien peut d l s n c j m t
    qu' alors donc ainsi cela ça celui celle ceux selon chez vers lors depuis ils elles leur
    the of and to in is that for on with as was by it be are this from at an or have has not which
    """.split()
)


@dataclass(frozen=True, slots=True)
class Condensed:
    text: str
    condensed: bool  # False when the whole article fit
    kept_sentences: int
    total_sentences: int
    tokens: int


def split_sentences(text: str) -> list[str]:
    """Sentences of a text, paragraph breaks respected."""
    sentences: list[str] = []
    for para in re.split(r"\n\s*\n|\n", text):
        para = para.strip()
        if para:
            sentences.extend(s.strip() for s in _SENTENCE_END.split(para) if s.strip())
    return sentences


#: French elisions glued to the next word: "l’État" is the word "état", "d’une" the stop word "une".
ELISION = re.compile(r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu)['’]", re.IGNORECASE)


def content_words(text: str) -> list[str]:
    """The words a sentence is about (lower case, elision removed, no function words)."""
    found = (ELISION.sub("", m.group(0).lower()).replace("’", "'") for m in _WORD.finditer(text))
    return [w for w in found if w not in _STOP and len(w) > 2]


def condense(text: str, budget_tokens: int, count_tokens: Callable[[str], int]) -> Condensed:
    """The article itself if it fits in `budget_tokens`, else its first sentence and its salient
    sentences, in order."""
    total = count_tokens(text)
    sentences = split_sentences(text)
    if total <= budget_tokens:
        return Condensed(text, False, len(sentences), len(sentences), total)
    costs = [max(1, count_tokens(s)) for s in sentences]
    scores = _salience(sentences)
    # One section per ~4 sentences the budget can hold, so every part of the article has a voice.
    avg_cost = sum(costs) / len(costs)
    capacity = max(1, int(budget_tokens / avg_cost))
    n_sections = max(1, min(len(sentences), math.ceil(capacity / 4)))
    bounds = [round(i * len(sentences) / n_sections) for i in range(n_sections + 1)]
    share = budget_tokens / n_sections
    chosen: set[int] = set()
    used = 0
    # The lede: news says what happened in its first sentence, which centrality can rank low (a quote,
    # a name said once). Kept first when it costs at most a quarter of the budget.
    if costs[0] <= budget_tokens / 4:
        chosen.add(0)
        used = costs[0]
    leftovers: list[int] = []
    for a, b in itertools.pairwise(bounds):
        ranked = sorted((i for i in range(a, b) if i not in chosen), key=lambda i: -scores[i])
        spent = float(used) if a == 0 else 0.0
        for i in ranked:
            if spent + costs[i] <= share and used + costs[i] <= budget_tokens:
                chosen.add(i)
                spent += costs[i]
                used += costs[i]
            else:
                leftovers.append(i)
    # Fill what the sections left over with the best remaining sentences anywhere.
    for i in sorted(leftovers, key=lambda i: -scores[i]):
        if used + costs[i] <= budget_tokens:
            chosen.add(i)
            used += costs[i]
    if not chosen:  # a single sentence longer than the budget: keep its start, marked
        first = sentences[0]
        words = first.split()
        keep = max(1, int(len(words) * budget_tokens / costs[0]))
        clipped = " ".join(words[:keep]) + " […]"
        return Condensed(clipped, True, 1, len(sentences), count_tokens(clipped))
    pieces: list[str] = []
    previous = -1
    for i in sorted(chosen):
        if previous >= 0 and i != previous + 1:
            pieces.append("[…]")
        pieces.append(sentences[i])
        previous = i
    if previous != len(sentences) - 1:
        pieces.append("[…]")
    out = "\n".join(pieces)
    return Condensed(out, True, len(chosen), len(sentences), count_tokens(out))


def _salience(sentences: list[str]) -> list[float]:
    """Centrality of each sentence: mean document frequency of its content words, plus a lead bonus."""
    words = [content_words(s) for s in sentences]
    df = Counter(w for ws in words for w in set(ws))
    scores = []
    for i, ws in enumerate(words):
        if not ws:
            scores.append(0.0)
            continue
        centrality = sum(math.log1p(df[w]) for w in ws) / math.sqrt(len(ws))
        lead = 1.5 if i < 3 else 1.0  # news puts the essentials first
        numbers = 1.1 if re.search(r"\d", sentences[i]) else 1.0  # figures are facts worth keeping
        scores.append(centrality * lead * numbers)
    return scores
