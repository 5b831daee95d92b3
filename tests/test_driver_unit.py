"""The plan driver with a scripted caller: replay and the budget stop it before any call, a cut-short
batch keeps its paid votes, and the async twins, driven on the judge loop, give what the sync calls
give; cancelling an async check cancels its calls in flight."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from fake_llm_server import FakeLLMServer
from pytest_llmonpy.budget import BudgetState
from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.judges import JudgeCaller
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.money import Cost
from pytest_llmonpy.progress import StatusLine
from pytest_llmonpy.prompts import Case, PairCase
from pytest_llmonpy.verdict import BudgetExceededError, JuryConfigError, ReplayMissError, Verdict, Vote


class ScriptedCaller(JudgeCaller):
    """Answers each (judge, question) from a script: by judge for a check, by position for a pair.

    The judge loop is the real one (an async check is driven on it); litellm is never loaded."""

    def __init__(self, script: Callable[[str, Case | PairCase], str], fail_after: int | None = None) -> None:
        super().__init__(concurrency=1)
        self.script = script
        self.fail_after = fail_after
        self.calls: list[str] = []
        self.threads: list[str] = []  # the thread of each batch

    async def ajudge_calls(
        self,
        calls: Sequence[tuple[str, Case | PairCase]],
        api_base: str | None,
        timeout_s: float,
        finished: dict[int, Vote] | None = None,
        on_vote: Callable[[int, Vote], None] | None = None,
    ) -> list[Vote]:
        return self.judge_calls(calls, api_base, timeout_s, finished, on_vote)

    def judge_calls(
        self,
        calls: Sequence[tuple[str, Case | PairCase]],
        api_base: str | None,
        timeout_s: float,
        finished: dict[int, Vote] | None = None,
        on_vote: Callable[[int, Vote], None] | None = None,
        label: str = "",
    ) -> list[Vote]:
        finished = {} if finished is None else finished
        self.threads.append(threading.current_thread().name)
        votes = []
        for index, (model, question) in enumerate(calls):
            if self.fail_after is not None and index >= self.fail_after:
                raise JuryConfigError(f"judge {model!r} was refused")
            self.calls.append(model)
            vote = Vote(model, self.script(model, question), cost_usd=0.01)  # type: ignore[arg-type]
            finished[index] = vote
            if on_vote is not None:
                on_vote(index, vote)
            votes.append(vote)
        return votes


class SpentBudget:
    def __init__(self, limit: Cost) -> None:
        self.limit = limit

    def exhausted_state(self) -> BudgetState:
        return BudgetState(limit=self.limit, spent=self.limit)

    def charge(self, cost: Cost) -> None:
        raise AssertionError("nothing may be charged once the budget is spent")


@pytest.fixture(autouse=True)
def close_judge_loops() -> Iterator[None]:
    """Every judge caller a test made is closed after it: no judge loop thread outlives its test."""
    made: list[JudgeCaller] = []
    original = JudgeCaller.__init__

    def recording(self: JudgeCaller, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JudgeCaller, "__init__", recording)
        yield
    for caller in made:
        caller.close()


def jury(caller: JudgeCaller, **settings: object) -> Jury:
    return Jury(
        JurySettings(**{"judges": ("j0", "j1"), "mode": "off", **settings}),  # type: ignore[arg-type]
        lambda: caller,
    )


def check_sync(judged: Jury) -> Verdict:
    return judged.check("Paris", "Names the capital")


def check_async(judged: Jury) -> Verdict:
    return asyncio.run(judged.acheck("Paris", "Names the capital"))


# Every rule of the driver holds for both runners: the sync one and the one on the judge loop.
both_runners = pytest.mark.parametrize("check", [check_sync, check_async], ids=["check", "acheck"])


@both_runners
def test_replay_with_no_cache_names_the_judges_and_calls_nobody(check: Callable[[Jury], Verdict]) -> None:
    caller = ScriptedCaller(lambda model, question: "pass")
    with pytest.raises(
        ReplayMissError, match=r"no recorded verdict for judges 'j0', 'j1' \(--jury-mode=replay"
    ):
        check(jury(caller, mode="replay"))
    assert caller.calls == []


@both_runners
def test_a_spent_budget_blocks_the_check_with_the_remedy_and_counts_it(
    check: Callable[[Jury], Verdict],
) -> None:
    caller = ScriptedCaller(lambda model, question: "pass")
    judged = Jury(
        JurySettings(judges=("j0",), mode="record"),
        lambda: caller,
        budget=SpentBudget(Cost.of_usd(0.5)),  # type: ignore[arg-type]
    )
    with pytest.raises(BudgetExceededError, match="Raise the budget, or re-run: the verdicts paid"):
        check(judged)
    assert judged.blocked_by_budget == 1
    assert caller.calls == []


@both_runners
def test_votes_paid_before_a_misconfigured_judge_are_kept_as_unconcluded(
    check: Callable[[Jury], Verdict],
) -> None:
    caller = ScriptedCaller(lambda model, question: "pass", fail_after=1)
    judged = jury(caller)
    with pytest.raises(JuryConfigError, match="'j1' was refused") as raised:
        check(judged)
    assert [vote.model for vote in judged.unconcluded] == ["j0"]
    assert judged.verdicts == []
    assert raised.value.__cause__ is None  # one message, no chain into the event loop
    # No frame of the judge loop: pytest points at the check (the driver's own frames are hidden).
    assert not {"_on_judge_loop", "ajudge_calls"} & {entry.frame.code.name for entry in raised.traceback}


def by_position(model: str, question: Case | PairCase) -> str:
    """Both judges prefer "Paris", wherever it is shown."""
    assert isinstance(question, PairCase)
    return "first" if question.first == "Paris" else "second"


def test_acompare_gives_what_compare_gives() -> None:
    sync_caller, async_caller = ScriptedCaller(by_position), ScriptedCaller(by_position)
    sync_jury, async_jury = jury(sync_caller), jury(async_caller)
    expected = sync_jury.compare("Paris", "Lyon", "Names the capital")
    got = asyncio.run(async_jury.acompare("Paris", "Lyon", "Names the capital"))
    assert got == expected
    assert got.winner == "a"
    assert async_caller.calls == sync_caller.calls == ["j0", "j1", "j0", "j1"]
    assert async_jury.comparisons == [got]
    # The sync check waits in its own thread; the async one is driven on the judge loop.
    assert sync_caller.threads == [threading.current_thread().name]
    assert async_caller.threads == ["llmonpy-judges"]


def test_acheck_gives_what_check_gives() -> None:
    expected = jury(ScriptedCaller(lambda model, question: "fail")).check("Paris", "Names the capital")
    got = asyncio.run(
        jury(ScriptedCaller(lambda model, question: "fail")).acheck("Paris", "Names the capital")
    )
    assert got == expected
    assert not got.passed


class HangingJudges(JudgeCaller):
    """The real caller on its real judge loop, without litellm: judge "j0" answers at once, every other
    judge's call waits until it is cancelled."""

    def __init__(self) -> None:
        super().__init__(concurrency=4)
        self.hanging = threading.Event()  # set once a call is waiting
        self.cancelled: list[str] = []

    def warm_up(self) -> Any:
        return None

    async def _ask(
        self, litellm: Any, semaphore: asyncio.Semaphore, route: Any, model: str, *rest: Any
    ) -> Vote:
        if model == "j0":
            return Vote(model, "pass", cost_usd=0.01)
        self.hanging.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(model)
            raise
        raise AssertionError("a hanging judge never answers")


