"""bench/quality.py's page selection: `--pages samples` digests the pages whose digests bench/samples keeps."""

from __future__ import annotations

from bench.quality import SAMPLE_PAGES, corpus_items


def test_sample_pages_exist_and_are_selected_alone() -> None:
    picked = corpus_items("samples")
    assert [p.name for p in picked] == list(SAMPLE_PAGES)
    assert all((p / "meta.json").is_file() for p in picked)
    french = [p.name for p in corpus_items("fr")]
    assert len(french) == 30 and not set(french) - {p.name for p in corpus_items("all")}
