"""Extraction quality and speed: the test corpus, then the scrapinghub article-extraction benchmark.

Usage: python bench/extraction.py [--corpus DIR] [--no-write]

Runs `bot.pipeline.extract.extract` in both trafilatura modes (standard and favor_precision) and
prints, for the shipped mode, one line per corpus page (time, words, and the page's ground-truth
score), then a summary per mode. The benchmark score is the published one: per-document precision
and recall over 4-gram token shingles of the article body, averaged over documents, F1 of the means.
The report replaces the "## Extraction" section of bench/RESULTS.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.results import replace_section  # noqa: E402
from bot.core.types import FetchedDocument  # noqa: E402
from bot.errors import NoArticle  # noqa: E402
from bot.pipeline import extract as extract_module  # noqa: E402

PUBLISHED = "trafilatura 2.0.0: F1 0.958, P 0.938, R 0.978 (published table, README at commit 4a3bc97)"
CONTENT_TYPES = {".html": "text/html", ".pdf": "application/pdf", ".jpg": "image/jpeg"}
TOKEN_RE = re.compile(r"\w+", re.UNICODE)
WORD_RE = re.compile(r"\w+")


@dataclass
class PageResult:
    name: str
    ms: float
    words: int
    language: str | None
    score: str
    error: str | None = None


@dataclass
class CorpusScores:
    with_found: int = 0
    with_total: int = 0
    without_leaked: int = 0
    without_total: int = 0
    missed: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    full_text: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (R, P)
    pages: list[PageResult] = field(default_factory=list)


def norm(text: str) -> str:
    return " ".join(text.split())


def word_pr(gold: str, got: str) -> tuple[float, float]:
    """Word-set recall and precision of `got` against `gold` (lower-cased \\w+ words)."""
    g = set(WORD_RE.findall(gold.lower()))
    p = set(WORD_RE.findall(got.lower()))
    both = len(g & p)
    return both / max(1, len(g)), both / max(1, len(p))


def corpus_pages(corpus: Path) -> Iterator[tuple[str, dict[str, Any], FetchedDocument]]:
    for meta_path in sorted(corpus.glob("*/meta.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        source = meta_path.parent / str(meta["file"])
        url = str(meta.get("url") or "")
        if not url.startswith("http"):
            url = f"https://corpus.invalid/{meta_path.parent.name}"
        ctype = str(meta.get("content_type") or CONTENT_TYPES[source.suffix])
        yield meta_path.parent.name, meta, FetchedDocument(url, url, ctype, None, source.read_bytes())


def run_corpus(corpus: Path, favor_precision: bool) -> CorpusScores:
    scores = CorpusScores()
    pages = list(corpus_pages(corpus))
    # Warm-up (justext stoplists, lxml, regex caches) so the first page's time is not the import's.
    extract_module.extract(pages[0][2], favor_precision=favor_precision)
    texts: dict[str, str] = {}
    for name, meta, doc in pages:
        start = time.perf_counter()
        try:
            article = extract_module.extract(doc, favor_precision=favor_precision)
            text, words, lang, error = article.text, article.word_count, article.language, None
        except NoArticle as exc:
            text, words, lang, error = "", 0, None, f"NoArticle: {exc.detail}"
        ms = 1000 * (time.perf_counter() - start)
        texts[name] = text
        flat = norm(text)
        score = ""
        with_ = [str(s) for s in meta.get("expected_snippets_with") or []]
        without = [str(s) for s in meta.get("expected_snippets_without") or []]
        if with_ or without:
            found = [s for s in with_ if norm(s) in flat]
            leaked = [s for s in without if norm(s) in flat]
            score = f"snippets with {len(found)}/{len(with_)}, leaked {len(leaked)}/{len(without)}"
            if name.startswith("fr"):
                scores.with_found += len(found)
                scores.with_total += len(with_)
                scores.without_leaked += len(leaked)
                scores.without_total += len(without)
                scores.missed += [f"{name[:4]}: {s!r}" for s in with_ if s not in found]
                scores.leaked += [f"{name[:4]}: {s!r}" for s in leaked]
        elif meta.get("expected_full_text"):
            recall, precision = word_pr(str(meta["expected_full_text"]), text)
            scores.full_text[name] = (recall, precision)
            score = f"full text word R {recall:.3f} P {precision:.3f}"
        elif meta.get("expected_text_excerpt"):
            recall, _ = word_pr(str(meta["expected_text_excerpt"]), text)
            score = f"reference excerpt word R {recall:.3f}"
        elif "fffd" in name:
            # Same page as the clean ISO-8859-1 one just before it, accents lost as U+FFFD.
            clean = next((t for n, t in texts.items() if "iso8859-1-fr" in n), "")
            pairs = [(a, b) for a, b in zip(clean.split(), text.split(), strict=False) if not a.isascii()]
            right = sum(a == b for a, b in pairs)
            score = f"accented words as in the clean copy: {right}/{len(pairs)}; U+FFFD left: {text.count(chr(0xFFFD))}"
        scores.pages.append(PageResult(name, ms, words, lang, score, error))
    return scores


# --- scrapinghub article-extraction-benchmark (metric as in its evaluate.py) --------------------------


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = TOKEN_RE.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])


def tp_fp_fn(true: str, pred: str) -> tuple[float, float, float]:
    t, p = shingles(true), shingles(pred)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def prf(rows: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    def precision(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else 0.0 if tp == fp == 0 else tp / (tp + fp)

    def recall(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else 0.0 if tp == fn == 0 else tp / (tp + fn)

    p = statistics.mean(precision(*r) for r in rows if r[0] + r[1] > 0)
    r = statistics.mean(recall(*r) for r in rows if r[0] + r[2] > 0)
    return 2 * p * r / (p + r), p, r


def run_benchmark(dataset: Path, favor_precision: bool) -> tuple[tuple[float, float, float], float, int]:
    truth = json.loads((dataset / "ground-truth.json").read_text(encoding="utf-8"))
    rows = []
    failures = 0
    start = time.perf_counter()
    for key, item in sorted(truth.items()):
        body = gzip.decompress((dataset / "html" / f"{key}.html.gz").read_bytes())
        url = str(item.get("url") or f"https://bench.invalid/{key}")
        doc = FetchedDocument(url, url, "text/html", None, body)
        try:
            pred = extract_module.extract(doc, min_words=0, favor_precision=favor_precision).text
        except NoArticle:
            pred, failures = "", failures + 1
        rows.append(tp_fp_fn(item.get("articleBody", ""), pred))
    seconds = time.perf_counter() - start
    return prf(rows), seconds, failures


def published_output(dataset: Path, name: str) -> tuple[float, float, float] | None:
    """Score of a stored prediction file with our metric code (checks the metric matches the table)."""
    path = dataset / "output" / f"{name}.json"
    if not path.exists():
        return None
    truth = json.loads((dataset / "ground-truth.json").read_text(encoding="utf-8"))
    pred = json.loads(path.read_text(encoding="utf-8"))
    pred = pred.get("output", pred)  # newer files wrap the predictions: {"output": ..., "version": ...}
    rows = [tp_fp_fn(item.get("articleBody", ""), pred.get(k, {}).get("articleBody", "")) for k, item in truth.items()]
    return prf(rows)


# --- report --------------------------------------------------------------------------------------------


def report(corpus: Path, shipped_precision: bool) -> str:
    lines: list[str] = []
    modes = {"standard": False, "favor_precision": True}
    corpus_scores = {label: run_corpus(corpus, flag) for label, flag in modes.items()}
    shipped = "favor_precision" if shipped_precision else "standard"
    lines.append(f"Shipped mode: **{shipped}** (`FAVOR_PRECISION = {shipped_precision}` in bot/pipeline/extract.py).")
    lines.append("")
    lines.append(f"### Corpus pages ({shipped} mode)")
    lines.append("")
    lines.append("| page | ms | words | lang | score |")
    lines.append("|---|---:|---:|---|---|")
    for page in corpus_scores[shipped].pages:
        score = page.error or page.score
        lines.append(f"| {page.name} | {page.ms:.0f} | {page.words} | {page.language or '-'} | {score} |")
    total_ms = sum(p.ms for p in corpus_scores[shipped].pages)
    lines.append("")
    lines.append(f"Total {total_ms / 1000:.1f} s for {len(corpus_scores[shipped].pages)} pages.")
    lines.append("")

    dataset = corpus / "_datasets" / "article-extraction-benchmark"
    bench = {label: run_benchmark(dataset, flag) for label, flag in modes.items()} if dataset.exists() else {}

    lines.append("### Summary")
    lines.append("")
    lines.append(
        "| mode | fr snippets found | fr boilerplate leaked | OrangeSum word R / P (mean) "
        "| CNN 2.5 MB word R / P | benchmark F1 / P / R | benchmark time |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for label, sc in corpus_scores.items():
        orange = [v for k, v in sc.full_text.items() if "orangesum" in k and "DERIVED" not in k]
        cnn = next((v for k, v in sc.full_text.items() if "cnn" in k), (0.0, 0.0))
        if bench:
            (f1, p, r), seconds, _fail = bench[label]
            bench_cell, time_cell = f"{f1:.3f} / {p:.3f} / {r:.3f}", f"{seconds:.0f} s"
        else:
            bench_cell, time_cell = "(dataset absent)", "-"
        lines.append(
            f"| {label} | {sc.with_found}/{sc.with_total} ({sc.with_found / max(1, sc.with_total):.1%}) "
            f"| {sc.without_leaked}/{sc.without_total} ({sc.without_leaked / max(1, sc.without_total):.1%}) "
            f"| {statistics.mean(v[0] for v in orange):.3f} / {statistics.mean(v[1] for v in orange):.3f} "
            f"| {cnn[0]:.3f} / {cnn[1]:.3f} | {bench_cell} | {time_cell} |"
        )
    lines.append("")
    sc = corpus_scores[shipped]
    lines.append(f"Missed fr snippets ({shipped}): " + ("; ".join(sc.missed) or "none"))
    lines.append("")
    lines.append(f"Leaked fr boilerplate ({shipped}): " + ("; ".join(sc.leaked) or "none"))
    lines.append("")
    if bench:
        lines.append(f"Benchmark reference: {PUBLISHED}.")
        stored = published_output(dataset, "trafilatura")
        if stored:
            lines.append(
                f"The dataset's stored `output/trafilatura.json`, scored by this script: "
                f"F1 {stored[0]:.3f}, P {stored[1]:.3f}, R {stored[2]:.3f}."
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_corpus = Path(os.environ.get("AGORA_CORPUS", REPO.parent / "shared" / "corpus"))
    parser.add_argument("--corpus", type=Path, default=default_corpus)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    if not (args.corpus / "index.json").exists():
        sys.exit(f"corpus not found at {args.corpus} (set AGORA_CORPUS or --corpus)")
    body = report(args.corpus, extract_module.FAVOR_PRECISION)
    print(body)
    if not args.no_write:
        replace_section(REPO / "bench" / "RESULTS.md", "Extraction", f"Command: `python bench/extraction.py`\n\n{body}")


if __name__ == "__main__":
    main()
