"""End-to-end: real test files run by pytest in a subprocess, judges called through litellm over HTTP."""

from __future__ import annotations

import pytest

from conftest import FAKE_API_KEY, RunJury
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"


def test_passing_and_failing_assertions(pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury) -> None:
    llm_server.judge("fail", "it says 60 days, the policy says 30", output_contains="60 days")
    pytester.makepyfile(
        """
        def test_good(jury):
            verdict = jury.assert_passes("Refunds are possible within 30 days.",
                                         "Says refunds are only possible within 30 days",
                                         input="Can I get a refund after 40 days?")
            assert verdict.passed and len(verdict.votes) == 3

        def test_bad(jury):
            jury.assert_passes("Refunds are possible within 60 days.", "Says refunds are only possible within 30 days")
        """
    )
    result = run_jury(JUDGES)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: jury FAILED: Says refunds are only possible within 30 days*",
        "*votes: 0 pass, 3 fail, 0 abstain; quorum majority needs 2 of 3*",
        "*judge-a: FAIL - it says 60 days, the policy says 30*",
    ])
    assert len(llm_server.calls()) == 6
    assert {call.model for call in llm_server.calls()} == {"judge-a", "judge-b", "judge-c"}
    assert FAKE_API_KEY not in result.stdout.str() + result.stderr.str()
