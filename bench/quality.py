"""Digest quality over ../shared/corpus (issue #6): `python bench/quality.py [options]`.

For each corpus page (French articles, the English/German tricky pages, the OrangeSum pages) and
the first N OrangeSum test items it writes a digest with the configured model and prints, per item
and overall: structure, language, copying, distinctness, unsupported facts, prose; on OrangeSum also
ROUGE-1/2/L of the factual recap against the human summary, next to BARThez, mBARThez and lead-3 on
the same items. Tokenizer: lower-cased Unicode words, accents kept (see bench/quality_metrics.py).
Full digests of a few pages go to bench/samples/. Figures go to bench/RESULTS.md, section "## Quality".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.quality_metrics import (  # noqa: E402
    ECHO_NGRAM,
    OPENING_WORDS,
    DigestScores,
    instruction_ngrams,
    lead_n,
    mean,
    rouge_l,
    rouge_n,
    score_digest,
    shared_opening,
)
from bench.results import replace_section  # noqa: E402
from bot.app import Agora  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.core.types import Article, FetchedDocument, Length, Part  # noqa: E402
from bot.errors import AgoraError  # noqa: E402
from bot.pipeline.checks import ANAPHORA_RE, OPENING_PARTS, SIDE_WORDS  # noqa: E402
from bot.pipeline.render import to_markdown  # noqa: E402
from bot.pipeline.summarize import GENERATION_ORDER, UNWRITTEN  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
ORANGESUM = CORPUS / "_datasets" / "orangesum-test" / "abstracts"
SAMPLE_PAGES = (
    "fr05-lopinion-glyphosate",
    "fr21-lemonde-loi-renseignement",
    "fr25-orangesum-grand-debat-maire",
    "tricky03-mojibake-utf8-as-cp1252-de",
)


PAGE_SETS = ("all", "fr", "tricky", "samples", "none")


def corpus_items(which: str) -> list[Path]:
    """The corpus folders of a set in PAGE_SETS, or of a comma-separated list of folder names."""
    if which == "samples":  # the pages whose digests are kept in bench/samples, to read
        return [CORPUS / name for name in SAMPLE_PAGES]
    if which not in PAGE_SETS:
        folders = [CORPUS / name.strip() for name in which.split(",") if name.strip()]
        missing = [f.name for f in folders if not f.is_dir()]
        if missing:
            raise SystemExit(f"no such corpus page: {', '.join(missing)}")
        return folders
    index = json.loads((CORPUS / "index.json").read_text(encoding="utf-8"))
    folders = [CORPUS / e["folder"] for e in index]
    keep = []
    for folder in folders:
        name = folder.name
        tricky = name.startswith(("tricky01", "tricky02", "tricky03", "tricky04", "tricky11"))
        if (name.startswith("fr") and which in ("all", "fr")) or (tricky and which in ("all", "tricky")):
            keep.append(folder)
    return keep


def load_orangesum(n: int) -> list[dict[str, str]]:
    def lines(name: str) -> list[str]:
        with (ORANGESUM / name).open(encoding="utf-8") as f:
            return [next(f).strip() for _ in range(n)]

    return [
        {"source": s, "gold": g, "barthez": b, "mbarthez": m}
        for s, g, b, m in zip(
            lines("source_documents.txt"), lines("gold.txt"), lines("barthez.txt"), lines("mbarthez.txt"), strict=True
        )
    ]


def _row(name: str, s: DigestScores, seconds: float, extra: str = "") -> str:
    return (
        f"| {name} | {'oui' if s.structure else 'NON'} | {s.french_parts}/6 | {len(s.stray_words)} | "
        f"{s.copy_overall:.1%} | {s.copy_recap:.1%} | {s.max_pair_rouge_l:.2f} | {s.opt_vs_pess:.2f} | "
        f"{s.unsupported}/{s.facts} | {s.bullets} | {s.hook_chars} | {seconds:.0f}{extra} |"
    )


HEADER = (
    "| item | structure | French parts | stray foreign words | copied 8-grams | copied (recap) | max ROUGE-L "
    "between parts | opt vs pess | unsupported facts | bullet lines | hook chars | s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _dump(args: argparse.Namespace, name: str, markdown: str) -> None:
    """With --dump DIR, every digest's markdown goes to DIR/<item>.md (for reading a run, not committed)."""
    if args.dump:
        folder = Path(args.dump)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.md").write_text(markdown + "\n", encoding="utf-8")


