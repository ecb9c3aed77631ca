"""Whether an article reports opposed positions: the words of a dispute, counted by kind.

The neutral view weighs the arguments of both sides. Made to open « D'un côté, ceux qui », the
embedded model names a second side far more often (12 of 19 views against 5 with « D'un côté, »)
and retells the article less; but on news without sides (a death, a trial, an accident) it invents
a group to fill the opening, sometimes falsely (« ceux qui ont eu le privilège de voir François
Hollande mourir », for his father's death). So the code asks for the camps only where the article
has them (bench/RESULTS.md § "The neutral view opens on camps where the article reports a dispute").

A dispute is words of at least two of these kinds: camps named (« les opposants », « les
syndicats »), positions against (« dénoncent », « contestée »), positions for (« saluent »,
« favorables »), a debate (« vote », « polémique »). One kind alone is no dispute: criminal news
reports who « dénonce » whom, an obituary who « salue » the dead. Words that French uses as often
outside a dispute are left out: « critique » (a literary critic, « la critique de Libération »),
« accusé » (the accused at a trial), « défend » (a lawyer's defence), « plaider ».
Only French words: an article in another language has its neutral view opened the usual way.
"""

from __future__ import annotations

import re

_KINDS: dict[str, str] = {
    "camps": r"partisans?|opposants?|détracteurs?|défenseurs?|adversaires?|sceptiques|pourfendeurs?"
    r"|manifestants?|grévistes?|syndicats?|opposition|camps?",
    "against": r"dénonc\w*|s['’]oppos\w*|contest\w*|critiqu(?!e\b)\w*|fustig\w*|protest\w*|s['’]insurg\w*"
    r"|désapprouv\w*|s['’]indign\w*|déplor\w*|reproch\w*|rejet\w*",
    "for": r"salu\w*|félicit\w*|approuv\w*|soutien\w*|soutient|soutiennent|favorables?|se réjou\w*",
    "debate": r"votes?|voté\w*|votent|scrutin|débats?|polémiques?|controverses?|référendum|amendements?|clivages?",
}
_PATTERNS = {kind: re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE) for kind, words in _KINDS.items()}

#: How many kinds of words, and how many words in all, make a dispute. Measured on the 95 texts of
#: the quality bench's corpus (its 35 pages and 60 OrangeSum sources): 23 pass, among them the
#: votes in parliament, the strikes, the polls and the political quarrels; no obituary, trial or
#: accident does.
MIN_KINDS = 2
MIN_WORDS = 3


def dispute_words(text: str) -> dict[str, int]:
    """How many words of each kind of `_KINDS` the text holds."""
    return {kind: len(pattern.findall(text)) for kind, pattern in _PATTERNS.items()}


def reports_dispute(text: str) -> bool:
    """Whether `text` reports opposed positions (see the module's docstring)."""
    counts = dispute_words(text)
    return sum(1 for n in counts.values() if n) >= MIN_KINDS and sum(counts.values()) >= MIN_WORDS
