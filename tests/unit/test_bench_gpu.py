"""bench/gpu.py: its tokenizer and random model, the --tiny smoke run, the no-CUDA exit, its RESULTS.md part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoTokenizer

from bench import gpu


def test_tokenizer_round_trips_words_and_survives_a_reload(tmp_path: Path) -> None:
    folder = gpu.write_model(tmp_path / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(folder)  # transformers makes it a Qwen2Tokenizer
    text = gpu.prompt_words(40, 3, gpu.TINY["vocab_size"])

    ids = tokenizer(" " + text, add_special_tokens=False)["input_ids"]
    assert len(ids) == 40  # one token a word
    assert tokenizer.decode(ids) == " " + text
    first = gpu.first_word_id(gpu.TINY["vocab_size"])
    words = list(range(first, gpu.TINY["vocab_size"], 37))
    assert tokenizer(tokenizer.decode(words), add_special_tokens=False)["input_ids"] == words
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "ab"}], tokenize=False, add_generation_prompt=True
    )
    assert tokenizer.convert_ids_to_tokens(tokenizer(prompt, add_special_tokens=False)["input_ids"]) == [
        "<|im_start|>",
        "user",
        "Ġab",
        "<|im_end|>",
        "<|im_start|>",
        "assistant",
    ]


def test_the_real_vocabulary_size_builds_quickly() -> None:
    tokenizer = gpu.build_tokenizer(gpu.QWEN25_15B["vocab_size"])
    assert len(tokenizer) == 151936
    text = gpu.prompt_words(30, 1, 151936)
    assert len(tokenizer(" " + text, add_special_tokens=False)["input_ids"]) == 30


def test_random_model_never_picks_a_non_word() -> None:
    model = gpu.build_model(gpu.TINY, device="cpu", dtype=torch.float32)
    first = gpu.first_word_id(gpu.TINY["vocab_size"])
    logits = model(input_ids=torch.arange(3, 60).unsqueeze(0)).logits[0]
    assert (logits.argmax(-1) >= first).all()
    assert model.config.num_key_value_heads == 2 and not model.config.tie_word_embeddings


def test_bytes_per_token_of_the_real_architecture() -> None:
    with torch.device("meta"):
        from transformers import Qwen2Config, Qwen2ForCausalLM

        model = Qwen2ForCausalLM(Qwen2Config(**gpu.QWEN25_15B)).to(torch.bfloat16)
    weights = gpu.bytes_per_token(model, 0)
    # Qwen2.5-1.5B: 1.54 B parameters read per token in bf16 (the untied input table is not read).
    assert 3.0e9 < weights < 3.2e9
    per_kv_token = 2 * 28 * 2 * 128 * 2
    assert gpu.bytes_per_token(model, 1000) - weights == pytest.approx(1000 * per_kv_token)


def test_tiny_run_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert gpu.main(["--tiny", "--concurrency", "2", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "| dynamic (sdpa) |" in out and "| static (sdpa) |" in out
    assert "turn 2 agg. tok/s" in out


def test_without_cuda_it_says_so_and_fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main(["--no-write"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def _result() -> dict[str, Any]:
    case = {
        "kv_cache": "static",
        "attention": "sdpa",
        "prefill_tps": 20000.0,
        "decode_tps": 400.0,
        "bound_tps": 900.0,
        "bound_share": 0.44,
        "prompt_tokens": 1632,
        "concurrent": [
            {"n": 1, "turn1_tps": 300.0, "turn2_tps": 380.0, "turn2_decode_tps": 400.0, "turn2_seconds": 0.34},
            {"n": 16, "turn1_tps": 2000.0, "turn2_tps": 4000.0, "turn2_decode_tps": 5000.0, "turn2_seconds": 0.5},
        ],
    }
    return {
        "command": "python bench/gpu.py",
        "date": "2026-11-24",
        "device": "NVIDIA H100",
        "torch": "2.x",
        "transformers": "5.x",
        "model": "Qwen2.5-1.5B",
        "parameters": 1.78e9,
        "dtype": "bfloat16",
        "attention": "sdpa",
        "gguf_check": "matches",
        "bandwidth": 3.0e12,
        "prompt_tokens": 1632,
        "new_tokens": 128,
        "cases": [case],
    }


def test_results_replace_only_the_gpu_part_of_the_speed_section(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(
        "# Benchmarks\n\n## Extraction\n\nextraction figures\n\n## Speed\n\ncpu figures\n\n"
        "### Concurrent digests\n\nconcurrent figures\n\n## Fuzzing\n\nfuzz figures\n",
        encoding="utf-8",
    )
    gpu.update_speed_section(gpu.gpu_subsection(None), results)
    first = results.read_text(encoding="utf-8")
    assert "Not measured yet" in first and first.index("### GPU") < first.index("## Fuzzing")

    gpu.update_speed_section(gpu.gpu_subsection(_result()), results)
    text = results.read_text(encoding="utf-8")
    assert "Not measured yet" not in text
    assert "| 400.0 | 900 | 44.0% | 1 |" in text
    assert "| | | | | | 16 | 2000 | 4000 | 5000 | 0.50 |" in text
    assert "| static (sdpa) | 20000 |" in text
    for kept in ("extraction figures", "cpu figures", "### Concurrent digests\n\nconcurrent figures", "fuzz figures"):
        assert kept in text
    assert text.count("### GPU") == 1 and text.count("## Speed") == 1
