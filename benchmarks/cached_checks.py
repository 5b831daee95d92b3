"""How long does a fully cached `jury.check` take, and does it stay clear of litellm?

Seeds a fresh verdict cache (in a temporary directory) with the votes of a 3-judge jury for N
different outputs, then times `jury.check` over them in a fresh interpreter with nothing else loaded.
Goal: <= 200 us per check (hard limit 500 us); litellm must never be imported.

Run by hand: `python benchmarks/cached_checks.py [--checks N] [--judges N] [--rounds N]`.
Exits 1 when the median exceeds 500 us or litellm was imported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pytest_llmonpy.cache import VerdictCache
from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.prompts import Case
from pytest_llmonpy.verdict import Vote

CRITERIA = "Correctly names the capital of Australia"


def no_live_calls() -> object:
    raise AssertionError("a fully cached check must not call a judge")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=500, help="distinct cached outputs per round")
    parser.add_argument("--judges", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    judges = tuple(f"openai/judge-{i}" for i in range(args.judges))
    outputs = [f"The capital of Australia is Canberra. (variant {n})" for n in range(args.checks)]

    with tempfile.TemporaryDirectory() as tmp:
        cache = VerdictCache(Path(tmp) / ".llmonpy")
        for output in outputs:
            case = Case(output=output, criteria=CRITERIA, input="What is the capital of Australia?")
            for model in judges:
                cache.put(Vote(model, "pass", "names Canberra", 120, 8, 0.0000228, 0.4), case)
        jury = Jury(JurySettings(judges=judges), no_live_calls, cache=lambda: cache)  # type: ignore[arg-type]

        per_check: list[float] = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            for output in outputs:
                verdict = jury.check(output, CRITERIA, input="What is the capital of Australia?")
                if not verdict.cached:
                    raise AssertionError("expected a fully cached verdict")
            per_check.append((time.perf_counter() - started) / len(outputs))
            jury.verdicts.clear()
        cache.close()

    median_us = statistics.median(per_check) * 1e6
    best_us = min(per_check) * 1e6
    litellm_loaded = "litellm" in sys.modules
    print(f"fully cached jury.check, {args.judges} judges, {args.checks} outputs x {args.rounds} rounds")
    print(f"  median {median_us:.0f} us per check (best round {best_us:.0f} us)")
    print(f"  ratio to the 200 us goal: {median_us / 200:.2f}; to the 500 us limit: {median_us / 500:.2f}")
    print(f"  litellm imported: {litellm_loaded}")
    return 1 if litellm_loaded or median_us > 500 else 0


if __name__ == "__main__":
    sys.exit(main())
