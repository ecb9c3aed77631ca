"""Text measures shared by the digest checks (bot.pipeline.checks) and the quality bench.

Tokenizer for every measure: lower-cased Unicode words (`\\w+`, accents kept, digits kept), so
"modèle" and "modele" differ. ROUGE is computed here (F1 of unigram, bigram and LCS overlap)
rather than with the `rouge-score` package, whose default tokenizer drops accented letters.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"\w+", re.UNICODE)
SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+")

# Common English words that are not also French words: their presence in a part is a stray word.
ENGLISH = frozenset(
    """
    the and of is are was were with this that which what who whom whose these those there their they
    them have has had been being would could should will shall may might must can cannot not but from
    into onto about above below after before because while where when however moreover therefore
    although though also only just very much many more most some any each every other such than then
    it its he she his her him we our you your my us government policy law new debate view views
    example optimistic pessimistic neutral summary factual reference overall key benefits risks
    """.split()
)
FRENCH_HINTS = frozenset(
    "le la les des une est et que qui dans pour du en au aux sur par pas plus ce cette ces son sa ses".split()
)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def copy_rate(text: str, source: str, n: int = 8) -> float:
    """Share of the text's word n-grams that also appear in the source (0 when the text is shorter)."""
    grams = ngrams(words(text), n)
    if not grams:
        return 0.0
    source_grams = set(ngrams(words(source), n))
    return sum(g in source_grams for g in grams) / len(grams)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _f1(overlap: float, candidate: int, reference: int) -> float:
    if overlap == 0 or candidate == 0 or reference == 0:
        return 0.0
    p, r = overlap / candidate, overlap / reference
    return 2 * p * r / (p + r)


def rouge_n(candidate: str, reference: str, n: int) -> float:
    c, r = Counter(ngrams(words(candidate), n)), Counter(ngrams(words(reference), n))
    return _f1(sum((c & r).values()), sum(c.values()), sum(r.values()))


def rouge_l(candidate: str, reference: str) -> float:
    c, r = words(candidate), words(reference)
    return _f1(_lcs(c, r), len(c), len(r))


def stray_english(text: str) -> list[str]:
    """English words in a French text (proper names excepted by the list's construction)."""
    return [w for w in words(text) if w in ENGLISH]


def is_french(text: str) -> bool:
    tokens = words(text)
    if len(tokens) < 5:
        return True
    fr = sum(t in FRENCH_HINTS for t in tokens)
    en = sum(t in ENGLISH for t in tokens)
    return fr > en and en <= max(1, len(tokens) // 50)


_NUMBER = re.compile(r"\d+(?:[.,\s]\d{3})*(?:[.,]\d+)?")
_NAME = re.compile(r"(?<![.!?…]\s)(?<!^)\b([A-ZÀ-ÖØ-Þ][\w’'-]+(?:\s+[A-ZÀ-ÖØ-Þ][\w’'-]+)*)")


def _numbers(text: str) -> set[str]:
    return {re.sub(r"\s", "", m.group(0)).replace(",", ".") for m in _NUMBER.finditer(text)}


def facts(text: str) -> set[str]:
    """Numbers and capitalised names (not at a sentence start) mentioned in a text."""
    found = _numbers(text)
    for sentence in SENTENCE_BREAK.split(text):
        for m in _NAME.finditer(sentence):
            if m.start() > 0:
                found.add(m.group(1).lower())
    return found


@functools.lru_cache(maxsize=8)
def _source_facts(source: str) -> tuple[frozenset[str], str]:
    """An article's numbers and lower-cased text, built once: every sentence of a part is checked against it."""
    return frozenset(_numbers(source)), source.lower()


def _missing(found: set[str], source: str) -> list[str]:
    numbers, lowered = _source_facts(source)
    return sorted(f for f in found if f not in numbers and f not in lowered)


def unsupported(text: str, source: str) -> list[str]:
    """The facts of `text` that `source` does not contain (a number or name the model made up)."""
    return _missing(facts(text), source)


#: Capitalised words before a name that are not part of it.
_NOT_NAMES = frozenset(
    "Le La Les L' Un Une Des Du De En Au Aux À Notre Votre Leur Ce Cette Ces Son Sa Ses Mon Ma Mes "
    "Monsieur Madame Mme M. Saint Sainte".split()
)


@functools.lru_cache(maxsize=8)
def people(source: str) -> frozenset[str]:
    """The names of several capitalised words an article gives ("Nordahl Lelandais"), and their last
    word alone ("Lelandais"): what names its people, unlike a single "Berlin" or "Paris".

    Matched case-sensitively (`names_in`), so the surname "Noir" does not match the colour "noir".
    """
    found: set[str] = set()
    for sentence in SENTENCE_BREAK.split(source):
        for m in _NAME.finditer(sentence):
            parts = m.group(1).split()
            while parts and parts[0] in _NOT_NAMES:  # "La France", "En Europe", "Monsieur Macron"
                parts = parts[1:]
            if m.start() > 0 and len(parts) >= 2 and all(len(w) >= 2 for w in parts):
                found.add(" ".join(parts))
                if len(parts[-1]) >= 4:
                    found.add(parts[-1])
    return frozenset(found)


def names_in(text: str, names: frozenset[str]) -> list[str]:
    """The names of `names` that `text` mentions, as whole words."""
    return sorted(n for n in names if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text))


def unsupported_facts(text: str, source: str) -> tuple[int, int]:
    """(facts in the text absent from the source, facts in the text)."""
    found = facts(text)
    return len(_missing(found, source)), len(found)
