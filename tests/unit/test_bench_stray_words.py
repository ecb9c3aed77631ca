from __future__ import annotations

from bench.stray_words import _row


def test_a_row_counts_words_read_and_words_flagged() -> None:
    row, flagged = _row("demo", ["Le projet avance bien.", "Le projet was approved by the board."])
    assert flagged == {"was": 1, "approved": 1, "by": 1, "the": 1, "board": 1}
    # 2 documents, 4 + 7 words, 5 flagged: 4,545.5 per 10,000 words
    assert row.startswith("| demo | 2 | 11 | 5 | 4545.5 |")
