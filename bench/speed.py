"""Digest speed on this machine's CPU: llama.cpp and/or transformers with the embedded model.

Usage: .venv/bin/python bench/speed.py [--backend llamacpp|transformers|both] [--model embedded]
                                       [--length court|standard|long] [--page FOLDER] [--no-write]
                                       [--concurrent N]

Each backend is measured in its own process (so that peak memory and the cold load are its own):

- load: cold = the first load in a fresh process, imports included (transformers: including the
  one-time GGUF -> safetensors conversion, done into an empty cache); warm = loading again;
- one digest of a ~1,000-word corpus article through `Agora.digest_url` from a 127.0.0.1 server
  (fetch, extract, condense, the real Summarizer and ModelRunner, 6 turns in one session), with the
  prefill speed of the first turn (the article), the decode speed over every turn, token counts;
- the cached repeat: the same `digest_url` again, answered from the digest cache;
- peak RSS of the process (`ru_maxrss`) and the RSS after loading;
- for llama.cpp, a reference: the same GGUF and the same first-turn prompt through llama-cpp-python's
  raw `Llama.__call__`, timed by llama.cpp itself (`llama_perf_context`): what the engine alone does;
- with `--concurrent N`, N digests of the same article at N different addresses started at once
  through one `Agora` (the bot's path: Summarizer, ModelRunner batching, one session each): aggregate
  generated tokens/s, digests per minute, per-digest latency p50/p95 and the batches the runner made,
  next to the one-digest figures. The llama.cpp backend serves one sequence at a time (its `generate`
  runs a batch's requests one after the other), so its N digests only queue; transformers decodes a
  batch's rows together.

Prints a table and replaces the "## Speed" section of bench/RESULTS.md (unless --no-write); the
latest figures of each backend are kept in bench/speed-results.json so that running one backend
alone keeps the other's row. The section ends with the GPU figures of bench/gpu.py (bench/gpu-results.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import http.server
import json
import math
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.gpu import STORED as GPU_STORED  # noqa: E402
from bench.gpu import gpu_subsection  # noqa: E402
from bench.results import replace_section  # noqa: E402
from bot.app import Agora, document_from_bytes  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.core.types import Length  # noqa: E402
from bot.model.backend import Backend, GenerationRequest, GenerationResult, ModelInfo  # noqa: E402
from bot.model.runner import ModelRunner  # noqa: E402
from bot.model.store import ModelStore  # noqa: E402
from bot.pipeline.extract import extract  # noqa: E402

RESULTS = REPO / "bench" / "RESULTS.md"
STORED = REPO / "bench" / "speed-results.json"
CORPUS = Path(os.environ.get("AGORA_CORPUS", REPO.parent / "shared" / "corpus"))
#: 978 words once extracted: a debate-worthy article of about the size the brief asks for.
DEFAULT_PAGE = "fr28-orangesum-loi-bioethique-pma-gpa"
#: The config's budget for the article; rows measured with another say so in their label.
DEFAULT_ARTICLE_TOKENS = Config().digest.article_tokens
SECTION = "Speed"
BACKENDS = ("llamacpp", "transformers")
#: Why N concurrent digests don't go faster with llama.cpp (said next to its figures).
LLAMACPP_SERIAL = (
    "llama.cpp backend: one sequence at a time (LlamaCppBackend.generate runs a batch's requests one "
    "after the other, swapping session states), so concurrent digests queue"
)


# --- measuring one backend (runs in a child process) ------------------------------------------------


class Recorder:
    """A Backend wrapper that keeps every result, so the bench can tell the turns apart."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.info: ModelInfo = inner.info
        self.results: list[GenerationResult] = []
        self.requests: list[GenerationRequest] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        self.requests += requests
        results = self.inner.generate(requests)
        self.results += results
        return results

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def end_session(self, session: str) -> None:
        self.inner.end_session(session)

    def close(self) -> None:
        """Left open: the bench runs several digests with one loaded model, and closes it itself."""


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


