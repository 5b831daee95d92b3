"""A support assistant's answers, judged by a jury (here: the embedded offline judge)."""

from __future__ import annotations

import pytest
from support_bot import answer


def test_refund_window(jury):
    """A criteria check on a live answer: the criteria state the fact the answer must give."""
    jury.assert_passes(
        answer("Can I get a refund 40 days after delivery?"),
        "Says that a refund is not possible after 30 days",
    )


def test_shipping_time_matches_the_reference(jury):
    """A reference-based check: the judge compares the answer with a known-good one."""
    question = "How long does standard shipping take?"
    jury.assert_passes(
        answer(question),
        "Gives the same standard shipping time as the reference answer",
        input=question,
        reference="Standard shipping takes 3 to 5 business days.",
    )


@pytest.mark.xfail(raises=AssertionError, reason="a known-bad answer: the jury must reject it")
def test_known_bad_answer_is_rejected(jury):
    """The jury must fail an answer that contradicts the policy (strict xfail: passing would be a bug)."""
    jury.assert_passes(
        "You can get a refund within 90 days of delivery.", "Says refunds are possible within 30 days"
    )


@pytest.mark.parametrize(
    ("question", "criteria"),
    [
        ("Do you ship to Canada?", "Says that the store ships to Canada"),
        ("How much does express shipping cost?", "Says that express shipping costs 15 dollars"),
        ("What is the support email address?", "Gives the email address help@acme.example"),
    ],
)
def test_policy_facts(jury, question, criteria):
    """A parametrized set of factual questions, each judged against its own criteria."""
    jury.assert_passes(answer(question), criteria, input=question)


@pytest.mark.jury(quorum="unanimous")
def test_marker_override(jury):
    """A marker override: this check needs every judge to agree (with one judge, the same thing)."""
    verdict = jury.check(
        "Our support team works Monday to Friday, 9am to 5pm Eastern Time.", "States the support hours"
    )
    assert verdict, verdict.explain()


def test_support_hours_answer_is_not_worse_than_the_accepted_one(llm_baseline):
    """A regression baseline: today's answer against the last accepted one, kept in
    `__llm_baselines__/test_support_bot.json`. The same text holds at once; a changed answer is
    compared side by side by the jury, and the test fails only if the jury prefers the accepted one."""
    question = "When can I reach customer support?"
    llm_baseline.assert_not_worse(
        answer(question), "Gives the support hours and days from the policy", input=question
    )
