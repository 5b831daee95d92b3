"""Does a bigger jury cost more wall time? Judges must be asked in parallel, not one after another.

Starts the loopback FakeLLMServer from tests/fake_llm_server.py with 0.5 s of latency per request, builds
a `Jury` directly (no pytest), warms it up (the first call imports litellm), then measures the median
latency of one `check` with 1, 5, 10 and 16 judges, from a sync caller (`jury.check`) and from an async
caller (`asyncio.run(jury.acheck(...))`), and prints each as a ratio of the 1-judge latency.

Also counts the TCP connections the server accepts per judge call (a client that reuses its connections
opens none once warm) and the aiohttp sessions never closed: evidence that one HTTP client is reused.

Targets: 5 judges <= 1.3x the 1-judge latency; product target <= 1.1x for up to 16 judges.
Run by hand: `python benchmarks/parallel_jury.py [--runs N] [--latency S]`.
Exits 1 when a 5-judge ratio (sync or async) exceeds 1.3; the product target is reported only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.judges import JudgeCaller
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.verdict import Verdict

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
SIZES = (1, 5, 10, 16)
TARGET_5 = 1.3
PRODUCT_TARGET = 1.1
CONCURRENCY = 16
OUTPUT = "The capital of France is Paris."
CRITERIA = "The answer names the capital of France correctly."


class LoggedRequest(Protocol):
    at: float  # wall-clock time the server finished the request (after its latency)


class FakeServer(Protocol):
    """The part of tests/fake_llm_server.FakeLLMServer this benchmark uses."""

    latency_s: float
    requests: list[LoggedRequest]

    @property
    def url(self) -> str: ...

    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def reset(self) -> None: ...


class ConnectionCounter:
    """Counts the connections the fake server accepts, by wrapping its socketserver's get_request."""

    def __init__(self, server: FakeServer) -> None:
        self.count = 0
        httpd = getattr(server, "_httpd", None)
        self.available = httpd is not None
        if httpd is None:
            return
        accept: Callable[[], Any] = httpd.get_request

        def counting_accept() -> Any:
            self.count += 1
            return accept()

        httpd.get_request = counting_accept


def start_server(latency_s: float) -> tuple[FakeServer, ConnectionCounter]:
    # tests/ is not a package: put it on sys.path, as pytest's rootdir-relative import does for conftest.
    sys.path.insert(0, str(TESTS_DIR))
    module = importlib.import_module("fake_llm_server")
    server = cast(FakeServer, module.FakeLLMServer())
    counter = ConnectionCounter(server)
    server.start()
    server.latency_s = latency_s
    return server, counter