@contextlib.contextmanager
def serve(body: bytes) -> Iterator[str]:
    """Serve `body` as an HTML page on 127.0.0.1; yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/article"
    finally:
        server.shutdown()
        server.server_close()


def load_backend(name: str, gguf: Path, conversion_dir: Path, threads: int | None) -> tuple[Backend, float]:
    """Load `gguf` with backend `name`; returns the backend and its GGUF conversion seconds."""
    store = ModelStore(conversion_dir)
    if name == "llamacpp":
        from bot.model.llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend.load(
            str(gguf), store=store, context_tokens=Config().model.context_tokens, threads=threads
        ), 0.0
    from bot.model.transformers_backend import TransformersBackend

    backend = TransformersBackend.load(str(gguf), store=store, device="cpu", threads=threads)
    return backend, backend.conversion_seconds


def state_costs(backend: Any) -> dict[str, float]:
    """What switching sessions costs: copying the context's state (the last digest's tokens) aside and
    back, as LlamaCppBackend does, against llama-cpp-python's own `save_state`/`load_state`."""
    llm = backend.llm
    tokens = int(llm.n_tokens)
    started = time.perf_counter()
    saved = backend._save()
    save = time.perf_counter() - started
    started = time.perf_counter()
    backend._restore(saved)
    restore = time.perf_counter() - started
    started = time.perf_counter()
    state = llm.save_state()
    lib_save = time.perf_counter() - started
    started = time.perf_counter()
    llm.load_state(state)
    lib_load = time.perf_counter() - started
    lib_bytes = state.llama_state_size + state.scores.nbytes + state.input_ids.nbytes
    return {
        "tokens": tokens,
        "bytes": float(saved.size),
        "save_ms": save * 1000,
        "restore_ms": restore * 1000,
        "lib_bytes": float(lib_bytes),
        "lib_save_ms": lib_save * 1000,
        "lib_load_ms": lib_load * 1000,
    }


def engine_reference(gguf: Path, prompt: str, max_tokens: int, threads: int | None) -> dict[str, float]:
    """llama-cpp-python's raw completion of `prompt`, timed by llama.cpp's own counters."""
    import llama_cpp

    from bot.model.llamacpp_backend import _cpu_count

    n_threads = threads or _cpu_count()
    llm = llama_cpp.Llama(
        model_path=str(gguf),
        n_ctx=Config().model.context_tokens,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        verbose=False,
    )
    try:
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        out = llm(prompt, max_tokens=max_tokens, temperature=0.0, top_k=1, repeat_penalty=1.0)
        wall = time.perf_counter() - started
        share = cpu_share(cpu_before, wall, n_threads)
        perf = llama_cpp.llama_perf_context(llm.ctx)
        usage = out["usage"]  # type: ignore[index]
        return {
            "prompt_tokens": float(perf.n_p_eval),
            "prefill_seconds": perf.t_p_eval_ms / 1000,
            "prefill_tps": perf.n_p_eval / (perf.t_p_eval_ms / 1000),
            "completion_tokens": float(usage["completion_tokens"]),
            "decode_tokens": float(perf.n_eval),
            "decode_seconds": perf.t_eval_ms / 1000,
            "decode_tps": perf.n_eval / (perf.t_eval_ms / 1000) if perf.n_eval else 0.0,
            "wall_seconds": wall,
            "cpu_share": share,
        }
    finally:
        llm.close()


def _same(backend: Backend) -> Backend:
    return backend


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_share(cpu_before: float, wall: float, threads: int) -> float:
    """CPU time this process got ÷ (wall time × model threads): near 1 on an idle machine; well below 1
    when other processes took the cores (llama.cpp's threads then wait on each other)."""
    return (_cpu_seconds() - cpu_before) / (wall * threads) if wall > 0 else 0.0


