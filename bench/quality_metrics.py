"""Digest quality metrics (issue #6), importable by bench/quality.py and by the unit tests.

Tokenizer for every metric: lower-cased Unicode words (`\\w+`, accents kept, digits kept), so
"modèle" and "modele" differ. ROUGE is computed here (F1 of unigram, bigram and LCS overlap)
rather than with the `rouge-score` package, whose default tokenizer drops accented letters.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.types import Digest, Part
from bot.pipeline.postprocess import ECHO_NGRAM  # the run of words the summarizer calls an echo
from bot.pipeline.summarize import FORCED_OPENINGS, ends_on_question
from bot.pipeline.textmetrics import (
    FOREIGN,
    FRENCH_HINTS,
    SENTENCE_BREAK,
    copy_rate,
    facts,
    first_person,
    grounded_share,
    is_french,
    ngrams,
    rouge_l,
    rouge_n,
    stray_foreign,
    truncated_words,
    unknown_words,
    unsupported_facts,
    words,
)

__all__ = [
    "ECHO_NGRAM",
    "FOREIGN",
    "FRENCH_HINTS",
    "copy_rate",
    "facts",
    "grounded_share",
    "is_french",
    "ngrams",
    "rouge_l",
    "rouge_n",
    "stray_foreign",
    "unsupported_facts",
    "words",
]


def bullet_lines(text: str) -> int:
    return sum(bool(re.match(r"^\s*(?:[-*•]|\d+[.)])\s+", line)) for line in text.splitlines())


VIEW_PARTS = (Part.RECAP, Part.NEUTRE, Part.EXEMPLE, Part.OPTIMISTE, Part.PESSIMISTE)

HEADINGS = [p.heading for p in Part if p.heading]


def pair_name(a: Part, b: Part) -> str:
    """A pair of parts as printed: « recap–neutre »."""
    return f"{a.name.lower()}–{b.name.lower()}"


def structure_ok(markdown: str) -> bool:
    """Every heading of DIGEST_FORMAT.md present exactly once, in order, after a non-empty hook."""
    positions = []
    for heading in HEADINGS:
        marker = f"**{heading}**"
        if markdown.count(marker) != 1:
            return False
        positions.append(markdown.index(marker))
    hook = markdown[: positions[0]].strip()
    return bool(hook) and positions == sorted(positions)


@dataclass
class DigestScores:
    structure: bool
    french_parts: int  # parts judged French (out of 6 written parts)
    stray_words: list[str]
    copy_overall: float
    copy_recap: float
    copy_by_part: dict[str, float]
    pair_rouge_l: dict[str, float]  # ROUGE-L of each pair of VIEW_PARTS, by pair_name
    unsupported: int
    facts: int
    bullets: int
    hook_chars: int
    question_end: bool  # the analogy ends on its open question (DIGEST_FORMAT.md)
    hook_grounded: float  # grounded_share of the hook in the article and the recap
    views_grounded: float  # ...of the neutral, optimistic and pessimistic views together
    unknown_words: list[str]  # words French does not know, absent from the article (misspellings)
    cut_words: list[str]  # sentence-final words cut short ("… pas oblig."), by the article and the other parts
    words: int  # words of the written parts
    echoed: dict[str, int]  # per part, its word 5-grams an instruction holds (echoed_instruction)
    first_person: int  # parts speaking as « je » outside a quotation (textmetrics.first_person)

    @property
    def max_pair_rouge_l(self) -> float:
        """ROUGE-L of the closest pair of parts."""
        return max(self.pair_rouge_l.values())

    @property
    def opt_vs_pess(self) -> float:
        return self.pair_rouge_l[pair_name(Part.OPTIMISTE, Part.PESSIMISTE)]


def score_digest(
    digest: Digest, markdown: str, source: str, instruction_grams: set[tuple[str, ...]] | None = None
) -> DigestScores:
    """`instruction_grams`: the prompts' n-grams (instruction_ngrams), for `echoed`; none: nothing echoed."""
    written = [p for p in Part if p is not Part.REFERENCE]
    texts = {p: digest.parts[p] for p in written}
    stray = [w for p in written for w in stray_foreign(texts[p])]
    all_text = "\n".join(texts.values())
    pairs = [(a, b) for i, a in enumerate(VIEW_PARTS) for b in VIEW_PARTS[i + 1 :]]
    missing, total = unsupported_facts(texts[Part.RECAP], source)
    return DigestScores(
        structure=structure_ok(markdown),
        french_parts=sum(is_french(texts[p]) for p in written),
        stray_words=stray,
        copy_overall=copy_rate(all_text, source),
        copy_recap=copy_rate(texts[Part.RECAP], source),
        copy_by_part={p.name.lower(): copy_rate(texts[p], source) for p in written},
        pair_rouge_l={pair_name(a, b): rouge_l(texts[a], texts[b]) for a, b in pairs},
        unsupported=missing,
        facts=total,
        bullets=sum(bullet_lines(t) for t in texts.values()),
        hook_chars=len(texts[Part.ACCROCHE]),
        question_end=ends_on_question(texts[Part.EXEMPLE]),
        hook_grounded=grounded_share(texts[Part.ACCROCHE], source, texts[Part.RECAP]),
        views_grounded=grounded_share(
            "\n".join(texts[p] for p in (Part.NEUTRE, Part.OPTIMISTE, Part.PESSIMISTE)), source, texts[Part.RECAP]
        ),
        unknown_words=[w for p in written for w in unknown_words(texts[p], source)],
        cut_words=[
            w
            for p in written
            for w in truncated_words(texts[p], "\n".join([source, *(texts[o] for o in written if o is not p)]))
        ],
        words=len(words(all_text)),
        echoed={p.name.lower(): echoed_instruction(texts[p], instruction_grams or set()) for p in written},
        first_person=sum(bool(first_person(texts[p])) for p in written),
    )


