"""Hashtags drawn from an article when the model wrote fewer than two: its names and main nouns.

The model wrote fewer than two hashtags in 5 of the 7 sample digests in bench/samples, so these are
often the ones readers see. Counting plain words gave tags such as #Envisage, #Réduire, #Menacés
(verbs and participles of a title) and split names in two (#Christiane for Christiane Taubira,
#Jean-paul beside #Chirac). Here a tag is either a name, kept whole (#ChristianeTaubira, #PMA), or a
word the text uses as a noun: one that follows a determiner at least once ("la bioéthique", "les
trottinettes"), which a verb does not (le/la/les after a subject or a modal are pronouns: "il faut
la réduire").
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from bot.pipeline.condense import ELISION, content_words, split_sentences

_WORD = re.compile(r"(?<![^\W_])[^\W\d_][^\W_]*(?:['’-][^\W_]+)*", re.UNICODE)  # TF1, COVID-19, l’État
#: Words after which the next word is used as a noun (an elided "l’" counts too: "l’État").
_DETERMINERS = frozenset(
    "le la les l un une des du d au aux ce cet cette ces sa son ses leur leurs notre nos votre vos "
    "quelques plusieurs chaque".split()
)
#: Before these, le/la/les/leur are pronouns and the next word a verb ("il faut la réduire").
_VERBAL = frozenset(
    "il elle on ils elles nous vous je tu ne n faut veut veulent doit doivent peut peuvent va vont "
    "faudra pourra devra".split()
)
#: Numbers, and words that follow determiners without being what a text is about ("au moins",
#: "l’autre", "les bonnes bactéries").
_NOT_TOPICS = frozenset(
    """
    autre autres même mêmes moins seule seules seuls premier premiers première premières dernier
    derniers dernière dernières nouveau nouveaux nouvelle nouvelles grand grande grands grandes petit
    petite petits petites bonne bonnes meilleur meilleure meilleurs meilleures certain certaine
    certains certaines plupart nombreux nombreuses ancien ancienne anciens anciennes jeune jeunes
    différents différentes divers diverses propre propres fois façon manière sorte chose choses détriment
    deux trois quatre cinq sept huit neuf onze douze treize quinze seize vingt trente quarante
    cinquante soixante cent cents mille million millions milliard milliards
    """.split()
)
#: Capitalised function words that open a name run without belonging to it ("La France" -> France).
_LEADING = frozenset("le la les l un une des du d au aux et ou mais en à a the".split())
#: Words that open a sentence before a name without being part of it ("Quatre Français", "Hier Paris").
_OPENERS = frozenset(
    """
    un une deux trois quatre cinq six sept huit neuf dix hier demain aujourd lundi mardi mercredi jeudi
    vendredi samedi dimanche comment pourquoi quand exclusif exclusive environ désormais enfin ensuite
    puis face contre malgré sondage ici voici voilà pour
    """.split()
)
#: A word in capitals with up to this many letters is an acronym (PMA, SNCF, COVID-19); longer ones
#: are a title shouting.
ACRONYM_MAX = 5
#: Longer runs of capitalised words are titles ("Journal Electronique Le Monde"), not names.
MAX_NAME_WORDS = 3
#: Extra weight of a candidate found in the title: the title says what the article is about.
TITLE_BONUS = 5
#: A common noun needs more letters than this ("projet" and "droit" pass, "fait" and "lieu" do not).
MIN_NOUN_LETTERS = 4
#: A sentence whose letters are mostly capitals is shouting ("CE QUE VEUT VRAIMENT MACRON"): read in
#: lower case, or every word of it would pass for an acronym.
SHOUTING_SHARE = 0.6


@dataclass
class _Counts:
    #: Runs of capitalised words: (words, True when the run opens its sentence or clause).
    runs: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)
    words: Counter[str] = field(default_factory=Counter)  # content words in lower case, outside runs
    noun_uses: set[str] = field(default_factory=set)  # of those, the ones seen after a determiner
    lower_seen: set[str] = field(default_factory=set)  # every word seen in lower case


def topic_tags(title: str, body: str, *, limit: int = 3) -> list[str]:
    """Up to `limit` tags (without "#"), most salient first: names whole, nouns capitalised."""
    texts = (_count(body), _count(title))
    # A capitalised word counts as a name if it is capitalised somewhere else than a sentence's start.
    mid_caps = {w for c in texts for run, first in c.runs for w in run[1 if first else 0 :]}
    lower_seen = texts[0].lower_seen | texts[1].lower_seen
    names: tuple[Counter[tuple[str, ...]], Counter[tuple[str, ...]]] = (Counter(), Counter())
    words = (Counter(texts[0].words), Counter(texts[1].words))
    for counts, found, plain in zip(texts, names, words, strict=True):
        for run, first in counts.runs:
            opener = run[0]
            if (
                first
                and opener not in mid_caps
                and not _is_acronym(opener)
                and (len(run) == 1 or _is_ordinary(opener, lower_seen))
            ):
                plain.update(content_words(opener))  # "Cette", "Depuis": an ordinary word
                run = run[1:]
            if 0 < len(run) <= MAX_NAME_WORDS:
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
        display[key] = "".join(_name_tag(w) for w in name)
        scores[key] = body_names[name] + (TITLE_BONUS if title_names[name] else 0)
        name_words.update(w.lower() for w in name)
    noun_uses = texts[0].noun_uses | texts[1].noun_uses
    for word in words[0].keys() | words[1].keys():
        if word in name_words or word in _NOT_TOPICS or word not in noun_uses or len(word) <= MIN_NOUN_LETTERS:
            continue
        display.setdefault(word, _name_tag(word))
        scores[word] = max(scores[word], words[0][word] + (TITLE_BONUS if words[1][word] else 0))
    chosen: list[str] = []
    for key in sorted(scores, key=lambda k: (-scores[k], display[k])):
        # Not #Macron beside #EmmanuelMacron, nor #AG beside #AGÉducationIDF; not a tag without a
        # capital (a script without cases).
        if display[key][:1].isupper() and not any(_overlap(c, key) for c in chosen):
            chosen.append(key)
    return [display[k] for k in chosen[:limit]]


def _count(text: str) -> _Counts:
    counts = _Counts()
    for sentence in split_sentences(text):
        letters = [c for c in sentence if c.isalpha()]
        if letters and sum(c.isupper() for c in letters) > SHOUTING_SHARE * len(letters) and len(letters) > 8:
            sentence = sentence.lower()
        run: list[str] = []
        run_first = run_titled = False
        clause_start = True  # no word yet but capitalised articles ("Le", "La")
        after_determiner = False
        previous = ""
        end = 0
        for m in _WORD.finditer(sentence):
            gap = sentence[end : m.start()]
            if gap.strip():  # punctuation between two words ends a name
                _close(counts, run, run_first, run_titled)
                run = []
                if any(c in gap for c in ':«"“'):  # « Nous agirons » : a new clause starts
                    clause_start = True
            end = m.end()
            token = m.group(0)
            elided = ELISION.match(token)
            word = token[elided.end() :] if elided else token
            lower = word.lower()
            capital = word[:1].isupper() and (not word.isupper() or _is_acronym(word))
            if capital and not (lower in _LEADING and not run):
                if not run:
                    run_first = clause_start and not elided  # after l’ or d’, a capital is a name
                    # "le ministre de l’Économie Arnaud Montebourg": a title, then the name.
                    run_titled = not clause_start and (after_determiner or bool(elided and token[0] in "lL"))
                    run.append(word)
                else:
                    run.append(token)  # "Conseil d’État", "Giscard d’Estaing"
            else:
                _close(counts, run, run_first, run_titled)
                run = []
                if not capital:
                    counts.lower_seen.add(lower)
                    if content_words(lower):
                        counts.words[lower] += 1
                        if after_determiner or (elided and token[0] in "lL" and previous not in _VERBAL):
                            counts.noun_uses.add(lower)
            if not (capital and lower in _LEADING and not run):
                clause_start = False
            # "les bonnes bactéries", "la nouvelle loi": the noun comes after the adjective; "il faut
            # la réduire": after a subject or a modal, le/la/les/leur are pronouns.
            after_determiner = (lower in _DETERMINERS and previous not in _VERBAL) or (
                after_determiner and lower in _NOT_TOPICS
            )
            previous = lower
        _close(counts, run, run_first, run_titled)
    return counts


def _close(counts: _Counts, run: list[str], first: bool, titled: bool) -> None:
    if titled and len(run) >= 3:
        counts.runs.append(((run[0],), first))
        run, first = run[1:], False
    if run:
        counts.runs.append((tuple(run), first))


def _overlap(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a) or a.endswith(b) or b.endswith(a)


def _is_acronym(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return word.isupper() and 2 <= len(letters) <= ACRONYM_MAX


def _is_ordinary(word: str, lower_seen: set[str]) -> bool:
    """A sentence's capitalised first word that is not part of the name after it ("Selon", "Quatre")."""
    lower = word.lower()
    return not content_words(lower) or lower in lower_seen or lower.split("’")[0].split("'")[0] in _OPENERS


def _merge_surnames(names: Counter[tuple[str, ...]], known: Counter[tuple[str, ...]]) -> Counter[tuple[str, ...]]:
    """Count "Taubira" (or "Giscard d’Estaing") as "Christiane Taubira" ("Valéry Giscard d’Estaing")
    when the text (`known`) names one person of that
    name: with Emmanuel and Brigitte Macron, "Macron" stays alone. (A place inside a company's name,
    "France" in "Air France", is merged too: a limit of this rule.)"""
    merged: Counter[tuple[str, ...]] = Counter()
    for name, n in names.items():
        fulls = [full for full in known if len(full) > len(name) and full[-len(name) :] == name]
        if len(fulls) == 1:
            name = fulls[0]
        merged[name] += n
    return merged


def _name_tag(word: str) -> str:
    """A name's parts joined: jean-paul -> JeanPaul, d’État -> DÉtat, McDonald’s -> McDonalds, PMA stays."""
    parts: list[str] = []
    for part in word.split("-"):
        elided = ELISION.match(part)
        if elided:
            parts.append(part[: elided.end() - 1].capitalize())
            part = part[elided.end() :]
        part = part.replace("’", "").replace("'", "")
        parts.append(part[:1].upper() + part[1:])
    return "".join(parts)
