"""bench/part_ab.py: one conversation per item, the compared part written once per variant from it."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import part_ab
from bot.core.types import Article
from bot.model.echo_backend import EchoBackend
from bot.model.runner import ModelRunner
from bot.pipeline.summarize import UNWRITTEN


def _args(tmp_path: Path, *, part: str, pages: list[str], skip: int) -> argparse.Namespace:
    """part_ab's command line: one OrangeSum item after `skip`, the echo model, court length."""
    return argparse.Namespace(
        part=part,
        pages=pages,
        orangesum=1,
        skip=skip,
        model="echo",
        backend="echo",
        length="court",
        data_dir=str(tmp_path),
    )


async def test_each_variant_answers_its_own_prompt_after_the_same_earlier_parts(tmp_path: Path) -> None:
    # The second OrangeSum item, not the first, after a corpus page.
    args = _args(tmp_path, part="neutre", pages=["fr09-ledevoir-trottinettes"], skip=1)
    # The echo model starts its answer with the instruction's first sentence: each text shows its prompt.
    # (No word count in it: the neutral view's sentences naming a number absent from the article go; and
    # under six words, or it would go as an instruction restated, drop_instruction_echoes.)
    variant = "Pèse le zéphyr. Écris en {paragraphs}, environ {words} mots."
    runner = ModelRunner(lambda: EchoBackend(echo_instruction=True))
    report = await part_ab.run(args, {"pese": variant}, runner=runner)
    blocks = report.split("\n### ")[1:]
    assert [b.splitlines()[0] for b in blocks] == ["fr09-ledevoir-trottinettes", "orangesum-1"]
    for block in blocks:
        lines = block.splitlines()
        recap = next(line for line in lines if line.startswith("recap: "))
        assert len(recap) > 40 and UNWRITTEN not in recap  # written once, before the variants
        shipped = next(line for line in lines if line.startswith("- **shipped**"))
        pese = next(line for line in lines if line.startswith("- **pese**"))
        assert "zéphyr" in pese and "zéphyr" not in shipped and "Pèse" not in recap
    table = report.split("| variant |")[1].split("\n\n")[0].splitlines()
    # Two items, each variant written for both; only the OrangeSum item has a human summary.
    assert "vs human summary (1 items)" in table[0]
    rows = {row.split("|")[1].strip(): row for row in table[2:]}
    assert set(rows) == {"shipped", "pese"}
    assert all(row.split("|")[2].strip() == "2/2" for row in rows.values())
    # The shipped instruction's first sentence, which the echo model says first, goes as an instruction
    # restated (drop_instruction_echoes): the article's sentences are left, and the echo column counts
    # none; the variant's few words are no echo either (a restated prompt counted: the test below).
    header = report[report.index("| variant |") :].splitlines()[0]
    echo = [c.strip() for c in header.split("|")].index("instruction 6-grams: texts with any, in all")
    assert {name: row.split("|")[echo].strip() for name, row in rows.items()} == {"shipped": "0 / 0", "pese": "0 / 0"}
    shipped_texts = [line for line in report.splitlines() if line.startswith("- **shipped**")]
    assert len(shipped_texts) == 2 and not any("point de vue neutre" in line for line in shipped_texts)
    assert "ROUGE-L vs human summary on the same 1 items: BARThez" in report


def test_the_echo_column_counts_the_phrases_of_the_variants_own_prompt_restated() -> None:
    article = Article(url="u", final_url="u", title="T", text="Les maires ont voté le budget de la ville.")
    prompt = "Écris le point de vue neutre sur le budget voté en un paragraphe."
    texts = {"own": "Le point de vue neutre sur le budget voté tient ici.", "fresh": "Les maires ont voté."}
    results = {
        name: {"text": text, "prompt": prompt, "earlier": {}, "seconds": 1.0, "problems": {}, "regenerated": 0}
        for name, text in texts.items()
    }
    report = part_ab._report([("item", article, "", results)], ["own", "fresh"])
    table = report[report.index("| variant |") :].splitlines()
    echo = [c.strip() for c in table[0].split("|")].index("instruction 6-grams: texts with any, in all")
    rows = {row.split("|")[1].strip(): row.split("|")[echo].strip() for row in table[2:]}
    # « le point de vue neutre sur », « point … le », « de vue neutre sur le budget », « vue … voté »
    assert rows == {"own": "1 / 4", "fresh": "0 / 0"}


