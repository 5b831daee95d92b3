"""Labelled cases for the embedded offline judge: clear pass and fail cases whose criteria state the fact
to check. `tests/test_local_judge.py` runs a few of them in every test run; `benchmarks/local_judge.py`
measures the judge's agreement and speed on all of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_llmonpy.jury import Jury
    from pytest_llmonpy.verdict import Vote

Case = tuple[str, str, dict[str, str], str]  # output, criteria, texts (input/reference/context), label

# (output, criteria, expected vote): clear cases whose criteria state the fact to check, the way
# criteria are written in practice ("Says refunds are only possible within 30 days"); half are wrong.
# A 1.5B model cannot be trusted to know facts the criteria leave out (see docs/judges.md).
LABELLED = [
    ("The capital of Australia is Canberra.", "Says that the capital of Australia is Canberra", "pass"),
    ("The capital of Australia is Sydney.", "Says that the capital of Australia is Canberra", "fail"),
    ("Paris is the capital of France.", "Says that the capital of France is Paris", "pass"),
    ("The capital of France is Lyon.", "Says that the capital of France is Paris", "fail"),
    ("7 x 8 = 56", "Gives 56 as the result of 7 x 8", "pass"),
    ("7 x 8 = 54", "Gives 56 as the result of 7 x 8", "fail"),
    ("World War II ended in 1945.", "Says that World War II ended in 1945", "pass"),
    ("World War II ended in 1946.", "Says that World War II ended in 1945", "fail"),
    ("Water boils at 100 degrees Celsius at sea level.", "Says water boils at 100 degrees Celsius", "pass"),
    ("Water boils at 50 degrees Celsius at sea level.", "Says water boils at 100 degrees Celsius", "fail"),
    ("The Earth orbits the Sun.", "Says that the Earth orbits the Sun", "pass"),
    ("The Sun orbits the Earth.", "Says that the Earth orbits the Sun", "fail"),
    ("A week has seven days.", "Says that a week has seven days", "pass"),
    ("A week has nine days.", "Says that a week has seven days", "fail"),
    ("Tokyo is the capital of Japan.", "Says that the capital of Japan is Tokyo", "pass"),
    ("Osaka is the capital of Japan.", "Says that the capital of Japan is Tokyo", "fail"),
    ("The chemical symbol for gold is Au.", "Gives Au as the chemical symbol for gold", "pass"),
    ("The chemical symbol for gold is Ag.", "Gives Au as the chemical symbol for gold", "fail"),
    ("Refunds are possible within 30 days of purchase.", "Says refunds are possible within 30 days", "pass"),
    ("Refunds are possible within 90 days of purchase.", "Says refunds are possible within 30 days", "fail"),
]
# With the customer's question (`input=`) and a known-good answer (`reference=`) in the prompt too.
SHIPPING = "How long does standard shipping take?"
KNOWN_GOOD = "Standard shipping takes 3 to 5 business days."
SAME_TIME = "Gives the same shipping time as the reference answer"
WITH_CONTEXT: list[tuple[str, str, dict[str, str], str]] = [
    (
        "No, we only ship to the United States and Canada.",
        "Says that the store does not ship to Mexico",
        {"input": "Do you ship to Mexico?"},
        "pass",
    ),
    (
        "Yes, we ship to Mexico.",
        "Says that the store does not ship to Mexico",
        {"input": "Do you ship to Mexico?"},
        "fail",
    ),
    (
        "Express shipping costs 15 dollars.",
        "Says that express shipping costs 15 dollars",
        {"input": "How much is express shipping?"},
        "pass",
    ),
    (
        "Express shipping costs 25 dollars.",
        "Says that express shipping costs 15 dollars",
        {"input": "How much is express shipping?"},
        "fail",
    ),
    (
        "It usually arrives within 3-5 business days.",
        SAME_TIME,
        {"input": SHIPPING, "reference": KNOWN_GOOD},
        "pass",
    ),
    ("Shipping takes two weeks.", SAME_TIME, {"input": SHIPPING, "reference": KNOWN_GOOD}, "fail"),
]

# Every case.
ALL_CASES: list[Case] = [
    (output, criteria, {}, expected) for output, criteria, expected in LABELLED
] + WITH_CONTEXT


def judge(jury: Jury, case: Case) -> Vote:
    """The jury's (one judge's) vote on a labelled case."""
    output, criteria, texts, _ = case
    verdict = jury.check(
        output,
        criteria,
        input=texts.get("input"),
        reference=texts.get("reference"),
        context=texts.get("context"),
    )
    return verdict.votes[0]
