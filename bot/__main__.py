"""Command line: `agora digest URL|FILE|-`, `agora model install|info`, `agora config check`, `agora run`,
`agora status`, `agora settings export|import`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bot.config import Config, load_config
from bot.core.types import Length
from bot.errors import AgoraError, ConfigError
from bot.ops.logging import setup_logging

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="agora", description="Agora : résumés-débats en français de liens partagés."
    )
    p.add_argument("-c", "--config", help="fichier TOML (défaut : $AGORA_CONFIG ou valeurs par défaut)")
    p.add_argument("-v", "--verbose", action="store_true", help="journal détaillé sur stderr")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("digest", help="résumer un lien, un fichier ou l'entrée standard (-)")
    d.add_argument("source", help="URL http(s), chemin de fichier (HTML, PDF, texte) ou - pour stdin")
    d.add_argument("-l", "--length", choices=[x.value for x in Length], default=None)
    d.add_argument("--json", action="store_true", help="résultat structuré en JSON")
    d.add_argument(
        "--model", help="remplace model.source (embedded, smollm2, fichier .gguf, dossier, id du hub)"
    )
    d.add_argument(
        "--backend", choices=["auto", "llamacpp", "transformers", "remote", "echo"], help="remplace model.backend"
    )
    d.add_argument("--stats", action="store_true", help="affiche les mesures (jetons, durées) sur stderr")

    m = sub.add_parser("model", help="gérer le modèle")
    msub = m.add_subparsers(dest="model_command", required=True)
    msub.add_parser("install", help="assembler et vérifier le modèle intégré (une seule fois)")
    mi = msub.add_parser("info", help="quel modèle, où, sur quel appareil et en quel type")
    mi.add_argument(
        "--load", action="store_true", help="charger le modèle pour connaître appareil et type réels"
    )

    sub.add_parser("run", help="lancer les bots Matrix et/ou Discord activés dans la configuration")
    sub.add_parser("console", help="essayer le bot dans le terminal (une ligne = un message)")

    c = sub.add_parser("config", help="configuration")
    csub = c.add_subparsers(dest="config_command", required=True)
    csub.add_parser("check", help="valider le fichier de configuration")

    st = sub.add_parser("status", help="données, base, cache, réglages, modèle, et santé du bot en marche")
    st.add_argument("--json", action="store_true", help="résultat structuré en JSON")
    st.add_argument(
        "--check",
        action="store_true",
        help="seulement la santé du bot en marche (/healthz) : code de sortie 0 s'il va bien, 1 sinon",
    )

    s = sub.add_parser("settings", help="exporter ou importer les réglages d'un serveur ou d'un salon (JSON)")
    ssub = s.add_subparsers(dest="settings_command", required=True)
    se = ssub.add_parser("export", help="écrire en JSON les réglages d'une portée (voir agora status)")
    se.add_argument("scope", help="discord:server:<id>, discord:channel:<id> ou matrix:channel:<id du salon>")
    se.add_argument("-o", "--output", help="fichier de sortie (défaut : sortie standard)")
    si = ssub.add_parser("import", help="lire un fichier exporté ; tout est validé avant d'écrire")
    si.add_argument("file", help="fichier JSON (ou - pour l'entrée standard)")
    si.add_argument("--scope", help="importer dans cette portée plutôt que celle du fichier")
    si.add_argument(
        "--replace", action="store_true", help="supprimer aussi les réglages de la portée absents du fichier"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        config_file = args.config or os.environ.get("AGORA_CONFIG") or None
        config = load_config(config_file)
        # The bot logs at general.log_level; one-shot commands only say what went wrong, unless -v.
        quiet = None if args.command in ("run", "console") else logging.WARNING
        setup_logging(config, level=logging.DEBUG if args.verbose else quiet)
        if args.command == "config":
            print(f"configuration valide ; données dans {config.data_path}")
            return EXIT_OK
        if args.command == "model":
            return _model_command(args, config)
        if args.command == "run":
            from bot.service import run_bots

            asyncio.run(run_bots(config))
            return EXIT_OK
        if args.command == "console":
            return asyncio.run(_console(config))
        if args.command == "status":
            return asyncio.run(_status_command(args, config, config_file))
        if args.command == "settings":
            return asyncio.run(_settings_command(args, config))
        return asyncio.run(_digest_command(args, config))
    except ConfigError as exc:
        print(f"agora: configuration invalide : {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AgoraError as exc:
        print(f"agora: {exc.user_message}" + (f" ({exc.detail})" if exc.detail else ""), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("agora: interrompu", file=sys.stderr)
        return 130


@contextmanager
def _status(enabled: bool) -> Iterator[Status]:
    status = Status(enabled)
    try:
        yield status
    finally:
        status.stop()


class Status:
    """A one-line progress display on stderr when it is a terminal; silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self._live = None
        self._started = time.monotonic()
        if enabled and sys.stderr.isatty():
            from rich.console import Console

            self._live = Console(stderr=True).status("démarrage…")
            self._live.start()

    def __call__(self, message: str) -> None:
        if self._live is not None:
            self._live.update(f"{message} [{time.monotonic() - self._started:.0f} s]")
        else:
            logging.getLogger("agora.progress").info(message)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _model_command(args: argparse.Namespace, config: Config) -> int:
    from bot.model.factory import describe_model
    from bot.model.store import ModelStore

    store = ModelStore(config.data_path)
    if args.model_command == "install":
        with _status(True) as status:
            path = store.install(progress=status)
        print(f"modèle intégré prêt : {path}")
        return EXIT_OK
    info = describe_model(config.model, store, load=args.load)
    for key, value in info.items():
        print(f"{key:>10} : {value}")
    return EXIT_OK


