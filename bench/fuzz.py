"""The fuzz tests (tests/fuzz) run long: how many hostile inputs each property survived.

Usage: python bench/fuzz.py [--examples 20000] [-k EXPR] [--no-write]

Runs pytest on tests/fuzz with AGORA_FUZZ_EXAMPLES set (the CI run uses 300 and a fixed seed; this
one draws at random), reads Hypothesis's statistics, and prints one line per property: examples
passed, examples failed, examples rejected as invalid (filtered draws), and time. The report replaces
the "## Fuzzing" section of bench/RESULTS.md (unless --no-write, or when anything failed: a failure
prints its minimal reproducer and the exit code is 1).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.results import replace_section  # noqa: E402

_TEST = re.compile(r"^(tests/fuzz/\S+::\S+):\s*$")
# "- 50 passing, 0 failing, and 2 invalid test cases" (older Hypothesis: "50 passing examples, ...").
_COUNTS = re.compile(r"- (\d+) passing\b[^,]*, (\d+) failing\b[^,]*, (?:and )?(\d+) invalid")
_PHASE = re.compile(r"- during (\w+) phase \(([\d.]+) seconds\)")
_STOP = re.compile(r"- Stopped because (.+)$")


@dataclass
class Stats:
    test: str
    passed: int = 0
    failed: int = 0
    invalid: int = 0
    seconds: float = 0.0
    stopped: str = ""


def parse_statistics(output: str) -> list[Stats]:
    """Hypothesis's `--hypothesis-show-statistics` block, per test, phases added up."""
    found: list[Stats] = []
    current: Stats | None = None
    for line in output.splitlines():
        if match := _TEST.match(line.strip()):
            current = Stats(match.group(1))
            found.append(current)
        elif current is None:
            continue
        elif match := _PHASE.search(line):
            current.seconds += float(match.group(2))
        elif match := _COUNTS.search(line):
            current.passed += int(match.group(1))
            current.failed += int(match.group(2))
            current.invalid += int(match.group(3))
        elif match := _STOP.search(line):
            current.stopped = match.group(1).strip()
    return found


#: Kept with the figures: what these properties caught, each pinned in tests/fuzz/test_regressions.py.
FOUND = """\
"invalid" counts draws Hypothesis discarded (a filter or an `assume` said no), not failures. Bugs the
properties found, fixed, and pinned in `tests/fuzz/test_regressions.py`:

- fetch: a percent-encoded host (`lemonde%2efr`, `16777216%30`) went to DNS as typed while the cache
  key decoded it (`lemonde.fr`, `10.0.0.0`): refused now.
- fetch: hosts httpx accepts but cannot decode (`xn--`, `xn--xn--a`) raised `idna.IDNAError`, not a
  FetchError, after a DNS lookup; `0.0.00。0` escaped `_parse_url` as `httpx.InvalidURL`: both refused
  up front as `InvalidURL`.
- canonicalize: the zone of an IPv4-mapped IPv6 literal was dropped from the cache key.
- Matrix: `"m.mentions": {"user_ids": 5}` raised in `convert.mentions` (the room's later events in that
  sync were skipped); a string there matched any substring.
- `!resume "voir https://…"` / `"http://[x https://…"` digested the whole argument (a ValueError in
  BotCore for the second); fixed in bot/core/bot.py.
- Summaries: the fallback recap (model wrote nothing) copied the page's first sentences uncleaned, so a
  page could plant a bold fake heading; "Article en référence :" and stacked part labels
  ("Point de vue neutre : Article en référence : …") survived cleaning.
- Discord: a blank title fell back to the page's site name without neutralising its mentions.
"""


def report(stats: list[Stats], examples: int, seconds: float, ok: bool) -> str:
    lines = [
        f"Examples asked per property: {examples} (random draws). Outcome: "
        + ("**no failure**." if ok else "**FAILURES** (see the run's output)."),
        "",
        "| property | passed | failed | invalid | s |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in stats:
        name = s.test.removeprefix("tests/fuzz/")
        lines.append(f"| `{name}` | {s.passed} | {s.failed} | {s.invalid} | {s.seconds:.0f} |")
    total = sum(s.passed for s in stats)
    lines += [
        "",
        f"{total} inputs passed in all, {sum(s.failed for s in stats)} failed, in {seconds:.0f} s "
        f"(wall clock, 2 shared cores).",
        "",
        FOUND,
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=20000, help="examples per property (default 20000)")
    parser.add_argument("-k", dest="select", help="only the properties pytest's -k selects")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    command = [
        sys.executable, "-m", "pytest", "tests/fuzz", "-q", "-p", "no:cacheprovider",
        "--hypothesis-show-statistics", *(["-k", args.select] if args.select else []),
    ]  # fmt: skip
    env = os.environ | {"AGORA_FUZZ_EXAMPLES": str(args.examples)}
    started = time.monotonic()
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    stats = parse_statistics(run.stdout)
    ok = run.returncode == 0 and all(s.failed == 0 for s in stats)
    if not ok:
        print(run.stdout[-20000:], run.stderr[-5000:], sep="\n", file=sys.stderr)
    body = report(stats, args.examples, seconds, ok)
    print(body)
    if ok and not args.no_write and not args.select:
        replace_section(
            REPO / "bench" / "RESULTS.md",
            "Fuzzing",
            f"Command: `python bench/fuzz.py --examples {args.examples}`\n\n{body}",
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
