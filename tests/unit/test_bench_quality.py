"""bench/quality.py's page selection: `--pages samples` digests the pages whose digests bench/samples keeps."""

from __future__ import annotations

import pytest

from bench.quality import SAMPLE_PAGES, corpus_items


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
