from __future__ import annotations

import itertools

import pytest

from pytest_llmonpy.quorum import Quorum, decide


@pytest.mark.parametrize(
    ("text", "judges", "required"),
    [
        ("majority", 1, 1),
        ("majority", 2, 2),
        ("majority", 3, 2),
        ("majority", 4, 3),
        ("majority", 5, 3),
        ("unanimous", 3, 3),
        ("UNANIMOUS", 1, 1),
        ("1", 3, 1),
        ("2", 3, 2),
        (3, 3, 3),
        ("0.66", 3, 2),
        ("0.5", 4, 2),
        ("0.51", 4, 3),
        ("1.0", 5, 5),
        ("0.01", 5, 1),
        (0.6, 5, 3),
    ],
)
def test_required_pass_votes(text: str | int | float, judges: int, required: int) -> None:
    assert Quorum.parse(text).required(judges) == required


@pytest.mark.parametrize("text", ["most", "", "0", "-1", "1.5", "0.0", "two", "nan", "inf", True])
def test_invalid_quorum_lists_the_valid_forms(text: object) -> None:
    with pytest.raises(ValueError, match="invalid quorum"):
        Quorum.parse(text)  # type: ignore[arg-type]


def test_count_larger_than_the_jury_is_an_error_that_says_what_to_change() -> None:
    with pytest.raises(ValueError, match="needs 4 pass votes but the jury has only 3 judges"):
        Quorum.parse("4").required(3)


def test_str_round_trips() -> None:
    for text in ("majority", "unanimous", "2", "0.66"):
        assert str(Quorum.parse(text)) == text
    assert Quorum.parse("majority").describe(3) == "majority: 2 of 3 pass votes"


def test_decide_examples() -> None:
    assert decide(2, passes=2, fails=0, abstains=1) == "passed"  # decided despite an abstention
    assert decide(2, passes=0, fails=2, abstains=1) == "failed"  # the abstainer could not rescue it
    assert decide(2, passes=1, fails=1, abstains=1) == "hung"  # the abstainer decides
    assert decide(1, passes=0, fails=0, abstains=1) == "hung"
    assert decide(3, passes=2, fails=0, abstains=0) == "failed"


@pytest.mark.parametrize("judges", range(1, 8))
def test_decide_agrees_with_every_way_the_abstainers_could_have_voted(judges: int) -> None:
    # Property: "passed"/"failed" must hold whatever the abstainers would have voted, and "hung"
    # means their votes would change the outcome. An abstention never counts as a pass.
    for rule in ("majority", "unanimous", "1", "2", "0.66"):
        quorum = Quorum.parse(rule)
        if quorum.rule == "count" and int(rule) > judges:
            continue
        required = quorum.required(judges)
        for passes, fails in itertools.product(range(judges + 1), repeat=2):
            abstains = judges - passes - fails
            if abstains < 0:
                continue
            outcome = decide(required, passes, fails, abstains)
            possible = {passes + extra >= required for extra in range(abstains + 1)}
            expected = "hung" if possible == {True, False} else ("passed" if possible == {True} else "failed")
            assert outcome == expected, (rule, passes, fails, abstains)


def test_fraction_one_does_not_read_as_a_count() -> None:
    assert str(Quorum.parse("1.0")) == "1.0"
    assert str(Quorum.parse("1")) == "1"
