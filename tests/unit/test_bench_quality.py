"""bench/quality.py's page selection: `--pages samples` digests the pages whose digests bench/samples keeps."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench.quality import (
    SAMPLE_PAGES,
    _checks_line,
    _openings_line,
    _pairs_line,
    _sides_line,
    _unknown_line,
    corpus_items,
)
from bot.core.types import Part
from bot.pipeline.summarize import UNWRITTEN


def test_sample_pages_exist_and_are_selected_alone() -> None:
    picked = corpus_items("samples")
    assert [p.name for p in picked] == list(SAMPLE_PAGES)
    assert all((p / "meta.json").is_file() for p in picked)
    french = [p.name for p in corpus_items("fr")]
    assert len(french) == 30 and not set(french) - {p.name for p in corpus_items("all")}


def test_pages_may_be_named_and_a_wrong_name_stops_the_bench() -> None:
    picked = corpus_items("fr25-orangesum-grand-debat-maire, tricky03-mojibake-utf8-as-cp1252-de")
    assert [p.name for p in picked] == ["fr25-orangesum-grand-debat-maire", "tricky03-mojibake-utf8-as-cp1252-de"]
    with pytest.raises(SystemExit, match="fr99-absent"):
        corpus_items("fr25-orangesum-grand-debat-maire,fr99-absent")


def test_the_checks_line_sums_each_digests_counts() -> None:
    stats = [
        {
            "regenerated_parts": 2,
            "retried_recap": 1,
            "retried_neutre": 1,
            "problem_etranger": 1,
            "foreign_dropped": 1,
            "unsupported_dropped": 3,
            "seconds": 50,
        },
        {
            "regenerated_parts": 1,
            "problem_court": 2,
            "foreign_dropped": 2,
            "people_dropped": 1,
            "names_avoided": 2,
            "seconds": 70,
        },
        {
            "truncated_dropped": 1,
            "echoes_dropped": 2,
            "quotes_mended": 2,
            "quotes_unwrapped": 1,
            "other_side_turns": 3,
            "other_sides": 2,
            "seconds": 40,
        },
        {
            "regenerated_parts": 2,
            "retried_neutre": 2,
            "retries_kept": 1,
            "advice_dropped": 1,
            "retry_seconds": 30,
            "last_resorts": 1,
            "side_openings": 2,
            "repeat_openings": 4,
            "seconds": 90,
        },
    ]
    line = _checks_line(stats, 4)
    assert "parts regenerated after a failed check: 5 of 24" in line
    assert "5 of 24 (neutre 3, recap 1; problems seen, every attempt counted: court 2, etranger 1)" in line
    assert "a later attempt kept for 1, retries' time 7.5 s" in line
    assert (
        "last attempts at an empty view (opened for it): 1; views arguing nothing written again, opened so: 2; "
        "views repeating an earlier part twice, a third attempt opened so: 4;" in line
    )
    assert "fallback parts: 0" in line
    assert "naming people in the analogy 1 (names kept out while it was written: 2), stray foreign words 3" in line
    assert "ending on a word cut short 1" in line
    assert "restating an instruction 2, generic advice in a view 1;" in line
    assert "continued after « D'un autre côté, » 3 (the sentence kept: 2)" in line
    assert "quotations put back to the article's words 2, paragraphs of the model's own words taken" in line
    assert "out of quotation marks 1;" in line
    assert "median digest time 70 s" in line


def test_the_unknown_words_line_counts_per_10000_words() -> None:
    scores = [
        SimpleNamespace(unknown_words=["deordre", "enhumée"], words=3000, cut_words=[]),
        SimpleNamespace(unknown_words=["deordre"], words=1000, cut_words=["oblig"]),
    ]
    line = _unknown_line(scores)  # type: ignore[arg-type]
    assert "3 in 4000 words (8 per 10,000): deordre 2, enhumée; words cut short at a sentence's end: 1 (oblig)" in line


def test_the_pairs_line_names_the_closest_pair_of_each_digest_and_its_mean_over_all() -> None:
    scores = [
        SimpleNamespace(pair_rouge_l={"recap–neutre": 0.40, "optimiste–pessimiste": 0.20}),
        SimpleNamespace(pair_rouge_l={"recap–neutre": 0.10, "optimiste–pessimiste": 0.30}),
        SimpleNamespace(pair_rouge_l={"recap–neutre": 0.31, "optimiste–pessimiste": 0.30}),
    ]
    line = _pairs_line(scores)  # type: ignore[arg-type]
    assert line.endswith(": recap–neutre 2 (0.27 mean), optimiste–pessimiste 1 (0.27 mean)")


def test_the_openings_line_counts_recaps_and_hooks_pointing_back() -> None:
    digests = [
        {Part.RECAP: "Ces zones sont au nord.", Part.ACCROCHE: "Alerte orange dans le Nord. 📰 #Pluie"},
        {Part.RECAP: "Météo-France place dix départements en alerte.", Part.ACCROCHE: "Elle a été levée. 📰 #Pluie"},
        {Part.RECAP: "Ce lundi, la pluie tombe.", Part.ACCROCHE: "Il y a de l'orage. 📰 #Pluie"},
    ]
    assert _openings_line(digests).endswith("(« Ces zones … », « Elle a été … »): recap 1/3; accroche 1/3")


def test_the_sides_line_counts_the_camps_openings_and_the_views_turning_to_a_second_side() -> None:
    digests = [
        {
            Part.NEUTRE: "D'un côté, ceux qui votent pour. De l'autre côté, ceux qui votent contre.",
            Part.PESSIMISTE: UNWRITTEN,  # no view written: not counted
        },
        {Part.NEUTRE: "D'un côté, la loi protège. D'un autre côté, elle surveille.", Part.OPTIMISTE: "Un espoir."},
        {
            Part.NEUTRE: "D'un côté, la loi protège ; ailleurs, elle inquiète.",
            Part.PESSIMISTE: "Il a expliqué que la foire se tenait sous un chapiteau.",
        },
    ]
    stats = [{"dispute": 1.0}, {"dispute": 0.0}, {}]
    line = _sides_line(digests, stats)
    assert "dispute) 1/3;" in line and "(« autre côté ») 2/3;" in line
    assert line.endswith("views with no word of their side: optimiste 0/1; pessimiste 1/1")