async def _status_command(args: argparse.Namespace, config: Config, config_file: str | None) -> int:
    from bot.ops.status import fetch_health, format_status, gather_status

    if args.check:
        running = await fetch_health(config.ops)
        healthy = running.get("reachable") and running.get("http_status") == 200
        if args.json:
            print(json.dumps(running, ensure_ascii=False))
        elif healthy:
            print(f"ok ({running['url']})")
        else:
            print(f"agora: bot en mauvaise santé ou injoignable : {running.get('health') or running.get('error')}")
        return EXIT_OK if healthy else EXIT_ERROR
    status = await gather_status(config, config_file)
    print(json.dumps(status, ensure_ascii=False, indent=2) if args.json else format_status(status))
    return EXIT_OK


async def _settings_command(args: argparse.Namespace, config: Config) -> int:
    from bot.ops.settings_io import export_scope, import_scope, parse_document

    if args.settings_command == "export":
        document = await export_scope(config, args.scope)
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        if args.output:
            await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
            print(f"{len(document['settings'])} réglage(s) de {document['scope']} écrits dans {args.output}")
        else:
            sys.stdout.write(text)
        return EXIT_OK
    try:
        if args.file == "-":
            raw = await asyncio.to_thread(sys.stdin.read)
        else:
            raw = await asyncio.to_thread(Path(args.file).read_text, encoding="utf-8")
        data = json.loads(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"agora: fichier de réglages illisible : {exc}", file=sys.stderr)
        return EXIT_ERROR
    scope, raws = parse_document(data, args.scope)
    stored = await import_scope(config, scope, raws, replace=args.replace)
    print(f"{len(raws)} réglage(s) importé(s) dans {scope} ; {len(stored)} réglage(s) y sont définis")
    return EXIT_OK


async def _console(config: Config) -> int:
    from bot.app import Agora
    from bot.core.bot import BotCore
    from bot.platforms.console import ConsolePlatform

    async with Agora(config) as app:
        await ConsolePlatform(BotCore(app)).run()
    return EXIT_OK


async def _digest_command(args: argparse.Namespace, config: Config) -> int:
    from bot.app import Agora
    from bot.pipeline.render import to_markdown, to_plain

    model_changes = {k: v for k, v in (("source", args.model), ("backend", args.backend)) if v}
    if model_changes:
        config = config.replace(model=model_changes)
    length = Length(args.length or config.digest.default_length)
    with _status(not args.json) as status:
        async with Agora(config) as app:
            if args.source == "-":
                data = await asyncio.to_thread(sys.stdin.buffer.read)
                outcome = await app.digest_bytes(data, length, progress=status)
            elif args.source.lower().startswith(("http://", "https://")) or "://" in args.source:
                outcome = await app.digest_url(args.source, length, progress=status)
            else:
                path = Path(args.source)
                if not await asyncio.to_thread(path.is_file):
                    raise AgoraError(
                        f"not a file or URL: {args.source}",
                        user_message=f"« {args.source} » n'est ni une adresse http(s) ni un fichier lisible.",
                    )
                outcome = await app.digest_file(path, length, progress=status)
    digest = outcome.digest
    if args.json:
        print(json.dumps(digest.to_dict() | {"cached": outcome.cached}, ensure_ascii=False, indent=2))
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(to_markdown(digest)))
    else:
        print(to_plain(digest))
    if args.stats:
        figures = {k: round(v, 3) for k, v in digest.stats.items()} | {
            "cached": outcome.cached,
            "seconds_total": round(outcome.seconds, 3),
        }
        print(json.dumps(figures), file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