class UnclosedSessions(logging.Filter):
    """Counts, and keeps off the terminal, aiohttp's "Unclosed client session/connector" reports.

    aiohttp logs one through the event loop's exception handler (the `asyncio` logger) whenever a
    ClientSession that was never closed is garbage-collected.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sessions = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Unclosed client session"):
            self.sessions += 1
            return False
        return not message.startswith("Unclosed connector")


def open_aiohttp_sessions() -> int:
    """aiohttp ClientSessions still referenced and open."""
    return sum(
        1
        for obj in gc.get_objects()
        if type(obj).__name__ == "ClientSession"
        and type(obj).__module__.startswith("aiohttp")
        and not getattr(obj, "closed", True)
    )


def judges(n: int) -> tuple[str, ...]:
    return tuple(f"judge-{i:02d}" for i in range(1, n + 1))


def check_sync(jury: Jury) -> Verdict:
    return jury.check(OUTPUT, CRITERIA)


def check_async(jury: Jury) -> Verdict:
    return asyncio.run(jury.acheck(OUTPUT, CRITERIA))


def timed(check: Callable[[Jury], Verdict], jury: Jury) -> tuple[float, Verdict]:
    started = time.perf_counter()
    verdict = check(jury)
    elapsed = time.perf_counter() - started
    if not verdict.passed or len(verdict.votes) != len(jury.settings.judges):
        raise SystemExit(f"unexpected verdict from the fake server: {verdict.explain()}")
    return elapsed, verdict


def measure(
    server: FakeServer,
    counter: ConnectionCounter,
    caller: JudgeCaller,
    check: Callable[[Jury], Verdict],
    label: str,
    runs: int,
) -> dict[int, float]:
    """Median latency per jury size; also prints the spread of the requests as the server saw them."""
    print(f"\n{label}: median of {runs} checks per jury size (one unmeasured warm-up check each)")
    medians: dict[int, float] = {}
    for size in SIZES:
        jury = Jury(JurySettings(judges=judges(size), api_base=server.url), lambda: caller)
        warm_up, _ = timed(check, jury)  # new connections for the extra judges, route resolution
        samples: list[float] = []
        slowest_vote: list[float] = []
        finish_spread: list[float] = []
        connections_before = counter.count
        for _ in range(runs):
            del server.requests[:]
            elapsed, verdict = timed(check, jury)
            samples.append(elapsed)
            slowest_vote.append(max(vote.latency_s for vote in verdict.votes))
            done = [request.at for request in server.requests]
            finish_spread.append(max(done) - min(done) if done else 0.0)
        medians[size] = statistics.median(samples)
        ratio = medians[size] / medians[1]
        per_call = (counter.count - connections_before) / (runs * size)
        connections = f"; new TCP connections per judge call {per_call:.2f}" if counter.available else ""
        print(
            f"  {size:2d} judge(s): median {medians[size] * 1000:7.1f} ms  ratio {ratio:5.2f}x  "
            f"[min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f}; "
            f"warm-up {warm_up * 1000:.1f} ms; "
            f"slowest vote median {statistics.median(slowest_vote) * 1000:.1f} ms; server finish spread "
            f"median {statistics.median(finish_spread) * 1000:.1f} ms{connections}]"
        )
    return medians


def verdict_line(label: str, medians: dict[int, float]) -> tuple[bool, str]:
    ratios = {size: medians[size] / medians[1] for size in SIZES}
    five_ok = ratios[5] <= TARGET_5
    product_ok = all(ratio <= PRODUCT_TARGET for ratio in ratios.values())
    text = (
        f"  {label}: "
        + ", ".join(f"{size} judges {ratios[size]:.2f}x" for size in SIZES if size > 1)
        + f"  (5-judge target <= {TARGET_5}: {'MET' if five_ok else 'MISSED'}; product target "
        f"<= {PRODUCT_TARGET} up to 16: {'MET' if product_ok else 'MISSED'})"
    )
    return five_ok, text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="measured checks per jury size (default 5)")
    parser.add_argument("--latency", type=float, default=0.5, help="server latency per request, seconds")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.latency < 0:
        parser.error("--runs must be at least 1, --latency at least 0")
    os.environ["OPENAI_API_KEY"] = "sk-benchmark-dummy-key"
    started = time.perf_counter()
    print(
        f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs; server latency {args.latency:g} s; "
        f"JudgeCaller(concurrency={CONCURRENCY})"
    )
    unclosed = UnclosedSessions()
    logging.getLogger("asyncio").addFilter(unclosed)
    server, counter = start_server(args.latency)
    caller = JudgeCaller(concurrency=CONCURRENCY)
    try:
        warm = Jury(JurySettings(judges=judges(1), api_base=server.url), lambda: caller)
        first, _ = timed(check_sync, warm)
        print(f"first check (imports litellm, starts the judge loop): {first:.2f} s")
        sync = measure(server, counter, caller, check_sync, "sync  jury.check", args.runs)
        async_ = measure(
            server, counter, caller, check_async, "async asyncio.run(jury.acheck(...))", args.runs
        )
    finally:
        caller.close()
        server.stop()
    gc.collect()
    still_open = open_aiohttp_sessions()
    sync_ok, sync_text = verdict_line("sync ", sync)
    async_ok, async_text = verdict_line("async", async_)
    print("\nsummary (latency ratio vs 1 judge)")
    print(sync_text)
    print(async_text)
    total_calls = 1 + 2 * (args.runs + 1) * sum(SIZES)
    if counter.available:
        print(f"  TCP connections accepted by the server: {counter.count} for {total_calls} judge calls")
    leaked = unclosed.sessions + still_open
    print(
        f"  aiohttp sessions never closed: {unclosed.sessions} garbage-collected unclosed, {still_open} "
        "still open after caller.close()"
        + (" (LEAK; aiohttp's per-session reports silenced)" if leaked else "")
    )
    print(f"  total benchmark time: {time.perf_counter() - started:.1f} s")
    return 0 if sync_ok and async_ok else 1


if __name__ == "__main__":
    sys.exit(main())
