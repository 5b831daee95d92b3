"""End-to-end: a human label that matches a check made by a test decides it, and the report says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"

SUITE = """
import pytest
from pytest_llmonpy import HungJuryError

def test_labelled_pass(jury):
    verdict = jury.check("Refunds within 30 days.", "Mentions the refund window", input="Refunds?")
    assert verdict.passed and verdict.decided_by.endswith("support.jsonl:1")
    assert verdict.outcome_by_jury == "failed"

def test_labelled_fail(jury):
    jury.assert_passes("We ship everywhere.", "Names the countries")

def test_not_labelled(jury):
    jury.assert_passes("We ship to Canada.", "Names the countries")  # no label: the jury decides

def test_hung_but_labelled(jury):
    assert jury.check("HUNG answer", "Is polite").passed

def test_pair_labelled_the_other_way_round(jury):
    comparison = jury.compare("long reply", "short reply", "Is complete")
    assert (comparison.winner, comparison.winner_by_jury) == ("a", "tie")
"""

LABELS = [
    {
        "output": "Refunds within 30 days.",
        "criteria": "Mentions the refund window",
        "input": "Refunds?",
        "label": "pass",
    },
    {"output": "We ship everywhere.", "criteria": "Names the countries", "label": "fail"},
    {"output": "HUNG answer", "criteria": "Is polite", "label": "pass"},
    {"a": "short reply", "b": "long reply", "criteria": "Is complete", "label": "b"},
    # the same output with another input is another case: not labelled
    {"output": "We ship to Canada.", "criteria": "Names the countries", "input": "Where?", "label": "fail"},
]


def write_labels(directory: Path, cases: list[dict[str, str]]) -> Path:
    path = directory / "__llm_labels__" / "support.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")
    return path


def test_a_matching_label_decides_the_check_and_the_summary_lists_disagreements(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.judge("fail", "no window stated", output_contains="Refunds")
    llm_server.judge("fail", "no", model="judge-a", output_contains="HUNG")
    llm_server.judge("pass", model="judge-b", output_contains="HUNG", content="garbage")
    write_labels(pytester.path, LABELS)
    pytester.makepyfile(test_suite=SUITE)
    report = pytester.path / "report.json"
    result = run_inprocess(JUDGES, f"--jury-report={report}")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*jury FAILED: Names the countries",
            "*decided by the human label at *support.jsonl:2 (the jury said passed)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "human labels: 4 checks decided by a label, 4 where the jury disagreed",
            "  *::test_labelled_pass: the jury said failed, the label at *support.jsonl:1 says passed",
            "  *::test_labelled_fail: the jury said passed, the label at *support.jsonl:2 says failed",
            "  *::test_hung_but_labelled: the jury said hung, the label at *:3 says passed",
            "  *::test_pair_labelled_the_other_way_round: the jury said tie, the label at *:4 says a",
        ]
    )
    # The jury is still asked (its disagreement is the point), through the cache as usual.
    assert len(llm_server.calls()) == 4 * 3 + 3 * 2
    data = json.loads(report.read_text(encoding="utf-8"))
    labelled = [v for v in data["verdicts"] if v.get("decided_by")]
    assert {(v["outcome"], v["outcome_by_jury"]) for v in labelled} == {
        ("passed", "failed"),
        ("failed", "passed"),
        ("passed", "hung"),
    }


def test_labels_apply_to_tests_in_their_directory_and_below_only(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    write_labels(pytester.path / "tests" / "other", [LABELS[1]])
    pytester.makepyfile(
        **{
            "tests/test_here.py": "def test_x(jury):\n"
            "    jury.assert_passes('We ship everywhere.', 'Names the countries')\n"
        }
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)  # the label is in a sibling directory
    write_labels(pytester.path, [LABELS[1]])
    run_inprocess(JUDGES).assert_outcomes(failed=1)  # now in a parent directory


def test_the_same_case_labelled_twice_differently_is_a_clear_error(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    write_labels(pytester.path, [LABELS[1], {**LABELS[1], "label": "pass"}])
    pytester.makepyfile("def test_x(jury):\n    jury.check('anything', 'Is fine')\n")
    result = run_inprocess(JUDGES)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*JuryConfigError: a human label file cannot be read: *support.jsonl:2: the same case is "
            "labelled 'fail' at *support.jsonl:1 and 'pass' here; keep one label"
        ]
    )
    assert llm_server.calls() == []