def lead_n(text: str, n: int = 3) -> str:
    return " ".join(SENTENCE_BREAK.split(text.strip())[:n])


def mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else 0.0


_PLACEHOLDER = re.compile(r"\{\w+\}")


def instruction_ngrams(templates: Iterable[str], n: int = ECHO_NGRAM) -> set[tuple[str, ...]]:
    """The word n-grams of the prompt templates, none of them spanning a `{placeholder}`."""
    return {g for t in templates for piece in _PLACEHOLDER.split(t) for g in ngrams(words(piece), n)}


def echoed_instruction(text: str, instruction_grams: set[tuple[str, ...]], n: int = ECHO_NGRAM) -> int:
    """How many of the text's word n-grams an instruction holds: the model restating what it was asked
    (« La tension entre les positions en présence est palpable »), filler a reader sees through."""
    return sum(g in instruction_grams for g in ngrams(words(text), n))


OPENING_WORDS = 4


# The words the code makes a part open with (FORCED_OPENINGS), and "Imaginez" without "que" (an
# analogy variant of bench/part_ab.py).
_FORCED = re.compile(
    r"^\s*(?:" + "|".join(re.escape(words.lower()) for words in FORCED_OPENINGS.values()) + r"|imaginez)(?!\w)"
)


def opening(text: str) -> str:
    """A part's first words, lower-cased, the words the code forced skipped (the analogy's "Imaginez" or
    "Imaginez que", the neutral view's "D'un côté,")."""
    return " ".join(_FORCED.sub("", text.lower()).split()[:OPENING_WORDS])


def shared_opening(texts: list[str]) -> tuple[str, int]:
    """The opening most of `texts` share and how many do: a stock phrase, often seeded by a prompt's words."""
    counts = Counter(key for key in map(opening, texts) if key)
    if not counts:
        return "", 0
    top = max(counts, key=lambda k: (counts[k], k))
    return top, counts[top]
