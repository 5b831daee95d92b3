"""The embedded offline judge on a few labelled pass/fail cases, through the real path.

Skipped unless the `local` extra is installed (CI installs it). A few cases, one right and one wrong
answer for each kind of prompt (output alone, with the question, with a reference answer), each judged
live (mode off: nothing is cached): the judge's agreement on every labelled case, and its speed, are
measured by `benchmarks/local_judge.py`, which takes minutes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import NEEDS_LOCAL_JUDGE
from local_judge_cases import ALL_CASES, LABELLED, WITH_CONTEXT, judge
from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.judges import JudgeCaller
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.local import LOCAL_MODEL

pytestmark = NEEDS_LOCAL_JUDGE

# A right and a wrong answer for the same criteria, for each kind of prompt.
SAMPLE = [
    *[(output, criteria, {}, expected) for output, criteria, expected in LABELLED[:2]],
    *WITH_CONTEXT[:2],  # with the customer's question (`input=`)
    *WITH_CONTEXT[4:6],  # with the question and a known-good answer (`reference=`)
]


@pytest.fixture(scope="module")
def local_jury() -> Iterator[Jury]:
    caller = JudgeCaller(concurrency=1)
    yield Jury(JurySettings(judges=(LOCAL_MODEL,), mode="off", timeout_s=300), lambda: caller)
    caller.close()


def test_the_sample_has_a_right_and_a_wrong_answer_of_each_kind() -> None:
    assert [case[3] for case in SAMPLE] == ["pass", "fail"] * 3
    assert [sorted(case[2]) for case in SAMPLE[::2]] == [[], ["input"], ["input", "reference"]]
    assert all(case in ALL_CASES for case in SAMPLE)


def test_local_judge_agrees_with_the_labels(local_jury: Jury) -> None:
    disagreements = []
    for case in SAMPLE:
        output, criteria, _, expected = case
        vote = judge(local_jury, case)
        assert vote.vote != "abstain", vote.error  # the grammar keeps every answer parseable
        assert vote.cost_usd == 0.0
        assert vote.tokens_in > 0
        if vote.vote != expected:
            disagreements.append((output, criteria, vote.vote, vote.reason))
    assert disagreements == []


@pytest.mark.parametrize("right_first", [True, False], ids=["right-first", "right-second"])
def test_local_judge_prefers_the_right_answer_in_either_order(local_jury: Jury, right_first: bool) -> None:
    right, wrong = "The capital of Australia is Canberra.", "The capital of Australia is Sydney."
    a, b = (right, wrong) if right_first else (wrong, right)
    comparison = local_jury.compare(a, b, "Says that the capital of Australia is Canberra")
    # Judged in both orders at once, the model's lean to a position cancels out: one consistent answer.
    assert comparison.winner == ("a" if right_first else "b"), comparison.votes[0].calls
    assert comparison.votes[0].vote == comparison.winner


def test_local_judge_scores_on_the_scale_and_the_right_answer_higher(local_jury: Jury) -> None:
    rubric = "Says that the capital of Australia is Canberra"
    right = local_jury.score("The capital of Australia is Canberra.", rubric, scale=(1, 5), threshold=4)
    wrong = local_jury.score("The capital of Australia is Sydney.", rubric, scale=(1, 5), threshold=4)
    for score in (right, wrong):
        (vote,) = score.votes
        assert vote.score is not None, vote.error  # the grammar keeps every score on the scale
        assert 1 <= vote.score <= 5
    assert right.median is not None
    assert wrong.median is not None
    assert right.median > wrong.median, (right.votes, wrong.votes)


def test_local_judge_answers_every_sample_at_its_seed() -> None:
    caller = JudgeCaller(concurrency=1)
    settings = JurySettings(judges=(LOCAL_MODEL,), mode="off", timeout_s=300, samples=3)
    try:
        verdict = Jury(settings, lambda: caller).check(
            "The capital of Australia is Canberra.", "Says that the capital of Australia is Canberra"
        )
    finally:
        caller.close()
    (vote,) = verdict.votes
    assert [sample.seed for sample in vote.samples] == [0, 1, 2]
    assert all(sample.vote in ("pass", "fail") for sample in vote.samples), vote.samples
