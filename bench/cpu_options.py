"""Do llama.cpp's context options speed up a digest on this CPU? `python bench/cpu_options.py [--model embedded]`.

The llama.cpp backend creates its context with llama-cpp-python's defaults: flash attention off (the
binding's default, where llama.cpp's own tools default to "auto", which turns it on for a CPU), a KV
cache in f16, and batches of 512 tokens. This bench measures the alternatives on the embedded model:
each configuration reads the same ~1,600-token prompt (an OrangeSum article in the chat template, as
long as a digest's first turn) and then decodes greedily, in rounds that take the configurations in
turn so that a slower minute of the machine does not fall on one of them. It prints the median prefill
and decode speeds and whether the greedy text stayed the same, and replaces its section of
bench/RESULTS.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.results import publish  # noqa: E402
from bench.speed import find_gguf  # noqa: E402

RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "CPU: llama.cpp's context options"
ARTICLE = REPO.parent / "shared" / "corpus" / "_datasets" / "orangesum-test" / "abstracts" / "source_documents.txt"

#: name → keyword arguments for `Llama` (the first is what the backend uses).
CONFIGS: dict[str, dict] = {
    "shipped: flash attention off, KV f16, batch 512": {},
    "flash attention on": {"flash_attn": True},
    "flash attention on, KV q8_0": {"flash_attn": True, "type_k": "q8_0", "type_v": "q8_0"},
    "batch 256": {"n_batch": 256, "n_ubatch": 256},
    "batch 1024": {"n_batch": 1024, "n_ubatch": 1024},
}


def _prompt_text() -> str:
    """The longest OrangeSum source of the first 200, in the chat template (its user turn left open)."""
    with ARTICLE.open(encoding="utf-8") as f:
        article = max((next(f) for _ in range(200)), key=len)
    return (
        "<|im_start|>system\nTu es un rédacteur de presse francophone.<|im_end|>\n<|im_start|>user\n"
        f"Voici l'article.\n{article[:9000]}\n\nÉcris le récapitulatif factuel de cet article."
    )


def _prompt(llm, text: str, tokens: int) -> list[int]:
    """`text` tokenized, cut to `tokens` with the user turn closed and the assistant's opened."""
    ids = llm.tokenize(text.encode(), add_bos=False, special=True)[: tokens - 3]
    return ids + llm.tokenize(b"<|im_end|>\n<|im_start|>assistant\n", add_bos=False, special=True)


def measure(model_path: str, *, threads: int, prompt_tokens: int, steps: int, rounds: int) -> list[dict]:
    import llama_cpp as L
    from llama_cpp import Llama

    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in CONFIGS}
    texts: dict[str, list[int]] = {}
    prompt = _prompt_text()
    for _ in range(rounds):
        for name, options in CONFIGS.items():
            kwargs = {"n_batch": 512, **options}
            for key in ("type_k", "type_v"):
                if key in kwargs:
                    kwargs[key] = getattr(L, f"GGML_TYPE_{kwargs[key].upper()}")
            llm = Llama(
                model_path=model_path,
                n_ctx=prompt_tokens + steps + 64,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=0,
                verbose=False,
                **kwargs,
            )
            ids = _prompt(llm, prompt, prompt_tokens)
            started = time.perf_counter()
            llm.eval(ids)
            prefilled = time.perf_counter()
            out = []
            for _ in range(steps):
                token = llm.sample(temp=0.0)
                out.append(token)
                llm.eval([token])
            done = time.perf_counter()
            samples[name].append((len(ids) / (prefilled - started), steps / (done - prefilled)))
            texts.setdefault(name, out)
            del llm
    first = texts[next(iter(CONFIGS))]
    return [
        {
            "name": name,
            "prefill": statistics.median(p for p, _ in runs),
            "decode": statistics.median(d for _, d in runs),
            "spread": (min(d for _, d in runs), max(d for _, d in runs)),
            "same_text": texts[name] == first,
        }
        for name, runs in samples.items()
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="embedded", help="embedded, smollm2 or a .gguf path")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--prompt-tokens", type=int, default=1600)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    path = str(find_gguf(args.model))
    rows = measure(path, threads=args.threads, prompt_tokens=args.prompt_tokens, steps=args.steps, rounds=args.rounds)
    base = rows[0]
    command = " ".join(["python bench/cpu_options.py", *sys.argv[1:]])
    lines = [
        f"Command: `{command}`",
        "",
        f"{dt.date.today().isoformat()}, model `{Path(path).name}`, {args.threads} threads, llama-cpp-python's "
        f"`Llama`, a {args.prompt_tokens}-token prompt then {args.steps} greedy tokens, {args.rounds} rounds "
        "taking the configurations in turn; medians.",
        "",
        "| context options | prefill tok/s | decode tok/s (min–max) | vs shipped: prefill / decode | same text |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {r['name']} | {r['prefill']:.1f} | {r['decode']:.1f} ({r['spread'][0]:.1f}–{r['spread'][1]:.1f}) "
            f"| {r['prefill'] / base['prefill']:.2f}× / {r['decode'] / base['decode']:.2f}× "
            f"| {'yes' if r['same_text'] else 'no'} |"
            for r in rows
        ),
    ]
    best = max(rows[1:], key=lambda r: r["prefill"] / base["prefill"] + r["decode"] / base["decode"])
    gain = (best["prefill"] / base["prefill"] + best["decode"] / base["decode"]) / 2
    lines += [
        "",
        (
            f"No option is more than 5% faster than the shipped context (the best, {best['name']}, "
            f"{gain:.2f}× on the mean of the two speeds): the backend keeps llama-cpp-python's defaults."
            if gain < 1.05
            else f"{best['name']} is {gain:.2f}× the shipped context on the mean of the two speeds: worth using."
        ),
    ]
    publish(RESULTS, SECTION, "\n".join(lines), write=not args.no_write)


if __name__ == "__main__":
    main()
