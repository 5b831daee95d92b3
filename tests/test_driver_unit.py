"""The plan driver with a scripted caller: replay and the budget stop it before any call, a cut-short
batch keeps its paid votes, and the async twins give what the sync calls give."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from pytest_llmonpy.budget import BudgetState
from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.money import Cost
from pytest_llmonpy.prompts import Case, PairCase
from pytest_llmonpy.verdict import BudgetExceededError, JuryConfigError, ReplayMissError, Vote


class ScriptedCaller:
    """Answers each (judge, question) from a script: by judge for a check, by position for a pair."""

    def __init__(self, script: Callable[[str, Case | PairCase], str], fail_after: int | None = None) -> None:
        self.script = script
        self.fail_after = fail_after
        self.calls: list[str] = []

    def judge_calls(
        self,
        calls: list[tuple[str, Case | PairCase]],
        api_base: str | None,
        timeout_s: float,
        finished: dict[int, Vote] | None = None,
        on_vote: Callable[[int, Vote], None] | None = None,
        label: str = "",
    ) -> list[Vote]:
        finished = {} if finished is None else finished
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


def jury(caller: ScriptedCaller, **settings: object) -> Jury:
    return Jury(
        JurySettings(**{"judges": ("j0", "j1"), "mode": "off", **settings}),  # type: ignore[arg-type]
        lambda: caller,  # type: ignore[arg-type, return-value]
    )


def test_replay_with_no_cache_names_the_judges_and_calls_nobody() -> None:
    caller = ScriptedCaller(lambda model, question: "pass")
    with pytest.raises(
        ReplayMissError, match=r"no recorded verdict for judges 'j0', 'j1' \(--jury-mode=replay"
    ):
        jury(caller, mode="replay").check("Paris", "Names the capital")
    assert caller.calls == []


def test_a_spent_budget_blocks_the_check_with_the_remedy_and_counts_it() -> None:
    caller = ScriptedCaller(lambda model, question: "pass")
    judged = Jury(
        JurySettings(judges=("j0",), mode="record"),
        lambda: caller,  # type: ignore[arg-type, return-value]
        budget=SpentBudget(Cost.of_usd(0.5)),  # type: ignore[arg-type]
    )
    with pytest.raises(BudgetExceededError, match="Raise the budget, or re-run: the verdicts paid"):
        judged.check("Paris", "Names the capital")
    assert judged.blocked_by_budget == 1
    assert caller.calls == []


def test_votes_paid_before_a_misconfigured_judge_are_kept_as_unconcluded() -> None:
    caller = ScriptedCaller(lambda model, question: "pass", fail_after=1)
    judged = jury(caller)
    with pytest.raises(JuryConfigError, match="'j1' was refused"):
        judged.check("Paris", "Names the capital")
    assert [vote.model for vote in judged.unconcluded] == ["j0"]
    assert judged.verdicts == []


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


def test_acheck_gives_what_check_gives() -> None:
    expected = jury(ScriptedCaller(lambda model, question: "fail")).check("Paris", "Names the capital")
    got = asyncio.run(
        jury(ScriptedCaller(lambda model, question: "fail")).acheck("Paris", "Names the capital")
    )
    assert got == expected
    assert not got.passed
