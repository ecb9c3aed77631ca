"""Text measures shared by the digest checks (bot.pipeline.checks) and the quality bench.

Tokenizer for every measure: lower-cased Unicode words (`\\w+`, accents kept, digits kept), so
"modèle" and "modele" differ. ROUGE is computed here (F1 of unigram, bigram and LCS overlap)
rather than with the `rouge-score` package, whose default tokenizer drops accented letters.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from wordfreq import zipf_frequency

#: A word of every measure here (`words`), and of the code that needs its place in the text too.
WORD = re.compile(r"\w+", re.UNICODE)
SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+")

# Common English words that are not also French words: their presence in a part is a stray word.
# ("but" is not one: "le but", "dans le but de" are French.)
ENGLISH = frozenset(
    """
    the and of is are was were with this that which what who whom whose these those there their they
    them have has had been being would could should will shall may might must can cannot not from
    into onto about above below after before because while where when however moreover therefore
    although though also only just very much many more most some any each every other such than then
    it its he she his her him we our you your my us government policy law new debate view views
    example optimistic pessimistic neutral summary factual reference overall key benefits risks
    """.split()
)
# Common German words that are not also French words ("mit", "es" and "uns" are: "il mit", "tu es", "les uns").
GERMAN = frozenset(
    """
    und der die das den dem des ist sind nicht ich bin wird werden wurde ein eine einen einem einer
    zum zur vom bei nach über für auf auch oder aber wie wir sie er ihr noch schon sehr jetzt
    diese dieser dieses kann hat haben wenn dass weil nur mehr
    """.split()
)
FOREIGN = ENGLISH | (GERMAN - {"des"})  # "des" is French too
FRENCH_HINTS = frozenset(
    "le la les des une est et que qui dans pour du en au aux sur par pas plus ce cette ces son sa ses".split()
)
#: French words, and loanwords French uses, that English or German use far more often, so that
#: their frequencies alone would call them foreign: "il dort", "les uns", "il nie", "in extremis",
#: "numéro bis", "alter ego", "sonner le glas", "un tag", "un look".
FRENCH_TOO = frozenset(
    "in uns mit dort nie bis argue alter glas ersatz tag mag set look hit shot single best fan".split()
)
#: Lower-case words inside a name ("Ursula von der Leyen", "Journal of Economic Literature").
NAME_PARTICLES = frozenset("von van der den das dos di da del della zu ter ten bin ibn of and for the on at to".split())
#: A word is foreign when English or German use it at least once per million words (Zipf 3) and
#: about 30 times (1.5 on the Zipf scale) more often than French does. Frequencies: wordfreq,
#: French's large list (rare French words must be known), English's and German's small lists
#: (nothing below Zipf 3 matters; 40 MB and 0.7 s to load, instead of 160 MB and 1.9 s).
FOREIGN_FLOOR = 3.0
FOREIGN_MARGIN = 1.5
_QUOTED = re.compile(r"«[^»]*»|“[^”]*”|\"[^\"\n]*\"")


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


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
    return rouge_l_with_precision(candidate, reference)[0]


def rouge_l_with_precision(candidate: str, reference: str) -> tuple[float, float]:
    """ROUGE-L's F-measure, and its precision: the share of `candidate`'s words in its longest common
    subsequence with `reference`, how much of a short sentence a long one already holds, which the
    F-measure hides behind the long one's low recall. One LCS for both."""
    c, r = words(candidate), words(reference)
    lcs = _lcs(c, r)
    return _f1(lcs, len(c), len(r)), (lcs / len(c) if c else 0.0)


@functools.lru_cache(maxsize=65536)
def _frequently_foreign(word: str) -> bool:
    if word in FRENCH_TOO or len(word) < 2 or not word.isalpha():
        return False
    other = max(zipf_frequency(word, lang, wordlist="small") for lang in ("en", "de"))
    return other >= FOREIGN_FLOOR and other - zipf_frequency(word, "fr") >= FOREIGN_MARGIN


def _capitalised(token: str) -> bool:
    return token[:1].isupper()


