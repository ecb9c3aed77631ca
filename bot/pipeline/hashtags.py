"""Hashtags drawn from an article when the model wrote none: its names and the nouns it is about.

The model writes fewer than two hashtags in most digests, so these are the ones readers usually see.
Counting plain words gave tags such as #Envisage, #Réduire, #Menacés (verbs and participles of a
title) and split names in two (#Christiane for Christiane Taubira, #Jean-paul beside #Chirac). Here a
tag is either a name, kept whole (#ChristianeTaubira, #PMA), or a word the text uses as a noun: one
that follows a determiner at least once ("la bioéthique", "les trottinettes"), which a verb never does.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from bot.pipeline.condense import content_words, split_sentences

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
_ELIDED = re.compile(r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu)['’]", re.IGNORECASE)
#: Words after which the next word is used as a noun (an elided "l’" counts too: "l’État").
_DETERMINERS = frozenset(
    "le la les l un une des du d au aux ce cet cette ces sa son ses leur leurs notre nos votre vos "
    "quelques plusieurs chaque".split()
)
#: Words that follow determiners without being what a text is about ("au moins", "l’autre", "les
#: bonnes bactéries").
_NOT_TOPICS = frozenset(
    """
    autre autres même mêmes moins seule seules seuls premier premiers première premières dernier
    derniers dernière dernières nouveau nouveaux nouvelle nouvelles grand grande grands grandes petit
    petite petits petites bonne bonnes meilleur meilleure meilleurs meilleures certain certaine
    certains certaines plupart nombreux nombreuses ancien ancienne anciens anciennes jeune jeunes
    différents différentes divers diverses propre propres fois façon manière sorte chose choses détriment
    """.split()
)
#: Capitalised function words that open a name run without belonging to it ("La France" -> France).
_LEADING = frozenset("le la les l un une des du d au aux et ou mais en à a the".split())
#: A word in capitals up to this long is an acronym (PMA, SNCF); longer ones are a title shouting.
ACRONYM_MAX = 5
#: Longer runs of capitalised words are titles ("Journal Electronique Le Monde"), not names.
MAX_NAME_WORDS = 3
#: Extra weight of a candidate found in the title: the title says what the article is about.
TITLE_BONUS = 5
#: A common noun needs more letters than this ("projet" and "droit" pass, "fait" and "lieu" do not).
MIN_NOUN_LETTERS = 4


@dataclass
class _Counts:
    #: Runs of capitalised words: (words, True when the run opens its sentence).
    runs: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)
    words: Counter[str] = field(default_factory=Counter)  # content words in lower case, outside runs
    noun_uses: set[str] = field(default_factory=set)  # of those, the ones seen after a determiner


def topic_tags(title: str, body: str, *, limit: int = 3) -> list[str]:
    """Up to `limit` tags (without "#"), most salient first: names whole, nouns capitalised."""
    texts = (_count(body), _count(title))
    # A capitalised word counts as a name if it is capitalised somewhere else than a sentence's start.
    mid_caps = {w for c in texts for run, first in c.runs for w in run[1 if first else 0 :]}
    names: tuple[Counter[tuple[str, ...]], Counter[tuple[str, ...]]] = (Counter(), Counter())
    words = (Counter(texts[0].words), Counter(texts[1].words))
    for counts, found, plain in zip(texts, names, words, strict=True):
        for run, first in counts.runs:
            if first and run[0] not in mid_caps and not _is_acronym(run[0]):
                plain.update(content_words(run[0]))  # "Cette", "Depuis": an ordinary word
                run = run[1:]
            if run:
                found[run] += 1
    known = names[0] + names[1]
    body_names, title_names = (_merge_surnames(n, known) for n in names)
    scores: Counter[str] = Counter()
    display: dict[str, str] = {}
    name_words: set[str] = set()
    for name in body_names.keys() | title_names.keys():
        if len(name) == 1 and (len(name[0]) < 2 or words[0][name[0].lower()] > body_names[name]):
            continue  # a word capitalised now and then ("Internet") is not a name
        key = "".join(name).lower()
        display[key] = "".join(_camel(w) for w in name)
        scores[key] = body_names[name] + (TITLE_BONUS if title_names[name] else 0)
        name_words.update(w.lower() for w in name)
    noun_uses = texts[0].noun_uses | texts[1].noun_uses
    for word in words[0].keys() | words[1].keys():
        if word in name_words or word in _NOT_TOPICS or word not in noun_uses or len(word) <= MIN_NOUN_LETTERS:
            continue
        display.setdefault(word, _camel(word))
        scores[word] = max(scores[word], words[0][word] + (TITLE_BONUS if words[1][word] else 0))
    ranked = sorted(scores, key=lambda k: (-scores[k], display[k]))
    return [display[k] for k in ranked[:limit]]


def _count(text: str) -> _Counts:
    counts = _Counts()
    for sentence in split_sentences(text):
        run: list[str] = []
        run_first = run_titled = False
        after_determiner = False
        end = 0
        for i, m in enumerate(_WORD.finditer(sentence)):
            if sentence[end : m.start()].strip():  # punctuation between two words ends a name
                _close(counts, run, run_first, run_titled)
                run = []
            end = m.end()
            token = m.group(0)
            elided = _ELIDED.match(token)
            word = token[elided.end() :] if elided else token
            lower = word.lower()
            capital = word[:1].isupper() and (not word.isupper() or _is_acronym(word))
            if capital and not (lower in _LEADING and not run):
                if not run:
                    run_first = i == 0
                    # "le ministre de l’Économie Arnaud Montebourg": a title, then the name.
                    run_titled = after_determiner or bool(elided and token[0] in "lL")
                run.append(word)
            else:
                _close(counts, run, run_first, run_titled)
                run = []
                if not capital and content_words(lower):
                    counts.words[lower] += 1
                    if after_determiner or (elided and token[0] in "lL"):
                        counts.noun_uses.add(lower)
            # "les bonnes bactéries", "la nouvelle loi": the noun comes after the adjective.
            after_determiner = lower in _DETERMINERS or (after_determiner and lower in _NOT_TOPICS)
        _close(counts, run, run_first, run_titled)
    return counts


def _close(counts: _Counts, run: list[str], first: bool, titled: bool) -> None:
    if len(run) > MAX_NAME_WORDS:
        return
    if titled and len(run) >= 3:
        counts.runs.append(((run[0],), first))
        run, first = run[1:], False
    if run:
        counts.runs.append((tuple(run), first))


def _is_acronym(word: str) -> bool:
    return word.isupper() and 2 <= len(word) <= ACRONYM_MAX


def _merge_surnames(names: Counter[tuple[str, ...]], known: Counter[tuple[str, ...]]) -> Counter[tuple[str, ...]]:
    """Count "Taubira" alone as "Christiane Taubira" when the text (`known`) names her in full."""
    full_by_last: dict[str, tuple[str, ...]] = {}
    for name in sorted(known, key=lambda n: (-known[n], n)):
        if len(name) > 1:
            full_by_last.setdefault(name[-1], name)
    merged: Counter[tuple[str, ...]] = Counter()
    for name, n in names.items():
        merged[full_by_last.get(name[0], name) if len(name) == 1 else name] += n
    return merged


def _camel(word: str) -> str:
    """A name's parts joined: jean-paul -> JeanPaul; acronyms and inner capitals stay (PMA, McKinsey)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"['’-]", word) if part)