def test_cancelling_the_await_cancels_the_judge_call_in_flight_and_keeps_the_paid_vote() -> None:
    caller = HangingJudges()
    # An api_base routes every judge without asking litellm; mode off: no cache involved.
    judged = jury(caller, api_base="http://127.0.0.1:9/v1")

    async def main() -> None:
        check = asyncio.create_task(judged.acheck("Paris", "Names the capital"))
        assert await asyncio.to_thread(caller.hanging.wait, 60)
        check.cancel()
        with pytest.raises(asyncio.CancelledError):
            await check

    asyncio.run(main())
    # When the cancellation reached the test, the judge loop had cancelled the call and kept j0's vote.
    assert caller.cancelled == ["j1"]
    assert [vote.model for vote in judged.unconcluded] == ["j0"]
    assert judged.verdicts == []


class WatchedJudges(JudgeCaller):
    """The real caller with a live status line: judge "j0" answers at once, "j1" only once the line
    has twice shown that the check waits for it alone (so it answers only if the line is ticked)."""

    def __init__(self) -> None:
        self.ticks = itertools.count()  # the clock: a second per reading, so every tick shows anew
        self.shown: list[tuple[str, str]] = []  # (thread, text) of every write
        self.seen_twice = threading.Event()
        status = StatusLine(self.write, lambda: 120, show_after_s=0, refresh_s=0, clock=self.clock)
        status.activate()
        super().__init__(concurrency=4, status=status)

    def clock(self) -> float:
        return float(next(self.ticks))

    def write(self, text: str) -> None:
        self.shown.append((threading.current_thread().name, text))
        if sum("waiting for j1: judging" in text for _, text in self.shown) >= 2:
            self.seen_twice.set()

    def warm_up(self) -> Any:
        return None

    async def _ask(
        self, litellm: Any, semaphore: asyncio.Semaphore, route: Any, model: str, *rest: Any
    ) -> Vote:
        if model == "j1":
            assert await asyncio.to_thread(self.seen_twice.wait, 60)
        return Vote(model, "pass", cost_usd=0.01)


