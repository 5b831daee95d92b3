"""End-to-end: group gates. Tests marked `@pytest.mark.jury(group=..., min_pass_rate=...)` are samples
of one pass rate; a test the jury fails is reported as xfailed and counted against its group, and the
run fails when the group's exact lower bound (95%) is below its min_pass_rate. Under -n 2 the
controller gates on every worker's tests."""

from __future__ import annotations

import json

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer
from pytest_llmonpy.report_schema import JuryReport

JUDGES = "--jury-judges=judge-a,judge-b"

# 40 FAQ answers, `bad` of them judged to fail; a test outside the group; a group test that errors.
SUITE = """
import pytest

BAD = {bad}

@pytest.mark.jury(group="faq", min_pass_rate=0.8)
@pytest.mark.parametrize("n", range(40))
def test_faq(jury, n):
    answer = f"bad answer {{n}}" if n < BAD else f"good answer {{n}}"
    jury.assert_passes(answer, "Answers the question")

def test_outside(jury):
    jury.assert_passes("good answer", "Answers the question")
"""


@pytest.fixture(autouse=True)
def _bad_fails(llm_server: FakeLLMServer) -> None:
    llm_server.judge("fail", "says something bad", output_contains="bad")


def test_a_group_that_reaches_its_rate_passes_with_its_failures_xfailed(
    pytester: pytest.Pytester, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(test_faq=SUITE.format(bad=2))
    result = run_inprocess(JUDGES, "-rx", "--jury-report=jury.json")
    result.assert_outcomes(passed=39, xfailed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*= llm jury summary =*",
            "verdicts: 39 passed, 2 failed, 0 hung in 41 tests",
            "group faq PASSED: 38 of 40 tests passed (95%); at 95% confidence the pass rate is at least "
            "85.1% >= min_pass_rate 80%",
            "  failed: test_faq.py::test_faq[[]0[]]",
            "  failed: test_faq.py::test_faq[[]1[]]",
            "*short test summary info*",
            "XFAIL test_faq.py::test_faq[[]0[]] - counted against jury group 'faq', whose pass rate is gated",
        ]
    )
    report = JuryReport.model_validate_json((pytester.path / "jury.json").read_text())
    (group,) = report.groups
    assert (group.name, group.passed, group.passes, group.samples) == ("faq", True, 38, 40)
    assert group.lower == pytest.approx(0.851, abs=5e-4)
    assert group.failed_tests == ["test_faq.py::test_faq[0]", "test_faq.py::test_faq[1]"]


def test_a_group_below_its_rate_fails_the_run_and_lists_its_failed_tests(
    pytester: pytest.Pytester, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(test_faq=SUITE.format(bad=5))
    result = run_inprocess(JUDGES, "--jury-report=jury.json")
    result.assert_outcomes(passed=36, xfailed=5)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "group faq FAILED: 35 of 40 tests passed (88%); at 95% confidence the pass rate is at least "
            "75.5% < min_pass_rate 80%",
            "  failed: test_faq.py::test_faq[[]0[]]",
        ]
    )
    report = json.loads((pytester.path / "jury.json").read_text())
    assert report["groups"][0]["passed"] is False


def test_group_tests_that_error_skip_or_xfail_on_their_own_are_not_counted(
    pytester: pytest.Pytester, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        test_cases="""
        import pytest

        pytestmark = pytest.mark.jury(group="faq", min_pass_rate=0.5)

        @pytest.mark.parametrize("n", range(5))
        def test_answer(jury, n):
            jury.assert_passes(f"good answer {n}", "Answers the question")

        def test_crashes(jury):
            jury.assert_passes("good answer", "Answers the question")
            raise RuntimeError("the app crashed")

        def test_skipped(jury):
            jury.assert_passes("good answer", "Answers the question")
            pytest.skip("not today")

        @pytest.mark.xfail(reason="known bad", strict=True)
        def test_known_bad(jury):
            jury.assert_passes("bad answer", "Answers the question")
        """
    )
    result = run_inprocess(JUDGES, "-rx")
    result.assert_outcomes(passed=5, failed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "group faq PASSED: 5 of 5 tests passed (100%, 3 not counted); *>= min_pass_rate 50%",
            "  not counted: test_cases.py::test_crashes",
            "  not counted: test_cases.py::test_known_bad",
            "  not counted: test_cases.py::test_skipped",
            "*XFAIL test_cases.py::test_known_bad - known bad",
        ]
    )


def test_a_run_of_part_of_the_suite_does_not_gate_its_groups(
    pytester: pytest.Pytester, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(test_faq=SUITE.format(bad=5))
    result = run_inprocess(JUDGES, "-k", "test_faq and 1", "--jury-report=jury.json")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["group faq NOT GATED (the run selected part of the suite: -k), would have failed: 12 of 13 tests *"]
    )
    assert json.loads((pytester.path / "jury.json").read_text())["groups"][0]["gated"] is False


def test_a_group_without_a_min_pass_rate_is_one_clear_error(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jury(group="faq")
        def test_answer(jury):
            jury.assert_passes("good answer", "Answers the question")

        @pytest.mark.jury(group="faq", min_pass_rate=1)
        def test_impossible(jury):
            pass
        """
    )
    result = run_inprocess(JUDGES)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*pytest-llmonpy: jury_group 'faq' has no jury_min_pass_rate: say what pass rate the group must "
            "reach, e.g. @pytest.mark.jury(group='faq', min_pass_rate=0.9)",
            "*jury_min_pass_rate must be a rate above 0 and below 1, such as 0.9, got 1",
        ]
    )
    assert llm_server.calls() == []


@pytest.mark.xdist_merge
def test_the_controller_gates_on_every_workers_tests(
    pytester: pytest.Pytester, run_jury: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(test_faq=SUITE.format(bad=5))
    result = run_jury(JUDGES, "--jury-report=jury.json", "--junitxml=junit.xml")
    result.assert_outcomes(passed=36, xfailed=5)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["group faq FAILED: 35 of 40 tests passed (88%); *< min_pass_rate 80%"])
    report = JuryReport.model_validate_json((pytester.path / "jury.json").read_text())
    (group,) = report.groups
    assert (group.passes, group.samples) == (35, 40)
    assert group.failed_tests == [f"test_faq.py::test_faq[{n}]" for n in range(5)]
    assert len(llm_server.calls("judge-a")) == 41
