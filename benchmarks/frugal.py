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

`python benchmarks/frugal.py --mixed` measures the plan alone (no server, no litellm) on a mixed set:
five-judge juries under the quorums majority, unanimous, 2 and 0.6, outputs that mostly pass, judges
that agree with the majority 85 % of the time (so agreeing and split juries). It prints the calls of
parallel, of frugal as it was (first round sized to decide either way) and of frugal leaning the way
the run's votes go, each against the proof-size limit: the fewest calls whose votes prove each verdict
(`required` passes for a pass, `judges - required + 1` fails for a fail). Goal: leaning frugal within
1.25x of the limit, verdicts identical to parallel. Exits 1 otherwise.
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
from pytest_llmonpy.verdict import HungJuryError, Verdict, Vote

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


MIXED_QUORUMS = ("majority", "unanimous", "2", "0.6")
GOAL_RATIO = 1.25


def _drive(plan: Any, votes: dict[str, str]) -> tuple[Verdict, int]:
    """Answer a check plan from `votes` (nothing cached): its verdict and the live calls it made."""
    from pytest_llmonpy.plan import Ask

    calls = 0
    reply: Any = None
    while True:
        try:
            step = plan.send(reply)
        except StopIteration as done:
            return done.value, calls
        if isinstance(step, Ask):
            calls += len(step.calls)
            reply = {call: Vote(call[0], votes[call[0]]) for call in step.calls}  # type: ignore[arg-type]
        else:
            reply = {}


def mixed(verdicts: int, agreement: float, seed: int) -> int:
    from pytest_llmonpy.lean import VoteLean
    from pytest_llmonpy.plan import check_plan
    from pytest_llmonpy.prompts import Case
    from pytest_llmonpy.quorum import Quorum

    rng = random.Random(seed)
    case = Case(output="answer", criteria="Is an answer")
    totals = {"parallel": 0, "frugal": 0, "leaning": 0, "limit": 0}
    identical = True
    print(
        f"{verdicts} verdicts per quorum x {len(MIXED_QUORUMS)} quorums x 5 judges, agreement {agreement:.0%}"
    )
    for quorum_text in MIXED_QUORUMS:
        quorum = Quorum.parse(quorum_text)
        required = quorum.required(len(JUDGES))
        lean = VoteLean()  # a run per quorum: its votes are what the lean learns from
        counts = {"parallel": 0, "frugal": 0, "leaning": 0, "limit": 0}
        for _ in range(verdicts):
            majority = "pass" if rng.random() < 0.8 else "fail"
            votes = {
                model: majority if rng.random() < agreement else ("fail" if majority == "pass" else "pass")
                for model in JUDGES
            }
            outcomes = []
            for name, strategy, leaning in (
                ("parallel", "parallel", None), ("frugal", "frugal", None), ("leaning", "frugal", lean)
            ):  # fmt: skip
                settings = JurySettings(judges=JUDGES, quorum=quorum, strategy=strategy)
                snapshot = leaning.snapshot() if leaning is not None else None
                verdict, calls = _drive(check_plan(settings, case, required, None, snapshot), votes)
                counts[name] += calls
                outcomes.append(verdict.outcome)
                if leaning is not None:
                    leaning.observe(verdict.votes)
            identical = identical and len(set(outcomes)) == 1
            counts["limit"] += required if outcomes[0] == "passed" else len(JUDGES) - required + 1
        for name in totals:
            totals[name] += counts[name]
        print(
            f"  {quorum_text:>9}: parallel {counts['parallel']}, frugal {counts['frugal']} "
            f"({counts['frugal'] / counts['limit']:.2f}x the limit), leaning {counts['leaning']} "
            f"({counts['leaning'] / counts['limit']:.2f}x), limit {counts['limit']}"
        )
    ratio = totals["leaning"] / totals["limit"]
    saved = {name: 1 - totals[name] / totals["parallel"] for name in totals}
    print(
        f"  all: parallel {totals['parallel']}, frugal {totals['frugal']} "
        f"({totals['frugal'] / totals['limit']:.2f}x the limit, saves {saved['frugal']:.0%}), "
        f"leaning {totals['leaning']} ({ratio:.2f}x, saves {saved['leaning']:.0%}; goal <= {GOAL_RATIO}x), "
        f"limit {totals['limit']} ({saved['limit']:.0%} fewer than parallel)"
    )
    print(f"  verdicts identical to parallel: {identical}")
    return 0 if identical and ratio <= GOAL_RATIO else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixed", action="store_true", help="the plan alone on a mixed set of quorums")
    parser.add_argument("--verdicts", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per request")
    parser.add_argument("--agreement", type=float, default=0.9, help="chance a judge votes with the majority")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.mixed:
        return mixed(args.verdicts, 0.85 if args.agreement == 0.9 else args.agreement, args.seed)
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