def test_an_async_check_ticks_the_status_line_from_the_tests_own_loop() -> None:
    caller = WatchedJudges()
    judged = jury(caller, api_base="http://127.0.0.1:9/v1")

    async def main() -> str:
        await judged.acheck("Paris", "Names the capital")
        return threading.current_thread().name

    callers_thread = asyncio.run(main())
    assert {thread for thread, _ in caller.shown} == {callers_thread}
    assert caller.shown[-1][1].strip(" \b") == ""  # erased once the check is over


def test_a_fully_cached_check_never_builds_the_judge_caller(tmp_path: Path) -> None:
    from pytest_llmonpy.cache import VerdictCache

    cache = VerdictCache(tmp_path)
    for model in ("j0", "j1"):
        cache.put(Vote(model, "pass", cost_usd=0.01), Case(output="Paris", criteria="Names the capital"))

    def no_caller() -> JudgeCaller:
        raise AssertionError("a fully cached sync check needs no judge caller")

    judged = Jury(JurySettings(judges=("j0", "j1")), no_caller, cache=lambda: cache)
    try:
        assert all(vote.cached for vote in check_sync(judged).votes)
    finally:
        cache.close()


CACHED_ACHECK = """
import asyncio, sys
from pathlib import Path
from pytest_llmonpy.cache import VerdictCache
from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.judges import JudgeCaller
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.prompts import Case
from pytest_llmonpy.verdict import Vote

cache = VerdictCache(Path(sys.argv[1]))
for model in ("j0", "j1"):
    cache.put(Vote(model, "pass", cost_usd=0.01), Case(output="Paris", criteria="Names the capital"))
caller = JudgeCaller(1)
verdict = asyncio.run(
    Jury(JurySettings(judges=("j0", "j1")), lambda: caller, cache=lambda: cache).acheck(
        "Paris", "Names the capital"
    )
)
caller.close()
cache.close()
print(all(vote.cached for vote in verdict.votes), "litellm" in sys.modules)
"""


def test_a_fully_cached_acheck_is_driven_on_the_judge_loop_without_importing_litellm(tmp_path: Path) -> None:
    # In a fresh interpreter: this one may have imported litellm for another test.
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", CACHED_ACHECK, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]


def test_many_async_checks_as_a_callers_first_calls_share_one_warm_up(
    llm_server: FakeLLMServer, judge_env: None, litellm_in_this_process: None
) -> None:
    # More first checks than the judge loop's default executor has threads (min(32, cores + 4)): each
    # used to wait for litellm's warm-up in one of them, and the warm-up's own call needed one too.
    caller = JudgeCaller(concurrency=4)
    jury = Jury(JurySettings(judges=("judge-a",), api_base=llm_server.url, mode="off"), lambda: caller)
    checks = 3 * ((os.cpu_count() or 1) + 4)

    async def all_checks() -> list[Verdict]:
        return await asyncio.wait_for(
            asyncio.gather(*(jury.acheck(f"answer {n}", "Is an answer") for n in range(checks))),
            timeout=120,  # a guard against the deadlock this test is about, not a speed assertion
        )

    try:
        verdicts = asyncio.run(all_checks())
    finally:
        caller.close()
    assert [verdict.passed for verdict in verdicts] == [True] * checks
    assert len(llm_server.calls("judge-a")) == checks


class TimedCalls(JudgeCaller):
    """The real caller's queueing, without litellm: records which calls are inside the part whose time
    counts against jury_timeout (`_ask_with_retries`), and lets them finish one by one on request."""

    def __init__(self) -> None:
        super().__init__(concurrency=8)
        self.inside: list[str] = []
        self.most_local_inside = 0
        self.entered = threading.Semaphore(0)
        self.release = threading.Semaphore(0)

    def warm_up(self) -> Any:
        return None

    async def _ask_with_retries(self, litellm: Any, route: Any, model: str, *rest: Any) -> Vote:
        self.inside.append(model)
        self.most_local_inside = max(self.most_local_inside, sum(m.startswith("local/") for m in self.inside))
        self.entered.release()
        await asyncio.to_thread(self.release.acquire)
        self.inside.remove(model)
        return Vote(model, "pass", cost_usd=0.0)