async def test_a_variant_may_change_the_words_the_answer_is_made_to_open_with(tmp_path: Path) -> None:
    args = _args(tmp_path, part="exemple", pages=[], skip=0)
    variant = "opening: Songez\nDécris une scène du zéphyr. Environ {words} mots."
    runner = ModelRunner(lambda: EchoBackend(echo_instruction=True))
    report = await part_ab.run(args, {"songe": variant}, runner=runner)
    lines = report.split("\n### ")[1].splitlines()
    shipped = next(line for line in lines if line.startswith("- **shipped**")).split("): ", 1)[1]
    songe = next(line for line in lines if line.startswith("- **songe**")).split("): ", 1)[1]
    assert shipped.startswith("Imaginez que ") and "zéphyr" not in shipped
    # The opening line is not part of the prompt: the instruction the model saw starts at "Décris".
    assert songe.startswith("Songez Décris une scène du zéphyr.") and "opening:" not in songe
    # The echo model continues with the article's sentences: the variant's analogy retells the article,
    # the shipped one mostly repeats its prompt, and the table's share of article words tells them apart.
    table = report[report.index("| variant |") :].split("\n\n")[0].splitlines()
    header = [c.strip() for c in table[0].split("|")]
    rows = {row.split("|")[1].strip(): [c.strip() for c in row.split("|")] for row in table[2:]}
    share = header.index("words from the article")
    assert float(rows["songe"][share].rstrip("%")) > 2 * float(rows["shipped"][share].rstrip("%"))
    assert rows["songe"][header.index("ends on a question")] == "0/1"


class _TokenizingEcho(EchoBackend):
    """The echo model with a tokenizer, as the local backends have: the anti-copy hook is built, and
    each request's penalty is recorded with the part's instruction."""

    def __init__(self) -> None:
        super().__init__(echo_instruction=True)
        self.strengths: list[tuple[str, float]] = []

    def tokenize(self, text: str) -> list[int]:
        return [hash(w) % 1000 for w in text.split()]

    def token_text(self, token_id: int) -> str:
        return " mot"

    def generate(self, requests):  # type: ignore[no-untyped-def]
        for r in requests:
            self.strengths.append((r.messages[-1].content, r.logits_hook.strength))
        return super().generate(requests)


async def test_a_variant_may_change_the_anticopy_strength_of_its_part_alone(tmp_path: Path) -> None:
    args = _args(tmp_path, part="neutre", pages=[], skip=0)
    backend = _TokenizingEcho()
    variant = "anticopy: 1.5\nPèse les arguments du zéphyr. Environ {words} mots."
    report = await part_ab.run(args, {"doux": variant}, runner=ModelRunner(lambda: backend))
    # The header line is not part of the prompt the model saw.
    asked = [(prompt.split("\n")[-1], s) for prompt, s in backend.strengths]
    doux = [s for prompt, s in asked if "zéphyr" in prompt]
    others = [s for prompt, s in asked if "zéphyr" not in prompt]
    assert doux and set(doux) <= {1.5, 3.0}  # 3.0: a retry told not to copy doubles it
    assert 1.5 in doux and not any("anticopy" in p for p, _s in backend.strengths)
    # The parts before, the shipped variant, and anything after keep the configured strength.
    assert others and set(others) <= {4.0, 8.0} and 4.0 in others
    assert "| copied 8-grams | words French lacks |" in report


async def test_items_may_be_named_one_by_one_instead_of_a_range(tmp_path: Path) -> None:
    args = _args(tmp_path, part="recap", pages=[], skip=0)
    args.items = [2, 0]
    report = await part_ab.run(args, {}, runner=ModelRunner(lambda: EchoBackend()))
    assert [b.splitlines()[0] for b in report.split("\n### ")[1:]] == ["orangesum-2", "orangesum-0"]
    assert "on the same 2 items: BARThez" in report
    # The recap's prompt is its first turn, the article in it: the echo column compares the recap with
    # its instruction alone, or every sentence the echo model takes from the article would count.
    header = report[report.index("| variant |") :].splitlines()
    echo = [c.strip() for c in header[0].split("|")].index("instruction 6-grams: texts with any, in all")
    assert header[2].split("|")[echo].strip() == "0 / 0"