def _particle(token: re.Match[str]) -> bool:
    return not _capitalised(token.group(0)) and token.group(0).lower() in NAME_PARTICLES


def _inside_name(tokens: Sequence[re.Match[str]], i: int) -> bool:
    """Whether the particle at `i` sits in a run of particles between two capitalised words."""
    start, end = i, i
    while start > 0 and _particle(tokens[start - 1]):
        start -= 1
    while end + 1 < len(tokens) and _particle(tokens[end + 1]):
        end += 1
    return (
        start > 0
        and end + 1 < len(tokens)
        and _capitalised(tokens[start - 1].group(0))
        and _capitalised(tokens[end + 1].group(0))
    )


_SENTENCE_START = re.compile(r"(?:^|[.!?…:\n])[\s«“\"(*_-]*$")


def _opens_sentence(text: str, start: int) -> bool:
    return bool(_SENTENCE_START.search(text[max(0, start - 8) : start]))


def _opens_name(tokens: Sequence[re.Match[str]], i: int) -> bool:
    return i + 1 < len(tokens) and _capitalised(tokens[i + 1].group(0))


@functools.lru_cache(maxsize=4096)
def _foreign_script(word: str) -> bool:
    """Whether `word` holds a letter of another script than the Latin one: the embedded model, trained
    on much Chinese, wrote « Le grand oral est prévu pour durer 20分钟. » in orangesum-20's recap (every
    54-item run of 2026-12-07)."""
    return any(c.isalpha() and not unicodedata.name(c, "").startswith("LATIN") for c in word)


def stray_foreign(text: str) -> list[str]:
    """The English or German words of a French text, lower-cased: common function words ("the",
    "und") and any word that English or German use far more often than French ("judges",
    "verrückte"); and any word in another script than the Latin one ("20分钟").

    Not counted: words in quotation marks (a title quoted on purpose), a hyphenated compound's words
    ("fast-food", "start-up"), capitalised words (names, and German nouns, whose adjectives give the
    sentence away) except a common function word opening a sentence and not a name ("The project"
    but not "The Guardian", nor "Theresa May"), and particles between two capitalised words ("von
    der Leyen", "Journal of Economic Literature").
    """
    text = _QUOTED.sub(" ", text)
    tokens = list(WORD.finditer(text))
    found: list[str] = []
    for i, m in enumerate(tokens):
        word, lower = m.group(0), m.group(0).lower()
        if _foreign_script(word):
            found.append(lower)
            continue
        if text[m.start() - 1 : m.start()] == "-" or text[m.end() : m.end() + 1] == "-":
            continue
        if _capitalised(word):
            if lower in FOREIGN and _opens_sentence(text, m.start()) and not _opens_name(tokens, i):
                found.append(lower)
            continue
        if lower in NAME_PARTICLES and _inside_name(tokens, i):
            continue
        if lower in FOREIGN or _frequently_foreign(lower):
            found.append(lower)
    return found


#: The singular first person: the digest's voice is nobody's (DIGEST_FORMAT: no mention of the bot),
#: yet from an article written as « je » the embedded model writes as its author: tricky03's recap
#: « Dans Berlin, je suis devenu un expert en Verrücktes. », its optimistic view « je peux vous dire
#: que … » (the 54-item run of 2026-12-07). Lower-case anywhere; capitalised only where a sentence
#: opens and not before a capitalised word, so that a title left unquoted (« le slogan Je suis
#: Charlie ») or a name (« Ma Yun », « M'Bala M'Bala ») is not one.
_FIRST_PERSON = re.compile(
    r"(?<![\w'’-])(?:(?:je|me|moi|mon|ma|mes)(?![\w'’-])|[jm]['’](?=(?-i:[a-zà-öø-ÿ])))", re.IGNORECASE
)
_NAME_NEXT = re.compile(r"\s+[A-ZÀ-ÖØ-Þ]")


