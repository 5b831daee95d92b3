"""Unit tests of the pass-rate statistics: exact bounds against closed forms and published values, the
confidence sequence's validity by a seeded simulation, and the gate's decisions."""

from __future__ import annotations

import math
import random

import pytest

from pytest_llmonpy.pass_rate import (
    EARLY_SHARE,
    MixturePrior,
    SequentialGate,
    binomial_cdf,
    binomial_upper_tail,
    exact_lower_bound,
    exact_upper_bound,
    sequence_bounds,
)


def test_the_binomial_cdf_matches_a_direct_sum() -> None:
    for n, k, p in [(10, 3, 0.4), (30, 27, 0.9), (1, 0, 0.25), (50, 0, 0.01)]:
        direct = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
        assert binomial_cdf(k, n, p) == pytest.approx(direct, rel=1e-12)
    assert binomial_cdf(-1, 5, 0.5) == 0.0
    assert binomial_cdf(5, 5, 0.5) == 1.0


@pytest.mark.parametrize("n", [1, 10, 29, 100])
def test_all_or_nothing_bounds_have_closed_forms(n: int) -> None:
    # n of n passed: P(X >= n | p) = p^n = alpha at the bound; 0 of n: (1 - p)^n = alpha.
    assert exact_lower_bound(n, n, 0.95) == pytest.approx(0.05 ** (1 / n), abs=1e-12)
    assert exact_upper_bound(0, n, 0.95) == pytest.approx(1 - 0.05 ** (1 / n), abs=1e-12)
    assert exact_lower_bound(0, n, 0.95) == 0.0
    assert exact_upper_bound(n, n, 0.95) == 1.0


def test_bounds_match_the_published_clopper_pearson_interval() -> None:
    # 7 of 10: the two-sided 95% exact interval is (0.3475, 0.9333) (Clopper and Pearson's method, as
    # tabulated by Brown, Cai and DasGupta 2001 and computed by R's binom.test), i.e. one-sided 97.5%.
    assert exact_lower_bound(7, 10, 0.975) == pytest.approx(0.3475, abs=5e-5)
    assert exact_upper_bound(7, 10, 0.975) == pytest.approx(0.9333, abs=5e-5)


def test_an_exact_bound_is_where_the_tail_equals_the_error() -> None:
    lower = exact_lower_bound(27, 30, 0.95)
    assert 1 - binomial_cdf(26, 30, lower) == pytest.approx(0.05, abs=1e-9)
    upper = exact_upper_bound(27, 30, 0.95)
    assert binomial_cdf(27, 30, upper) == pytest.approx(0.05, abs=1e-9)


def test_nine_of_ten_is_weaker_evidence_than_ninety_of_a_hundred() -> None:
    assert exact_lower_bound(9, 10, 0.95) < 0.7 < 0.8 < exact_lower_bound(90, 100, 0.95) < 0.9


def test_the_sequence_holds_the_observed_rate_and_widens_with_confidence() -> None:
    prior = MixturePrior.for_rate(0.9)
    for passes, samples in [(0, 5), (3, 5), (5, 5), (45, 50)]:
        lower, upper = sequence_bounds(passes, samples, 0.95, prior)
        assert lower <= passes / samples <= upper
        wide_lower, wide_upper = sequence_bounds(passes, samples, 0.99, prior)
        assert wide_lower <= lower
        assert upper <= wide_upper
        # Valid at every look, so wider than the exact bound of a sample fixed in advance.
        assert lower <= exact_lower_bound(passes, samples, 0.95)
    assert sequence_bounds(0, 0, 0.95, prior) == (0.0, 1.0)


def test_each_added_pass_raises_both_bounds() -> None:
    """What `SequentialGate.can_still_pass` relies on: the best case for the rest is all passing."""
    prior = MixturePrior.for_rate(0.8)
    for samples in range(1, 40):
        for passes in range(samples):
            assert exact_lower_bound(passes + 1, samples + 1, 0.96) >= exact_lower_bound(
                passes, samples, 0.96
            )
            now = sequence_bounds(passes, samples, 0.99, prior)[0]
            assert sequence_bounds(passes + 1, samples + 1, 0.99, prior)[0] >= now


def test_the_sequence_covers_the_true_rate_at_every_look_in_a_seeded_simulation() -> None:
    """Anytime validity: however often it is looked at, the true rate leaves the sequence in at most
    1 - confidence of the runs. The benchmark (benchmarks/pass_rate.py) runs more of them."""
    rng = random.Random(20261203)
    for true_rate in (0.5, 0.9):
        prior = MixturePrior.for_rate(true_rate)
        escaped = 0
        runs = 200
        for _ in range(runs):
            passes = 0
            for samples in range(1, 61):
                passes += rng.random() < true_rate
                lower, upper = sequence_bounds(passes, samples, 0.9, prior)
                if not lower <= true_rate <= upper:
                    escaped += 1
                    break
        # At most 10% may escape; a binomial(200, 0.1) count stays under 30 but for 1 run in 100.
        assert escaped <= 30, (true_rate, escaped)


