"""`agora status` and `agora settings export|import`, run as a user would (python -m bot, temp config)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import OpsConfig
from bot.ops.metrics import Metrics
from bot.ops.server import OpsServer
from bot.storage.database import migrations

ROOT = Path(__file__).resolve().parents[2]
SCOPE = "matrix:channel:!room:example.org"


def write_config(tmp_path: Path, ops: str = "") -> Path:
    path = tmp_path / "agora.toml"
    path.write_text(f'[general]\ndata_dir = "data"\n[model]\nbackend = "echo"\n{ops}', encoding="utf-8")
    return path


def agora(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AGORA_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "bot", "-c", str(config), *args],
        cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_status_of_a_fresh_install_creates_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = agora(config, "status")
    assert result.returncode == 0, result.stderr
    assert f"données       : {tmp_path / 'data'}" in result.stdout
    assert "base          : absente" in result.stdout
    assert "backend = echo" in result.stdout
    assert "bot en marche : inconnu ([ops] metrics_enabled = false)" in result.stdout
    assert not (tmp_path / "data").exists()


def test_settings_import_export_round_trip_and_status(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    document = {
        "format": "agora-settings/1",
        "scope": SCOPE,
        "settings": {
            "resume_auto": True,
            "liens_par_message": 2,
            "domaines_bloques": ["exemple.fr", "*.pub.example.com"],
            "recap_heure": "7h05",  # text as a moderator would type it: validated and normalised
            "fuseau": "Europe/Paris",
        },
    }
    (tmp_path / "in.json").write_text(json.dumps(document), encoding="utf-8")
    result = agora(config, "settings", "import", str(tmp_path / "in.json"))
    assert result.returncode == 0, result.stderr
    assert "5 réglage(s) importé(s)" in result.stdout

    exported = json.loads(agora(config, "settings", "export", SCOPE).stdout)
    assert exported == {
        "format": "agora-settings/1",
        "scope": SCOPE,
        "settings": {
            "domaines_bloques": ["*.pub.example.com", "exemple.fr"],
            "fuseau": "Europe/Paris",
            "liens_par_message": 2,
            "recap_heure": "07:05",
            "resume_auto": True,
        },
    }
    # What was exported imports again, unchanged, into another room (stdin, --scope).
    other = "discord:server:1234"
    result = agora(config, "settings", "import", "-", "--scope", other, stdin=json.dumps(exported))
    assert result.returncode == 0, result.stderr
    again = json.loads(agora(config, "settings", "export", other).stdout)
    assert again["settings"] == exported["settings"] and again["scope"] == other

    status = json.loads(agora(config, "status", "--json").stdout)
    assert status["database"]["exists"] and status["database"]["schema"] == len(migrations())
    assert status["database"]["cached_digests"] == 0
    assert status["settings_scopes"] == {other: 5, SCOPE: 5}
    assert status["model"]["backend"] == "echo"
    text = agora(config, "status").stdout
    assert f"{SCOPE} (5 réglage(s))" in text and f"schéma {len(migrations())}" in text


def test_an_invalid_file_changes_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    good = {"scope": SCOPE, "settings": {"longueur": "court"}}
    assert agora(config, "settings", "import", "-", stdin=json.dumps(good)).returncode == 0
    bad = {
        "scope": SCOPE,
        "settings": {"longueur": "long", "liens_par_message": 99, "inconnu": 1, "domaines_bloques": ["a.fr b.fr"]},
    }
    result = agora(config, "settings", "import", "-", stdin=json.dumps(bad))
    assert result.returncode == 1
    assert "liens_par_message" in result.stderr and "inconnu" in result.stderr
    assert "domaines_bloques" in result.stderr
    assert json.loads(agora(config, "settings", "export", SCOPE).stdout)["settings"] == {"longueur": "court"}
    for broken in ("{not json", json.dumps({"scope": "nowhere", "settings": {}}), json.dumps([1])):
        assert agora(config, "settings", "import", "-", stdin=broken).returncode == 1


def test_replace_removes_what_the_file_does_not_set(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    first = {"scope": SCOPE, "settings": {"longueur": "court", "resume_auto": "oui"}}
    assert agora(config, "settings", "import", "-", stdin=json.dumps(first)).returncode == 0
    second = {"scope": SCOPE, "settings": {"longueur": "long"}}
    assert agora(config, "settings", "import", "-", "--replace", stdin=json.dumps(second)).returncode == 0
    assert json.loads(agora(config, "settings", "export", SCOPE).stdout)["settings"] == {"longueur": "long"}


@pytest.mark.parametrize("healthy", [True, False])
async def test_status_check_asks_the_running_bot(tmp_path: Path, healthy: bool) -> None:
    async def health() -> tuple[bool, dict[str, object]]:
        return healthy, {"status": "ok" if healthy else "unhealthy"}

    ops = OpsConfig(metrics_enabled=True, metrics_port=0)
    async with OpsServer(ops, Metrics(), health) as server:
        config = write_config(tmp_path, f"[ops]\nmetrics_enabled = true\nmetrics_port = {server.port}\n")
        check = await asyncio.to_thread(agora, config, "status", "--check")
        full = await asyncio.to_thread(agora, config, "status")
    assert check.returncode == (0 if healthy else 1), check.stdout + check.stderr
    state = "ok" if healthy else "unhealthy"
    assert f"bot en marche : {state} (HTTP {200 if healthy else 503}" in full.stdout


def test_status_check_without_a_bot_fails(tmp_path: Path) -> None:
    assert agora(write_config(tmp_path), "status", "--check").returncode == 1
