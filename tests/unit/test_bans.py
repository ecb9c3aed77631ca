from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bot.pipeline.anticopy import AntiCopyHook
from bot.pipeline.bans import BarredTokens, NameBar, name_bar
from bot.pipeline.textmetrics import people

# A toy tokenizer: known pieces, longest first, a leading space belonging to the piece after it;
# anything else one character a token (ids from 1000).
PIECES = [
    " Marine", "Marine", " Le", " Pen", "Pen", "land", "ais", " Jean", "-L", "uc", " Mélenchon",
    " Nordahl", " von", " der", " Leyen", " Ursula", " le", " voisin", " Mac", "Mac", "ron", " Al", "Al",
]  # fmt: skip
VOCAB = dict(enumerate(PIECES))
IDS = {text: i for i, text in VOCAB.items()}


def tokenize(text: str) -> list[int]:
    out: list[int] = []
    while text:
        piece = max((p for p in IDS if text.startswith(p)), key=len, default=text[0])
        out.append(IDS[piece] if piece in IDS else 1000 + ord(piece))
        text = text[len(piece) :]
    return out


def token_text(token_id: int) -> str:
    return VOCAB[token_id] if token_id < 1000 else chr(token_id - 1000)


def barred_texts(names: set[str]) -> set[str]:
    return {token_text(i) for i in name_bar(names, tokenize, token_text).tokens}


def barred_after(names: set[str]) -> dict[str, set[str]]:
    return {token_text(t): {token_text(i) for i in n} for t, n in name_bar(names, tokenize, token_text).after.items()}


def test_the_first_token_of_each_word_of_a_name_is_barred_not_its_particles() -> None:
    assert barred_texts({"Marine Le Pen", "Ursula von der Leyen"}) == {
        " Marine", "Marine", " Pen", "Pen", " Ursula", " Leyen",
    }  # fmt: skip


def test_a_short_first_piece_is_left_alone_it_would_bar_common_words() -> None:
    # « Lelandais » starts with « Le » (2 letters: kept), « Macron » with « Mac », « Al… » with « Al ».
    assert barred_texts({"Nordahl Lelandais", "Emmanuel Macron", "Alain Juppé"}) == {" Nordahl"}
    # Their second piece is barred right after the first instead: « Le » stays free, « Leland… » does not.
    # « Al » + « a… » (one letter) and « L » + « e… » (no-space « Lelandais », one letter each) are left.
    assert barred_after({"Nordahl Lelandais", "Emmanuel Macron", "Alain Juppé"}) == {
        " Le": {"land"}, " Mac": {"ron"}, "Mac": {"ron"},
    }  # fmt: skip
    # A hyphenated first name: its first token holds 4 letters of it.
    assert barred_texts({"Jean-Luc Mélenchon"}) == {" Jean", " Mélenchon"}


def test_names_found_in_an_article_are_what_gets_barred() -> None:
    article = "Hier, Marine Le Pen a parlé. Le voisin a répondu."
    assert barred_texts(set(people(article))) == {" Marine", "Marine", " Pen", "Pen"}


@pytest.mark.parametrize("make", [lambda n: np.zeros(n, dtype=np.float32), lambda n: torch.zeros(n)])
def test_barred_tokens_are_made_impossible_after_the_inner_hook(make) -> None:  # type: ignore[no-untyped-def]
    inner = AntiCopyHook([[IDS[" le"], IDS[" voisin"], IDS[" Marine"]]], VOCAB.__getitem__, span=2, strength=3.0)
    hook = BarredTokens(NameBar(frozenset({IDS[" Pen"]})), inner)
    scores = make(len(VOCAB))
    scores[IDS[" Pen"]] = 5.0  # the best-scored token: barred, so a name kept out
    out = hook([IDS[" le"]], scores)
    assert float(out[IDS[" Pen"]]) == -math.inf
    assert float(out[IDS[" voisin"]]) == -3.0  # the anti-copy penalty still applies
    assert hook.avoided == 1
    scores = make(len(VOCAB))
    scores[IDS[" le"]] = 5.0
    hook([IDS[" Jean"]], scores)
    assert hook.avoided == 1  # the best token was free: nothing counted


def test_no_bar_leaves_the_scores_to_the_inner_hook() -> None:
    scores = np.ones(len(VOCAB), dtype=np.float32)
    assert np.all(BarredTokens(NameBar(), None)([1, 2], scores) == 1.0)
    assert not NameBar() and NameBar(after={1: frozenset({2})})


def test_a_names_second_piece_is_barred_only_right_after_its_short_first_piece() -> None:
    hook = BarredTokens(name_bar({"Emmanuel Macron"}, tokenize, token_text))
    scores = np.zeros(len(VOCAB), dtype=np.float32)
    scores[IDS["ron"]] = 5.0
    hook([IDS[" le"], IDS[" Mac"]], scores)
    assert scores[IDS["ron"]] == -math.inf and hook.avoided == 1
    scores = np.zeros(len(VOCAB), dtype=np.float32)
    scores[IDS["ron"]] = 5.0
    hook([IDS[" Mac"], IDS[" le"]], scores)  # not right after « Mac »: free
    assert scores[IDS["ron"]] == 5.0 and hook.avoided == 1
    assert scores[IDS[" Mac"]] == 0.0  # the short piece itself stays free