def _openings_line(digests: list[dict[Part, str]]) -> str:
    """Formulaic writing: per part, the opening most digests share (a stock phrase seeded by a prompt)."""
    found = []
    for part in GENERATION_ORDER:
        top, count = shared_opening([parts.get(part, "") for parts in digests])
        if count:
            found.append(f"{part.name.lower()} « {top} » {count}/{len(digests)}")
    # The first parts read, opening on a word that points back to a sentence the reader never saw.
    back = [
        f"{part.name.lower()} {sum(bool(ANAPHORA_RE.match(parts.get(part, ''))) for parts in digests)}/{len(digests)}"
        for part in sorted(OPENING_PARTS, key=GENERATION_ORDER.index)
    ]
    return (
        f"- most shared opening ({OPENING_WORDS} words) per part: " + "; ".join(found) + "; opening on a word "
        "pointing back (« Ces zones … », « Elle a été … »): " + "; ".join(back)
    )


#: The words of a neutral view turning to the second side (« D'un côté, … De l'autre côté, … »).
SECOND_SIDE = re.compile(r"(?<!\w)(?:d'un |de l'|l')autre côté", re.IGNORECASE)


def _sides_line(digests: list[dict[Part, str]], stats: list[dict[str, float]]) -> str:
    """How many neutral views opened on the camps (the article reports a dispute, bot/pipeline/disputes.py),
    how many turn to a second side, as « D'un côté, » asks, and how many opinion views argue nothing."""
    views = [parts.get(Part.NEUTRE, "") for parts in digests]
    camps = sum(st.get("dispute", 0.0) for st in stats)
    second = sum(bool(SECOND_SIDE.search(text)) for text in views)
    # The opinion views with no word of their side (bot.pipeline.checks.SIDE_WORDS): they re-tell.
    # Of the views written (not the placeholder of one no attempt made usable).
    counts = []
    for part, side in SIDE_WORDS.items():
        written = [text for parts in digests if (text := parts.get(part, "")) and text != UNWRITTEN]
        counts.append(f"{part.name.lower()} {sum(not side.search(text) for text in written)}/{len(written)}")
    flat = "; ".join(counts)
    return (
        f"- neutral views: opened on the camps (« ceux qui », the article reports a dispute) {camps:.0f}/{len(views)}; "
        f"naming a second side (« autre côté ») {second}/{len(views)}; views with no word of their side: {flat}"
    )


def _unknown_line(scores: list[DigestScores]) -> str:
    """Misspellings and glued words: what too strong an anti-copy penalty produces (issue #6)."""
    found = Counter(w for s in scores for w in s.unknown_words)
    total = sum(s.words for s in scores)
    listed = ", ".join(f"{w} {c}" if c > 1 else w for w, c in found.most_common(12))
    cut = [w for s in scores for w in s.cut_words]
    return (
        f"- words French does not know (misspelt or glued; names and the article's words aside): "
        f"{found.total()} in {total} words ({10_000 * found.total() / max(1, total):.0f} per 10,000)"
        + (f": {listed}" if listed else "")
        + f"; words cut short at a sentence's end: {len(cut)}"
        + (f" ({', '.join(cut)})" if cut else "")
    )


def _pairs_line(scores: list[DigestScores]) -> str:
    """Which pair of parts is the closest in how many digests, with each such pair's mean ROUGE-L over all."""
    closest = Counter(max(s.pair_rouge_l, key=s.pair_rouge_l.__getitem__) for s in scores if s.pair_rouge_l)
    shown = ", ".join(
        f"{pair} {count} ({mean(s.pair_rouge_l[pair] for s in scores):.2f} mean)"
        for pair, count in closest.most_common()
    )
    return f"- closest pair of parts (times; its ROUGE-L over all digests): {shown or 'none'}"


