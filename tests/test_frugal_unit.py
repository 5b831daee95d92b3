"""The frugal strategy and escalation, on the pure jury logic: frugal never changes a verdict."""

from __future__ import annotations

import itertools

import pytest

from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.prompts import Case
from pytest_llmonpy.quorum import Quorum, decide, first_batch, settled
from pytest_llmonpy.verdict import HungJuryError, Verdict, Vote

QUORUMS = ["majority", "unanimous", "1", "2", "0.66"]


class ScriptedCaller:
    """Stands in for JudgeCaller: each judge's vote is fixed in advance; records who was asked."""

    def __init__(self, votes: dict[str, str]) -> None:
        self.votes = votes
        self.asked: list[tuple[str, ...]] = []

    def judge_calls(
        self,
        calls: list[tuple[str, Case]],
        api_base: str | None,
        timeout_s: float,
        finished: dict[int, Vote] | None = None,
        on_vote: object = None,
        label: str = "",
    ) -> list[Vote]:
        models = tuple(model for model, _ in calls)
        self.asked.append(models)
        return [Vote(model, self.votes[model]) for model in models]  # type: ignore[arg-type]


def judge(
    votes: dict[str, str], quorum: str, strategy: str, escalation: tuple[str, ...] = ()
) -> tuple[str, ScriptedCaller, Verdict | None]:
    caller = ScriptedCaller(votes)
    judges = tuple(model for model in votes if not model.startswith("esc"))
    settings = JurySettings(
        judges=judges, quorum=Quorum.parse(quorum), mode="off", strategy=strategy, escalation=escalation
    )
    jury = Jury(settings, lambda: caller)  # type: ignore[arg-type, return-value]
    try:
        verdict = jury.check("output", "criteria")
    except HungJuryError as hung:
        return "hung", caller, hung.verdict  # type: ignore[return-value]
    return verdict.outcome, caller, verdict


@pytest.mark.parametrize("quorum", QUORUMS)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_frugal_gives_the_parallel_verdict_for_every_vote_pattern(size: int, quorum: str) -> None:
    if quorum == "2" and size < 2:
        pytest.skip("a quorum of 2 needs 2 judges")
    for pattern in itertools.product(("pass", "fail", "abstain"), repeat=size):
        votes = {f"judge-{i}": vote for i, vote in enumerate(pattern)}
        parallel, parallel_caller, _ = judge(votes, quorum, "parallel")
        frugal, frugal_caller, verdict = judge(votes, quorum, "frugal")
        assert frugal == parallel, (pattern, quorum)
        assert len(parallel_caller.asked) == 1
        asked = [model for batch in frugal_caller.asked for model in batch]
        assert len(asked) == len(set(asked))  # nobody asked twice
        assert verdict is not None
        for vote in verdict.votes:
            assert (vote.vote == "not_needed") == (vote.model not in asked)


def test_five_agreeing_judges_under_majority_need_three_calls() -> None:
    outcome, caller, verdict = judge({f"j{i}": "pass" for i in range(5)}, "majority", "frugal")
    assert outcome == "passed"
    assert caller.asked == [("j0", "j1", "j2")]
    assert verdict is not None
    assert verdict.count("not_needed") == 2
    assert "3 pass, 0 fail, 0 abstain, 2 not needed" in verdict.tally()


def test_a_split_first_round_asks_the_remaining_judges() -> None:
    votes = {"j0": "pass", "j1": "fail", "j2": "pass", "j3": "pass", "j4": "fail"}
    outcome, caller, _ = judge(votes, "majority", "frugal")
    assert outcome == "passed"
    assert caller.asked == [("j0", "j1", "j2"), ("j3",)]  # one more pass settles it: j4 not needed


@pytest.mark.parametrize(
    ("judges", "quorum", "expected"),
    [(5, "majority", 3), (5, "unanimous", 5), (5, "1", 5), (4, "majority", 3), (1, "majority", 1)],
)
def test_first_batch(judges: int, quorum: str, expected: int) -> None:
    assert first_batch(Quorum.parse(quorum).required(judges), judges) == expected


def test_settled_agrees_with_decide_once_every_vote_is_in() -> None:
    for n in range(1, 6):
        for required in range(1, n + 1):
            for passes, fails in itertools.product(range(n + 1), repeat=2):
                abstains = n - passes - fails
                if abstains >= 0:
                    assert settled(required, n, passes, fails, abstains) == decide(
                        required, passes, fails, abstains
                    )


def test_escalation_happens_only_when_split_or_hung() -> None:
    agreed = {"j0": "pass", "j1": "pass", "esc": "fail"}
    outcome, caller, verdict = judge(agreed, "majority", "parallel", escalation=("esc",))
    assert outcome == "passed"
    assert caller.asked == [("j0", "j1")]
    assert verdict is not None
    assert verdict.escalated is None

    split = {"j0": "pass", "j1": "fail", "j2": "pass", "esc": "fail"}
    outcome, caller, verdict = judge(split, "majority", "parallel", escalation=("esc",))
    assert outcome == "failed"  # the escalation judge decides, against the majority of cheap judges
    assert caller.asked == [("j0", "j1", "j2"), ("esc",)]
    assert verdict is not None
    assert verdict.escalated == "split"
    assert "escalated (split jury): 0 pass, 1 fail" in verdict.tally()
    assert "escalated to:" in verdict.explain()

    hung = {"j0": "abstain", "j1": "pass", "esc": "pass"}
    outcome, caller, verdict = judge(hung, "unanimous", "parallel", escalation=("esc",))
    assert outcome == "passed"
    assert verdict is not None
    assert verdict.escalated == "hung"


@pytest.mark.parametrize("size", [2, 3, 4, 5])
def test_frugal_with_escalation_gives_the_parallel_verdict_for_every_vote_pattern(size: int) -> None:
    for pattern in itertools.product(("pass", "fail", "abstain"), repeat=size + 1):
        votes = {f"judge-{i}": vote for i, vote in enumerate(pattern[:-1])}
        votes["esc"] = pattern[-1]
        parallel, _, parallel_verdict = judge(votes, "majority", "parallel", escalation=("esc",))
        frugal, _, frugal_verdict = judge(votes, "majority", "frugal", escalation=("esc",))
        assert frugal == parallel, pattern
        assert parallel_verdict is not None
        assert frugal_verdict is not None
        assert frugal_verdict.escalated == parallel_verdict.escalated, pattern
