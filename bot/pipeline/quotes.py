"""Quotations put back to the article's words.

DIGEST_FORMAT: facts, quotes among them, come from the article only. A digest's quotation marks
promise the article's own words, and the embedded model keeps that promise 98 times in 110 (the 50
OrangeSum digests of 2026-12-07); it breaks it by one word in a quotation it otherwise copies: « un
moment de grande quality et de grande courtoisie » (the article: « qualité »), « Rien que pour les
yeux » for the Bond film « Rien que pour vos yeux », « clip postés sur YouTube » (« posté »). Where a
quotation of three words or more differs from one passage of the article, of as many words, by one
word in five at most, the passage's words replace it (`mend_quotes`).

And once in those 50 digests (orangesum-24, the same in every run of the week), the recap came out
whole inside quotation marks, as if the article said it: the model's own text, quoted. Such a
paragraph loses the outer pair (`unwrap_quoted_paragraphs`).
"""

from __future__ import annotations

import re

from bot.pipeline.textmetrics import SENTENCE_BREAK, WORD, words

#: A quotation: « … », “ … ” or "…" on one line (the pairs textmetrics ignores as quoted titles).
_QUOTATION = re.compile(r"(«\s*)([^»]*?)(\s*»)|(“)([^”]*)(”)|(\")([^\"\n]*)(\")")
_BREAK = re.compile(r"[\n\"«»“”]|[.!?…]\s")
#: Shortest quotation mended: two words differing by one are too often two different phrases.
MENDED_MIN_WORDS = 3
#: Longest: past a sentence's length, "quotation marks" are more likely two quotations' marks paired
#: wrongly, and the text between them the digest's own, close to the article only by copying it.
MENDED_MAX_WORDS = 25
#: At most one word in this many may differ (at least one may).
MENDED_WORDS_PER_SLIP = 5


def _slips_allowed(length: int) -> int:
    return max(1, length // MENDED_WORDS_PER_SLIP)


def _passage(quoted: list[str], article_words: list[str]) -> int | None:
    """The index of the one article passage, as long as `quoted`, that differs from it by the fewest
    words, within the slips allowed; None when there is none, or two different ones."""
    n = len(quoted)
    allowed = _slips_allowed(n)
    best: tuple[int, int] | None = None  # (slips, start)
    tie = False
    for start in range(len(article_words) - n + 1):
        slips = 0
        window = article_words[start : start + n]
        if window[0] != quoted[0] or window[-1] != quoted[-1]:
            continue  # the ends anchor the passage: « les enjeux » is not « aux enjeux »
        for a, b in zip(quoted, window, strict=True):
            slips += a != b
            if slips > allowed:
                break
        else:
            if best is None or slips < best[0]:
                best, tie = (slips, start), False
            elif slips == best[0] and window != article_words[best[1] : best[1] + n]:
                tie = True
    return None if best is None or tie else best[1]


def mend_quotes(text: str, article: str) -> tuple[str, int]:
    """`text` with each quotation that misquotes the article by a word or so given the article's
    words; returns (text, quotations mended). Quotations found in the article (words compared
    lower-cased, punctuation aside), shorter than MENDED_MIN_WORDS or close to no passage stay."""
    matches = list(WORD.finditer(article))
    article_words = [m.group(0).lower() for m in matches]
    joined = f" {' '.join(article_words)} "
    mended = 0

    def mend(m: re.Match[str]) -> str:
        nonlocal mended
        groups = [g for g in m.groups() if g is not None]
        opening, inner, closing = groups
        quoted = words(inner)
        if not MENDED_MIN_WORDS <= len(quoted) <= MENDED_MAX_WORDS or f" {' '.join(quoted)} " in joined:
            return m.group(0)
        if opening == '"' and not (
            _OPENING_STRAIGHT.match(text, m.start()) and _CLOSING_STRAIGHT.match(text, m.end() - 1)
        ):
            return m.group(0)  # the closing mark of one quotation and the opening one of the next
        start = _passage(quoted, article_words)
        if start is None:
            return m.group(0)
        passage = article[matches[start].start() : matches[start + len(quoted) - 1].end()]
        if _BREAK.search(passage):
            return m.group(0)  # a passage across a quotation mark or a sentence's end is no quotation
        first = WORD.search(inner)
        if first is not None and passage[: first.end() - first.start()].lower() == first.group(0).lower():
            passage = first.group(0) + passage[first.end() - first.start() :]  # « un moment » stays lower-case
        mended += 1
        return f"{opening}{passage}{closing}"

    return _QUOTATION.sub(mend, text), mended


_OPENING_STRAIGHT = re.compile(r'(?:^|(?<=[\s(\[]))"(?=\S)')
_CLOSING_STRAIGHT = re.compile(r'(?<=\S)"(?=[\s.,;:!?…)\]]|$)')
_WRAPPED = re.compile(r'^(?P<open>["«“])\s*(?P<inner>.+?)\s*(?P<close>["»”])(?P<end>[.!?…]?)$', re.DOTALL)
_PAIRS = {'"': '"', "«": "»", "“": "”"}
#: Someone speaking: a quotation (« "Je n'imaginais pas divorcer au bout de cinq ans. Je me suis pris
#: une claque" », a human summary of OrangeSum), not the digest's voice, which speaks of people in the
#: third person.
_SPEAKING = frozenset("je j me m moi mon ma mes nous notre nos vous votre vos tu te t toi ton ta tes on".split())
#: A quotation of one sentence is more often someone's words the summary quotes (with a slip, or
#: it would be found in the article) than the model's own text in quotation marks; orangesum-24's
#: quoted recap had four sentences.
UNWRAPPED_MIN_SENTENCES = 2


def _straight_quotes_pair(text: str) -> bool:
    """Whether every straight quotation mark of `text` opens or closes in turn: "a" b "c" does,
    a" b "c does not (the first and last marks of such a text are not one quotation)."""
    expect_open = True
    for i, char in enumerate(text):
        if char != '"':
            continue
        pattern = _OPENING_STRAIGHT if expect_open else _CLOSING_STRAIGHT
        if not pattern.match(text, i):
            return False
        expect_open = not expect_open
    return expect_open


def unwrap_quoted_paragraphs(text: str, article: str) -> tuple[str, int]:
    """`text` with the quotation marks taken off a paragraph that is one quotation of words the
    article does not hold (the model quoting itself); returns (text, paragraphs unwrapped).

    A paragraph quoting the article word for word keeps its marks (copying is the checks' concern),
    and so does one whose first and last marks are two quotations (« "Oui", dit-il, "maintenant" »).
    """
    joined = f" {' '.join(words(article))} "
    unwrapped = 0
    out: list[str] = []
    for paragraph in text.split("\n"):
        m = _WRAPPED.match(paragraph.strip())
        if m and _PAIRS[m["open"]] == m["close"]:
            inner = m["inner"]
            balanced = (
                _straight_quotes_pair(inner)
                if m["open"] == '"'
                else inner.count(m["open"]) == inner.count(m["close"]) and m["close"] not in inner.split(m["open"])[0]
            )
            said = words(inner)
            if (
                balanced
                and len(SENTENCE_BREAK.split(inner)) >= UNWRAPPED_MIN_SENTENCES
                and not _SPEAKING.intersection(said)
                and f" {' '.join(said)} " not in joined
            ):
                out.append(f"{inner}{m['end']}")
                unwrapped += 1
                continue
        out.append(paragraph)
    return "\n".join(out), unwrapped
