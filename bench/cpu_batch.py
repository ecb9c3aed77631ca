"""Does decoding several sequences at once pay on this CPU? `python bench/cpu_batch.py [--model embedded]`.

A GPU decodes a batch of sequences for little more than the cost of one: each step reads the weights
once for every row (bench/gpu.py). On a CPU that holds only if decoding is bound by memory bandwidth.
This bench asks llama.cpp directly (its low-level API, one context with a unified KV cache): it
prefills one ~900-token prompt, copies its KV cache to k sequences (k = 1..4, as parallel parts of a
digest or concurrent digests would share an article) and times 40 decode steps of k tokens each, one
per sequence, reading every sequence's logits as a sampler would.

If k sequences gave k times the tokens per second, the llama.cpp backend should batch concurrent
digests (and could write the opinion parts of one digest in parallel). What it measures instead
decides that it does not: see the "CPU: decoding several sequences at once" section of bench/RESULTS.md.
Prints a table and replaces that section (unless --no-write).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.results import publish  # noqa: E402
from bench.speed import find_gguf  # noqa: E402

RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "CPU: decoding several sequences at once"
ARTICLE = REPO.parent / "shared" / "corpus" / "_datasets" / "orangesum-test" / "abstracts" / "source_documents.txt"


def measure(
    model_path: str, *, threads: int, prompt_tokens: int, steps: int, widths: list[int]
) -> tuple[list[dict], dict]:
    """Per width k: decode steps/s and tokens/s over all k sequences; and the prompt's prefill figures."""
    import llama_cpp as L
    import numpy as np

    L.llama_backend_init()
    mparams = L.llama_model_default_params()
    mparams.n_gpu_layers = 0
    model = L.llama_model_load_from_file(model_path.encode(), mparams)
    cparams = L.llama_context_default_params()
    cparams.n_ctx = prompt_tokens + max(widths) * steps + 64  # each sequence adds its own steps
    cparams.n_batch = cparams.n_ubatch = 512
    cparams.n_seq_max = max(widths)
    cparams.kv_unified = True  # one cache the sequences share, so a prefix can be copied between them
    cparams.n_threads = cparams.n_threads_batch = threads
    ctx = L.llama_init_from_model(model, cparams)
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    memory = L.llama_get_memory(ctx)
    try:
        with ARTICLE.open(encoding="utf-8") as f:
            text = " ".join(next(f) for _ in range(8)).encode()
        buf = (L.llama_token * (len(text) + 8))()
        n = L.llama_tokenize(vocab, text, len(text), buf, len(buf), True, False)
        prompt = list(buf[: min(n, prompt_tokens)])
        batch = L.llama_batch_init(512, 0, max(widths))

        def add(token: int, pos: int, seq: int, logits: bool) -> None:
            i = batch.n_tokens
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
            batch.seq_id[i][0] = seq
            batch.n_tokens = i + 1

        started = time.perf_counter()
        for start in range(0, len(prompt), 512):
            batch.n_tokens = 0
            for offset, token in enumerate(prompt[start : start + 512]):
                add(token, start + offset, 0, start + offset == len(prompt) - 1)
            if L.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed during the prefill")
        prefill = len(prompt) / (time.perf_counter() - started)
        rows = []
        for k in widths:
            for seq in range(1, max(widths)):
                L.llama_memory_seq_rm(memory, seq, -1, -1)
            L.llama_memory_seq_rm(memory, 0, len(prompt), -1)
            for seq in range(1, k):
                L.llama_memory_seq_cp(memory, 0, seq, -1, -1)
            started = time.perf_counter()
            for step in range(steps):
                batch.n_tokens = 0
                for seq in range(k):
                    add(1000 + 17 * seq + step, len(prompt) + step, seq, True)
                if L.llama_decode(ctx, batch) != 0:
                    raise RuntimeError("llama_decode failed while decoding")
                for seq in range(k):  # what a sampler reads: every row's logits
                    int(np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, seq), shape=(n_vocab,)).argmax())
            seconds = time.perf_counter() - started
            rows.append({"k": k, "steps_per_s": steps / seconds, "tokens_per_s": k * steps / seconds})
        L.llama_batch_free(batch)
        return rows, {"prefill_tokens_per_s": prefill, "prompt_tokens": len(prompt)}
    finally:
        L.llama_free(ctx)
        L.llama_model_free(model)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="embedded", help="embedded, smollm2 or a .gguf path")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--prompt-tokens", type=int, default=900)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    path = str(find_gguf(args.model))
    rows, prefill = measure(
        path, threads=args.threads, prompt_tokens=args.prompt_tokens, steps=args.steps, widths=[1, 2, 3, 4]
    )
    one = rows[0]["tokens_per_s"]
    command = " ".join(["python bench/cpu_batch.py", *sys.argv[1:]])
    lines = [
        f"Command: `{command}`",
        "",
        f"{dt.date.today().isoformat()}, model `{Path(path).name}`, {args.threads} threads, llama.cpp "
        f"low-level API, a {prefill['prompt_tokens']}-token prompt (prefilled at "
        f"{prefill['prefill_tokens_per_s']:.0f} tok/s) copied to k sequences, {args.steps} decode steps each.",
        "",
        "| sequences decoded together (k) | steps/s | tokens/s, all sequences | vs k = 1 |",
        "|---:|---:|---:|---:|",
        *(
            f"| {r['k']} | {r['steps_per_s']:.1f} | {r['tokens_per_s']:.1f} | {r['tokens_per_s'] / one:.2f}× |"
            for r in rows
        ),
    ]
    gain = rows[-1]["tokens_per_s"] / one
    lines += [
        "",
        f"{rows[-1]['k']} sequences at once give {gain:.2f}× the tokens/s of one. "
        + (
            "Decoding is bound by this CPU's arithmetic, not by reading the weights, so batching buys little "
            "here: the llama.cpp backend generates a batch's requests one after the other, and a digest's "
            "parts are written in turn (each one sees the previous), not in parallel. Batching pays on a GPU "
            "(bench/gpu.py)."
            if gain < 1.5
            else "Batching pays on this machine: the llama.cpp backend could decode concurrent digests together."
        ),
    ]
    publish(RESULTS, SECTION, "\n".join(lines), write=not args.no_write)


if __name__ == "__main__":
    main()
