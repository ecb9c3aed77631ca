"""Compare prompts for one part of the digest on the same conversation: `python bench/part_ab.py [options]`.

For each item the article is read and the parts before `--part` are written once, with the shipped
prompts; then the part is written once per variant, each from the same conversation (the session's
cache is shared, so a variant costs only its own turn). A variant is a file holding that part's
prompt template (the shipped one is `prompts/fr/<part>.md`); a first line `opening: WORDS` in it
replaces the words the code makes the answer open with (the analogy's "Imaginez que"), and a line
`anticopy: STRENGTH` the anti-copy penalty the part is written with (the shipped prompt text may
follow, to compare strengths alone). It prints,
per variant: the texts, the parts left unwritten, the checks that failed, the most shared opening,
the overlap (ROUGE-L) with the parts before, the words of the part absent from the article and
from the prompt it answered, the share of its words the article has (a rough sign of retelling:
common words count too) and how many end on a question (as the analogy should).

Made for prompt work on a slow CPU, where a whole digest per variant and item costs minutes: it
measures one part's prompt, not the digest (later parts would see a different conversation).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.quality import CORPUS, load_orangesum  # noqa: E402
from bench.quality_metrics import (  # noqa: E402
    echoed_instruction,
    instruction_ngrams,
    lead_n,
    mean,
    rouge_l,
    rouge_n,
    shared_opening,
)
from bot.app import Agora  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.core.types import Article, FetchedDocument, Length, Part  # noqa: E402
from bot.model.backend import Message  # noqa: E402
from bot.model.runner import ModelRunner  # noqa: E402
from bot.pipeline.anticopy import build_anticopy  # noqa: E402
from bot.pipeline.condense import condense  # noqa: E402
from bot.pipeline.postprocess import PART_FILES, reference_line  # noqa: E402
from bot.pipeline.prompts import PromptSet  # noqa: E402
from bot.pipeline.summarize import (  # noqa: E402
    GENERATION_ORDER,
    LENGTHS,
    UNWRITTEN,
    Summarizer,
    _PartJob,
    add_source,
    barred_for,
    ends_on_question,
    is_source,
    openings_for,
    stays_in_conversation,
    usable,
)
from bot.pipeline.textmetrics import copy_rate, unknown_words, words  # noqa: E402


def _orangesum_indices(args: argparse.Namespace) -> list[int]:
    """The OrangeSum items compared: those `--items` names, else `--orangesum` of them after `--skip`."""
    return list(getattr(args, "items", None) or range(args.skip, args.skip + args.orangesum))


async def _articles(
    app: Agora, pages: list[str], orangesum: list[tuple[int, dict[str, str]]]
) -> list[tuple[str, Article, str]]:
    """(name, article, human summary or "") for each corpus page and OrangeSum item."""
    out: list[tuple[str, Article, str]] = []
    for name in pages:
        folder = CORPUS / name
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        body = (folder / meta.get("file", "source.html")).read_bytes()
        doc = FetchedDocument(meta["url"], meta["url"], "text/html", None, body)
        out.append((name, await app.extract(doc), ""))
    for i, item in orangesum:
        url = f"orangesum:test:{i}"
        out.append(
            (
                f"orangesum-{i}",
                Article(
                    url=url, final_url=url, title=lead_n(item["source"], 1)[:120], text=item["source"], site="OrangeSum"
                ),
                item["gold"],
            )
        )
    return out


async def _one_item(
    app: Agora,
    article: Article,
    part: Part,
    variants: dict[str, PromptSet],
    length: Length,
    openings: dict[str, str] | None = None,
    strengths: dict[str, float] | None = None,
) -> dict[str, dict[str, object]]:
    """The parts before `part` once, then `part` once per variant, in one session."""
    summ: Summarizer = app.summarizer
    runner = summ._runner
    shipped = summ._prompts
    shapes = LENGTHS[length]
    info = await runner.wait_ready()
    full_check = info.backend != "echo"  # as the summarizer does: the echo model only gets the basic checks
    condensed = await runner.call(lambda b: condense(article.text, summ._article_tokens, b.count_tokens))
    hook = await runner.call(
        lambda b: build_anticopy(b, [condensed.text], span=summ.anticopy_span, strength=summ.anticopy_strength)
    )
    barred = await summ._name_bar(article, hook)
    session = f"ab-{uuid.uuid4().hex}"
    messages = [Message("system", shipped.render("system"))]
    written: dict[Part, str] = {Part.REFERENCE: reference_line(article)}

    def plain(prompts: PromptSet, p: Part) -> str:
        return summ._instruction(p, shapes[p], prompts)

    def instruction(prompts: PromptSet, p: Part, first: bool) -> str:
        text = plain(prompts, p)
        return summ._first_turn(article, condensed, text, prompts) if first else text

    shipped_openings = openings_for(article.text)

    def job_for(p: Part, ask: str, instructions: tuple[str, ...], opening: str | None = None) -> _PartJob:
        """The part's job as the summarizer builds it, on the parts written so far (a variant's
        opening, if it has one, in place of the shipped one)."""
        return _PartJob(
            p, shapes[p], ask, session, article.text, usable(written), hook, full_check, instructions,
            shipped_openings.get(p, "") if opening is None else opening, barred_for(p, barred),
        )  # fmt: skip

    asked: list[str] = []  # the instructions so far, without the article (the summarizer's echo check)
    results: dict[str, dict[str, object]] = {}
    try:
        for index, p in enumerate(GENERATION_ORDER):
            if p is part:
                for name, prompts in variants.items():
                    ask = instruction(prompts, p, index == 0)
                    own = plain(prompts, p)  # the instruction without the article a first turn holds
                    stats = _Stats()
                    t0 = time.monotonic()
                    job = job_for(p, ask, (*asked, own), (openings or {}).get(name))
                    if hook is not None:
                        hook.strength = (strengths or {}).get(name, summ.anticopy_strength)
                    try:
                        text = await summ._write_part(job, list(messages), stats)
                    finally:
                        if hook is not None:
                            hook.strength = summ.anticopy_strength
                    results[name] = {
                        "text": text,
                        "seconds": time.monotonic() - t0,
                        "problems": {k[8:]: v for k, v in stats.items() if k.startswith("problem_")},
                        "regenerated": stats["regenerated_parts"],
                        "prompt": own,
                    }
                break
            ask = instruction(shipped, p, index == 0)
            asked.append(plain(shipped, p))
            job = job_for(p, ask, tuple(asked))
            # As the summarizer does: a fallback for an unwritten part, and the same turns kept.
            text = await summ._write_part(job, messages, _Stats({})) or summ._fallback(p, condensed.text)
            written[p] = text
            if hook is not None and is_source(p, text):
                await runner.call(functools.partial(add_source, hook, text))
            if stays_in_conversation(p, text, index):
                messages += [Message("user", ask), Message("assistant", text)]
    finally:
        await runner.end_session(session)
    for r in results.values():
        r["earlier"] = {p.name: t for p, t in written.items() if p is not Part.REFERENCE}
    return results


class _Stats(dict):
    """The summarizer's stats dict, missing keys counted from 0."""

    def __missing__(self, key: str) -> float:
        return 0.0


