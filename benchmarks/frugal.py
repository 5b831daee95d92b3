"""What does the frugal strategy save? 200 verdicts x 5 judges, ~90 % of votes agreeing.

Starts the loopback FakeLLMServer from tests/fake_llm_server.py (a small latency per request), scripts
five OpenAI-priced judge names (litellm prices them by its table, so costs are real figures) so that
each judge votes with the majority on about 90 % of the outputs (a seeded random pattern), then judges
the same 200 outputs twice with a `Jury` built directly (no pytest, no cache): once with
`strategy="parallel"` and once with `strategy="frugal"`.

Prints the judge calls and cost of each, the share saved by frugal (goal: >= 30 %), whether every
verdict is identical (it must be), and the wall-time ratio frugal / parallel (frugal asks in up to two
rounds, so a split jury costs a second round trip).
Run by hand: `python benchmarks/frugal.py [--verdicts N] [--latency S] [--agreement P]`.
Exits 1 when verdicts differ or less than 30 % of calls are saved.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.judges import JudgeCaller
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.verdict import HungJuryError, Verdict

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
# Priced in litellm's table when routed to an OpenAI-compatible endpoint.
JUDGES = ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-3.5-turbo", "gpt-4o")
GOAL_SAVED = 0.30


def start_server(latency_s: float) -> Any:
    sys.path.insert(0, str(TESTS_DIR))
    server = importlib.import_module("fake_llm_server").FakeLLMServer()
    server.start()
    server.latency_s = latency_s
    return server


def script_votes(server: Any, verdicts: int, agreement: float, seed: int) -> None:
    """Each output gets a majority vote (90 % pass); each judge follows it with probability `agreement`."""
    rng = random.Random(seed)
    server.default_vote = "pass"
    for index in range(verdicts):
        majority = "pass" if rng.random() < 0.9 else "fail"
        for model in JUDGES:
            vote = majority if rng.random() < agreement else ("fail" if majority == "pass" else "pass")
            if vote != "pass":
                server.judge(vote, model=model, output_contains=f"[{index}]", usage=(160, 20))
    server.judge("pass", usage=(160, 20))  # fixed usage for every reply: comparable costs
    # The catch-all above was added last and would win: re-add the specific rules after it.
    server.rules.insert(0, server.rules.pop())


def run(strategy: str, server: Any, verdicts: int) -> tuple[list[str], int, float, float]:
    caller = JudgeCaller(concurrency=16)
    settings = JurySettings(judges=JUDGES, mode="off", strategy=strategy, api_base=server.url, timeout_s=60)
    jury = Jury(settings, lambda: caller)
    jury.check("warm-up [warm]", "Is an answer")  # imports litellm outside the timing
    before = len(server.calls())
    outcomes: list[str] = []
    cost = 0.0
    started = time.perf_counter()
    for index in range(verdicts):
        try:
            verdict: Verdict = jury.check(f"answer [{index}]", "Is a numbered answer")
        except HungJuryError as hung:
            verdict = hung.verdict  # type: ignore[assignment]
        outcomes.append(verdict.outcome)
        cost += verdict.cost_usd or 0.0
    elapsed = time.perf_counter() - started
    calls = len(server.calls()) - before
    caller.close()
    return outcomes, calls, cost, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verdicts", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per request")
    parser.add_argument("--agreement", type=float, default=0.9, help="chance a judge votes with the majority")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark-not-a-key")
    server = start_server(args.latency)
    try:
        script_votes(server, args.verdicts, args.agreement, args.seed)
        parallel = run("parallel", server, args.verdicts)
        frugal = run("frugal", server, args.verdicts)
    finally:
        server.stop()
    identical = parallel[0] == frugal[0]
    saved_calls = 1 - frugal[1] / parallel[1]
    saved_cost = 1 - frugal[2] / parallel[2] if parallel[2] else 0.0
    print(
        f"{args.verdicts} verdicts x {len(JUDGES)} judges, agreement {args.agreement:.0%}, "
        f"latency {args.latency}s"
    )
    print(f"  parallel: {parallel[1]} calls, ${parallel[2]:.6f}, {parallel[3]:.2f}s")
    print(f"  frugal:   {frugal[1]} calls, ${frugal[2]:.6f}, {frugal[3]:.2f}s")
    print(f"  calls saved: {saved_calls:.1%} (goal >= {GOAL_SAVED:.0%}); cost saved: {saved_cost:.1%}")
    print(f"  verdicts identical: {identical} ({sum(o == 'passed' for o in frugal[0])} passed)")
    print(f"  wall-time ratio frugal/parallel: {frugal[3] / parallel[3]:.2f}x")
    return 0 if identical and saved_calls >= GOAL_SAVED else 1


if __name__ == "__main__":
    raise SystemExit(main())
