"""End-to-end: --jury-export writes every verdict and comparison of the run as JSON Lines, the same
serially and under `-n 2` (the controller writes the file once, from what every worker reported)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import FAKE_API_KEY, RunJury
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"
LONG = "A long answer. " * 40  # longer than the 300 characters a verdict keeps as its preview

SUITE = f"""
import os
import pytest
from pytest_llmonpy import HungJuryError

LONG = {LONG!r}

def test_agreed(jury):
    jury.assert_passes(LONG, "Answers at length", input="Tell me everything", reference="Everything")

def test_split(jury):
    # An app that leaks its key into an answer: the export must not spread it further.
    jury.check("SPLIT answer " + os.environ["OPENAI_API_KEY"], "Is a good answer", context="support chat")

def test_hung(jury):
    with pytest.raises(HungJuryError):
        jury.check("HUNG answer", "Is a good answer")

def test_pairs(jury):
    won = jury.compare("BEST reply", "plain reply", "Is more helpful", input="Where is my order?")
    assert won.winner == "a"
    assert jury.compare("plain one", "plain two", "Is more helpful").winner == "tie"
"""


def read_export(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return sorted(
        (json.loads(line) for line in lines), key=lambda r: (r["kind"], r["test_id"], r["criteria"])
    )


@pytest.mark.xdist_merge
def test_every_verdict_and_comparison_is_exported_with_votes_and_texts(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury
) -> None:
    llm_server.judge("fail", "not convinced", model="judge-c", output_contains="SPLIT")
    # HUNG: one pass, one fail, one unreadable answer (an abstention): majority needs 2 of 3.
    llm_server.judge("fail", "no", model="judge-a", output_contains="HUNG")
    llm_server.judge("pass", model="judge-b", output_contains="HUNG", content="not json at all")
    llm_server.prefer("BEST")
    pytester.makepyfile(test_suite=SUITE)
    export = pytester.path / "out" / "verdicts.jsonl"
    report = pytester.path / "report.json"
    result = run_jury(JUDGES, f"--jury-export={export}", f"--jury-report={report}", "--jury-mode=off")
    result.assert_outcomes(passed=4)

    records = read_export(export)
    assert [(r["kind"], r["test_id"].split("::")[-1]) for r in records] == [
        ("comparison", "test_pairs"),
        ("comparison", "test_pairs"),
        ("verdict", "test_agreed"),
        ("verdict", "test_hung"),
        ("verdict", "test_split"),
    ]
    won, tie, agreed, hung, split = records  # the comparisons in the order the test made them
    assert agreed["output"] == LONG  # in full, not the preview
    assert (agreed["input"], agreed["reference"], agreed["context"]) == (
        "Tell me everything",
        "Everything",
        None,
    )
    assert (agreed["outcome"], agreed["split"]) == ("passed", False)
    assert [(v["model"], v["vote"]) for v in agreed["votes"]] == [
        ("judge-a", "pass"),
        ("judge-b", "pass"),
        ("judge-c", "pass"),
    ]
    assert all(v["tokens_in"] > 0 and v["reason"] for v in agreed["votes"])
    assert (split["outcome"], split["split"], split["context"]) == ("passed", True, "support chat")
    assert split["votes"][2]["reason"] == "not convinced"
    assert split["output"] == "SPLIT answer ***"
    assert (hung["outcome"], hung["split"]) == ("hung", True)
    assert hung["votes"][1]["vote"] == "abstain"
    assert "unparseable" in hung["votes"][1]["error"]
    assert won["winner"] == "a"
    assert (won["prompt"], won["chosen"], won["rejected"]) == (
        "Where is my order?",
        "BEST reply",
        "plain reply",
    )
    assert (won["votes_for_a"], won["votes_for_b"], won["ties"]) == (3, 0, 0)
    assert [len(vote["calls"]) for vote in won["votes"]] == [2, 2, 2]
    assert (tie["winner"], tie["chosen"], tie["rejected"], tie["prompt"]) == (
        "tie",
        None,
        None,
        "Is more helpful",
    )
    assert FAKE_API_KEY not in export.read_text(encoding="utf-8")
    # The JSON report is unchanged by the export: no texts in it.
    assert LONG not in report.read_text(encoding="utf-8")


def test_a_run_without_a_jury_writes_an_empty_export(
    pytester: pytest.Pytester, run_inprocess: RunJury
) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    export = pytester.path / "verdicts.jsonl"
    run_inprocess(f"--jury-export={export}").assert_outcomes(passed=1)
    assert export.read_text(encoding="utf-8") == ""


def test_an_export_path_that_is_a_directory_is_a_usage_error(
    pytester: pytest.Pytester, run_inprocess: RunJury
) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    (pytester.path / "out").mkdir()
    result = run_inprocess(f"--jury-export={pytester.path / 'out'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: pytest-llmonpy: jury_export: * is a directory; give a file path such as jury-verdicts.jsonl"]
    )


def test_split_and_hung_cases_are_written_as_cases_to_label(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.judge("fail", "not convinced", model="judge-c", output_contains="SPLIT")
    llm_server.judge("fail", "no", model="judge-a", output_contains="HUNG")
    llm_server.judge("pass", model="judge-b", output_contains="HUNG", content="not json at all")
    llm_server.prefer("BEST")
    pytester.makepyfile(
        test_suite=SUITE,
        test_again="import os\n\ndef test_same(jury):\n    jury.check('SPLIT answer ' + "
        "os.environ['OPENAI_API_KEY'], 'Is a good answer', context='support chat')\n",
    )
    labels = pytester.path / "__llm_labels__" / "to_label.jsonl"
    result = run_inprocess(JUDGES, f"--jury-label-disagreements={labels}", "--jury-mode=off")
    result.assert_outcomes(passed=5)

    cases = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    # SPLIT once (two tests checked it), HUNG; not the comparisons, where every judge agreed.
    assert sorted(case["output"] for case in cases) == ["HUNG answer", "SPLIT answer ***"]
    cases.sort(key=lambda case: case["output"], reverse=True)
    assert {case["label"] for case in cases} == {""}
    assert cases[0]["context"] == "support chat"
    assert cases[1]["note"].startswith("jury hung, judge-a fail, judge-b abstain, judge-c pass in ")
    # The file is a label file: once labelled, calibration reads it.
    from pytest_llmonpy.labels import read_label_file

    assert [case.label for case in read_label_file(labels)] == [""] * len(cases)
