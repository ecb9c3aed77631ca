"""How the stray-word check reads real text (issue #6): `python bench/stray_words.py [--lines N] [--write]`.

A digest's part fails its check when it holds English or German words
(bot.pipeline.textmetrics.stray_foreign). This bench runs that test where the answer is known:
French written by people (OrangeSum's articles and human summaries, BARThez's outputs, the French
corpus pages), where every word it flags is a false alarm or an English phrase the French text
really contains; the English and German corpus pages, where nearly every word is foreign (their
capitalised words excepted: names, and German nouns); and the digests in bench/samples/. It prints
words read, words flagged (per 10,000) and the words flagged most often.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.extraction import corpus_pages  # noqa: E402
from bench.results import replace_section  # noqa: E402
from bot.errors import NoArticle  # noqa: E402
from bot.pipeline.extract import extract  # noqa: E402
from bot.pipeline.textmetrics import stray_foreign, words  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
ORANGESUM = CORPUS / "_datasets" / "orangesum-test" / "abstracts"
SAMPLES = ROOT / "bench" / "samples"
RESULTS = ROOT / "bench" / "RESULTS.md"
FOREIGN_PAGES = ("tricky01", "tricky02", "tricky03", "tricky07", "tricky08")


def _lines(name: str, n: int) -> list[str]:
    return (ORANGESUM / name).read_text(encoding="utf-8").splitlines()[:n]


def _pages(prefixes: tuple[str, ...] | None) -> list[str]:
    """The extracted text of the corpus pages named by `prefixes`, or of the French ones."""
    texts = []
    for name, meta, doc in corpus_pages(CORPUS):
        is_french = name.startswith("fr") or meta.get("language") == "fr"
        if (prefixes and not name.startswith(prefixes)) or (not prefixes and not is_french):
            continue
        try:
            texts.append(extract(doc).text)
        except NoArticle:
            continue
    return texts


def _row(label: str, texts: list[str]) -> tuple[str, Counter[str]]:
    flagged: Counter[str] = Counter()
    total = 0
    for text in texts:
        total += len(words(text))
        flagged.update(stray_foreign(text))
    n = sum(flagged.values())
    top = ", ".join(f"{w} {k}" for w, k in flagged.most_common(12))
    return f"| {label} | {len(texts)} | {total} | {n} | {10_000 * n / max(1, total):.1f} | {top} |", flagged


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1500, help="OrangeSum items read (default: all 1,500)")
    p.add_argument("--write", action="store_true", help="write the table to bench/RESULTS.md")
    args = p.parse_args()
    sets = {
        "OrangeSum articles (French)": _lines("source_documents.txt", args.lines),
        "OrangeSum human summaries": _lines("gold.txt", args.lines),
        "BARThez's summaries": _lines("barthez.txt", args.lines),
        "French corpus pages, extracted": _pages(None),
        "English and German corpus pages": _pages(FOREIGN_PAGES),
        "bench/samples digests": [f.read_text(encoding="utf-8") for f in sorted(SAMPLES.glob("*.md"))],
    }
    rows = [
        "| text | documents | words | flagged | per 10,000 words | most flagged |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, texts in sets.items():
        rows.append(_row(label, texts)[0])
    table = "\n".join(rows)
    print(table)
    if args.write:
        body = (
            f"`python bench/stray_words.py --lines {args.lines} --write`: the words "
            "`bot.pipeline.textmetrics.stray_foreign` calls English or German, on text whose language is known.\n\n"
            + table
        )
        replace_section(RESULTS, "Stray foreign words: the check on known text", body)


if __name__ == "__main__":
    main()
