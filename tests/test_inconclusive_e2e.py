"""End-to-end: comparisons whose judges followed the position are inconclusive, not silently held;
jury_inconclusive = hung raises; judges that follow the position get a PositionBiasWarning.
Each runs serially and with `-n 2`."""

from __future__ import annotations

import json

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"
UPDATE = "--jury-baseline-update"

COMPARE = """
import pytest

def test_pair(jury):
    comparison = jury.compare("summary v2", "summary v1", "Covers the main finding")
    print("WINNER", comparison.winner, "INCONCLUSIVE", comparison.inconclusive)
    print("VOTES", [vote.vote for vote in comparison.votes])
"""

BASELINE = """
import os

def test_summary(llm_baseline):
    llm_baseline.assert_not_worse(os.environ["SUMMARY"], "Covers the main finding")
"""


def test_judges_that_always_pick_the_first_position_make_the_comparison_inconclusive(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.pick_position("1")
    pytester.makepyfile(COMPARE)
    result = run_inprocess(JUDGES, "-s", "-v", "--jury-report=report.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*WINNER tie INCONCLUSIVE True"])
    assert "VOTES ['inconsistent', 'inconsistent', 'inconsistent']" in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "comparisons: 1 (0 won by a, 0 by b, 0 ties, 0 hung, 1 inconclusive)",
            "comparisons in detail:",
            "  INCONCLUSIVE  test_judges_that_always_pick_the_first_position_make_the_comparison_inconclusive"
            ".py::test_pair: Covers the main finding",
            "*judge-a: inconsistent (live; a shown first: a; b shown first: b)",
            "next: 1 comparison was inconclusive: judges followed the position, not the content*",
        ]
    )
    assert len(llm_server.pair_calls()) == 6
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    [comparison] = report["comparisons"]
    assert (comparison["winner"], comparison["hung"], comparison["inconclusive"]) == ("tie", False, True)
    assert [vote["vote"] for vote in comparison["votes"]] == ["inconsistent"] * 3
    # One comparison is too few to call a judge biased: no warning, but the figures are in the report.
    assert "PositionBiasWarning" not in result.stdout.str()
    assert [
        (j["model"], j["comparisons"], j["followed_position"], j["flagged"]) for j in report["position_bias"]
    ] == [
        ("judge-a", 1, 1, False),
        ("judge-b", 1, 1, False),
        ("judge-c", 1, 1, False),
    ]

    # jury_inconclusive = hung: the same comparison raises HungJuryError naming the judges (from the cache).
    hung = run_inprocess(JUDGES, "--jury-inconclusive=hung")
    hung.assert_outcomes(failed=1)
    hung.stdout.fnmatch_lines(
        [
            "*HungJuryError: the jury is hung: the comparison is inconclusive because judges followed the "
            "position, not the content (each picked the same position in both orders): judge-a, judge-b, "
            "judge-c.",
            "*jury comparison, INCONCLUSIVE (winner TIE): Covers the main finding",
            "*votes: 0 for a, 0 for b, 0 tie, 3 inconsistent, 0 abstain; quorum majority needs 2 of 3",
            "*set jury_inconclusive = tie to count such a comparison as a tie*",
            "comparisons: 1 (0 won by a, 0 by b, 0 ties, 0 hung, 1 inconclusive)",
        ]
    )
    assert len(llm_server.pair_calls()) == 6  # both orders came from the cache


