"""End-to-end: what the `llm jury summary` says happened.

Most tests run in-process against scripted judges; the ones that need litellm's pricing or more than
one process go through a subprocess (`run_jury`).
"""

from __future__ import annotations

import json

import pytest

from conftest import RunJury
from fake_judges import FakeJudges
from fake_llm_server import FakeLLMServer
from pytest_llmonpy import cli

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"

CHECKS_AND_A_COMPARISON = """
def test_one(jury):
    jury.check("answer one", "Is an answer")

def test_two(jury):
    jury.check("answer two", "Is an answer")

def test_bad(jury):
    jury.check("answer bad", "Is an answer")

def test_compare(jury):
    jury.compare("summary v2", "summary v1", "Covers the main finding")
"""


def test_comparisons_are_not_counted_as_tests_with_verdicts_and_v_shows_their_reasons(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_inprocess: RunJury,
    capsys: pytest.CaptureFixture[str],
) -> None:
    llm_server.judge("fail", "not an answer", output_contains="bad")
    llm_server.prefer("v2")
    pytester.makepyfile(CHECKS_AND_A_COMPARISON)
    result = run_inprocess(JUDGES, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "verdicts: 2 passed, 1 failed, 0 hung in 3 tests",
            "comparisons: 1 (1 won by a, 0 by b, 0 ties, 0 hung)",
            "comparisons in detail:",
            "  WON BY A      *::test_compare: Covers the main finding",
            "                judge-a: a (live; a shown first: a; b shown first: a)",
            "                  a shown first: a - scripted comparison",
            "                  b shown first: a - scripted comparison",
            "                judge-b: a (live; a shown first: a; b shown first: a)",
        ]
    )
    # The cache command counts the pairwise entries apart from the pass/fail verdicts.
    capsys.readouterr()
    assert cli.main(["cache", "stats"]) == 0
    stats = capsys.readouterr().out.splitlines()
    assert "entries: 15" in stats
    assert "  judge-a       3 verdicts (2 pass, 1 fail), 2 comparison calls" in stats


FREE_JUDGE_CONFTEST = """
import litellm

litellm.register_model(
    {
        "free-judge": {
            "litellm_provider": "openai",
            "mode": "chat",
            "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0,
        }
    }
)
"""

TWO_ANSWERS = """
import pytest

@pytest.mark.parametrize("n", range(2))
def test_answer(jury, n):
    jury.check(f"answer {n}", "Is an answer")
"""


@pytest.fixture
def fake_judges(llm_server: FakeLLMServer) -> FakeJudges:
    """In-process runs price `free-judge` at zero, as the end-to-end test's litellm registration does."""
    return FakeJudges(llm_server, prices={"free-judge": (0.0, 0.0)})


def test_a_judge_litellm_prices_at_zero_reads_free(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury
) -> None:
    """A price of zero in litellm's table is free, not unpriced: through litellm's real pricing."""
    llm_server.judge("pass", "fine", usage=(1000, 100))
    pytester.makeconftest(FREE_JUDGE_CONFTEST)
    pytester.makepyfile(TWO_ANSWERS)
    result = run_jury("--jury-judges=free-judge,judge-x", "--jury-quorum=1")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "  free-judge * 2 * 0 * free",
            "  judge-x * 2 * 0 * unpriced",
            "total spent: free + 2 unpriced calls",
        ]
    )
    assert "$0.000000" not in result.stdout.str()


