"""Unit tests of position-biased comparisons: inconsistent pair votes, inconclusive comparisons, the
jury_inconclusive setting, and the position-bias figures built from the run's records."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from pytest_llmonpy.baselines import BaselineRun
from pytest_llmonpy.config import JurySettings, build_settings, marker_problem, parse_inconclusive
from pytest_llmonpy.ledger import Ledger, comparison_record
from pytest_llmonpy.quorum import decide_pair
from pytest_llmonpy.report import position_bias_message, summary_lines
from pytest_llmonpy.report_schema import build_report
from pytest_llmonpy.verdict import Comparison, HungJuryError, PairVote, Vote

ANSWERS = ("first", "second", "tie", "abstain")
# What each call's answer means for a and b: the first call shows a first, the second shows b first.
AS_A_FIRST = {"first": "a", "second": "b", "tie": "tie"}
AS_B_FIRST = {"first": "b", "second": "a", "tie": "tie"}


@pytest.mark.parametrize(("a_first", "b_first"), list(itertools.product(ANSWERS, ANSWERS)))
def test_a_pair_vote_is_inconsistent_exactly_when_the_judge_picked_one_position_twice(
    a_first: str, b_first: str
) -> None:
    vote = PairVote("m", (Vote("m", a_first), Vote("m", b_first)))  # type: ignore[arg-type]
    if "abstain" in (a_first, b_first):
        expected = "abstain"
    elif a_first == b_first and a_first != "tie":
        expected = "inconsistent"  # output 1 both times (or output 2 both times): it followed the position
    else:
        one, other = AS_A_FIRST[a_first], AS_B_FIRST[b_first]
        # Both orders agree: that side (or a real tie). A side in one order, a tie in the other: a tie.
        expected = one if one == other else "tie"
    assert vote.vote == expected
    assert vote.followed_position == (expected == "inconsistent")


def _oracle(required: int, a: int, b: int, abstains: int, inconsistent: int) -> str:
    """decide_pair by brute force: every way each abstaining or inconsistent judge could have voted."""

    def winner(a_votes: int, b_votes: int) -> str:
        a_decides, b_decides = a_votes >= required, b_votes >= required
        return "a" if a_decides and not b_decides else "b" if b_decides and not a_decides else "tie"

    def winners(free: int) -> set[str]:
        return {
            winner(a + choices.count("a"), b + choices.count("b"))
            for choices in itertools.product("abt", repeat=free)
        }

    if len(winners(abstains)) > 1:
        return "hung"
    if len(winners(abstains + inconsistent)) > 1:
        return "inconclusive"
    return winner(a, b)


@pytest.mark.parametrize("judges", range(1, 6))
def test_decide_pair_matches_every_way_the_inconsistent_and_abstaining_judges_could_have_voted(
    judges: int,
) -> None:
    for required in range(1, judges + 1):
        for a, b, ties, abstains in itertools.product(range(judges + 1), repeat=4):
            inconsistent = judges - a - b - ties - abstains
            if inconsistent < 0:
                continue
            expected = _oracle(required, a, b, abstains, inconsistent)
            assert decide_pair(required, a, b, abstains, inconsistent) == expected, (
                required,
                a,
                b,
                ties,
                abstains,
                inconsistent,
            )
            if inconsistent == 0:
                assert expected != "inconclusive"  # only inconsistent votes make it inconclusive


def test_decide_pair_examples() -> None:
    # 3 judges, majority: 2 votes.
    assert decide_pair(2, 0, 0, 0, inconsistent=3) == "inconclusive"  # every judge followed the position
    assert decide_pair(2, 0, 0, 0, inconsistent=0) == "tie"  # 3 real ties
    assert decide_pair(2, 2, 0, 0, inconsistent=1) == "a"  # the third judge cannot change it
    assert decide_pair(2, 1, 0, 0, inconsistent=1) == "inconclusive"  # 1 for a, 1 tie, 1 inconsistent
    assert decide_pair(2, 1, 1, 0, inconsistent=1) == "inconclusive"
    assert decide_pair(2, 1, 0, 1, inconsistent=1) == "hung"  # the abstention alone could change it
    assert decide_pair(2, 0, 0, 1, inconsistent=2) == "inconclusive"  # abstention alone: still a tie
    # Unanimous 3: the tie holds unless both the abstainer and the inconsistent judge had voted a.
    assert decide_pair(3, 1, 0, 1, inconsistent=1) == "inconclusive"
    assert decide_pair(3, 1, 0, 1, inconsistent=0) == "tie"


def _calls(a_first: str, b_first: str, model: str = "m") -> tuple[Vote, Vote]:
    return (Vote(model, a_first), Vote(model, b_first))  # type: ignore[arg-type]


def _comparison(inconclusive: bool = True, test_id: str = "t.py::test_x") -> Comparison:
    return Comparison(
        criteria="Covers the main finding",
        winner="tie",
        votes=(
            PairVote("judge-a", _calls("first", "first", "judge-a")),
            PairVote("judge-b", _calls("tie", "tie", "judge-b")),
            PairVote("judge-c", _calls("second", "second", "judge-c")),
        ),
        quorum="majority",
        required=2,
        inconclusive=inconclusive,
        test_id=test_id,
    )


def test_an_inconclusive_comparison_explains_itself_and_its_hung_error_names_the_judges() -> None:
    comparison = _comparison()
    assert comparison.followed_position == ("judge-a", "judge-c")
    assert comparison.tally() == (
        "0 for a, 0 for b, 1 tie, 2 inconsistent, 0 abstain; quorum majority needs 2 of 3"
    )
    text = comparison.explain()
    assert text.startswith("jury comparison, INCONCLUSIVE (winner TIE): Covers the main finding")
    assert "judge-a: INCONSISTENT (a shown first: a; b shown first: b)" in text
    assert "inconclusive: judge-a, judge-c followed the position" in text
    message = str(HungJuryError(comparison))
    assert message.startswith(
        "the jury is hung: the comparison is inconclusive because judges followed the position, not the "
        "content (each picked the same position in both orders): judge-a, judge-c.\n"
    )
    assert "jury_inconclusive = tie" in message
    assert "abstained" not in message.splitlines()[0]


@pytest.mark.parametrize(("value", "policy"), [("tie", "tie"), (" HUNG ", "hung"), ("hung", "hung")])
def test_the_inconclusive_policy_parses(value: str, policy: str) -> None:
    assert parse_inconclusive(value) == policy
    assert JurySettings().with_marker({"inconclusive": value}).inconclusive == policy
    assert build_settings(lambda name: value if name == "jury_inconclusive" else None).inconclusive == policy
    assert build_settings(lambda name: None).inconclusive == "tie"  # the default


@pytest.mark.parametrize("value", ["maybe", "", None, 1, "fail"])
def test_an_invalid_inconclusive_policy_lists_the_valid_ones(value: object) -> None:
    with pytest.raises(ValueError, match=r"invalid inconclusive policy .*: use tie .* or hung"):
        parse_inconclusive(value)
    problem = marker_problem((), {"inconclusive": value})
    assert problem is not None
    assert problem.startswith("@pytest.mark.jury: invalid inconclusive policy")
    assert "use tie" in problem
    assert "or hung" in problem


def test_build_settings_names_the_bad_setting() -> None:
    with pytest.raises(ValueError, match=r"^jury_inconclusive: invalid inconclusive policy 'maybe': use tie"):
        build_settings(lambda name: "maybe" if name == "jury_inconclusive" else None)


def _pair_record(test_id: str, *answers: tuple[str, str, str]) -> dict[str, object]:
    """A test's record with one comparison; each answer is (model, a-first call, b-first call)."""
    votes = tuple(PairVote(model, _calls(one, other, model)) for model, one, other in answers)
    comparison = Comparison("c", "tie", votes, "majority", 2, test_id=test_id)
    return {"verdicts": [], "comparisons": [comparison_record(comparison)], "blocked": 0}


