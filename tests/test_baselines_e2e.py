"""End-to-end: pairwise comparisons and regression baselines, serially and with `-n 2`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"
UPDATE = "--jury-baseline-update"

FLOW = """
import os

def test_summary(llm_baseline):
    llm_baseline.assert_not_worse(os.environ["SUMMARY"], "Covers the main finding", input="the article")
"""


def baseline_entries(pytester: pytest.Pytester, module: str) -> dict[str, dict[str, object]]:
    path = pytester.path / "__llm_baselines__" / f"{module}.json"
    entries: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))["baselines"]
    return entries


def test_compare_asks_every_judge_in_both_orders_and_caches_each_order(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.prefer("v2")
    pytester.makepyfile(
        """
        def test_pair(jury):
            comparison = jury.compare("summary v2", "summary v1", "Covers the main finding", input="article")
            assert comparison.winner == "a", comparison.explain()
            assert [vote.vote for vote in comparison.votes] == ["a", "a", "a"]
            print("CACHED", comparison.cached)
        """
    )
    result = run_inprocess(JUDGES, "-s")
    result.assert_outcomes(passed=1)
    calls = llm_server.pair_calls()
    assert len(calls) == 6
    for judge in ("judge-a", "judge-b", "judge-c"):
        shown = sorted(call.pair for call in llm_server.pair_calls(judge) if call.pair)
        assert shown == [("summary v1", "summary v2"), ("summary v2", "summary v1")]
    assert all("<input>\narticle\n</input>" in call.body["messages"][1]["content"] for call in calls)
    result.stdout.fnmatch_lines(
        ["comparisons: 1 (1 won by a, 0 by b, 0 ties, 0 hung)", "judge calls: 6 live, 0 cached*"]
    )

    rerun = run_inprocess(JUDGES, "-s")
    rerun.assert_outcomes(passed=1)
    assert len(llm_server.pair_calls()) == 6  # nothing new: both orders came from the cache
    rerun.stdout.fnmatch_lines(["judge calls: 0 live, 6 cached (100% from cache)"])
    assert "CACHED True" in rerun.stdout.str()

    # Replay never calls a judge: a pair never recorded is a clear error naming both outputs.
    pytester.makepyfile(
        """
        def test_pair(jury):
            jury.compare("summary v3", "summary v1", "Covers the main finding", input="article")
        """
    )
    replay = run_inprocess(JUDGES, "--jury-mode=replay")
    replay.assert_outcomes(failed=1)
    replay.stdout.fnmatch_lines(
        [
            "*ReplayMissError: no recorded verdict in * for judges 'judge-a', 'judge-b', 'judge-c'*",
            "*comparing: summary v3 | with: summary v1",
        ]
    )
    assert len(llm_server.pair_calls()) == 6


def test_a_judge_that_always_picks_the_first_position_votes_inconsistent(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.prefer("v2")
    llm_server.pick_position("1", model="judge-a")
    pytester.makepyfile(
        """
        import pytest

        def test_alone(jury):
            comparison = jury.compare("summary v2", "summary v1", "Covers the main finding")
            votes = {vote.model: vote.vote for vote in comparison.votes}
            assert votes == {"judge-a": "inconsistent", "judge-b": "a", "judge-c": "a"}, comparison.explain()
            assert comparison.winner == "a" and not comparison.inconclusive  # 2 of 3 by majority
            biased = comparison.votes[0]
            assert [call.vote for call in biased.calls] == ["first", "first"]

        @pytest.mark.jury(judges=["judge-a"])
        def test_biased_judge_alone(jury):
            comparison = jury.compare("summary v2", "summary v1", "Covers the main finding")
            assert comparison.winner == "tie" and comparison.inconclusive
        """
    )
    result = run_inprocess(JUDGES)
    result.assert_outcomes(passed=2)


def test_record_compare_regress_accept_and_remove_unused(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_inprocess: RunJury,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytester.makepyfile(test_flow=FLOW)
    monkeypatch.setenv("SUMMARY", "summary v1\nsecond line")

    missing = run_inprocess(JUDGES)
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(
        [
            "*AssertionError: no baseline 'test_summary' in *test_flow.json: record it with "
            "--jury-baseline-update*",
            "baselines: 0 compared (0 improved, 0 held, 0 regressed), 0 recorded, 0 stale, 1 missing, "
            "0 unused",
        ]
    )
    assert not (pytester.path / "__llm_baselines__").exists()

    recorded = run_inprocess(JUDGES, UPDATE)
    recorded.assert_outcomes(passed=1)
    recorded.stdout.fnmatch_lines(["baselines: 0 compared (*), 1 recorded, 0 stale, 0 removed as unused"])
    assert baseline_entries(pytester, "test_flow") == {
        "test_summary": {
            "criteria": "Covers the main finding",
            "input": "the article",
            "output": ["summary v1", "second line"],
        }
    }
    assert llm_server.calls() == []  # recording asks no judge

    held = run_inprocess(JUDGES)
    held.assert_outcomes(passed=1)
    held.stdout.fnmatch_lines(["baselines: 1 compared (0 improved, 1 held, 0 regressed)*"])
    assert llm_server.calls() == []  # the same text cannot be worse

    llm_server.prefer("v1")  # the judges prefer the accepted output
    monkeypatch.setenv("SUMMARY", "summary v0")
    regressed = run_inprocess(JUDGES)
    regressed.assert_outcomes(failed=1)
    regressed.stdout.fnmatch_lines(
        [
            "*BaselineRegressionError: regression: the jury prefers the accepted baseline 'test_summary'*",
            "*judge-a: B (a shown first: b - scripted comparison; b shown first: b - scripted comparison)*",
            "*accept it with --jury-baseline-update*",
            "baselines: 1 compared (0 improved, 0 held, 1 regressed)*",
        ]
    )
    assert len(llm_server.pair_calls()) == 6

    llm_server.prefer("v2")
    monkeypatch.setenv("SUMMARY", "summary v2")
    improved = run_inprocess(JUDGES)
    improved.assert_outcomes(passed=1)
    improved.stdout.fnmatch_lines(["baselines: 1 compared (1 improved, 0 held, 0 regressed)*"])
    assert baseline_entries(pytester, "test_flow")["test_summary"]["output"] == ["summary v1", "second line"]

    # A second, named baseline; then the test stops using it.
    pytester.makepyfile(
        test_flow=FLOW
        + """
