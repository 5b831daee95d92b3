"""Unit tests of the money type: sums with unpriced calls, the USD edges, and how amounts read."""

from __future__ import annotations

import math

import pytest

from pytest_llmonpy.budget import BudgetState
from pytest_llmonpy.money import Cost, format_cost, parse_usd, total, typed_usd
from pytest_llmonpy.verdict import Comparison, PairVote, Verdict, Vote


def test_a_sum_counts_unpriced_calls_instead_of_pricing_them_at_zero() -> None:
    priced, unknown = Cost.of_usd(0.00021), Cost.of_usd(None)
    assert unknown == Cost(unpriced=1)
    both = priced + unknown + priced
    assert both == Cost(420_000, unpriced=1)
    assert both.usd == pytest.approx(0.00042)
    assert both.usd_or_none() is None  # a partial sum is not the cost
    assert (priced + priced).usd_or_none() == 0.00042
    assert total([]) == Cost()
    assert total([]).usd_or_none() == 0.0
    assert total([unknown, unknown]).unpriced == 2


def test_sums_are_exact_in_any_order() -> None:
    # As floats, 0.1 + 0.2 + 0.3 and 0.3 + 0.2 + 0.1 differ; merged xdist totals must not.
    costs = [Cost.of_usd(0.1), Cost.of_usd(0.2), Cost.of_usd(0.3)]
    assert total(costs) == total(reversed(costs)) == Cost.of_usd(0.6)
    assert 0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1  # the float sums this type replaces


def test_free_is_zero_priced_work_not_a_failed_call() -> None:
    assert Cost.of_usd(0.0, tokens=150).free == 1
    assert Cost.of_usd(0.0).free == 0  # no answer, no tokens: costs nothing, but not free
    assert Cost.of_usd(1e-12, tokens=150) == Cost()  # below half a nano-dollar: $0, yet priced, not free
    assert Cost.of_usd(4e-7, tokens=20).nano == 400  # a sub-micro-dollar call keeps its price


def test_a_price_that_is_not_a_number_is_unpriced() -> None:
    assert Cost.of_usd(math.nan) == Cost(unpriced=1)
    assert Cost.of_usd(math.inf) == Cost(unpriced=1)


def test_usd_round_trips_the_figures_of_json_records() -> None:
    for amount in (0.00021, 0.0035, 7.77e-05, 0.001285, 12.5, 0.0):
        assert Cost.of_usd(amount).usd == amount
    assert Cost.of_usd(7.769999999999999e-05).usd == 7.77e-05  # litellm's float noise goes


@pytest.mark.parametrize(
    ("nano", "text"),
    [
        (0, "$0.000000"),
        (1, "$0.000000"),  # sub-micro-dollar: rounds to 0 at 6 decimals
        (499, "$0.000000"),
        (500, "$0.000001"),  # half up
        (210_000, "$0.000210"),
        (1_200_000, "$0.001200"),
        (999_999_499, "$0.999999"),
        (999_999_500, "$1.00"),  # rounds to $1: from $1 the amount has 2 decimals
        (1_000_000_000, "$1.00"),
        (1_005_000_000, "$1.01"),  # half up, where the float 1.005 would read $1.00
        (12_500_000_000, "$12.50"),
        (1_234_567_890_000_000, "$1,234,567.89"),
    ],
)
def test_amounts_read_with_6_decimals_below_a_dollar_and_2_from_a_dollar(nano: int, text: str) -> None:
    assert format_cost(Cost(nano)) == text


def test_labels_for_unpriced_mixed_and_free_costs() -> None:
    assert format_cost(Cost(unpriced=3), 3) == "unpriced"
    assert format_cost(Cost(0, unpriced=2), 3) == "$0.000000 + 2 unpriced calls"
    assert format_cost(Cost(500_000, unpriced=1), 2) == "$0.000500 + 1 unpriced call"
    assert format_cost(Cost(free=2), 2) == "free"
    assert format_cost(Cost(), 1, tokens=10) == "free"
    assert format_cost(Cost(), 0, cached=Cost(free=3)) == "free"  # a free judge, all from the cache
    assert format_cost(Cost(), 0, cached=Cost(5, free=3)) == "$0.000000"  # cached votes cost something


@pytest.mark.parametrize(
    ("text", "nano"),
    [("0.50", 500_000_000), ("$2", 2_000_000_000), ("1e-3", 1_000_000), (" 0 ", 0), ("0.0000000004", 0)],
)
def test_typed_amounts_parse_exactly(text: str, nano: int) -> None:
    assert parse_usd(text) == Cost(nano)


@pytest.mark.parametrize("text", ["", "abc", "nan", "inf", "-inf", "0x10"])
def test_what_is_not_an_amount_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an amount in USD"):
        parse_usd(text)


def test_a_typed_amount_reads_back_as_typed() -> None:
    for text in ("0.005", "0", "2", "10", "0.00001", "1000000"):
        assert typed_usd(parse_usd(text)) == text


def test_the_budget_state_compares_exact_amounts() -> None:
    limit = parse_usd("0.0005")
    three_calls = total([Cost.of_usd(0.00021)] * 3)
    assert BudgetState(limit, three_calls).exhausted
    assert not BudgetState(limit, Cost.of_usd(0.00042)).exhausted
    assert BudgetState(limit, limit).exhausted  # reaching the limit is spending it
    assert BudgetState(Cost(), Cost()).percent == 100.0
    assert BudgetState(limit, Cost.of_usd(0.00025)).percent == 50.0


def test_verdict_and_comparison_costs_are_none_when_any_call_is_unpriced() -> None:
    priced = Vote("a", "pass", tokens_in=10, cost_usd=0.0001)
    unpriced = Vote("b", "pass", tokens_in=10, cost_usd=None)
    not_needed = Vote("c", "not_needed", cost_usd=0.0, attempts=0)
    assert Verdict("c", "passed", (priced, priced, not_needed), "majority", 2).cost_usd == 0.0002
    assert Verdict("c", "passed", (priced, unpriced), "majority", 2).cost_usd is None
    calls = (Vote("a", "first", cost_usd=0.0001), Vote("a", "second", cost_usd=0.0002))
    pair = PairVote("a", calls)
    assert pair.cost_usd == pytest.approx(0.0003)
    assert Comparison("c", "a", (pair, pair), "majority", 2).cost_usd == pytest.approx(0.0006)
    half_known = PairVote("b", (calls[0], Vote("b", "first", cost_usd=None)))
    assert half_known.cost_usd is None
    assert Comparison("c", "a", (pair, half_known), "majority", 2).cost_usd is None
