"""Hypothesis profiles for the fuzz tests: short in CI, long from `bench/fuzz.py`.

The profile is applied per test (`@fuzz`), never loaded globally, so the other property tests of the
suite keep their own settings. `AGORA_FUZZ_EXAMPLES` (set by bench/fuzz.py) overrides the count.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 300

settings.register_profile(
    "agora-fuzz",
    max_examples=int(os.environ.get("AGORA_FUZZ_EXAMPLES") or CI_EXAMPLES),
    deadline=None,  # a shared 2-core machine makes per-example timings meaningless
    database=None,  # nothing written to .hypothesis/: a failure prints its reproducer instead
    # CI replays the same examples every run (no flaky red); the long run explores at random.
    derandomize=not os.environ.get("AGORA_FUZZ_EXAMPLES"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)

#: Decorator for every fuzz test.
fuzz = settings(settings.get_profile("agora-fuzz"))
