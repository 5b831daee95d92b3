"""Agreement statistics against values worked out by hand or by independent formulas."""

from __future__ import annotations

import dataclasses
import math
import statistics

import pytest

from pytest_llmonpy.agreement import (
    NO_ANSWER,
    _quantile,
    bootstrap_interval,
    cohen_kappa,
    measure,
)


def table(**counts: int) -> list[tuple[str, str]]:
    """Pairs from counts named human_rater, e.g. pass_fail=3: three cases labelled pass, rated fail."""
    pairs: list[tuple[str, str]] = []
    for name, count in counts.items():
        human, rater = name.split("_")
        pairs += [(human, rater)] * count
    return pairs


# Cohen's kappa examples worked by hand: p_o observed agreement, p_e chance agreement.
@pytest.mark.parametrize(
    ("pairs", "kappa"),
    [
        # p_o = 35/50 = 0.7, p_e = (25*30 + 25*20)/50^2 = 0.5
        (table(yes_yes=20, yes_no=5, no_yes=10, no_no=15), 0.4),
        # p_o = 0.6, p_e = (60*70 + 40*30)/100^2 = 0.54
        (table(yes_yes=45, yes_no=15, no_yes=25, no_no=15), 0.06 / 0.46),
        # same p_o, p_e = (60*30 + 40*70)/100^2 = 0.46: kappa depends on the marginals
        (table(yes_yes=25, yes_no=35, no_yes=5, no_no=35), 0.14 / 0.54),
        # three labels: p_o = 0.7; humans a 4, b 3, tie 3; rater a 4, b 4, tie 2: p_e = 0.34
        (table(a_a=3, a_b=1, b_b=2, b_a=1, tie_tie=2, tie_b=1), (0.7 - 0.34) / (1 - 0.34)),
        # perfect, and exactly what chance gives
        (table(pass_pass=3, fail_fail=2), 1.0),
        (table(pass_pass=1, pass_fail=1, fail_pass=1, fail_fail=1), 0.0),
        # systematically opposite
        (table(pass_fail=2, fail_pass=2), -1.0),
    ],
)
def test_kappa_matches_the_worked_examples(pairs: list[tuple[str, str]], kappa: float) -> None:
    value = cohen_kappa(pairs)
    assert value is not None
    assert value == pytest.approx(kappa)


@pytest.mark.parametrize(
    "pairs",
    [[], table(pass_pass=4)],  # nothing to measure; one label on both sides: chance agrees fully
)
def test_kappa_is_undefined_when_agreement_says_nothing(pairs: list[tuple[str, str]]) -> None:
    assert cohen_kappa(pairs) is None


def test_bootstrap_interval_is_close_to_the_normal_approximation() -> None:
    pairs = table(yes_yes=20, yes_no=5, no_yes=10, no_no=15)
    interval = bootstrap_interval(pairs)
    assert interval is not None
    low, high = interval
    # The large-sample standard error of kappa, sqrt(p_o (1 - p_o) / (n (1 - p_e)^2)), gives
    # 0.4 +/- 1.96 * 0.1296 = (0.146, 0.654); the bootstrap must land near it.
    se = math.sqrt(0.7 * 0.3 / (50 * (1 - 0.5) ** 2))
    assert low == pytest.approx(0.4 - 1.96 * se, abs=0.06)
    assert high == pytest.approx(0.4 + 1.96 * se, abs=0.06)
    assert low < 0.4 < high


def test_bootstrap_interval_is_the_same_on_every_run_and_narrows_with_more_cases() -> None:
    small = table(yes_yes=20, yes_no=5, no_yes=10, no_no=15)
    assert bootstrap_interval(small) == bootstrap_interval(list(small))
    large = small * 8  # the same proportions, 400 cases
    low_s, high_s = bootstrap_interval(small) or (0.0, 0.0)
    low_l, high_l = bootstrap_interval(large) or (0.0, 0.0)
    assert high_l - low_l < (high_s - low_s) / 2  # about 1/sqrt(8) as wide
    assert low_l < 0.4 < high_l


