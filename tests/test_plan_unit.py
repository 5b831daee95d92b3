"""The judging plan alone, driven by hand: no cache, no budget, no caller, no thread."""

from __future__ import annotations

import itertools
from typing import TypeVar

import pytest

from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.lean import Lean, VoteLean
from pytest_llmonpy.plan import Ask, CallKey, Plan, Recall, check_plan, compare_plan
from pytest_llmonpy.prompts import Case, PairCase
from pytest_llmonpy.quorum import Quorum
from pytest_llmonpy.verdict import Comparison, JuryConfigError, Verdict, Vote

T = TypeVar("T")
CASE = Case(output="Paris", criteria="Names the capital")
PAIR = PairCase("Paris", "Lyon", "Names the capital")


def drive(
    plan: Plan[T], answers: dict[CallKey, str], cached: dict[CallKey, str] | None = None
) -> tuple[T, list[tuple[str, tuple[CallKey, ...]]]]:
    """Answer the plan's steps from `cached` (Recall) and `answers` (Ask); returns the outcome and the
    steps it took."""
    cached = cached or {}
    steps: list[tuple[str, tuple[CallKey, ...]]] = []
    reply: dict[CallKey, Vote] | None = None
    while True:
        try:
            step = plan.send(reply)  # type: ignore[arg-type]
        except StopIteration as done:
            return done.value, steps
        if isinstance(step, Recall):
            steps.append(("recall", step.calls))
            reply = {call: _vote(call, cached[call], cached=True) for call in step.calls if call in cached}
        else:
            assert isinstance(step, Ask)
            steps.append(("ask", step.calls))
            reply = {call: _vote(call, answers[call]) for call in step.calls}


def _vote(call: CallKey, value: str, *, cached: bool = False) -> Vote:
    return Vote(call[0], value, cached=cached)  # type: ignore[arg-type]


def settings(
    judges: int, quorum: str = "majority", strategy: str = "parallel", **more: object
) -> JurySettings:
    return JurySettings(
        judges=tuple(f"j{i}" for i in range(judges)),
        quorum=Quorum.parse(quorum),
        strategy=strategy,
        **more,  # type: ignore[arg-type]
    )


def check(
    jury: JurySettings, votes: dict[str, str], **cache: str
) -> tuple[Verdict, list[tuple[str, tuple[CallKey, ...]]]]:
    required = jury.quorum.required(len(jury.judges))
    answers = {(model, 0): vote for model, vote in votes.items()}
    cached = {(model, 0): vote for model, vote in cache.items()}
    return drive(check_plan(jury, CASE, required), answers, cached)


def asked(steps: list[tuple[str, tuple[CallKey, ...]]]) -> list[tuple[str, ...]]:
    return [tuple(model for model, _ in calls) for kind, calls in steps if kind == "ask"]


@pytest.mark.parametrize("quorum", ["majority", "unanimous", "1", "2", "0.66"])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_frugal_and_parallel_plans_reach_the_same_outcome_for_every_vote_pattern(
    size: int, quorum: str
) -> None:
    if quorum == "2" and size < 2:
        pytest.skip("a quorum of 2 needs 2 judges")
    for pattern in itertools.product(("pass", "fail", "abstain"), repeat=size):
        votes = {f"j{i}": vote for i, vote in enumerate(pattern)}
        parallel, parallel_steps = check(settings(size, quorum), votes)
        frugal, frugal_steps = check(settings(size, quorum, "frugal"), votes)
        assert frugal.outcome == parallel.outcome, (pattern, quorum)
        assert asked(parallel_steps) == [tuple(votes)]  # one batch, every judge
        frugal_asked = [model for batch in asked(frugal_steps) for model in batch]
        assert len(frugal_asked) == len(set(frugal_asked))
        assert {v.model for v in frugal.votes if v.vote == "not_needed"} == set(votes) - set(frugal_asked)


def test_the_plan_looks_in_the_cache_first_and_asks_only_the_judges_missing_from_it() -> None:
    verdict, steps = check(settings(3), {"j1": "pass", "j2": "fail"}, j0="pass")
    assert steps == [("recall", (("j0", 0), ("j1", 0), ("j2", 0))), ("ask", (("j1", 0), ("j2", 0)))]
    assert verdict.passed
    assert [vote.cached for vote in verdict.votes] == [True, False, False]


def test_a_fully_cached_check_asks_nobody() -> None:
    verdict, steps = check(settings(2), {}, j0="pass", j1="pass")
    assert asked(steps) == []
    assert verdict.passed
    assert verdict.cached


def test_frugal_counts_cached_votes_toward_its_first_round() -> None:
    # Majority of 5 needs 3: two cached passes leave one judge to ask first.
    votes = {f"j{i}": "pass" for i in range(2, 5)}
    verdict, steps = check(settings(5, strategy="frugal"), votes, j0="pass", j1="pass")
    assert asked(steps) == [("j2",)]
    assert verdict.passed
    assert verdict.count("not_needed") == 2


