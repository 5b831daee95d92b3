"""End-to-end: the GitHub step summary and the JUnit XML properties carry comparisons and baselines,
as the terminal summary does (serially and with `-n 2`, where the controller writes them)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"


@pytest.mark.xdist_merge
def test_comparisons_and_baselines_reach_the_step_summary_and_junit(
    pytester: pytest.Pytester, run_jury: RunJury, llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_server.prefer("good")
    pytester.makepyfile(
        """
        import os

        def test_compare(jury):
            assert jury.compare("a good answer", "a bad answer", "Is more helpful").winner == "a"

        def test_held(llm_baseline):
            llm_baseline.assert_not_worse("the same answer", "Is helpful")

        def test_regressed(llm_baseline):
            llm_baseline.assert_not_worse(os.environ["ANSWER"], "Is helpful")
        """
    )
    monkeypatch.setenv("ANSWER", "a good answer")
    run_jury(JUDGES, "--jury-baseline-update", in_this_process=True).assert_outcomes(passed=3)
    monkeypatch.setenv("ANSWER", "a worse answer")
    summary = pytester.path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run_jury(JUDGES, "--junitxml=junit.xml")
    result.assert_outcomes(passed=2, failed=1)
    text = summary.read_text()
    assert "**Comparisons:** 2 (1 won by a, 1 by b, 0 ties, 0 hung, 0 inconclusive)" in text
    assert (
        "**Baselines:** 2 compared (0 improved, 1 held, 1 regressed), 0 recorded, 0 stale, 0 unused" in text
    )
    assert "| test\\_regressed | baseline in \\_\\_llm\\_baselines\\_\\_/test\\_" in text
    properties = {
        case.get("name"): {prop.get("name"): prop.get("value") for prop in case.iter("property")}
        for case in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    }
    assert properties["test_compare"]["jury_comparisons"] == "a=1 b=0 tie=0 hung=0 inconclusive=0"
    assert properties["test_regressed"]["jury_comparisons"] == "a=0 b=1 tie=0 hung=0 inconclusive=0"
    assert properties["test_regressed"]["jury_baselines"] == (
        "improved=0 held=0 regressed=1 inconclusive=0 recorded=0 stale=0 missing=0"
    )
    assert str(properties["test_compare"]["jury_baselines"]).startswith("improved=0 held=0 regressed=0")
