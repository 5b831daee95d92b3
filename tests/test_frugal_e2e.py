"""End-to-end: the frugal strategy and escalation through real pytest runs, serially and with `-n 2`."""

from __future__ import annotations

import json

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer

FIVE = "--jury-judges=judge-a,judge-b,judge-c,judge-d,judge-e"

SUITE = """
import pytest

@pytest.mark.parametrize("n", range(4))
def test_answer(jury, n):
    jury.check(f"answer {n}", "Is a numbered answer")
"""


def test_frugal_asks_three_of_five_agreeing_judges_and_reports_the_saving(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.judge("pass", usage=(100, 10))
    pytester.makepyfile(SUITE)
    result = run_inprocess(FIVE, "--jury-strategy=frugal", "--jury-report=report.json", "-v")
    result.assert_outcomes(passed=4)
    assert len(llm_server.calls()) == 12  # 3 of 5 judges for each of 4 checks
    assert {call.model for call in llm_server.calls()} == {"judge-a", "judge-b", "judge-c"}
    result.stdout.fnmatch_lines(
        [
            "judge calls: 12 live, 0 cached*",
            "saved by the frugal strategy: about * (8 judge calls not needed)",
            "*judge-d: not needed (not asked)",
        ]
    )
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["not_needed_calls"] == 8
    assert [vote["vote"] for vote in report["verdicts"][0]["votes"]] == ["pass"] * 3 + ["not_needed"] * 2


def test_frugal_asks_the_others_only_when_the_first_judges_disagree(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.judge("fail", model="judge-b", output_contains="answer 0")
    pytester.makepyfile(SUITE)
    run_inprocess(FIVE, "--jury-strategy=frugal").assert_outcomes(passed=4)
    per_output = {n: [c.model for c in llm_server.calls() if c.output == f"answer {n}"] for n in range(4)}
    # 2 pass, 1 fail after the first round: one more pass settles the majority, judge-e is not needed.
    assert sorted(per_output[0]) == ["judge-a", "judge-b", "judge-c", "judge-d"]
    assert all(sorted(per_output[n]) == ["judge-a", "judge-b", "judge-c"] for n in (1, 2))
    # After 10 votes, 9 of them passes, the run leans to pass: judge-b, the one that failed, goes last.
    assert sorted(per_output[3]) == ["judge-a", "judge-c", "judge-d"]


def test_escalation_decides_a_split_jury_and_the_report_says_so(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.judge("fail", model="judge-b")
    llm_server.judge("fail", model="strong")
    pytester.makepyfile(
        """
        import pytest

        def test_agreed(jury):
            assert jury.check("fine", "Is fine", ).passed

        @pytest.mark.jury(judges=["judge-a", "judge-b", "judge-c"], escalate_to=["strong"])
        def test_split(jury):
            jury.assert_passes("contested", "Is acceptable")
        """
    )
    result = run_inprocess(
        "--jury-judges=judge-a,judge-c", "--jury-escalation=strong", "--jury-report=report.json"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*the jury was split; escalated to:",
            "*- strong: FAIL - scripted",
            "escalated: 1 split or hung verdict",
        ]
    )
    assert [call.model for call in llm_server.calls("strong")] == ["strong"]  # only for the split check
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    split = next(v for v in report["verdicts"] if v["test_id"].endswith("test_split"))
    assert split["escalated"] == "split"
    assert [vote["model"] for vote in split["escalation"]] == ["strong"]


def test_bad_strategy_and_marker_arguments_are_clear_errors(
    pytester: pytest.Pytester, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jury(strategy="cheap")
        def test_x(jury):
            pass
        """
    )
    result = run_inprocess(FIVE)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.jury: invalid jury strategy 'cheap': use parallel*"])
    bad_flag = run_inprocess(FIVE, "--jury-strategy=fast")
    assert bad_flag.ret == pytest.ExitCode.USAGE_ERROR
    bad_flag.stderr.fnmatch_lines(["ERROR: pytest-llmonpy: jury_strategy: invalid jury strategy 'fast'*"])