def test_escalation_is_planned_only_for_a_split_or_hung_jury() -> None:
    agreed, steps = check(settings(2, escalation=("esc",)), {"j0": "pass", "j1": "pass", "esc": "fail"})
    assert agreed.passed
    assert agreed.escalated is None
    assert asked(steps) == [("j0", "j1")]

    split, steps = check(
        settings(3, escalation=("esc",)), {"j0": "pass", "j1": "fail", "j2": "pass", "esc": "fail"}
    )
    assert split.outcome == "failed"
    assert split.escalated == "split"
    assert steps[-2:] == [("recall", (("esc", 0),)), ("ask", (("esc", 0),))]  # the cache first, here too

    hung, _ = check(
        settings(2, "unanimous", escalation=("esc",)), {"j0": "abstain", "j1": "pass", "esc": "pass"}
    )
    assert hung.passed
    assert hung.escalated == "hung"


def test_frugal_with_escalation_stops_at_the_first_split() -> None:
    votes = {"j0": "pass", "j1": "fail", "j2": "pass", "j3": "pass", "j4": "pass", "esc": "pass"}
    verdict, steps = check(settings(5, strategy="frugal", escalation=("esc",)), votes)
    assert asked(steps) == [("j0", "j1", "j2"), ("esc",)]
    assert verdict.escalated == "split"


def test_an_escalation_quorum_the_escalation_judges_cannot_meet_is_a_config_error() -> None:
    jury = settings(2, "2", escalation=("esc",))
    with pytest.raises(JuryConfigError, match=r"^jury_escalation: quorum 2 needs 2 pass votes"):
        check(jury, {"j0": "pass", "j1": "fail"})


def compare(
    jury: JurySettings, answers: dict[CallKey, str], cached: dict[CallKey, str] | None = None
) -> tuple[Comparison, list[tuple[str, tuple[CallKey, ...]]]]:
    return drive(compare_plan(jury, PAIR, jury.quorum.required(len(jury.judges))), answers, cached)


def test_a_comparison_asks_every_judge_in_both_orders_in_one_batch() -> None:
    answers = {("j0", 0): "first", ("j0", 1): "second", ("j1", 0): "first", ("j1", 1): "second"}
    comparison, steps = compare(settings(2), answers)
    both = (("j0", 0), ("j1", 0), ("j0", 1), ("j1", 1))
    assert steps == [("recall", both), ("ask", both)]
    assert comparison.winner == "a"
    assert [vote.calls[0].vote for vote in comparison.votes] == ["first", "first"]


def test_a_comparison_asks_only_the_orders_missing_from_the_cache() -> None:
    cached = {("j0", 0): "second", ("j0", 1): "first", ("j1", 0): "second"}
    comparison, steps = compare(settings(2), {("j1", 1): "first"}, cached)
    assert steps[1:] == [("ask", (("j1", 1),))]
    assert comparison.winner == "b"


def test_a_judge_that_picks_the_same_position_in_both_orders_makes_it_inconclusive() -> None:
    answers = {("j0", 0): "first", ("j0", 1): "first"}
    comparison, _ = compare(settings(1), answers)
    assert comparison.inconclusive
    assert comparison.winner == "tie"
    assert comparison.followed_position == ("j0",)


@pytest.mark.parametrize("toward", ["pass", "fail", None])
@pytest.mark.parametrize("quorum", ["majority", "unanimous", "2", "0.6", "1"])
def test_a_leaning_frugal_jury_gives_the_parallel_verdict_for_every_vote(
    quorum: str, toward: str | None
) -> None:
    # j4 leans most to pass, j0 least: the order a leaning jury asks them in changes, its verdict not.
    share = {"pass": 0.9, "fail": 0.1, None: None}[toward]
    lean = Lean(share, {f"j{i}": i / 4 for i in range(5)})
    for values in itertools.product(("pass", "fail", "abstain"), repeat=5):
        votes = {f"j{i}": value for i, value in enumerate(values)}
        parallel, _ = check(settings(5, quorum), votes)
        frugal, steps = drive(
            check_plan(settings(5, quorum, "frugal"), CASE, Quorum.parse(quorum).required(5), lean=lean),
            {(model, 0): value for model, value in votes.items()},
        )
        assert frugal.outcome == parallel.outcome, (quorum, toward, votes)
        asked_first = steps[1][1]
        if toward == "pass":
            assert asked_first[0] == ("j4", 0)  # the likeliest to pass first
        if toward == "fail":
            assert asked_first[0] == ("j0", 0)  # the likeliest to fail first


def test_a_run_leans_once_it_has_seen_enough_votes() -> None:
    lean = VoteLean()
    lean.observe([Vote("a", "pass"), Vote("b", "fail")] * 4)
    assert lean.snapshot().toward is None  # 8 votes: too few
    lean.observe([Vote("a", "pass"), Vote("b", "pass"), Vote("c", "abstain")] * 3)
    snapshot = lean.snapshot()
    assert snapshot.toward == "pass"  # 10 of 14 pass
    assert snapshot.order(["b", "a", "c"]) == ["a", "c", "b"]  # c unseen: the run's share
    lean.observe([Vote("a", "fail"), Vote("b", "fail")] * 10)
    assert lean.snapshot().toward == "fail"