Item = tuple[str, Article, str, dict[str, dict[str, object]]]


def _report(per_item: list[Item], names: list[str], templates: tuple[str, ...] = ()) -> str:
    """`templates`: the shipped prompts of the other parts; with each variant's own instruction, what
    `echoed_instruction` reads."""
    lines: list[str] = []
    shipped_grams = instruction_ngrams(templates)
    for item, _article, _gold, results in per_item:
        lines.append(f"\n### {item}")
        earlier = next(iter(results.values()))["earlier"]
        lines.append(f"recap: {earlier.get('RECAP', '')}")
        for name in names:
            r = results[name]
            lines.append(
                f"- **{name}** ({r['seconds']:.0f} s, problems {r['problems'] or '-'}): {r['text'] or UNWRITTEN}"
            )
    golds = [gold for _, _, gold, _ in per_item if gold]
    lines.append(
        "\n| variant | written | regenerated | most shared opening | ROUGE-L with earlier parts (mean / max) "
        "| words absent from article and prompt | words from the article | copied 8-grams | words French lacks "
        "| ends on a question | words (mean) | instruction 6-grams: texts with any, in all |"
        + (
            f" ROUGE-1 / 2 / L vs human summary ({len(golds)} items) | ROUGE-L of its first sentence"
            " / of its first n words (n: the human summary's) |"
            if golds
            else ""
        )
    )
    lines.append("|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|" + ("---|---|" if golds else ""))
    for name in names:
        texts = [str(res[name]["text"]) for _, _, _, res in per_item]
        openings, count = shared_opening([t for t in texts if t])
        overlaps = [
            max((rouge_l(t, e) for e in res[name]["earlier"].values() if e != UNWRITTEN), default=0.0)
            for t, (_, _, _, res) in zip(texts, per_item, strict=True)
            if t
        ]
        novel = unknown = 0
        shares = []  # of its long words, how many the article has (common words count too)
        copied = []  # its copied 8-grams, per written text
        for t, (_, article, _, res) in zip(texts, per_item, strict=True):
            in_article = set(words(article.text.lower()))
            known = in_article | set(words(str(res[name]["prompt"]).lower()))
            own = {w for w in words(t.lower()) if len(w) > 3}
            novel += sum(1 for w in own if w not in known)
            if own:
                shares.append(sum(1 for w in own if w in in_article) / len(own))
            if t:
                copied.append(copy_rate(t, article.text))
            unknown += len(unknown_words(t, article.text))
        questions = sum(1 for t in texts if ends_on_question(t))
        echoes = [
            echoed_instruction(t, shipped_grams | instruction_ngrams([str(res[name]["prompt"])]))
            for t, (_, _, _, res) in zip(texts, per_item, strict=True)
        ]
        scored = [(t, gold) for t, (_, _, gold, _) in zip(texts, per_item, strict=True) if gold]
        rouge = (
            f" {mean(rouge_n(t, g, 1) for t, g in scored):.3f} / {mean(rouge_n(t, g, 2) for t, g in scored):.3f} / "
            f"{mean(rouge_l(t, g) for t, g in scored):.3f} | {mean(rouge_l(lead_n(t, 1), g) for t, g in scored):.3f} / "
            f"{mean(rouge_l(' '.join(t.split()[: len(g.split())]), g) for t, g in scored):.3f} |"
            if golds
            else ""
        )
        lines.append(
            f"| {name} | {sum(1 for t in texts if t)}/{len(texts)} | "
            f"{sum(float(res[name]['regenerated']) for _, _, _, res in per_item):.0f} | « {openings} » {count} | "
            f"{mean(overlaps):.2f} / {max(overlaps, default=0.0):.2f} | {novel} | {mean(shares):.0%} | "
            f"{mean(copied):.1%} | {unknown} | "
            f"{questions}/{len(texts)} | {mean(len(words(t)) for t in texts):.0f} | "
            f"{sum(e > 0 for e in echoes)} / {sum(echoes)} |{rouge}"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace, texts: dict[str, str], *, runner: ModelRunner | None = None) -> str:
    """`texts`: each variant's template of the part, by name; `runner`: a model other than the config's."""
    cfg = Config(base_dir=str(ROOT)).replace(
        model={"source": args.model, "backend": args.backend}, general={"data_dir": args.data_dir}
    )
    part = Part[args.part.upper()]
    names = ["shipped", *texts]
    openings: dict[str, str] = {}
    strengths: dict[str, float] = {}
    for name, text in list(texts.items()):
        while True:
            first, _, rest = text.partition("\n")
            if first.startswith("opening:"):
                openings[name] = first.removeprefix("opening:").strip()
            elif first.startswith("anticopy:"):
                strengths[name] = float(first.removeprefix("anticopy:"))
            else:
                break
            text = rest.strip()
        texts[name] = text
    indices = _orangesum_indices(args)
    dataset = load_orangesum(max(indices, default=-1) + 1)
    orangesum = [(i, dataset[i]) for i in indices]
    async with Agora(cfg, runner=runner) as app:
        await app.runner.wait_ready()
        shipped = app.summarizer._prompts
        variants = {"shipped": shipped}
        for name, text in texts.items():
            variants[name] = PromptSet({**shipped.templates, PART_FILES[part]: text}, f"variant-{name}")
        # the other parts' prompts; each variant's own instruction is added to them in _report
        templates = tuple(t for file, t in shipped.templates.items() if file != PART_FILES[part])
        per_item = []
        for name, article, gold in await _articles(app, args.pages, orangesum):
            t0 = time.monotonic()
            results = await _one_item(app, article, part, variants, Length(args.length), openings, strengths)
            per_item.append((name, article, gold, results))
            print(f"{name}: {time.monotonic() - t0:.0f} s", flush=True)
            for v in names:
                print(f"  {v}: {results[v]['text'] or UNWRITTEN}", flush=True)
    report = _report(per_item, names, templates)
    return report + (_baselines([item for _, item in orangesum]) if orangesum else "")