def test_a_free_judge_reads_free_live_and_cached_and_saves_nothing(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.judge("pass", "fine", usage=(1000, 100))
    pytester.makepyfile(TWO_ANSWERS)
    for live, cached in ((2, 0), (0, 2)):
        result = run_inprocess("--jury-judges=free-judge", "-v")
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines(
            [
                f"judge calls: {live} live, {cached} cached*",
                f"  free-judge * {live} * {cached} * free",
                "total spent: free",
                "cost per test:",
                "          free  *::test_answer[[]0[]]*",
            ]
        )
        # Nothing could be saved: no "$0.000000" saving, and no dollar figure for the free work.
        assert "saved by the cache" not in result.stdout.str()
        assert "$0.000000" not in result.stdout.str()
    # An unpriced judge is still unpriced, never free or $0.
    unpriced = run_inprocess("--jury-judges=free-judge,judge-x", "--jury-quorum=1")
    unpriced.assert_outcomes(passed=2)
    unpriced.stdout.fnmatch_lines(
        ["  free-judge * 0 * 2 * free", "  judge-x * 2 * 0 * unpriced", "total spent: unpriced"]
    )
    assert "saved by the cache" not in unpriced.stdout.str()


def test_replay_misses_are_counted_and_say_how_to_record(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    suite = """
        def test_kept(jury):
            jury.check("the same answer", "Is an answer")

        def test_changed(jury):
            jury.check("{output}", "Is an answer")
    """
    pytester.makepyfile(suite.format(output="first answer"))
    run_inprocess(JUDGES).assert_outcomes(passed=2)
    pytester.makepyfile(suite.format(output="a new answer"))
    replay = run_inprocess(JUDGES, "--jury-mode=replay")
    replay.assert_outcomes(passed=1, failed=1)
    replay.stdout.fnmatch_lines(
        [
            "verdicts: 1 passed, 0 failed, 0 hung in 2 tests; 1 replay miss (no recorded verdict)",
            "judge calls: 0 live, 3 cached (1 check found no recorded verdict)",
            "next: 1 check found no recorded verdict (--jury-mode=replay never calls a judge); record them "
            "by running with --jury-mode=record (the default)*",
        ]
    )
    assert "100% from cache" not in replay.stdout.str()
    assert len(llm_server.calls()) == 6  # the replay run called no judge


def test_a_zero_budget_without_a_cache_does_not_suggest_cached_verdicts(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile("def test_x(jury):\n    jury.check('an answer', 'Is an answer')\n")
    result = run_inprocess(JUDGES, "--jury-max-cost=0", "--jury-mode=off")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "verdicts: 0 passed, 0 failed, 0 hung in 1 test; 1 check stopped by the budget",
            "next: 1 check got no verdict because the budget ran out; --jury-max-cost=0 allows no judge "
            "call, and --jury-mode=off uses no cached verdict: raise --jury-max-cost.",
        ]
    )
    summary = result.stdout.str().split("llm jury summary")[1]
    assert "re-run" not in summary  # (the BudgetExceededError message comes from jury.py, not the summary)
    assert llm_server.calls(status=None) == []


def test_test_ids_are_relative_to_the_directory_pytest_runs_from(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_inprocess: RunJury,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    llm_server.prefer("v2")
    pytester.makeini("[pytest]\n")
    sub = pytester.mkpydir("sub")
    (sub / "test_ids.py").write_text(
        "def test_check(jury):\n    jury.check('an answer', 'Is an answer')\n\n"
        "def test_compare(jury):\n    jury.compare('summary v2', 'summary v1', 'Covers it')\n"
    )
    monkeypatch.chdir(sub)
    result = run_inprocess(JUDGES, "-v", "--jury-report=report.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "cost per test:",
            "*  test_ids.py::test_check  (3 live, 0 cached)",
            "verdicts in detail:",
            "  PASSED  test_ids.py::test_check: Is an answer",
            "comparisons in detail:",
            "  WON BY A      test_ids.py::test_compare: Covers it",
        ]
    )
    assert "sub/test_ids.py" not in result.stdout.str()
    # The JSON report (like the cache) keeps pytest's rootdir-relative node ids.
    report = json.loads((sub / "report.json").read_text(encoding="utf-8"))
    assert [test["test_id"] for test in report["tests"]] == [
        "sub/test_ids.py::test_check",
        "sub/test_ids.py::test_compare",
    ]


def test_a_quorum_the_ini_jury_cannot_reach_is_one_usage_error(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makeini("[pytest]\njury_judges = judge-a\njury_quorum = 2\n")
    pytester.makepyfile(
        "def test_one(jury):\n    jury.check('x', 'y')\n\ndef test_two(jury):\n    jury.check('x', 'y')\n"
    )
    result = run_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    message = "*pytest-llmonpy: jury_quorum: quorum 2 needs 2 pass votes but the jury has only 1 judge*"
    result.stderr.fnmatch_lines([f"ERROR: {message[1:]}"])
    assert (result.stdout.str() + result.stderr.str()).count("quorum 2 needs") == 1
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert llm_server.calls(status=None) == []


def test_a_marker_jury_runs_and_the_others_fail_at_setup(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makeini("[pytest]\njury_judges = judge-a\njury_quorum = 2\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jury(judges=["judge-a", "judge-b", "judge-c"])
        def test_marked(jury):
            jury.assert_passes("x", "y")

        def test_default_jury(jury):
            jury.check("x", "y")
        """
    )
    result = run_inprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*pytest-llmonpy: jury_quorum: quorum 2 needs 2 pass votes*"])
    assert len(llm_server.calls()) == 3