def test_the_inconclusive_policy_from_ini_marker_and_flag(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.pick_position("1")
    pytester.makeini(
        """
        [pytest]
        jury_inconclusive = hung
        """
    )
    pytester.makepyfile(
        COMPARE
        + """
@pytest.mark.jury(inconclusive="tie")
def test_marked_tie(jury):
    assert jury.compare("summary v2", "summary v1", "Covers the main finding").inconclusive

@pytest.mark.jury(inconclusive="maybe")
def test_bad_marker(jury):
    pass
"""
    )
    result = run_inprocess(JUDGES)
    result.assert_outcomes(passed=1, failed=1, errors=1)  # a bad marker errors at setup
    result.stdout.fnmatch_lines_random(
        [
            "*HungJuryError: the jury is hung: the comparison is inconclusive*",
            "*pytest-llmonpy: @pytest.mark.jury: invalid inconclusive policy 'maybe': use tie (*) or hung "
            "(raise HungJuryError)",
        ]
    )
    # The flag beats the ini key.
    flag = run_inprocess(JUDGES, "--jury-inconclusive=tie", "-k", "not bad_marker")
    flag.assert_outcomes(passed=2, deselected=1)

    usage = run_inprocess(JUDGES, "--jury-inconclusive=sometimes")
    assert usage.ret == pytest.ExitCode.USAGE_ERROR
    usage.stderr.fnmatch_lines(
        ["*pytest-llmonpy: jury_inconclusive: invalid inconclusive policy 'sometimes': use tie (*) or hung*"]
    )


def test_a_real_tie_in_both_orders_is_a_tie_not_inconclusive(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.pick_position("tie")
    pytester.makepyfile(COMPARE)
    result = run_inprocess(JUDGES, "-s", "--jury-inconclusive=hung")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*WINNER tie INCONCLUSIVE False"])
    assert "VOTES ['tie', 'tie', 'tie']" in result.stdout.str()
    result.stdout.fnmatch_lines(["comparisons: 1 (0 won by a, 0 by b, 1 tie, 0 hung)"])
    summary = result.stdout.str().split("llm jury summary")[1]
    assert "inconclusive" not in summary.replace("_not_inconclusive.py", "")
    assert "next:" not in summary


def test_a_baseline_judged_by_position_is_inconclusive_not_held(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_inprocess: RunJury,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytester.makepyfile(test_flow=BASELINE)
    monkeypatch.setenv("SUMMARY", "summary v1")
    run_inprocess(JUDGES, UPDATE).assert_outcomes(passed=1)
    llm_server.pick_position("1")
    monkeypatch.setenv("SUMMARY", "summary v0")  # worse, but judges that follow the position cannot tell
    result = run_inprocess(JUDGES, "-v", "--jury-report=report.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "comparisons: 1 (0 won by a, 0 by b, 0 ties, 0 hung, 1 inconclusive)",
            "baselines: 1 compared (0 improved, 0 held, 0 regressed, 1 inconclusive), 0 recorded, 0 stale, "
            "0 unused",
            "baselines in detail:",
            "  INCONCLUSIVE  test_summary  (*test_flow.json)",
        ]
    )
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    [baseline] = report["baselines"]
    assert baseline["status"] == "inconclusive"
    assert baseline["comparison"]["inconclusive"] is True
    assert [vote["vote"] for vote in baseline["comparison"]["votes"]] == ["inconsistent"] * 3

    hung = run_inprocess(JUDGES, "--jury-inconclusive=hung")
    hung.assert_outcomes(failed=1)
    hung.stdout.fnmatch_lines(
        [
            "*HungJuryError: the jury is hung: the comparison is inconclusive because judges followed the "
            "position*: judge-a, judge-b, judge-c.",
            "baselines: 1 compared (0 improved, 0 held, 0 regressed, 1 inconclusive)*",
        ]
    )


def test_a_judge_that_followed_the_position_in_most_of_5_comparisons_gets_a_warning(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.prefer("v2")
    llm_server.pick_position("1", model="judge-a")  # the other two judge the content
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(5))
        def test_pair(jury, n):
            comparison = jury.compare(f"summary v2 #{n}", f"summary v1 #{n}", "Covers the main finding")
            assert comparison.winner == "a" and not comparison.inconclusive, comparison.explain()
        """
    )
    result = run_inprocess(JUDGES, "--jury-report=report.json")
    result.assert_outcomes(passed=5, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*warnings summary*",
            "*PositionBiasWarning: judge-a followed the position in 5 of 5 comparisons (first-position rate "
            "100% of 10 calls). A judge that picks the same position in both orders judges the order, not "
            "the outputs*",
            "comparisons: 5 (5 won by a, 0 by b, 0 ties, 0 hung)",
            "position bias: judge-a followed the position in 5 of 5 comparisons (first-position rate 100% "
            "of 10 calls)",
        ]
    )
    assert "judge-b followed" not in result.stdout.str()
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    bias = {judge["model"]: judge for judge in report["position_bias"]}
    assert bias["judge-a"] == {
        "model": "judge-a",
        "comparisons": 5,
        "followed_position": 5,
        "answered_calls": 10,
        "first_position_calls": 10,
        "first_position_rate": 1.0,
        "flagged": True,
    }
    assert (bias["judge-b"]["followed_position"], bias["judge-b"]["first_position_rate"]) == (0, 0.5)
    assert not bias["judge-b"]["flagged"]

    # Under `filterwarnings = error` the warning fails the run, with the reason and no traceback.
    pytester.makeini(
        """
        [pytest]
        filterwarnings = error
        """
    )
    strict = run_inprocess(JUDGES, "-p", "no:asyncio")  # pytest-asyncio's own config warning would be fatal
    strict.assert_outcomes(passed=5)
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(
        ["pytest-llmonpy: PositionBiasWarning (an error by filterwarnings): judge-a followed the position*"]
    )
    assert "Traceback" not in strict.stdout.str() + strict.stderr.str()


def test_four_comparisons_are_too_few_for_a_warning(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.pick_position("1")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_pair(jury, n):
            assert jury.compare(f"v2 #{n}", f"v1 #{n}", "Covers the main finding").inconclusive
        """
    )
    result = run_inprocess(JUDGES)
    result.assert_outcomes(passed=4)
    assert "PositionBiasWarning" not in result.stdout.str()
    assert "position bias:" not in result.stdout.str()
    result.stdout.fnmatch_lines(["comparisons: 4 (0 won by a, 0 by b, 0 ties, 0 hung, 4 inconclusive)"])