def test_without_early_stop_a_gate_needs_what_the_exact_bound_needs() -> None:
    # All passing: 0.9^n <= 0.05 first at n = 29.
    gate = SequentialGate(min_rate=0.9, confidence=0.95, max_samples=40, early_stop=False)
    assert gate.samples_to_pass() == 40  # it only decides after the last sample
    assert SequentialGate(0.9, 0.95, 29, early_stop=False).look(29, 29).decision == "pass"
    assert SequentialGate(0.9, 0.95, 28, early_stop=False).look(28, 28).decision == "fail"


def test_early_stopping_keeps_four_fifths_of_the_error_for_the_last_look() -> None:
    gate = SequentialGate(min_rate=0.9, confidence=0.95, max_samples=31)
    assert gate.final_confidence == pytest.approx(1 - 0.05 * (1 - EARLY_SHARE))
    assert gate.early_confidence == pytest.approx(1 - 0.05 * EARLY_SHARE)
    # 0.9^n <= 0.04 first at n = 31 (0.9^30 = 0.042).
    assert gate.look(31, 31).decision == "pass"
    assert SequentialGate(0.9, 0.95, 30).look(30, 30).decision == "fail"


def test_a_gate_stops_once_the_rest_cannot_make_it_pass() -> None:
    gate = SequentialGate(min_rate=0.9, confidence=0.95, max_samples=40)
    look = gate.look(passes=2, samples=6)  # 4 failed: even 34 more passes leave 36 of 40
    assert (look.decision, look.reason) == ("fail", "cannot reach")
    assert gate.look(passes=6, samples=6).decision == "continue"


def test_a_clearly_good_rate_passes_before_the_last_sample() -> None:
    gate = SequentialGate(min_rate=0.7, confidence=0.95, max_samples=200)
    first = gate.samples_to_pass()
    assert first < 200
    look = gate.look(first, first)
    assert (look.decision, look.reason) == ("pass", "sure pass")
    assert look.lower >= 0.7


def test_a_clearly_bad_rate_fails_early_as_surely_below() -> None:
    gate = SequentialGate(min_rate=0.9, confidence=0.95, max_samples=1000)
    look = gate.look(passes=10, samples=30)
    assert (look.decision, look.reason) == ("fail", "surely below")
    assert look.upper < 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_rate": 1.0}, "no number of samples proves a rate of exactly 1"),
        ({"min_rate": 0.0}, "min_rate must be above 0 and below 1"),
        ({"confidence": 1.0}, "confidence must be between 0 and 1"),
        ({"max_samples": 0}, "samples must be at least 1"),
    ],
)
def test_a_gate_with_impossible_settings_says_what_to_use(kwargs: dict[str, float], message: str) -> None:
    settings: dict[str, float] = {"min_rate": 0.9, "confidence": 0.95, "max_samples": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        SequentialGate(settings["min_rate"], settings["confidence"], int(settings["max_samples"]))


def test_counts_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and the sample count"):
        exact_lower_bound(5, 4, 0.95)
    with pytest.raises(ValueError, match="more than the 10 allowed"):
        SequentialGate(0.9, 0.95, 10).look(11, 11)


def test_the_upper_tail_is_summed_directly_where_one_minus_the_cdf_loses_it() -> None:
    for n, k, p in [(10, 7, 0.4), (100, 99, 0.5), (50, 50, 0.9)]:
        direct = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))
        assert binomial_upper_tail(k, n, p) == pytest.approx(direct, rel=1e-12)
    assert binomial_upper_tail(100, 100, 0.5) == pytest.approx(0.5**100, rel=1e-12)  # 1 - cdf gives 0
    # So a very high confidence still gets the exact bound: 50 of 50 at 1 - 1e-14 (1 - cdf gave 0.536).
    assert exact_lower_bound(50, 50, 1 - 1e-14) == pytest.approx(1e-14 ** (1 / 50), rel=1e-3)


def test_a_gate_says_how_many_samples_it_would_need() -> None:
    assert SequentialGate(0.9, 0.95, 30).samples_needed() == 31
    assert SequentialGate(0.9, 0.95, 20, early_stop=False).samples_needed() == 29
    assert SequentialGate(0.9, 0.95, 30).samples_to_pass() == 31  # none of 30 can pass
    assert SequentialGate(0.99, 0.95, 100_000).samples_to_pass() < 1000  # bisected, not scanned