def _echo_line(scores: list[DigestScores]) -> str:
    """Instructions restated inside the parts: filler no other metric counts (a part that is mostly an
    instruction is already sent back by the `consigne` check)."""
    per_part: Counter[str] = Counter()
    parts_with: Counter[str] = Counter()
    for s in scores:
        for part, count in s.echoed.items():
            per_part[part] += count
            parts_with[part] += count > 0
    listed = ", ".join(f"{part} {parts_with[part]}" for part, _ in per_part.most_common() if parts_with[part])
    return (
        f"- instructions restated (word {ECHO_NGRAM}-grams a part shares with a prompt): "
        f"{mean(sum(s.echoed.values()) for s in scores):.2f} a digest; digests with any: "
        f"{sum(any(s.echoed.values()) for s in scores)}/{len(scores)}"
        + (f"; parts with any: {listed}" if listed else "")
    )


def _summed(stats: list[dict[str, float]], prefix: str) -> Counter[str]:
    """The digests' counts of the stats keys starting with `prefix`, summed, by the rest of the key."""
    summed: Counter[str] = Counter()
    for st in stats:
        for key, value in st.items():
            if key.startswith(prefix):
                summed[key.removeprefix(prefix)] += value
    return summed


def _checks_line(stats: list[dict[str, float]], strength: float) -> str:
    """How often the per-part check sent a part back, and why (bot.pipeline.checks)."""
    problems = _summed(stats, "problem_")
    regenerated = sum(st.get("regenerated_parts", 0) for st in stats)
    retried = ", ".join(f"{part} {count:.0f}" for part, count in _summed(stats, "retried_").most_common()) or "none"
    fallbacks = sum(st.get("fallback_parts", 0) for st in stats)
    seconds = [st.get("seconds", 0.0) for st in stats]
    median = sorted(seconds)[len(seconds) // 2] if seconds else 0.0
    found = ", ".join(f"{k} {v:.0f}" for k, v in sorted(problems.items())) or "none"

    def avg(key: str) -> float:
        return mean(st.get(key, 0.0) for st in stats)

    def total(key: str) -> str:
        return f"{sum(st.get(key, 0.0) for st in stats):.0f}"

    return (
        f"- anti-copy strength {strength:g}; parts regenerated after a failed check: {regenerated:.0f} of "
        f"{6 * len(stats)} ({retried}; problems seen, every attempt counted: {found}), a later attempt kept for "
        f"{total('retries_kept')}, retries' time {avg('retry_seconds'):.1f} s a digest; parts kept without "
        f"a retry, a sentence repeating an earlier part cut: {total('repeats_cut')}; "
        f"last attempts at an empty view (opened for it): {total('last_resorts')}; views arguing nothing "
        f"written again, opened so: {total('side_openings')}; views repeating an earlier part twice, a third "
        f"attempt opened so: {total('repeat_openings')}; fallback parts: {fallbacks:.0f}; "
        f"turns asking for the analogy's question: {total('question_turns')}; sentences dropped (all "
        f"attempts): made-up facts {total('unsupported_dropped')} (kept without their made-up opening or closing date: "
        f"{total('dates_cut')}), naming people in the analogy "
        f"{total('people_dropped')} (names kept out while it was written: {total('names_avoided')}), "
        f"stray foreign words {total('foreign_dropped')}, ending on a word cut short "
        f"{total('truncated_dropped')}, speaking as « je » {total('first_person_dropped')}, restating an "
        f"instruction {total('echoes_dropped')}, generic advice in a view {total('advice_dropped')}; glued words split "
        f"{total('unglued_words')}, elisions mended {total('elisions_mended')}, "
        f"accents mended {total('accents_mended')}, articles of the wrong gender mended {total('genders_mended')}, "
        f"« au » before a name the article gives after « à » mended {total('prepositions_mended')}, "
        f"« a été décédé » and the like mended {total('auxiliaries_mended')}, "
        f"nouns put in the plural after « les » or « leurs » {total('numbers_mended')}, "
        f"one-sided neutral views continued after « D'un autre côté, » {total('other_side_turns')} (the sentence "
        f"kept: {total('other_sides')}), « D'un côté, » taken off a neutral view turning to no other side "
        f"{total('one_sided_openings')}, "
        f"quotations put back to the article's words {total('quotes_mended')}, paragraphs of the model's "
        f"own words taken out of quotation marks {total('quotes_unwrapped')}; "
        f"median digest time {median:.0f} s (mean per digest: prefill {avg('prefill_seconds'):.1f} s for "
        f"{avg('prefilled_tokens'):.0f} tokens, decode {avg('decode_seconds'):.1f} s for "
        f"{avg('completion_tokens'):.0f} tokens)"
    )


async def run(args: argparse.Namespace) -> str:
    cfg = Config(base_dir=str(ROOT)).replace(
        model={"source": args.model, "backend": args.backend},
        general={"data_dir": args.data_dir},
        digest={"article_tokens": args.article_tokens} if args.article_tokens else {},
    )
    length = Length(args.length)
    rows: list[str] = []
    scores: list[DigestScores] = []
    rouge_rows: list[dict[str, float]] = []
    failures: list[str] = []
    samples_dir = ROOT / "bench" / "samples"
    samples_dir.mkdir(exist_ok=True)
    started = time.monotonic()
    stats: list[dict[str, float]] = []
    written: list[dict[Part, str]] = []
    async with Agora(cfg) as app:
        if args.anticopy is not None:
            app.summarizer.anticopy_strength = args.anticopy
        strength = app.summarizer.anticopy_strength
        prompt_grams = instruction_ngrams(app.summarizer._prompts.templates.values())
        for folder in corpus_items(args.pages)[: args.max_pages]:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            body = (folder / meta.get("file", "source.html")).read_bytes()
            doc = FetchedDocument(
                meta["url"],
                meta["url"],
                "application/pdf" if meta.get("file") == "source.pdf" else "text/html",
                None,
                body,
            )
            t0 = time.monotonic()
            try:
                article = await app.extract(doc)
                digest = await app.summarize(article, length)
            except AgoraError as exc:
                failures.append(f"{folder.name}: {exc.user_message}")
                continue
            md = to_markdown(digest)
            s = score_digest(digest, md, article.text, prompt_grams)
            scores.append(s)
            stats.append(digest.stats)
            written.append(digest.parts)
            rows.append(_row(folder.name, s, time.monotonic() - t0))
            _dump(args, folder.name, md)
            if folder.name in SAMPLE_PAGES:
                (samples_dir / f"{folder.name}.md").write_text(md + "\n", encoding="utf-8")
            print(rows[-1], flush=True)
        indices = args.items or list(range(args.orangesum))
        dataset = load_orangesum(max(indices) + 1) if indices else []
        for i in indices:
            item = dataset[i]
            article = Article(
                url=f"orangesum:test:{i}",
                final_url=f"orangesum:test:{i}",
                title=lead_n(item["source"], 1)[:120],
                text=item["source"],
                site="OrangeSum",
            )
            t0 = time.monotonic()
            digest = await app.summarize(article, length)
            md = to_markdown(digest)
            _dump(args, f"orangesum-{i}", md)
            s = score_digest(digest, md, article.text, prompt_grams)
            scores.append(s)
            stats.append(digest.stats)
            written.append(digest.parts)
            recap = digest.parts[Part.RECAP]
            r = {}
            for label, text in (
                ("agora", recap),
                ("barthez", item["barthez"]),
                ("mbarthez", item["mbarthez"]),
                ("lead3", lead_n(item["source"], 3)),
            ):
                r[f"{label}_r1"] = rouge_n(text, item["gold"], 1)
                r[f"{label}_r2"] = rouge_n(text, item["gold"], 2)
                r[f"{label}_rl"] = rouge_l(text, item["gold"])
            rouge_rows.append(r)
            rows.append(
                _row(
                    f"orangesum-{i}",
                    s,
                    time.monotonic() - t0,
                    f" (R-L {r['agora_rl']:.3f} vs BARThez {r['barthez_rl']:.3f})",
                )
            )
            print(rows[-1], flush=True)
    total = time.monotonic() - started
    n = len(scores)
    facts = sum(s.facts for s in scores)
    overall = [
        f"- items digested: {n} ({len(failures)} refused: {'; '.join(failures) or 'none'}); {total / 60:.1f} min",
        f"- structure: {sum(s.structure for s in scores)}/{n}",
        f"- every part French: {sum(s.french_parts == 6 for s in scores)}/{n}; stray English or German words: "
        f"{sum(len(s.stray_words) for s in scores)} in all; parts speaking as « je »: "
        f"{sum(s.first_person for s in scores)}",
        _unknown_line(scores),
        f"- copied 8-grams: {mean(s.copy_overall for s in scores):.1%} of the digest (target ≤ 5%), "
        f"{mean(s.copy_recap for s in scores):.1%} of the recap (target ≤ 15%)",
        f"- max ROUGE-L between two parts: {mean(s.max_pair_rouge_l for s in scores):.2f} mean, "
        f"{max((s.max_pair_rouge_l for s in scores), default=0):.2f} worst (target ≤ 0.35); optimistic vs "
        f"pessimistic {mean(s.opt_vs_pess for s in scores):.2f} (target ≤ 0.25)",
        _pairs_line(scores),
        f"- unsupported numbers/names in the recap: {sum(s.unsupported for s in scores)}/{facts} "
        f"({sum(s.unsupported for s in scores) / max(1, facts):.1%}, target ≤ 2%)",
        f"- bullet lines: {sum(s.bullets for s in scores)}; hook ≤ 280 chars: "
        f"{sum(s.hook_chars <= 280 for s in scores)}/{n}; analogy ending on a question: "
        f"{sum(s.question_end for s in scores)}/{n}",
        f"- on the subject (grounded_share: content words beginning like a word of the article or the "
        f"recap): hook {mean(s.hook_grounded for s in scores):.2f} mean, "
        f"{sum(s.hook_grounded < 0.2 for s in scores)}/{n} under 0.2; views "
        f"{mean(s.views_grounded for s in scores):.2f} mean, "
        f"{sum(s.views_grounded < 0.4 for s in scores)}/{n} under 0.4",
        _openings_line(written),
        _sides_line(written, stats),
        _echo_line(scores),
        _checks_line(stats, strength),
    ]
    if rouge_rows:

        def avg(key: str) -> float:
            return mean(r[key] for r in rouge_rows)

        overall.append(
            f"- OrangeSum ({len(rouge_rows)} items), recap vs human summary, F1 "
            "(tokenizer: lower-cased \\w+ words, accents kept):"
        )
        overall.append("\n| system | ROUGE-1 | ROUGE-2 | ROUGE-L |\n|---|---|---|---|")
        for label, name in (
            ("agora", "Agora recap"),
            ("barthez", "BARThez"),
            ("mbarthez", "mBARThez"),
            ("lead3", "lead-3"),
        ):
            overall.append(
                f"| {name} | {avg(label + '_r1'):.3f} | {avg(label + '_r2'):.3f} | {avg(label + '_rl'):.3f} |"
            )
    command = "python bench/quality.py " + " ".join(sys.argv[1:])
    report = "\n".join(
        [
            f"Command: `{command.strip()}` — model `{args.model}`, backend `{args.backend}`, length `{args.length}`, "
            f"{dt.date.today().isoformat()}.",
            "",
            *overall,
            "",
            HEADER,
            *rows,
        ]
    )
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="embedded")
    p.add_argument("--backend", default="auto")
    p.add_argument("--length", default="standard", choices=[x.value for x in Length])
    p.add_argument(
        "--pages",
        default="all",
        help="corpus pages: fr (the French articles), tricky (English, German, broken encodings), all (both), "
        "samples (the pages kept in bench/samples), none, or corpus folder names separated by commas",
    )
    p.add_argument("--max-pages", type=int, default=1000)
    p.add_argument("--orangesum", type=int, default=50, help="the first N OrangeSum test items")
    p.add_argument("--items", type=int, nargs="*", default=[], help="these OrangeSum items (0-based) instead")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--anticopy", type=float, default=None, help="anti-copy strength (default: the config's)")
    p.add_argument("--article-tokens", type=int, default=0, help="the article's token budget (default: the config's)")
    p.add_argument("--dump", default="", help="also write every digest to this folder")
    p.add_argument("--no-write", action="store_true", help="print only, do not update bench/RESULTS.md")
    args = p.parse_args()
    report = asyncio.run(run(args))
    print(report)
    if not args.no_write:
        replace_section(ROOT / "bench" / "RESULTS.md", "Quality", report)


if __name__ == "__main__":
    main()