def test_bootstrap_interval_of_a_perfect_rater_is_a_point_and_of_one_case_is_none() -> None:
    assert bootstrap_interval(table(pass_pass=10, fail_fail=10)) == (1.0, 1.0)
    assert bootstrap_interval(table(pass_pass=1)) is None
    # every resample holds a single label on both sides: kappa is never defined
    assert bootstrap_interval(table(pass_pass=30)) is None


def test_quantile_interpolates_like_the_inclusive_method() -> None:
    values = sorted([0.3, -0.1, 0.8, 0.5, 0.55, 0.2, 0.9, 0.05, 0.4, 0.61, 0.7])
    cuts = statistics.quantiles(values, n=40, method="inclusive")
    assert _quantile(values, 0.025) == pytest.approx(cuts[0])
    assert _quantile(values, 0.975) == pytest.approx(cuts[-1])
    assert _quantile(values, 0.5) == pytest.approx(statistics.median(values))


def test_measure_scores_answered_cases_and_counts_the_rest() -> None:
    pairs = table(pass_pass=6, pass_fail=2, fail_fail=3, fail_pass=1) + [("pass", NO_ANSWER)] * 3
    result = measure(pairs, ("pass", "fail"))
    assert (result.cases, result.answered, result.no_answer, result.agreed) == (15, 12, 3, 9)
    assert result.agreement == pytest.approx(9 / 12)
    # p_o = 0.75, p_e = (8*7 + 4*5)/12^2
    assert result.kappa == pytest.approx((0.75 - 76 / 144) / (1 - 76 / 144))
    assert result.rate("fail", "pass") == pytest.approx(1 / 4)  # false passes among labelled fails
    assert result.rate("pass", "fail") == pytest.approx(2 / 8)  # false fails among labelled passes
    assert result.count("pass", NO_ANSWER) == 3
    assert result.interval is not None


def test_a_rater_that_never_answers_has_no_agreement() -> None:
    result = measure([("pass", NO_ANSWER), ("fail", NO_ANSWER)], ("pass", "fail"))
    assert (result.agreement, result.kappa, result.interval) == (None, None, None)
    assert result.rate("fail", "pass") is None


def test_calibration_asks_a_local_judge_one_case_at_a_time() -> None:
    from pytest_llmonpy.calibration import CASES_IN_FLIGHT, cases_in_flight
    from pytest_llmonpy.config import JurySettings

    # The local model answers one call at a time, and waiting for it counts against jury_timeout.
    assert cases_in_flight(JurySettings(judges=("local/qwen2.5-coder-1.5b", "openai/gpt-4o-mini"))) == 1
    assert cases_in_flight(JurySettings(judges=("a",), escalation=("local/qwen2.5-coder-1.5b",))) == 1
    assert cases_in_flight(JurySettings(judges=("a", "b"), concurrency=4)) == 4
    assert cases_in_flight(JurySettings(judges=("a", "b"))) == CASES_IN_FLIGHT


@pytest.mark.parametrize("judge", ["local/qwen2.5-coder-1.5b", "openai/gpt-4o-mini"])
def test_a_calibration_of_the_local_judge_says_what_it_can_be_trusted_with(judge: str) -> None:
    from pytest_llmonpy.calibration import LOCAL_JUDGE_NOTE, Calibration, RaterResult, render
    from pytest_llmonpy.money import Cost

    point = measure([("pass", "pass"), ("fail", "pass")], ("pass", "fail"))
    rater = RaterResult(judge, point, None, None, verdicts=2, cost=Cost(0, 0, 2), calls=2)
    jury = dataclasses.replace(rater, name="jury")
    lines = render(Calibration(f"judges {judge}", (rater,), jury, point_cases=2, pair_cases=0, unlabelled=0))
    assert (LOCAL_JUDGE_NOTE in lines) == judge.startswith("local/")