def test_two(llm_baseline):
    llm_baseline.assert_not_worse("short", "Is short", name="short")
    llm_baseline.assert_not_worse("long text", "Is long", name="long")

def test_gone(llm_baseline):
    llm_baseline.assert_not_worse("bye", "Says bye")
"""
    )
    run_inprocess(JUDGES, UPDATE).assert_outcomes(passed=3)
    assert sorted(baseline_entries(pytester, "test_flow")) == [
        "test_gone",
        "test_summary",
        "test_two#long",
        "test_two#short",
    ]
    assert baseline_entries(pytester, "test_flow")["test_summary"]["output"] == ["summary v2"]
    pytester.makepyfile(
        test_flow=FLOW
        + """
def test_two(llm_baseline):
    llm_baseline.assert_not_worse("short", "Is short", name="short")
"""
    )
    unused = run_inprocess(JUDGES, "-v")
    unused.assert_outcomes(passed=2)
    unused.stdout.fnmatch_lines(
        [
            "baselines: 2 compared (0 improved, 2 held, 0 regressed), 0 recorded, 0 stale, 2 unused",
            "*UNUSED     test_gone  (*test_flow.json)",
            "*UNUSED     test_two#long  (*test_flow.json)",
            "next: 2 baselines no test uses; remove them with --jury-baseline-update*",
        ]
    )
    # A deselected test may still use its baselines: -k keeps both of test_two's; test_gone is gone.
    selected = run_inprocess(JUDGES, UPDATE, "-k", "test_summary")
    # xdist deselects on the workers, so its summary has no "deselected" count.
    selected.assert_outcomes(passed=1, deselected=1)
    assert sorted(baseline_entries(pytester, "test_flow")) == [
        "test_summary",
        "test_two#long",
        "test_two#short",
    ]
    # Selecting one test by node id says nothing about the others: nothing is removed.
    run_inprocess(JUDGES, UPDATE, "test_flow.py::test_summary").assert_outcomes(passed=1)
    assert sorted(baseline_entries(pytester, "test_flow")) == [
        "test_summary",
        "test_two#long",
        "test_two#short",
    ]
    run_inprocess(JUDGES, UPDATE).assert_outcomes(passed=2)
    assert sorted(baseline_entries(pytester, "test_flow")) == ["test_summary", "test_two#short"]
    # A test that no longer asks for llm_baseline at all leaves its baselines unused.
    pytester.makepyfile(test_flow=FLOW + "\ndef test_two():\n    pass\n")
    run_inprocess(JUDGES, UPDATE).assert_outcomes(passed=2)
    assert sorted(baseline_entries(pytester, "test_flow")) == ["test_summary"]


def test_stale_and_malformed_baselines_are_clear_errors_and_nothing_is_overwritten(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        test_stale="""
        def test_answer(llm_baseline):
            llm_baseline.assert_not_worse("an answer", "Is polite and short")
        """
    )
    folder = pytester.path / "__llm_baselines__"
    folder.mkdir()
    stale = folder / "test_stale.json"
    stale.write_text(
        json.dumps(
            {"version": 1, "baselines": {"test_answer": {"criteria": "Is polite", "output": ["old"]}}}
        ),
        encoding="utf-8",
    )
    result = run_inprocess(JUDGES)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: baseline 'test_answer' in *test_stale.json is stale: the test's criteria "
            "changed since it was recorded, so comparing would be meaningless. Re-record it with "
            "--jury-baseline-update.",
            "*  baseline criteria: Is polite",
            "*  test criteria: Is polite and short",
            "*baselines: 0 compared (*), 0 recorded, 1 stale, 0 unused",
        ]
    )
    assert llm_server.calls() == []

    broken = '{"version": 1,\n  "baselines": {\n    "test_answer": {"criteria": "x",}\n  }\n}\n'
    stale.write_text(broken, encoding="utf-8")
    result = run_inprocess(JUDGES)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*BaselineError: the baseline file *test_stale.json is not valid JSON (line 3, column 37: "
            "Expecting property name enclosed in double quotes). Fix it, or delete it and record the "
            "baselines again with --jury-baseline-update; nothing was overwritten.",
        ]
    )
    assert stale.read_text(encoding="utf-8") == broken
    # Recording cannot merge into a file it cannot read: the run fails and the file stays as it is.
    result = run_inprocess(JUDGES, UPDATE)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["pytest-llmonpy: baselines not written to *test_stale.json: the baseline file*"]
    )
    assert stale.read_text(encoding="utf-8") == broken


def test_a_baseline_file_that_is_not_utf8_is_a_clear_error_and_the_run_still_reports(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        test_bytes="""
        def test_answer(llm_baseline):
            llm_baseline.assert_not_worse("an answer", "Is polite")

        def test_other(jury):
            jury.assert_passes("fine", "Is fine")
        """
    )
    folder = pytester.path / "__llm_baselines__"
    folder.mkdir()
    broken = (
        b'{"version": 1, "baselines": {"test_answer": {"criteria": "Is polite", "output": ["\xff\xfe"]}}}'
    )
    (folder / "test_bytes.json").write_bytes(broken)
    for args in ((), (UPDATE,)):
        result = run_inprocess(JUDGES, "--jury-report=report.json", *args)
        output = result.stdout.str()
        assert "UnicodeDecodeError" not in output + result.stderr.str()
        if args:  # recording cannot merge into the file: the run fails, the file is left as it is
            result.assert_outcomes(passed=2)
            assert result.ret == pytest.ExitCode.TESTS_FAILED
            result.stdout.fnmatch_lines(["pytest-llmonpy: baselines not written to *test_bytes.json*UTF-8*"])
        else:
            result.assert_outcomes(passed=1, failed=1)
            result.stdout.fnmatch_lines(
                ["*BaselineError: the baseline file *test_bytes.json is not valid UTF-8 (byte *"]
            )
        result.stdout.fnmatch_lines(["*llm jury summary*"])
        assert json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))["verdicts"]
        assert (folder / "test_bytes.json").read_bytes() == broken


@pytest.mark.measure_subprocesses
@pytest.mark.xdist_merge
def test_workers_recording_one_module_at_once_merge_their_baselines(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury
) -> None:
    pytester.makepyfile(
        test_many="""
        import pytest

        @pytest.mark.parametrize("n", range(8))
        def test_case(llm_baseline, n):
            llm_baseline.assert_not_worse(f"answer {n}", "Is a numbered answer")
        """
    )
    folder = pytester.path / "__llm_baselines__"
    folder.mkdir()
    # An entry recorded earlier by another run must survive the merge.
    (folder / "test_many.json").write_text(
        json.dumps(
            {
                "version": 1,
                "baselines": {"test_case[0]": {"criteria": "Is a numbered answer", "output": ["x"]}},
            }
        ),
        encoding="utf-8",
    )
    run_jury(JUDGES, UPDATE).assert_outcomes(passed=8)
    entries = baseline_entries(pytester, "test_many")
    assert sorted(entries) == sorted(f"test_case[{n}]" for n in range(8))
    assert entries["test_case[5]"]["output"] == ["answer 5"]
    text = (folder / "test_many.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_the_json_report_lists_each_comparison_with_its_votes(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_inprocess: RunJury,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytester.makepyfile(test_flow=FLOW)
    monkeypatch.setenv("SUMMARY", "summary v1")
    run_inprocess(JUDGES, UPDATE).assert_outcomes(passed=1)
    llm_server.prefer("v2")
    monkeypatch.setenv("SUMMARY", "summary v2")
    run_inprocess(JUDGES, "--jury-report=report.json").assert_outcomes(passed=1)
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["live_calls"] == 6
    [comparison] = report["comparisons"]
    assert comparison["winner"] == "a"
    assert [vote["vote"] for vote in comparison["votes"]] == ["a", "a", "a"]
    assert [call["vote"] for call in comparison["votes"][0]["calls"]] == ["first", "second"]
    [baseline] = report["baselines"]
    assert baseline["status"] == "improved"
    assert baseline["key"] == "test_summary"
    assert Path(baseline["file"]).name == "test_flow.json"
    assert baseline["comparison"]["winner"] == "a"
