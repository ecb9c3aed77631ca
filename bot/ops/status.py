"""`agora status`: what is installed and stored, and the health of a running bot (when it serves /healthz)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from bot.config import Config, OpsConfig
from bot.ops.settings_io import ReadOnlyDatabase, database_path
from bot.storage.database import migrations
from bot.storage.repositories import DigestCache, SettingsRepository

HEALTH_TIMEOUT = 3.0


def health_url(ops: OpsConfig) -> str:
    """Where a bot running with this config answers /healthz (a wildcard address is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(ops.metrics_host, ops.metrics_host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{ops.metrics_port}/healthz"


async def fetch_health(ops: OpsConfig) -> dict[str, Any]:
    """{"reachable": bool, "http_status": int, "health": {...}} or {"reachable": False, "error": ...}."""
    if not ops.metrics_enabled:
        return {"reachable": False, "error": "ops.metrics_enabled = false"}
    url = health_url(ops)
    try:
        async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT, trust_env=False) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        return {"reachable": False, "url": url, "error": f"{type(exc).__name__}: {exc}"}
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:200]
    return {"reachable": True, "url": url, "http_status": response.status_code, "health": body}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.is_file())


def _local_facts(config: Config, config_file: str | None) -> dict[str, Any]:
    """What the files say (blocking: run in a thread)."""
    from bot.model.factory import describe_model
    from bot.model.store import ModelStore

    db_path = database_path(config)
    database: dict[str, Any] = {"path": str(db_path), "exists": db_path.is_file(), "latest_schema": len(migrations())}
    if database["exists"]:
        database["bytes"] = _size(db_path)
    return {
        "config": str(Path(config_file).resolve()) if config_file else None,
        "data_dir": str(config.data_path),
        "database": database,
        "settings_scopes": {},
        "model": describe_model(config.model, ModelStore(config.data_path), load=False),
        "platforms": {"matrix": config.matrix.enabled, "discord": config.discord.enabled},
    }


async def gather_status(config: Config, config_file: str | None) -> dict[str, Any]:
    """Everything `agora status` shows, as a JSON-ready dict (read-only: nothing is created)."""
    status = await asyncio.to_thread(_local_facts, config, config_file)
    database = status["database"]
    if database["exists"]:
        try:
            async with ReadOnlyDatabase(Path(database["path"])) as db:
                async with db.conn.execute("PRAGMA user_version") as cur:
                    row = await cur.fetchone()
                database["schema"] = int(row[0]) if row else 0
                database["cached_digests"] = await DigestCache(db).count()
                repo = SettingsRepository(db)
                for scope in await repo.scopes():
                    status["settings_scopes"][scope] = len(await repo.get_all(scope))
        except Exception as exc:  # an older schema, a locked or damaged file: say so, show the rest
            database["error"] = f"{type(exc).__name__}: {exc}"
    status["running"] = await fetch_health(config.ops)
    return status


def format_status(status: dict[str, Any]) -> str:
    """The French, human-readable form of `gather_status`."""
    db = status["database"]
    lines = [
        f"configuration : {status['config'] or 'valeurs par défaut'}",
        f"données       : {status['data_dir']}",
    ]
    if not db["exists"]:
        lines.append(f"base          : absente ({db['path']}) : le bot n'a encore rien enregistré")
    else:
        schema = db.get("schema", "?")
        note = "" if schema == db["latest_schema"] else f" (le code attend {db['latest_schema']} : migrée au démarrage)"
        lines.append(f"base          : {db['path']} ({_human(db['bytes'])}), schéma {schema}{note}")
        if "error" in db:
            lines.append(f"                illisible : {db['error']}")
        else:
            lines.append(f"cache         : {db['cached_digests']} résumé(s)")
    scopes = status["settings_scopes"]
    if scopes:
        lines.append(f"réglages      : {len(scopes)} portée(s)")
        lines += [f"  {scope} ({count} réglage(s))" for scope, count in scopes.items()]
    else:
        lines.append("réglages      : aucun (valeurs par défaut partout)")
    lines.append("modèle        : " + ", ".join(f"{k} = {v}" for k, v in status["model"].items()))
    enabled = [name for name, on in status["platforms"].items() if on] or ["aucune"]
    lines.append(f"plateformes   : {', '.join(enabled)}")
    running = status["running"]
    if running.get("reachable"):
        health = running.get("health")
        state = health.get("status", "?") if isinstance(health, dict) else "?"
        lines.append(f"bot en marche : {state} (HTTP {running['http_status']}, {running['url']})")
        if isinstance(health, dict):
            lines.append("  " + json.dumps(health, ensure_ascii=False))
    elif running.get("error") == "ops.metrics_enabled = false":
        lines.append("bot en marche : inconnu ([ops] metrics_enabled = false)")
    else:
        lines.append(f"bot en marche : aucun ne répond sur {running.get('url')} ({running.get('error')})")
    return "\n".join(lines)


def _human(size: int) -> str:
    for unit in ("o", "Ko", "Mo", "Go"):
        if size < 1024 or unit == "Go":
            return f"{size:.0f} {unit}" if unit == "o" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} o"  # pragma: no cover