def first_person(text: str) -> list[str]:
    """The words of `text` in the singular first person (« je », « j' », « mon »…), lower-cased,
    outside quotation marks (a quoted witness says « je »)."""
    text = _QUOTED.sub(" ", text)
    return [
        m.group(0).lower().replace("’", "'")
        for m in _FIRST_PERSON.finditer(text)
        if m.group(0)[0].islower() or (_opens_sentence(text, m.start()) and not _NAME_NEXT.match(text, m.end()))
    ]


@functools.lru_cache(maxsize=4)
def _allowed_from(article: str) -> frozenset[str]:
    """The words a part may take from the article even when they are foreign: a French article's
    words (a title or a phrase it quotes in English, "fact-checking"). A foreign article's own words
    are what a French digest must translate: tricky03's German page gave the recap "3 verrückte
    Orte en Berlin" and "beaucoup de choses verrücktes", which an exemption of the article's words
    let through."""
    return frozenset(words(article)) if is_french(article) else frozenset()


def stray_words(text: str, article: str) -> list[str]:
    """The stray English or German words of a part (`stray_foreign`) that its article does not
    excuse: a French article's own words are allowed, a foreign article's are not."""
    allowed = _allowed_from(article)
    return [w for w in stray_foreign(text) if w not in allowed]


def is_french(text: str) -> bool:
    tokens = words(text)
    if len(tokens) < 5:
        return True
    fr = sum(t in FRENCH_HINTS for t in tokens)
    foreign = sum(t in FOREIGN for t in tokens)
    return fr > foreign and foreign <= max(1, len(tokens) // 50)


_LETTERS = re.compile(r"[^\W\d_]+")


@functools.lru_cache(maxsize=8)
def _article_words(article: str) -> frozenset[str]:
    return frozenset(_LETTERS.findall(article.lower()))


def unknown_words(text: str, article: str = "") -> list[str]:
    """The lower-case words of three letters or more that French does not know (wordfreq's large
    list gives them no frequency) and the article does not use: misspellings ("tranquillément",
    "enhumée") and glued words ("guerremondiale"). Capitalised words (names) are not counted, nor
    the article's own rare words ("résorcinol")."""
    known = _article_words(article)
    return [
        w
        for w in _LETTERS.findall(text)
        if len(w) >= 3 and w.islower() and w not in known and zipf_frequency(w, "fr") == 0
    ]


#: A sentence's last word, before its full stop (or "!", "?", "…").
_SENTENCE_FINAL = re.compile(r"([^\W\d_]+)\s*[.!?…]")
#: Words French writes at least this often (Zipf 3: once per million words) are never a cut word.
TRUNCATED_CEILING = 3.0


def truncated_words(text: str, sources: str = "") -> list[str]:
    """The sentence-final words of `text` that are a longer word of `text` or `sources` cut short.

    fr05's optimistic view (embedded model, anti-copy decoding) read "Ce produit est vendu à des
    agriculteurs qui sont pas oblig.": barred from copying the neutral view's "obligés", the model
    closed the sentence mid-word. Such a word is rare in French (wordfreq gives "oblig" Zipf 2.0),
    used once, not a word of `sources`, and the start of a longer word there or in `text`; a name
    too: orangesum-39's view ended « … a également interloqué Sher. » (Sherbatov). Returned lower-cased.
    """
    known = _article_words(sources)
    counts = Counter(_LETTERS.findall(text.lower()))
    found = []
    for match in _SENTENCE_FINAL.finditer(text):
        word = match.group(1).lower()
        if len(word) < 3 or counts[word] > 1 or word in known:
            continue
        if zipf_frequency(word, "fr") >= TRUNCATED_CEILING:
            continue
        if any(len(other) > len(word) and other.startswith(word) for other in itertools.chain(known, counts)):
            found.append(word)
    return found


_NUMBER = re.compile(r"\d+(?:[.,\s]\d{3})*(?:[.,]\d+)?")
_NAME = re.compile(r"(?<![.!?…]\s)(?<!^)\b([A-ZÀ-ÖØ-Þ][\w’'-]+(?:\s+[A-ZÀ-ÖØ-Þ][\w’'-]+)*)")


#: The French names of the months and of the days of the week, in order (dates the digests write,
#: dates the checks read).
MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre",
    "décembre",
)  # fmt: skip
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


