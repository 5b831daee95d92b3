"""End-to-end: shared rate limits and shared 429 pauses across xdist workers, serially and with `-n 2`."""

from __future__ import annotations

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    ordered = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


# One run checks both: each `-n 2` run costs two cold interpreters importing litellm, and the two
# judges' limits do not interact (judge-a is rate-limited, judge-b gets the 429).
@pytest.mark.xdist_merge
def test_a_rate_limit_and_a_429_pause_hold_for_all_workers_together(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury
) -> None:
    llm_server.latency_s = 0.05
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.parametrize("n", range(30))
        def test_answer(jury, n):
            jury.check(f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')} answer {n}", "Is a numbered answer")
        """
    )
    # judge-b's 6th request is refused with Retry-After: 2. Without a shared pause, the other worker
    # keeps sending to judge-b during those 2 seconds (judge-a's limit lets ~16 checks through).
    llm_server.inject(model="judge-b", times=5)  # five ordinary replies first
    llm_server.inject(model="judge-b", status=429, retry_after="2", times=1)
    result = run_jury(
        "--jury-judges=judge-a,judge-b",
        "--jury-rate-limits=judge-a=10/s",
        "--jury-mode=off",
        "--jury-timeout=30",
    )
    result.assert_outcomes(passed=30)

    arrivals = [call.at for call in llm_server.calls("judge-a")]
    assert len(arrivals) == 30
    assert max_in_any_window(arrivals) <= 10
    assert max(arrivals) - min(arrivals) >= 2.5  # 30 requests at 10/s cannot take less than ~3 s

    (limited,) = llm_server.calls("judge-b", status=429)
    during_pause = [
        call.at - limited.at
        for call in llm_server.calls("judge-b")
        if limited.at + 0.3 < call.at < limited.at + 1.9
    ]
    assert during_pause == []
    assert len(llm_server.calls("judge-b")) == 30  # one answer per check, after one retry


def test_a_bad_rate_limit_is_a_usage_error(pytester: pytest.Pytester, run_jury: RunJury) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = run_jury("--jury-rate-limits=judge-a=fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: pytest-llmonpy: jury_rate_limits: invalid rate limit 'judge-a=fast'*"]
    )