async def digest_runs(
    backend: Backend,
    page: Path,
    gguf: Path,
    name: str,
    length: Length,
    runs: int,
    threads: int,
    digest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`runs` digests through Agora.digest_url from a loopback server (each with an empty digest cache),
    then the cached repeat; the figures are those of the fastest run, the others are listed."""
    meta = json.loads((page / "meta.json").read_text(encoding="utf-8"))
    body = (page / meta.get("file", "source.html")).read_bytes()
    measured: list[dict[str, Any]] = []
    for _ in range(runs):
        recorder = Recorder(backend)
        with tempfile.TemporaryDirectory(prefix="agora-speed-") as data, serve(body) as url:
            config = Config().replace(
                general={"data_dir": data},
                model={"source": str(gguf), "backend": name},
                fetch={"allow_loopback": True},
                digest=digest or {},
            )
            runner = ModelRunner(functools.partial(_same, recorder), max_batch_size=config.model.max_batch_size)
            async with Agora(config, runner=runner) as app:
                cpu_before = _cpu_seconds()
                first = await app.digest_url(url, length)
                share = cpu_share(cpu_before, first.seconds, threads)
                repeat = await app.digest_url(url, length)
                repeat2 = await app.digest_url(url, length)
                # The first turn's prompt as llama.cpp sees it, for the engine reference (runner idle now).
                render = getattr(backend, "render", None)
                turn1_prompt = render(recorder.requests[0]) if render else ""
        assert not first.cached and repeat.cached and repeat2.cached
        results = recorder.results
        turn1 = results[0]
        decode_tokens = sum(max(r.completion_tokens - 1, 0) for r in results)
        decode_seconds = sum(r.decode_seconds for r in results)
        prefilled = sum(r.new_prompt_tokens for r in results)
        prefill_seconds = sum(r.prefill_seconds for r in results)
        measured.append(
            {
                "digest_seconds": first.seconds,
                "cpu_share": share,
                "model_seconds": prefill_seconds + decode_seconds,
                "cached_ms": min(repeat.seconds, repeat2.seconds) * 1000,
                "turns": len(results),
                "article_words": len(extract_words(body, url)),
                "article_tokens": first.digest.stats.get("article_tokens", 0.0),
                "condensed": bool(first.digest.stats.get("condensed", 0.0)),
                "prompt_tokens": sum(r.prompt_tokens for r in results),
                "prefilled_tokens": prefilled,
                "completion_tokens": sum(r.completion_tokens for r in results),
                "turn1_prompt_tokens": turn1.new_prompt_tokens,
                "turn1_prefill_seconds": turn1.prefill_seconds,
                "turn1_prefill_tps": turn1.new_prompt_tokens / turn1.prefill_seconds,
                "later_turns_prefilled": [r.new_prompt_tokens for r in results[1:]],
                "later_turns_prompt": [r.prompt_tokens for r in results[1:]],
                "prefill_tps": prefilled / prefill_seconds,
                "decode_tps": decode_tokens / decode_seconds if decode_seconds else 0.0,
                "prefill_seconds": prefill_seconds,
                "decode_seconds": decode_seconds,
                "regenerated_parts": first.digest.stats.get("regenerated_parts", 0.0),
                "turn1_prompt": turn1_prompt,
                "turn1_max_new_tokens": recorder.requests[0].params.max_new_tokens,
                "digest_text": {p.name.lower(): t for p, t in first.digest.parts.items()},
            }
        )
    best = min(measured, key=lambda m: m["digest_seconds"])
    return best | {
        "runs": [{"digest_seconds": m["digest_seconds"], "cpu_share": m["cpu_share"]} for m in measured],
        "same_text_every_run": all(m["digest_text"] == best["digest_text"] for m in measured),
    }


async def concurrent_runs(
    backend: Backend,
    page: Path,
    gguf: Path,
    name: str,
    length: Length,
    n: int,
    threads: int,
    digest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """N digests of the page at N addresses, started together through one Agora (the bot's path)."""
    meta = json.loads((page / "meta.json").read_text(encoding="utf-8"))
    body = (page / meta.get("file", "source.html")).read_bytes()
    recorder = Recorder(backend)
    if hasattr(backend, "max_sessions"):
        backend.max_sessions = max(backend.max_sessions, n)  # one kept session per digest in flight
    base = Config().model
    with tempfile.TemporaryDirectory(prefix="agora-speed-") as data, serve(body) as url:
        config = Config().replace(
            general={"data_dir": data},
            model={
                "source": str(gguf),
                "backend": name,
                "max_batch_size": max(n, base.max_batch_size),
                "sessions": max(n, base.sessions),
            },
            fetch={"allow_loopback": True},
            digest=digest or {},
        )
        runner = ModelRunner(functools.partial(_same, recorder), max_batch_size=config.model.max_batch_size)
        async with Agora(config, runner=runner) as app:
            await runner.wait_ready()

            async def one(index: int) -> float:
                started = time.perf_counter()
                outcome = await app.digest_url(f"{url}-{index}", length)
                assert not outcome.cached
                seconds = time.perf_counter() - started
                print(f"   concurrent digest {index + 1}/{n} done in {seconds:.1f} s", flush=True)
                return seconds

            print(f"   {n} digests at once...", flush=True)
            cpu_before = _cpu_seconds()
            started = time.perf_counter()
            latencies = sorted(await asyncio.gather(*(one(i) for i in range(n))))
            wall = time.perf_counter() - started
            share = cpu_share(cpu_before, wall, threads)
            stats = runner.stats
    results = recorder.results
    completion = sum(r.completion_tokens for r in results)
    return {
        "n": n,
        "wall_seconds": wall,
        "cpu_share": share,
        "digests_per_minute": n / wall * 60,
        "completion_tokens": completion,
        "completion_tps": completion / wall,
        "prefilled_tokens": sum(r.new_prompt_tokens for r in results),
        "prompt_tokens": sum(r.prompt_tokens for r in results),
        "latency_p50": statistics.median(latencies),
        "latency_p95": latencies[max(0, math.ceil(0.95 * n) - 1)],
        "latencies": latencies,
        "batches": stats.batches,
        "requests": stats.requests,
        "max_batch": stats.max_batch_seen,
        "max_batch_size": config.model.max_batch_size,
    }


def extract_words(body: bytes, url: str) -> list[str]:
    return extract(document_from_bytes(body, url=url, name="source.html")).text.split()


def measure(
    name: str,
    gguf: Path,
    page: Path,
    length: Length,
    threads: int | None,
    runs: int,
    concurrent: int = 0,
    digest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One backend's figures; `digest` overrides keys of the config's [digest] section."""
    from bot.model.llamacpp_backend import _cpu_count

    cores = threads or _cpu_count()
    started = time.perf_counter()
    module = "bot.model.llamacpp_backend" if name == "llamacpp" else "bot.model.transformers_backend"
    __import__(module)
    import_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(
        prefix="agora-speed-conv-", dir=REPO / ".agora-data" if (REPO / ".agora-data").is_dir() else None
    ) as conv:
        cold_started = time.perf_counter()
        backend, conversion = load_backend(name, gguf, Path(conv), threads)
        cold = time.perf_counter() - cold_started + import_seconds
        backend.close()
        del backend
        warm_started = time.perf_counter()
        backend, _ = load_backend(name, gguf, Path(conv), threads)
        warm = time.perf_counter() - warm_started
        rss_loaded = _rss_mb()
        out: dict[str, Any] = {
            "backend": name,
            "model": backend.info.name,
            "dtype": backend.info.dtype,
            "device": backend.info.device,
            "import_seconds": import_seconds,
            "load_cold_seconds": cold,
            "conversion_seconds": conversion,
            "load_warm_seconds": warm,
            "rss_after_load_mb": rss_loaded,
        }
        out |= asyncio.run(digest_runs(backend, page, gguf, name, length, runs, cores, digest))
        out["peak_rss_mb"] = _peak_rss_mb()  # before the state copies below, which are the bench's own
        if concurrent:
            out["concurrent"] = asyncio.run(
                concurrent_runs(backend, page, gguf, name, length, concurrent, cores, digest)
            )
            out["concurrent"]["peak_rss_mb"] = _peak_rss_mb()
        if name == "llamacpp":
            out["state"] = state_costs(backend)
        backend.close()
    if name == "llamacpp":
        references = [
            engine_reference(gguf, out["turn1_prompt"], out["turn1_max_new_tokens"], threads) for _ in range(runs)
        ]
        out["reference"] = max(references, key=lambda r: r["decode_tps"])
        out["reference_runs"] = [{k: r[k] for k in ("prefill_tps", "decode_tps", "cpu_share")} for r in references]
    del out["turn1_prompt"]
    return out


# --- orchestration ----------------------------------------------------------------------------------


def find_gguf(model: str) -> Path:
    """The model's GGUF: "embedded" from the data folder where it is installed (installing it if none)."""
    if model != "embedded":
        return ModelStore(REPO / "data").resolve(model).path
    for folder in (REPO / "data", REPO / ".agora-data"):
        store = ModelStore(folder)
        if store.is_installed():
            return store.embedded_path()
    return ModelStore(REPO / "data").resolve("embedded").path


def run_worker(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one backend in a child process; returns its figures."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--model",
        args.model,
        "--length",
        args.length,
        "--page",
        args.page,
        "--worker-out",
        str(out),
    ]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.runs:
        command += ["--runs", str(args.runs)]
    if args.concurrent:
        command += ["--concurrent", str(args.concurrent)]
    if args.article_tokens:
        command += ["--article-tokens", str(args.article_tokens)]
    try:
        subprocess.run(command, check=True)
        return json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    p.add_argument("--model", default="embedded")
    p.add_argument("--length", choices=[x.value for x in Length], default="standard")
    p.add_argument("--page", default=DEFAULT_PAGE, help="corpus folder of the article")
    p.add_argument("--threads", type=int, default=0, help="model threads (0: one per core)")
    p.add_argument(
        "--runs", type=int, default=0, help="digests per backend, fastest kept (0: 2 llama.cpp, 1 transformers)"
    )
    p.add_argument(
        "--concurrent", type=int, default=0, help="also N digests at once through the bot's path (0: not measured)"
    )
    p.add_argument("--article-tokens", type=int, default=0, help="the article's token budget (0: the config's default)")
    p.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    p.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    gguf = find_gguf(args.model)
    page = CORPUS / args.page
    if args.worker:
        count = args.runs or (2 if args.worker == "llamacpp" else 1)
        digest = {"article_tokens": args.article_tokens} if args.article_tokens else {}
        figures = measure(
            args.worker, gguf, page, Length(args.length), args.threads or None, count, args.concurrent, digest
        )
        Path(args.worker_out).write_text(json.dumps(figures, ensure_ascii=False), encoding="utf-8")
        return 0

    command = "python bench/speed.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    names = BACKENDS if args.backend == "both" else (args.backend,)
    runs: dict[str, Any] = {}
    for name in names:
        load_before = os.getloadavg()[0]
        print(f"== {name}: {args.length} digest of {args.page} with {gguf.name}", flush=True)
        figures = run_worker(name, args)
        figures |= {
            "command": command.strip(),
            "date": dt.date.today().isoformat(),
            "length": args.length,
            "page": args.page,
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg()[0],
            "model_arg": args.model,
            "gguf": gguf.name,
            "threads": args.threads or os.cpu_count(),
            "article_budget": args.article_tokens or DEFAULT_ARTICLE_TOKENS,
            "code": code_revision(),
        }
        # One row per backend and length (and model, when it is not the embedded one).
        key = f"{name}:{args.length}" + ("" if args.model == "embedded" else f":{args.model}")
        if args.article_tokens and args.article_tokens != DEFAULT_ARTICLE_TOKENS:
            key += f":art{args.article_tokens}"
        runs[key] = figures
        print(table({key: figures}), flush=True)
        if figures.get("concurrent"):
            print(concurrent_table({key: figures}), flush=True)
            if name == "llamacpp":
                print(f"({LLAMACPP_SERIAL}.)", flush=True)
    if not args.no_write:
        stored = json.loads(STORED.read_text(encoding="utf-8")) if STORED.is_file() else {}
        stored |= runs
        STORED.write_text(json.dumps(stored, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        write_section(report(stored))
        print(f"wrote the '## {SECTION}' section of {RESULTS.relative_to(REPO)}")
    return 0


# --- report -----------------------------------------------------------------------------------------


def table(runs: dict[str, Any]) -> str:
    head = (
        "| | load cold s | load warm s | prefill tok/s (turn 1) | decode tok/s | digest s "
        "| prompt / prefilled / generated tokens | peak RSS MB | cached repeat ms | CPU share |"
    )
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs.values():
        label = _label(r)
        cold = f"{r['load_cold_seconds']:.1f}"
        if r.get("conversion_seconds"):
            cold += f" (conversion {r['conversion_seconds']:.0f})"
        rows.append(
            f"| {label} | {cold} | {r['load_warm_seconds']:.1f} "
            f"| {r['turn1_prefill_tps']:.1f} ({r['turn1_prompt_tokens']} tok) | {r['decode_tps']:.1f} "
            f"| {r['digest_seconds']:.1f} | {r['prompt_tokens']} / {r['prefilled_tokens']} / "
            f"{r['completion_tokens']} | {r['peak_rss_mb']:.0f} | {r['cached_ms']:.1f} | {r['cpu_share']:.2f} |"
        )
        ref = r.get("reference")
        if ref:
            rows.append(
                f"| llama.cpp engine alone (raw `Llama.__call__`, turn-1 prompt) | | "
                f"| {ref['prefill_tps']:.1f} ({ref['prompt_tokens']:.0f} tok) | {ref['decode_tps']:.1f} "
                f"| {ref['wall_seconds']:.1f} (turn 1 only) | {ref['prompt_tokens']:.0f} / "
                f"{ref['prompt_tokens']:.0f} / {ref['completion_tokens']:.0f} | | | {ref['cpu_share']:.2f} |"
            )
    return "\n".join(rows)


def _label(r: dict[str, Any]) -> str:
    label = {"llamacpp": "llama.cpp backend", "transformers": "transformers backend"}[r["backend"]]
    model = r.get("model_arg", "embedded")
    budget = r.get("article_budget", DEFAULT_ARTICLE_TOKENS)
    extras = ("" if model == "embedded" else ", " + model) + (
        "" if budget == DEFAULT_ARTICLE_TOKENS else f", article ≤ {budget} tokens"
    )
    return f"{label} ({r['length']}{extras})"


def concurrent_table(runs: dict[str, Any]) -> str:
    """N digests at once against one digest alone, for the rows that measured it."""
    rows = [
        "| | N | all done s | digests/min | generated tok/s (all) | per-digest s p50 / p95 "
        "| batches: count, mean / max size | alone: digest s, generated tok/s | CPU share |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs.values():
        c = r.get("concurrent")
        if not c:
            continue
        alone_tps = r["completion_tokens"] / r["digest_seconds"]
        rows.append(
            f"| {_label(r)} | {c['n']} | {c['wall_seconds']:.1f} | {c['digests_per_minute']:.2f} "
            f"| {c['completion_tps']:.1f} | {c['latency_p50']:.1f} / {c['latency_p95']:.1f} "
            f"| {c['batches']}, {c['requests'] / max(c['batches'], 1):.2f} / {c['max_batch']} "
            f"| {r['digest_seconds']:.1f}, {alone_tps:.1f} | {c['cpu_share']:.2f} |"
        )
    return "\n".join(rows)


def report(runs: dict[str, Any]) -> str:
    """The body of the Speed section (its title is added by `replace_section`)."""
    cpu = _cpu_name()
    lines = [
        f"One digest of a ~1,000-word article on this machine's CPU ({cpu}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}), model "
        "`qwen2.5-coder-1.5b-instruct-q4_k_m.gguf` (the embedded one) unless a row names another, "
        "greedy, threads = cores unless a row says otherwise. Each backend runs in its own process.",
        "",
        table(runs),
        "",
        "- *load cold*: first load in a fresh process, imports included (transformers: plus the one-time "
        "GGUF → float32 safetensors conversion); *load warm*: loading again in the same process.",
        "- *prefill tok/s (turn 1)*: the article turn, prompt tokens evaluated ÷ time to first token; "
        "*decode tok/s*: tokens after the first ÷ decode time, over the 6 turns (regenerations included).",
        "- *digest s*: `Agora.digest_url` from a 127.0.0.1 server, model already loaded: fetch, extract, "
        "condense and the 6 turns of one session; *prefilled*: prompt tokens actually evaluated "
        "(the rest came from the session's KV cache). The fastest of the runs listed below.",
        "- *cached repeat*: the same `digest_url` again, answered from the digest cache.",
        "- *peak RSS*: `ru_maxrss` of the backend's process (transformers: includes the conversion).",
        "- *CPU share*: CPU time the process got ÷ (wall time × threads). Near 1 means the cores were ours; "
        "lower means other processes took them, and llama.cpp, whose threads wait on each other at every "
        "step, then slows down far more than in proportion: compare figures only at similar shares.",
        "",
    ]
    for key, r in sorted(runs.items()):
        later = ", ".join(f"{n}/{t}" for n, t in zip(r["later_turns_prefilled"], r["later_turns_prompt"], strict=False))
        each = ", ".join(f"{x['digest_seconds']:.1f} s (CPU share {x['cpu_share']:.2f})" for x in r.get("runs", []))
        lines += [
            f"**{key}** — `{r['command']}`, {r['date']}{', code of ' + r['code'] if r.get('code') else ''}, "
            f"{r['length']} length, page `{r['page']}` "
            f"({r['article_words']} words, {r['article_tokens']:.0f} article tokens"
            f"{', condensed' if r['condensed'] else ''}); {r['model']} {r['dtype']} on {r['device']}"
            f"{'' if r.get('threads', os.cpu_count()) == os.cpu_count() else ', ' + str(r['threads']) + ' thread(s)'}; "
            f"load average {r['loadavg_before']:.1f} before, {r['loadavg_after']:.1f} after.",
            f"Runs: {each}{'; the same digest text every run' if r.get('same_text_every_run') else ''}. "
            f"Model time {r['model_seconds']:.1f} s = prefill {r['prefill_seconds']:.1f} s + decode "
            f"{r['decode_seconds']:.1f} s; later turns prefilled (new/prompt tokens): {later}; "
            f"RSS after load {r['rss_after_load_mb']:.0f} MB.",
        ]
        if r.get("state"):
            st = r["state"]
            lines.append(
                f"Session switch (state of {st['tokens']} tokens, {st['bytes'] / 2**20:.0f} MB): save "
                f"{st['save_ms']:.0f} ms, restore {st['restore_ms']:.0f} ms; llama-cpp-python's own "
                f"`save_state`/`load_state`: {st['lib_bytes'] / 2**20:.0f} MB (it also copies a logits "
                f"buffer), {st['lib_save_ms']:.0f} ms / {st['lib_load_ms']:.0f} ms."
            )
        if r.get("reference_runs"):
            refs = ", ".join(
                f"{x['prefill_tps']:.1f}/{x['decode_tps']:.1f} tok/s (share {x['cpu_share']:.2f})"
                for x in r["reference_runs"]
            )
            lines.append(f"Engine reference runs (prefill/decode): {refs}; the table shows the fastest.")
        if r.get("concurrent"):
            c = r["concurrent"]
            each = ", ".join(f"{x:.1f}" for x in c["latencies"])
            lines.append(
                f"{c['n']} concurrent digests: each took {each} s; {c['prefilled_tokens']} of "
                f"{c['prompt_tokens']} prompt tokens prefilled, {c['completion_tokens']} generated; runner "
                f"max_batch_size {c['max_batch_size']}; peak RSS {c['peak_rss_mb']:.0f} MB."
            )
        lines.append("")
    if any(r.get("concurrent") for r in runs.values()):
        lines += [
            "### Concurrent digests",
            "",
            concurrent_table(runs),
            "",
            "- N digests of the same page at N addresses (no digest cache hit, no sharing), started together "
            "through one `Agora` and its ModelRunner, each in its own session; *all done*: wall time until "
            "the last one; *generated tok/s (all)*: tokens generated by every digest ÷ that time; *batches*: "
            "what the runner handed the backend (it batches requests waiting with equal parameters). A digest "
            "queues its next turn only once its previous answer is back and cleaned, so the worker often "
            "starts a batch before all N are waiting: batches average fewer than N requests.",
            f"- The {LLAMACPP_SERIAL}: its figures for N digests are those of N digests in a row. "
            "transformers decodes the rows of a batch together (bench/gpu.py measures that on a GPU).",
            "",
        ]
    gpu = json.loads(GPU_STORED.read_text(encoding="utf-8")) if GPU_STORED.is_file() else None
    lines.append(gpu_subsection(gpu))
    return "\n".join(lines)


def code_revision() -> str:
    """The commit measured, "+changes" when bot/ or prompts/ differ from it ("" outside a git checkout)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "bot", "prompts"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+changes" if changed else "")


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def write_section(body: str) -> None:
    """Replace the Speed section of RESULTS.md (or append it), leaving every other section alone."""
    replace_section(RESULTS, SECTION, body)


if __name__ == "__main__":
    sys.exit(main())