#: Numbers written in words, and their values: fr05's recap and neutral view said the glyphosate was
#: used "depuis quatre ans" and "depuis quinze ans" (the article: forty years, "depuis 1974"). Not
#: "un"/"une" (articles), "deux"/"trois" ("les deux camps"), "neuf" (new), "cent"/"mille" ("mille
#: fois"), nor the hyphenated compounds ("dix-huit"): what is left is a figure when it is written.
SPELLED_NUMBERS = {
    "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8, "dix": 10, "onze": 11, "douze": 12, "treize": 13,
    "quatorze": 14, "quinze": 15, "seize": 16, "vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50,
    "soixante": 60,
}  # fmt: skip
_SPELLED_BY_VALUE = {str(value): word for word, value in SPELLED_NUMBERS.items()}
_SPELLED = re.compile(rf"(?<![\w-])({'|'.join(SPELLED_NUMBERS)})(?![\w-])")


def _numbers(text: str) -> set[str]:
    return {re.sub(r"\s", "", m.group(0)).replace(",", ".") for m in _NUMBER.finditer(text)}


_SENTENCE_OPENERS = " \t\n\u00a0«“\"'(‘"


def facts(text: str) -> set[str]:
    """Numbers (in figures, or of SPELLED_NUMBERS in words) and capitalised names (not at a sentence
    start, nor after the quotation mark opening one) mentioned in a text."""
    found = _numbers(text) | set(_SPELLED.findall(text))
    for sentence in SENTENCE_BREAK.split(text):
        # An opening quotation mark or bracket: « « Nous sommes prêts », a déclaré … » opens on « Nous ».
        sentence = sentence.lstrip(_SENTENCE_OPENERS)
        for m in _NAME.finditer(sentence):
            if m.start() > 0:
                found.add(m.group(1).lower())
    return found


@functools.lru_cache(maxsize=8)
def _source_facts(source: str) -> tuple[frozenset[str], str]:
    """An article's numbers and lower-cased text, built once: every sentence of a part is checked against it."""
    return frozenset(_numbers(source)), source.lower()


def _supported(fact: str, numbers: frozenset[str], lowered: str) -> bool:
    if fact in SPELLED_NUMBERS:  # the same word, or the same value in figures ("quatre" / "4"), not "1974"
        return str(SPELLED_NUMBERS[fact]) in numbers or re.search(rf"(?<!\w){fact}(?!\w)", lowered) is not None
    if fact in _SPELLED_BY_VALUE:  # "40" / "quarante"
        return fact in numbers or re.search(rf"(?<!\w){_SPELLED_BY_VALUE[fact]}(?!\w)", lowered) is not None
    return fact in numbers or fact in lowered


def _missing(found: set[str], source: str) -> list[str]:
    numbers, lowered = _source_facts(source)
    return sorted(f for f in found if not _supported(f, numbers, lowered))


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


#: Letters of a word compared by `grounded_share` ("retraites" and "retraite" match, "réforme" and
#: "réformer" too; a 1.5B model's paraphrase rarely keeps more).
GROUNDING_PREFIX = 5
_HASHTAG = re.compile(r"#\w+")


def grounded_share(text: str, *references: str) -> float:
    """Share of the text's content words (5 letters or more, hashtags left out) that begin like a word
    of the references: how much of a part stays on the article's subject. A hook announcing "la
    nouvelle sur les retraites" for a page on Berlin's sights scores near 0; a faithful one, about 0.5
    (the rest is the part's own wording: "nouvelle", "importante")."""
    content = [w for w in words(_HASHTAG.sub(" ", text)) if len(w) >= GROUNDING_PREFIX and w.isalpha()]
    if not content:
        return 1.0
    stems = {w[:GROUNDING_PREFIX] for ref in references for w in words(ref) if len(w) >= GROUNDING_PREFIX}
    return sum(w[:GROUNDING_PREFIX] in stems for w in content) / len(content)
