from __future__ import annotations

import numpy as np
import pytest
import torch

from bot.pipeline.anticopy import OWN_SHARE, AntiCopyHook, build_anticopy, is_free_token

# A toy vocabulary: id -> token text, with word-start tokens carrying their leading space.
VOCAB = {0: " le", 1: " chat", 2: " dort", 3: " sur", 4: " tapis", 5: " rouge", 6: "s", 7: " Paris", 8: " 2021", 9: "."}


def hook_for(source: list[int], strength: float = 5.0, span: int = 4) -> AntiCopyHook:
    return AntiCopyHook([source], VOCAB.__getitem__, span=span, strength=strength)


def test_penalises_the_token_that_would_extend_a_copied_run() -> None:
    hook = hook_for([0, 1, 2, 3, 4, 5])
    scores = np.zeros(len(VOCAB), dtype=np.float32)
    out = hook([0, 1, 2], scores)  # "le chat dort" copied: " sur" continued it in the source
    assert out[3] == -5.0
    assert np.count_nonzero(out) == 1
    assert hook.stats.hits == 1 and hook.stats.penalised == 1


def test_no_penalty_before_a_full_run_or_off_the_copied_track() -> None:
    hook = hook_for([0, 1, 2, 3, 4, 5])
    for generated in ([1, 2], [0, 2, 1], [5, 4, 3]):
        scores = np.zeros(len(VOCAB), dtype=np.float32)
        assert not np.any(hook(generated, scores)), generated


def test_word_continuations_names_and_figures_are_never_penalised() -> None:
    # "tapis" + "s", "Paris" and "2021" followed the copied run somewhere in the sources.
    hook = AntiCopyHook([[0, 1, 2, 6], [0, 1, 2, 7], [0, 1, 2, 8], [0, 1, 2, 9]], VOCAB.__getitem__, span=4)
    scores = np.zeros(len(VOCAB), dtype=np.float32)
    assert not np.any(hook([0, 1, 2], scores))
    assert is_free_token("s") and is_free_token(".") and is_free_token(" Paris") and is_free_token(" 2021")
    assert not is_free_token(" chat") and not is_free_token("\n")


def test_works_in_place_on_torch_scores_and_sources_can_be_added() -> None:
    hook = hook_for([0, 1, 2, 3])
    hook.add_source([4, 5, 0, 1])  # an earlier part: "tapis rouge le" -> " chat"
    scores = torch.zeros(len(VOCAB))
    out = hook([4, 5, 0], scores)
    assert out is scores and scores[1].item() == -5.0 and int(torch.count_nonzero(scores)) == 1


def test_zero_strength_or_a_backend_without_tokenizer_gives_no_hook() -> None:
    class Remote:
        pass

    class Local:
        def tokenize(self, text: str) -> list[int]:
            return [len(w) for w in text.split()]

        def token_text(self, token_id: int) -> str:
            return " x"

    assert build_anticopy(Remote(), ["texte"]) is None
    assert build_anticopy(Local(), ["texte"], strength=0) is None
    hook = build_anticopy(Local(), ["un deux trois quatre cinq six"], span=3)
    assert hook is not None
    scores = np.zeros(8)
    hook([2, 4], scores)  # "un deux" -> "trois" (5 letters)
    assert scores[5] < 0


def test_span_must_be_a_run() -> None:
    with pytest.raises(ValueError):
        hook_for([0, 1], span=1)


def test_the_answer_itself_is_a_source_so_a_loop_is_broken() -> None:
    hook = hook_for([9, 9, 9], span=3)  # the article shares nothing with the answer
    answer = [0, 1, 2, 3, 0, 1]  # "le chat dort sur le chat": " dort" would start the loop again
    for n in range(len(answer)):
        hook(answer[:n], np.zeros(len(VOCAB), dtype=np.float32))
    scores = np.zeros(len(VOCAB), dtype=np.float32)
    hook(answer, scores)
    assert scores[2] == -5.0 * OWN_SHARE and np.count_nonzero(scores) == 1  # own runs: a lighter penalty
    # A new answer starts clean: the previous answer's runs are forgotten.
    for n in range(3):
        hook([0, 1][:n], np.zeros(len(VOCAB), dtype=np.float32))
    fresh = np.zeros(len(VOCAB), dtype=np.float32)
    hook([0, 1], fresh)
    assert not np.any(fresh)
