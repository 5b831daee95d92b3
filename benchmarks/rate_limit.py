"""Do shared rate limits hold across xdist workers, and how much of the limit do they use?

Starts the loopback FakeLLMServer from tests/fake_llm_server.py, writes a suite of N one-judge checks,
and runs it with `pytest -n 2 --jury-rate-limits=judge-a=<limit>/s --jury-mode=off` in a subprocess
(a fresh rate-limit store). From the server's arrival times it prints the highest number of requests
seen in any 1-second window (must not exceed the limit) and the throughput as a fraction of the limit
(goal >= 80 %), measured from the first to the last arrival.
Run by hand: `python benchmarks/rate_limit.py [--checks N] [--limit R] [--workers W]`.
Exits 1 when the limit is exceeded or throughput is under 80 %.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
GOAL_THROUGHPUT = 0.80
SUITE = """
import pytest

@pytest.mark.parametrize("n", range({checks}))
def test_answer(jury, n):
    jury.check(f"answer {{n}}", "Is a numbered answer")
"""


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    ordered = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def start_server() -> Any:
    sys.path.insert(0, str(TESTS_DIR))
    server = importlib.import_module("fake_llm_server").FakeLLMServer()
    server.start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=60)
    parser.add_argument("--limit", type=int, default=10, help="requests per second for the one judge")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    server = start_server()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            suite = Path(scratch, "test_rate_limited.py")
            suite.write_text(SUITE.format(checks=args.checks), encoding="utf-8")
            env = {
                **os.environ,
                "OPENAI_API_KEY": "sk-benchmark-not-a-key",
                "LLMONPY_RATELIMIT_DIR": str(Path(scratch, "ratelimits")),
            }
            command = [
                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                str(suite), f"-n{args.workers}", f"--jury-api-base={server.url}", "--jury-judges=judge-a",
                f"--jury-rate-limits=judge-a={args.limit}/s", "--jury-mode=off", f"--rootdir={scratch}",
            ]  # fmt: skip
            run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        arrivals = sorted(call.at for call in server.calls("judge-a"))
    finally:
        server.stop()
    if run.returncode != 0 or len(arrivals) != args.checks:
        print(run.stdout[-2000:], run.stderr[-2000:])
        print(f"the suite failed (exit {run.returncode}, {len(arrivals)} of {args.checks} requests)")
        return 1
    peak = max_in_any_window(arrivals)
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    throughput = rate / args.limit
    print(f"{args.checks} checks, -n {args.workers}, limit {args.limit}/s for judge-a")
    verdict = "ok" if peak <= args.limit else "EXCEEDED"
    print(f"  highest count in any 1 s window: {peak} (limit {args.limit}): {verdict}")
    print(f"  throughput: {rate:.2f}/s = {throughput:.0%} of the limit (goal >= {GOAL_THROUGHPUT:.0%})")
    return 0 if peak <= args.limit and throughput >= GOAL_THROUGHPUT else 1


if __name__ == "__main__":
    raise SystemExit(main())