def _ledger(records: list[dict[str, object]]) -> Ledger:
    ledger = Ledger()
    for index, record in enumerate(records):
        ledger.add_test(f"t{index}", record)
    return ledger


def test_position_bias_counts_followed_comparisons_and_the_first_position_rate() -> None:
    records = [
        _pair_record(
            "t", ("always-1", "first", "first"), ("fair", "first", "second"), ("late", "second", "second")
        )
        for _ in range(4)
    ]
    # A fifth comparison: an abstained call is neither a comparison nor an answer; a tie answer counts.
    records.append(
        _pair_record(
            "t", ("always-1", "first", "abstain"), ("fair", "tie", "first"), ("late", "second", "second")
        )
    )
    ledger = _ledger(records)
    bias = {judge.model: judge for judge in ledger.position_bias()}
    assert [judge.model for judge in ledger.position_bias()] == ["always-1", "fair", "late"]
    first = bias["always-1"]
    assert (first.comparisons, first.followed, first.answered_calls, first.first_calls) == (4, 4, 9, 9)
    assert first.first_position_rate == 1.0
    assert not first.flagged  # 4 comparisons with both orders answered: fewer than 5
    fair = bias["fair"]
    assert (fair.comparisons, fair.followed, fair.answered_calls, fair.first_calls) == (5, 0, 10, 5)
    assert not fair.flagged
    late = bias["late"]
    assert (late.comparisons, late.followed, late.first_position_rate) == (5, 5, 0.0)
    assert late.flagged  # position 2 both times is following the position too
    message = position_bias_message(ledger)
    assert message is not None
    assert message.startswith(
        "late followed the position in 5 of 5 comparisons (first-position rate 0% of 10 calls). "
    )
    assert "always-1" not in message
    assert "fair" not in message