def _baselines(items: list[dict[str, str]]) -> str:
    """The reference summarizers' ROUGE against the human summaries of the same OrangeSum items."""
    scores = {
        name: mean(rouge_l(summary(item), item["gold"]) for item in items)
        for name, summary in (
            ("BARThez", lambda item: item["barthez"]),
            ("mBARThez", lambda item: item["mbarthez"]),
            ("lead-3", lambda item: lead_n(item["source"], 3)),
        )
    }
    return f"\n\nROUGE-L vs human summary on the same {len(items)} items: " + ", ".join(
        f"{name} {score:.3f}" for name, score in scores.items()
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", default="neutre", choices=[x.name.lower() for x in GENERATION_ORDER])
    p.add_argument("--variant", action="append", default=[], help="a file holding the part's prompt template")
    p.add_argument("--pages", nargs="*", default=[], help="corpus folders to digest")
    p.add_argument("--orangesum", type=int, default=0, help="N OrangeSum test items")
    p.add_argument("--skip", type=int, default=0, help="the OrangeSum items to start after")
    p.add_argument("--items", type=int, nargs="*", default=[], help="these OrangeSum items (0-based), not a range")
    p.add_argument("--model", default="embedded")
    p.add_argument("--backend", default="auto")
    p.add_argument("--length", default="standard", choices=[x.value for x in Length])
    p.add_argument("--data-dir", default="data")
    args = p.parse_args()
    texts = {Path(v).stem: Path(v).read_text(encoding="utf-8").strip() for v in args.variant}
    print(asyncio.run(run(args, texts)))


if __name__ == "__main__":
    main()
