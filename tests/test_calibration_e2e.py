"""End-to-end: `pytest --jury-calibrate` and `llmonpy calibrate` against scripted judges whose agreement
with the labels is known, so kappa, the confusion matrices and the warnings have exact expected values."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer
from pytest_llmonpy import cli

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"


def write_labels(root: Path, name: str, cases: Sequence[Mapping[str, object]]) -> Path:
    path = root / "__llm_labels__" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")
    return path


POINT_CASES = [
    *({"output": f"GOOD answer {n}", "criteria": "Is a good answer", "label": "pass"} for n in range(1, 6)),
    *({"output": f"BAD answer {n}", "criteria": "Is a good answer", "label": "fail"} for n in range(1, 6)),
    {"output": "GOOD but nobody looked yet", "criteria": "Is a good answer", "label": ""},
]


def script_pointwise(server: FakeLLMServer) -> None:
    """judge-a agrees with every label; judge-b passes everything; judge-c gets three of ten wrong.

    judge-c: pass/pass 4, pass/fail 1 (GOOD 5), fail/fail 3, fail/pass 2 (BAD 4 and 5): p_o = 0.7,
    p_e = (5*6 + 5*4)/100 = 0.5, kappa 0.4. The jury (majority of 3): pass/pass 5, fail/fail 3,
    fail/pass 2 (BAD 4, 5: judges b and c pass): p_o = 0.8, p_e = (5*7 + 5*3)/100 = 0.5, kappa 0.6.
    """
    server.judge("fail", "bad", model="judge-a", output_contains="BAD")
    server.judge("fail", "bad", model="judge-c", output_contains="BAD")
    for n in (4, 5):
        server.judge("pass", "fine", model="judge-c", output_contains=f"BAD answer {n}")
    server.judge("fail", "unsure", model="judge-c", output_contains="GOOD answer 5")


def test_calibrate_measures_each_judge_and_the_jury_against_the_labels(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury
) -> None:
    write_labels(pytester.path, "support.jsonl", POINT_CASES)
    pytester.makepyfile(
        test_never_run="def test_x():\n    raise AssertionError('calibration runs no test')\n"
    )
    script_pointwise(llm_server)
    report = pytester.path / "calibration.json"
    result = run_jury(JUDGES, "--jury-calibrate", f"--jury-calibration-report={report}")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*= llm jury calibration =*",
            "jury: judges judge-a, judge-b, judge-c; quorum majority; strategy parallel",
            "labelled cases: 10 pointwise, 0 pairs (1 not labelled yet, skipped)",
            "pointwise (pass/fail):",
            "  rater*agree  kappa*false pass  false fail  no answer  cost per verdict",
            "  judge-a  *100%  1.00 [[]1.00, 1.00[]]  *0%  *0%  *0  unpriced",
            "  judge-b  * 50%  0.00*100%  *0%  *0  unpriced",
            "  judge-c  * 70%  0.40 [[]*[]]  * 40%  * 20%  *0  unpriced",
            "  jury     * 80%  0.60 [[]*[]]  * 40%  *  0%  *0  unpriced",
            "  jury's answers (columns) by human label (rows):",
            "*pass     fail  abstain",
            "    pass  *5        0        0",
            "    fail  *2        3        0",
            "warning: pointwise: the jury (kappa 0.60) trails its best member judge-a (kappa 1.00)*",
        ]
    )
    # 10 labelled cases, 3 judges asked alone; the jury's own questions came from the cache.
    assert len(llm_server.calls()) == 30
    assert "calibration runs no test" not in result.stdout.str()
    result.stdout.fnmatch_lines(["judge calls: 30 live, 30 cached*"])

    data = json.loads(report.read_text(encoding="utf-8"))
    raters = {rater["name"]: rater for rater in data["raters"]}
    assert raters["judge-c"]["pointwise"]["kappa"] == pytest.approx(0.4)
    assert raters["jury"]["pointwise"]["kappa"] == pytest.approx(0.6)
    assert raters["jury"]["pointwise"]["false_pass_rate"] == pytest.approx(0.4)
    low, high = raters["judge-c"]["pointwise"]["kappa_interval_95"]
    assert -1.0 <= low < 0.4 < high <= 1.0
    assert {"human": "fail", "rater": "pass", "count": 2} in raters["jury"]["pointwise"]["confusion"]
    assert data["unlabelled"] == 1

    # A re-run asks nobody and says the same.
    rerun = run_jury(JUDGES, "--jury-calibrate", "--jury-min-kappa=0.6")
    assert rerun.ret == pytest.ExitCode.OK
    assert len(llm_server.calls()) == 30
    rerun.stdout.fnmatch_lines(["  jury     * 80%  0.60 [[]*", "judge calls: 0 live, 60 cached*"])


def test_min_kappa_fails_the_run_when_the_jury_agrees_too_little(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    write_labels(pytester.path, "support.jsonl", POINT_CASES)
    script_pointwise(llm_server)
    result = run_inprocess(JUDGES, "--jury-calibrate", "--jury-min-kappa=0.7")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["pytest-llmonpy: pointwise: the jury's kappa 0.60 is below 0.7*"])
    # The kappa of a jury of its best judge alone is what the warning points at.
    best = run_inprocess("--jury-judges=judge-a", "--jury-calibrate", "--jury-min-kappa=0.7")
    assert best.ret == pytest.ExitCode.OK
    assert "warning:" not in best.stdout.str()


def test_pairs_show_position_habits_and_decisions(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    # judge-a prefers the output with BEST in it, in both orders; judge-b always picks the first shown.
    llm_server.prefer("BEST", model="judge-a")
    llm_server.pick_position("1", model="judge-b")
    write_labels(
        pytester.path,
        "pairs.jsonl",
        [
            {"a": "BEST reply 1", "b": "plain reply 1", "criteria": "Is more helpful", "label": "a"},
            {"a": "plain reply 2", "b": "BEST reply 2", "criteria": "Is more helpful", "label": "b"},
            {"a": "BEST reply 3", "b": "plain reply 3", "criteria": "Is more helpful", "label": "a"},
            {"a": "plain reply 4", "b": "other reply 4", "criteria": "Is more helpful", "label": "tie"},
        ],
    )
    result = run_inprocess("--jury-judges=judge-a,judge-b", "--jury-quorum=1", "--jury-calibrate")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "labelled cases: 0 pointwise, 4 pairs",
            "pairs (a/b/tie):",
            "  rater*agree  kappa*decided  right when decided  consistent  first picked  no answer",
            # judge-a: decides the three BEST pairs rightly and has no preference (a tie) on the 4th
            "  judge-a  *100%  1.00*75%  *100%  *100%  *50%  *0",
            # judge-b: the same position in both orders is no decision: every pair a tie
            "  judge-b  * 25%  0.00*0%  *-  *0%  *100%  *0",
        ]
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"output": "x", "criteria": "y", "label": "ok"}', '"label" must be pass or fail'),
        ('{"output": "x"}', '"criteria" is missing'),
    ],
)
def test_a_bad_label_file_is_a_usage_error_naming_file_and_line(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury, line: str, message: str
) -> None:
    path = pytester.path / "__llm_labels__" / "bad.jsonl"
    path.parent.mkdir()
    path.write_text('{"output": "fine", "criteria": "ok", "label": "pass"}\n' + line + "\n")
    result = run_inprocess(JUDGES, "--jury-calibrate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-llmonpy: *bad.jsonl:2: *{message}*"])
    assert llm_server.calls() == []


def test_no_label_files_is_a_usage_error_saying_where_they_go(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    result = run_inprocess(JUDGES, "--jury-calibrate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: pytest-llmonpy: --jury-calibrate: no label files under *__llm_labels__*"]
    )


def test_llmonpy_calibrate_is_the_same_measurement_from_the_command_line(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    judge_env: None,
    litellm_in_this_process: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_labels(pytester.path / "tests", "support.jsonl", POINT_CASES)
    script_pointwise(llm_server)
    out = pytester.path / "out.json"
    monkeypatch.chdir(pytester.path)
    # `llmonpy calibrate` in this process (its pytest run judges through litellm, imported once here).
    code = cli.main(
        [
            "calibrate",
            "tests",
            "--judges=judge-a,judge-b,judge-c",
            "--quorum=unanimous",
            f"--json={out}",
            "--min-kappa=0.9",
            f"--jury-api-base={llm_server.url}",
            "-p",
            "no:randomly",
            "-p",
            "no:asyncio",
        ]
    )
    result = pytest.RunResult(code, capsys.readouterr().out.splitlines(), [], 0.0)
    # unanimous: the jury fails a case unless all three pass it; judge-b passes everything, so the
    # jury passes GOOD 1-4 and fails the rest: pass/pass 4, pass/fail 1, fail/fail 5 -> kappa 0.8.
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "jury: judges judge-a, judge-b, judge-c; quorum unanimous; strategy parallel",
            "  jury     * 90%  0.80 [[]*",
            "pytest-llmonpy: pointwise: the jury's kappa 0.80 is below 0.9*",
        ]
    )
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [rater["name"] for rater in data["raters"]] == ["judge-a", "judge-b", "judge-c", "jury"]


@pytest.mark.parametrize("value", ["high", "1.5", "-2", "nan"])
def test_a_bad_min_kappa_is_a_usage_error(
    pytester: pytest.Pytester, run_inprocess: RunJury, value: str
) -> None:
    result = run_inprocess(JUDGES, "--jury-calibrate", f"--jury-min-kappa={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    expected = f"jury_min_kappa must be a kappa between -1 and 1, such as 0.6, got '{value}'"
    result.stderr.fnmatch_lines([f"ERROR: pytest-llmonpy: {expected}"])


def test_calibration_runs_in_the_controller_under_xdist_with_the_cost_in_the_summary(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    write_labels(pytester.path / "tests", "support.jsonl", POINT_CASES)
    script_pointwise(llm_server)
    result = run_inprocess(JUDGES, "--jury-calibrate", "-n", "2", "tests")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert "created: 2/2 workers" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["  jury     * 80%  0.60 [[]*", "*= llm jury summary =*", "judge calls: 30 live, 30 cached*"]
    )
