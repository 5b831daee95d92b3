"""--jury-samples without pytest runs: one judge's answers combined, and its self-agreement counted."""

from __future__ import annotations

import pytest

from pytest_llmonpy.judge_request import shared_identity
from pytest_llmonpy.judge_samples import SelfAgreement, combine, said, sampled
from pytest_llmonpy.ledger import Ledger, vote_record
from pytest_llmonpy.prompts import SAMPLE_TEMPERATURE, TEMPERATURE, Case
from pytest_llmonpy.verdict import Vote


def _answer(
    vote: str, *, score: float | None = None, cost: float | None = 0.001, cached: bool = False
) -> Vote:
    return Vote(
        "judge-a",
        vote,  # type: ignore[arg-type]
        reason=f"said {vote}",
        tokens_in=10,
        tokens_out=2,
        cost_usd=cost,
        latency_s=0.5,
        cached=cached,
        score=score,
        error="boom" if vote == "abstain" else None,
    )


def test_the_majority_of_the_answers_is_the_judges_vote_and_every_answer_is_paid() -> None:
    answers = [_answer("pass"), _answer("fail"), _answer("pass", cached=True)]
    vote = combine("judge-a", answers)
    assert (vote.vote, vote.reason) == ("pass", "said pass")
    assert (vote.tokens_in, vote.tokens_out, vote.attempts) == (30, 6, 3)
    assert vote.cost_usd == pytest.approx(0.003)
    assert vote.latency_s == 0.5  # asked at once: the slowest, not the sum
    assert not vote.cached  # two of them were live
    assert vote.samples == tuple(answers)


def test_abstentions_are_left_out_of_the_majority() -> None:
    assert combine("judge-a", [_answer("abstain"), _answer("fail"), _answer("abstain")]).vote == "fail"


def test_an_even_split_left_by_an_abstention_is_no_majority() -> None:
    vote = combine("judge-a", [_answer("pass"), _answer("fail"), _answer("abstain")])
    assert vote.vote == "abstain"
    assert vote.error == (
        "of its 3 samples, 1 abstained and the other 2 split evenly (1 fail, 1 pass): no majority; "
        "the next run asks the abstained again"
    )


def test_a_judge_whose_every_answer_abstained_abstains_with_the_first_error() -> None:
    vote = combine("judge-a", [_answer("abstain"), _answer("abstain")])
    assert (vote.vote, vote.error) == ("abstain", "all 2 samples abstained; the first: boom")


def test_an_unpriced_answer_leaves_the_vote_unpriced_and_all_cached_is_cached() -> None:
    vote = combine("judge-a", [_answer("pass", cached=True), _answer("pass", cost=None, cached=True)])
    assert vote.cost_usd is None
    assert vote.cached


def test_scores_combine_by_their_median_with_the_closest_reason() -> None:
    vote = combine(
        "judge-a", [_answer("score", score=2), _answer("score", score=5), _answer("score", score=4)]
    )
    assert (vote.vote, vote.score, vote.reason) == ("score", 4, "said score")
    assert combine("judge-a", [_answer("score", score=2), _answer("score", score=5)]).score == 3.5


def test_each_sample_is_its_own_question_at_the_sampling_temperature() -> None:
    case = Case("out", "Is clear")
    questions = sampled(case, 3)
    assert [question.seed for question in questions] == [0, 1, 2]
    identities = [shared_identity(question) for question in questions]
    assert {identity["temperature"] for identity in identities} == {SAMPLE_TEMPERATURE}
    assert [identity["seed"] for identity in identities] == [0, 1, 2]
    assert shared_identity(case)["temperature"] == TEMPERATURE
    assert "seed" not in shared_identity(case)


def test_self_agreement_counts_agreeing_pairs_and_unanimous_checks() -> None:
    judge = SelfAgreement("judge-a")
    assert judge.rate is None
    judge.add(["pass", "pass", "pass"])  # 3 pairs, all agree
    judge.add(["pass", "fail", "pass"])  # 3 pairs, 1 agrees
    judge.add(["pass", None])  # one answer: nothing to compare
    judge.add([4, 4])
    assert (judge.checks, judge.unanimous, judge.pairs, judge.agreeing_pairs) == (3, 2, 7, 5)
    assert judge.describe() == "71% of answer pairs agree; the same answer every time on 2 of 3 checks"


def test_what_a_sample_said_is_its_score_or_its_vote() -> None:
    assert said({"vote": "score", "score": 3}) == 3
    assert said({"vote": "fail", "score": None}) == "fail"
    assert said({"vote": "abstain"}) is None
    assert said({"vote": "not_needed"}) is None


def test_a_judge_that_never_answered_twice_is_not_listed() -> None:
    ledger = Ledger()
    abstained = [vote_record(_answer("abstain")), vote_record(_answer("abstain"))]
    record = {**vote_record(_answer("abstain")), "samples": abstained}
    ledger.add_test("t", {"verdicts": [{"outcome": "hung", "votes": [record]}]})
    assert ledger.self_agreement == {}
    assert ledger.models["judge-a"].live_calls == 2  # each sample a call
