"""A CI fleet on one Redis (jury_cache_url): how fast is a cached check, and how much of a shared rate
limit does the fleet use?

Starts a real redis-server on a loopback port (tests/redis_server.py; `bash scripts/install_redis.sh`
installs Debian's), then, in one run:

1. Cached checks. Seeds Redis with the votes of a 3-judge jury for N outputs, then times `jury.check`
   over them three ways: a runner that has never seen them (a fresh local cache: each check reads Redis
   and keeps a local copy), a replay runner (reads Redis only) and, as the baseline, a runner whose
   local cache already holds them. Goal: <= 1 ms per check through Redis; prints the ratio to the
   local cache.
2. Fleet throughput. W processes (the workers of several runners) each send requests to the loopback
   judge server, every request through the rate limiter sharing one limit in Redis. From the server's
   arrival times it prints the most requests in any 1-second window (must not exceed the limit) and the
   throughput as a fraction of the limit (goal >= 80 %).

Run by hand: `python benchmarks/redis_cache.py [--checks N] [--limit R] [--workers W] [--requests N]`.
Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from pytest_llmonpy.cache import VerdictCache
from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.fleet_settings import SharedStoreSettings
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.prompts import Case
from pytest_llmonpy.ratelimit import Rate, SharedRateLimiter
from pytest_llmonpy.redis_store import RedisLink, RedisRateState, RedisVerdicts
from pytest_llmonpy.verdict import Vote

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS_DIR))
from rate_limit import max_in_any_window  # noqa: E402  (benchmarks/, this script's own directory)

CRITERIA = "Correctly names the capital of Australia"
QUESTION = "What is the capital of Australia?"
GOAL_CHECK_MS = 1.0
GOAL_THROUGHPUT = 0.80


def no_live_calls() -> object:
    raise AssertionError("a cached check must not call a judge")


def time_checks(jury: Jury, outputs: list[str]) -> float:
    """Seconds per check over `outputs`, each a fully cached verdict."""
    started = time.perf_counter()
    for output in outputs:
        if not jury.check(output, CRITERIA, input=QUESTION).cached:
            raise AssertionError("expected a fully cached verdict")
    elapsed = time.perf_counter() - started
    jury.verdicts.clear()
    return elapsed / len(outputs)


def cached_checks(settings: SharedStoreSettings, checks: int, rounds: int) -> dict[str, float]:
    judges = ("openai/judge-0", "openai/judge-1", "openai/judge-2")
    outputs = [f"The capital of Australia is Canberra. (variant {n})" for n in range(checks)]
    link = RedisLink(settings)
    seconds: dict[str, list[float]] = {"fresh runner": [], "replay runner": [], "local cache": []}
    with tempfile.TemporaryDirectory() as scratch:
        seeder = VerdictCache(Path(scratch, "seed"), shared=RedisVerdicts(link))
        for output in outputs:
            case = Case(output=output, criteria=CRITERIA, input=QUESTION)
            for model in judges:
                seeder.put(Vote(model, "pass", "names Canberra", 120, 8, 0.0000228, 0.4), case)
        seeder.close()
        for round_number in range(rounds):
            for kind, mode in (("fresh runner", "record"), ("replay runner", "replay")):
                cache = VerdictCache(
                    Path(scratch, f"{kind}-{round_number}"), mode=mode, shared=RedisVerdicts(link)
                )
                jury = Jury(JurySettings(judges=judges, mode=mode), no_live_calls, cache=lambda c=cache: c)  # type: ignore[arg-type,misc]
                seconds[kind].append(time_checks(jury, outputs))
                if kind == "fresh runner":
                    # The same runner again: its local cache now answers (the baseline).
                    seconds["local cache"].append(time_checks(jury, outputs))
                cache.close()
    link.close()
    return {kind: statistics.median(values) * 1000 for kind, values in seconds.items()}


def worker(url: str, namespace: str, server_url: str, limit: int, requests: int, scratch: str) -> None:
    shared = RedisRateState(RedisLink(SharedStoreSettings(url, namespace)))
    limiter = SharedRateLimiter(Path(scratch), {"judge-a": Rate(limit, 1.0)}, shared=shared)
    body = json.dumps(
        {"model": "judge-a", "messages": [{"role": "user", "content": "<output>x</output>"}]}
    ).encode()
    for _ in range(requests):
        time.sleep(limiter.reserve("judge-a"))
        request = urllib.request.Request(
            f"{server_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            reply.read()
    limiter.close()


def fleet_throughput(url: str, limit: int, workers: int, requests: int) -> tuple[int, float]:
    server: Any = importlib.import_module("fake_llm_server").FakeLLMServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            processes = [
                multiprocessing.Process(
                    target=worker,
                    args=(url, "bench", server.url, limit, requests, str(Path(scratch, str(n)))),
                )
                for n in range(workers)
            ]
            for process in processes:
                process.start()
            for process in processes:
                process.join()
        arrivals = sorted(call.at for call in server.calls("judge-a"))
    finally:
        server.stop()
    if len(arrivals) != workers * requests:
        raise AssertionError(f"expected {workers * requests} requests, the server saw {len(arrivals)}")
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    return max_in_any_window(arrivals), rate / limit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=300, help="distinct cached outputs per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=20, help="the fleet's requests per second")
    parser.add_argument("--workers", type=int, default=6, help="processes sharing the limit")
    parser.add_argument("--requests", type=int, default=50, help="requests per process")
    args = parser.parse_args()
    running_redis = importlib.import_module("redis_server").running_redis
    failed = False
    with running_redis() as redis_server:
        settings = SharedStoreSettings(redis_server.url, "bench")
        ms = cached_checks(settings, args.checks, args.rounds)
        print(f"cached jury.check, 3 judges, {args.checks} outputs x {args.rounds} rounds (median per check)")
        for kind, value in ms.items():
            print(f"  {kind:<14} {value:.3f} ms")
        local = ms["local cache"]
        for kind in ("fresh runner", "replay runner"):
            print(f"  {kind} / local cache: {ms[kind] / local:.2f}; / the {GOAL_CHECK_MS:g} ms goal: "
                  f"{ms[kind] / GOAL_CHECK_MS:.2f}")  # fmt: skip
            failed |= ms[kind] > GOAL_CHECK_MS
        peak, share = fleet_throughput(redis_server.url, args.limit, args.workers, args.requests)
    print(f"fleet of {args.workers} processes x {args.requests} requests under one limit of {args.limit}/s")
    print(f"  most requests in any 1 s window: {peak} (limit {args.limit})")
    print(f"  throughput / limit: {share:.2f} (goal >= {GOAL_THROUGHPUT:.2f})")
    failed |= peak > args.limit or share < GOAL_THROUGHPUT
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