@pytest.mark.parametrize(
    ("followed", "consistent", "flagged"),
    [(5, 0, True), (3, 2, True), (2, 3, False), (3, 3, False), (4, 0, False), (4, 3, True)],
)
def test_a_judge_is_flagged_when_it_followed_the_position_in_more_than_half_of_at_least_5(
    followed: int, consistent: int, flagged: bool
) -> None:
    records = [_pair_record("t", ("j", "first", "first")) for _ in range(followed)]
    records += [_pair_record("t", ("j", "second", "first")) for _ in range(consistent)]
    [judge] = _ledger(records).position_bias()
    assert judge.flagged is flagged
    assert (position_bias_message(_ledger(records)) is not None) is flagged


def test_the_summary_and_the_report_show_inconclusive_comparisons_and_baselines(tmp_path: Path) -> None:
    ledger = Ledger()
    for index in range(5):
        ledger.add_test(f"t{index}", {"comparisons": [comparison_record(_comparison(test_id=f"t{index}"))]})
    real_tie = Comparison(
        "c", "tie", (PairVote("judge-b", _calls("tie", "tie", "judge-b")),), "majority", 1, test_id="t9"
    )
    ledger.add_test("t9", {"comparisons": [comparison_record(real_tie)]})
    baselines = BaselineRun(update=False)
    result = {
        "file": str(tmp_path / "b.json"),
        "key": "test_x",
        "comparison": comparison_record(_comparison()),
    }
    baselines.add_test(
        {"test": "test_x", "file": result["file"], "results": [{**result, "status": "inconclusive"}]},
        passed=True,
    )
    baselines.add_test(
        {
            "test": "test_y",
            "file": result["file"],
            "results": [{**result, "key": "test_y", "status": "held"}],
        },
        passed=True,
    )
    assert baselines.counts()["compared"] == 2
    lines = summary_lines(ledger, None, 1, baselines)
    assert "comparisons: 6 (0 won by a, 0 by b, 1 tie, 0 hung, 5 inconclusive)" in lines
    assert (
        "position bias: judge-a followed the position in 5 of 5 comparisons (first-position rate 100% of "
        "10 calls)" in lines
    )
    assert (
        "position bias: judge-c followed the position in 5 of 5 comparisons (first-position rate 0% of "
        "10 calls)" in lines
    )
    assert any(
        line.startswith("baselines: 2 compared (0 improved, 1 held, 0 regressed, 1 inconclusive), ")
        for line in lines
    )
    assert "comparisons in detail:" in lines
    assert "  INCONCLUSIVE  t0: Covers the main finding" in lines
    assert "  TIE           t9: c" in lines
    assert any(
        line.strip() == "judge-a: inconsistent (live; a shown first: a; b shown first: b)" for line in lines
    )
    assert f"  INCONCLUSIVE  test_x  ({result['file']})" in lines
    assert lines[-1].startswith("next: 5 comparisons were inconclusive: judges followed the position")

    report = json.loads(build_report(ledger, None, baselines).model_dump_json())
    assert [c["inconclusive"] for c in report["comparisons"]] == [True] * 5 + [False]
    assert [v["vote"] for v in report["comparisons"][0]["votes"]] == ["inconsistent", "tie", "inconsistent"]
    assert [b["status"] for b in report["baselines"]] == ["inconclusive", "held"]
    assert report["position_bias"] == [
        {
            "model": "judge-a",
            "comparisons": 5,
            "followed_position": 5,
            "answered_calls": 10,
            "first_position_calls": 10,
            "first_position_rate": 1.0,
            "flagged": True,
        },
        {
            "model": "judge-b",
            "comparisons": 6,
            "followed_position": 0,
            "answered_calls": 12,
            "first_position_calls": 0,
            "first_position_rate": 0.0,
            "flagged": False,
        },
        {
            "model": "judge-c",
            "comparisons": 5,
            "followed_position": 5,
            "answered_calls": 10,
            "first_position_calls": 0,
            "first_position_rate": 0.0,
            "flagged": True,
        },
    ]


def test_a_run_without_inconsistent_votes_keeps_its_summary_lines() -> None:
    ledger = Ledger()
    consistent = Comparison(
        "c", "a", (PairVote("judge-b", _calls("first", "second", "judge-b")),), "majority", 1, test_id="t"
    )
    ledger.add_test("t", {"comparisons": [comparison_record(consistent)]})
    lines = summary_lines(ledger, None, 0)
    assert "comparisons: 1 (1 won by a, 0 by b, 0 ties, 0 hung)" in lines
    assert not any(line.startswith(("position bias", "next:")) for line in lines)
    assert position_bias_message(ledger) is None
