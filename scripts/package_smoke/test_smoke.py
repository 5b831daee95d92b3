"""Run by scripts/check_package.sh with the built wheel installed in a fresh virtualenv: 6 checks of
3 judges each (18 judge calls), one of which fails on purpose. The judges are smoke_server.py, which
fails every output that mentions "60 days"."""

from __future__ import annotations

import pytest

from pytest_llmonpy import Jury

CRITERIA = "Says refunds are only possible within 30 days"


def test_good_answer_passes(jury: Jury) -> None:
    verdict = jury.assert_passes(
        "Refunds are possible within 30 days.", CRITERIA, input="Can I get a refund after 40 days?"
    )
    assert verdict.passed
    assert len(verdict.votes) == 3


def test_wrong_answer_fails(jury: Jury) -> None:
    # Fails on purpose: check_package.sh expects exactly this failure, with every judge's reason shown.
    jury.assert_passes("Refunds are possible within 60 days.", CRITERIA)


def test_check_returns_the_failed_verdict(jury: Jury) -> None:
    verdict = jury.check("You have 60 days to ask for a refund.", CRITERIA)
    assert not verdict.passed
    assert [vote.vote for vote in verdict.votes] == ["fail", "fail", "fail"]


@pytest.mark.jury(quorum="unanimous")
@pytest.mark.parametrize(
    ("answer", "criteria"),
    [
        ("Standard shipping takes 3 to 5 business days.", "Says standard shipping takes 3 to 5 days"),
        ("Express shipping costs 15 dollars.", "Says express shipping costs 15 dollars"),
        ("We ship to the United States and Canada only.", "Names the two countries shipped to"),
    ],
)
def test_policy_facts(jury: Jury, answer: str, criteria: str) -> None:
    jury.assert_passes(answer, criteria)
