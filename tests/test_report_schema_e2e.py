"""The JSON report's published schema (docs/jury-report.schema.json): the code's own, and a real
report from a run that used every kind of record validates against it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conftest import RunJury
from fake_llm_server import FakeLLMServer
from pytest_llmonpy.report_schema import json_schema_text

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "jury-report.schema.json"


def test_the_published_schema_is_the_one_the_code_writes() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema_text(), (
        "docs/jury-report.schema.json is out of date: regenerate it with\n"
        'python -c "from pytest_llmonpy.report_schema import json_schema_text as t; '
        "open('docs/jury-report.schema.json', 'w').write(t())\""
    )
    Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


@pytest.mark.xdist_merge
def test_a_real_report_validates_against_the_published_schema(
    pytester: pytest.Pytester, run_jury: RunJury, llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_server.judge("fail", "wrong", output_contains="wrong")
    llm_server.judge("fail", "split", model="judge-c", output_contains="split")
    llm_server.judge("fail", "unsure", model="judge-b", seed=1)
    pytester.makepyfile(
        """
        import os
        import pytest

        def test_check(jury):
            jury.assert_passes("right", "Is right")
            assert not jury.check("wrong", "Is right")
            jury.check("split", "Is right")

        def test_score(jury):
            jury.assert_score("right", "Is clear", scale=(0, 10), threshold=5)

        def test_compare(jury):
            jury.compare("one", "two", "Is better")

        def test_baseline(llm_baseline):
            llm_baseline.assert_not_worse(os.environ["ANSWER"], "Is helpful")

        @pytest.mark.jury(group="faq", min_pass_rate=0.5)
        @pytest.mark.parametrize("n", range(3))
        def test_grouped(jury, n):
            jury.assert_passes(f"right {n}", "Is right")
        """
    )
    monkeypatch.setenv("ANSWER", "first")
    run_jury("--jury-judges=judge-a,judge-b,judge-c", "--jury-baseline-update", in_this_process=True)
    monkeypatch.setenv("ANSWER", "second")
    result = run_jury(
        "--jury-judges=judge-a,judge-b,judge-c", "--jury-samples=3", "--jury-max-cost=5",
        "--jury-report=jury.json",
    )  # fmt: skip
    result.assert_outcomes(passed=7)
    report = json.loads((pytester.path / "jury.json").read_text())
    validator = Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    assert list(validator.iter_errors(report)) == []
    # Every kind of record is there, so the schema was checked against each.
    assert report["comparisons"]
    assert report["baselines"]
    assert report["groups"]
    assert report["self_agreement"]
    assert any("score" in verdict for verdict in report["verdicts"])
    assert report["budget"] is not None
    broken = copy.deepcopy(report)
    broken["verdicts"][0]["outcome"] = "maybe"
    assert [error.validator for error in validator.iter_errors(broken)] == ["enum"]