def test_local_calls_wait_for_the_model_before_their_timeout_starts() -> None:
    caller = TimedCalls()
    local = "local/qwen2.5-coder-1.5b"
    # An api_base routes "cloud" without asking litellm; the local judge is routed by its name.
    judged = [jury(caller, judges=(local, "cloud"), api_base="http://127.0.0.1:9/v1") for _ in range(3)]

    async def main() -> list[Verdict]:
        checks = [asyncio.create_task(j.acheck(f"answer {n}", "Is right")) for n, j in enumerate(judged)]
        # Four calls start at once: all three cloud ones and one local; the other local ones queue.
        for _ in range(4):
            assert await asyncio.to_thread(caller.entered.acquire, True, 60)
        assert sorted(caller.inside) == ["cloud", "cloud", "cloud", local]
        for _ in range(6):
            caller.release.release()
        return await asyncio.gather(*checks)

    verdicts = asyncio.run(main())
    assert all(verdict.passed for verdict in verdicts)
    assert caller.most_local_inside == 1


def rate_sync(judged: Jury, outputs: list[str]) -> object:
    return judged.pass_rate(outputs, "Names the capital", min_rate=0.3, early_stop=False)


def rate_async(judged: Jury, outputs: list[str]) -> object:
    return asyncio.run(judged.apass_rate(outputs, "Names the capital", min_rate=0.3, early_stop=False))


def by_capital(model: str, question: Case | PairCase) -> str:
    assert isinstance(question, Case)
    return "pass" if "Paris" in question.output else "fail"


both_rate_runners = pytest.mark.parametrize("rate", [rate_sync, rate_async], ids=["pass_rate", "apass_rate"])


@both_rate_runners
def test_a_pass_rates_samples_are_asked_in_one_batch_and_answered_in_order(
    rate: Callable[[Jury, list[str]], Any],
) -> None:
    caller = ScriptedCaller(by_capital)
    judged = jury(caller)
    result = rate(judged, ["Paris", "Lyon", "Paris, France"])
    assert len(caller.threads) == 1  # one batch: 3 outputs x 2 judges
    assert caller.calls == ["j0", "j1"] * 3
    assert [verdict.outcome for verdict in result.verdicts] == ["passed", "failed", "passed"]
    assert [verdict.output_preview for verdict in judged.verdicts] == ["Paris", "Lyon", "Paris, France"]


@both_rate_runners
def test_a_misconfigured_judge_in_a_batch_keeps_every_paid_vote_as_unconcluded(
    rate: Callable[[Jury, list[str]], Any],
) -> None:
    caller = ScriptedCaller(lambda model, question: "pass", fail_after=3)  # refused at the 4th call
    judged = jury(caller)
    with pytest.raises(JuryConfigError, match="'j1' was refused"):
        rate(judged, ["Paris", "Rome", "Oslo"])
    # Three votes were paid for: both of the first sample's and the first of the second's.
    assert [vote.model for vote in judged.unconcluded] == ["j0", "j1", "j0"]
    assert judged.verdicts == []


class BudgetOfCalls:
    """Spent once `calls` votes have been charged."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.charged = 0

    def exhausted_state(self) -> BudgetState | None:
        return BudgetState(limit=Cost.of_usd(1), spent=Cost.of_usd(1)) if self.charged >= self.calls else None

    def charge(self, cost: Cost) -> None:
        self.charged += 1


def split_on_rome(model: str, question: Case | PairCase) -> str:
    """j0 fails Rome, j1 passes everything: Rome splits the jury, and escalates."""
    assert isinstance(question, Case)
    return "fail" if model == "j0" and "Rome" in question.output else "pass"


@both_rate_runners
def test_a_budget_that_refuses_a_later_round_keeps_every_vote_of_the_batch(
    rate: Callable[[Jury, list[str]], Any],
) -> None:
    caller = ScriptedCaller(split_on_rome)
    judged = Jury(
        JurySettings(judges=("j0", "j1"), escalation=("j2",), mode="off"),
        lambda: caller,
        budget=BudgetOfCalls(6),  # type: ignore[arg-type]
    )
    with pytest.raises(BudgetExceededError):
        rate(judged, ["Paris", "Rome", "Oslo"])  # Rome's escalation round finds the budget spent
    assert len(caller.calls) == 6
    # Every paid vote is in the cost report: Paris's and Oslo's verdicts were reached but never
    # returned, and Rome's first round.
    assert sorted(vote.model for vote in judged.unconcluded) == ["j0", "j0", "j0", "j1", "j1", "j1"]
