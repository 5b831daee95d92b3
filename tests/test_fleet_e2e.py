"""End-to-end: a CI fleet shares one Redis (`jury_cache_url`). Three separate pytest runs, each in its
own rootdir with its own local cache and each with `-n 2`, judge through litellm's real HTTP path to the
loopback server, with a real redis-server on loopback.

What the fleet must get: a verdict one runner paid for is free for the others; one rate limit holds for
all six workers together; one budget (`--jury-budget-key`) stops all three; a Redis killed mid-run
loses no recorded verdict and fails no test wrongly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import FAKE_API_KEY
from fake_llm_server import FakeLLMServer
from pytest_llmonpy.cache import VerdictCache
from redis_server import RedisServer
from test_ratelimit_e2e import max_in_any_window

MINI = "openai/gpt-4o-mini"
SUITE = """
import pytest

@pytest.mark.parametrize("n", range({common}))
def test_common(jury, n):
    jury.assert_passes(f"common answer {{n}}", "Is a numbered answer")

@pytest.mark.parametrize("n", range({own}))
def test_own(jury, n):
    jury.assert_passes(f"{{__import__('os').path.basename(__import__('os').getcwd())}} answer {{n}}",
                       "Is a numbered answer")
"""


def _runner(base: Path, name: str, *, common: int, own: int, redis_url: str) -> Path:
    root = base / name
    root.mkdir()
    # Each runner is its own checkout: its own rootdir, and so its own local .llmonpy cache.
    (root / "pytest.ini").write_text(
        f"[pytest]\njury_cache_url = {redis_url}\njury_cache_namespace = fleet\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    (root / "test_suite.py").write_text(SUITE.format(common=common, own=own))
    return root


def _start(root: Path, server: FakeLLMServer, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-n", "2"]
    command += [f"--jury-api-base={server.url}", "-rA", "-W", "default", *args]
    # Each runner is its own machine: its own rate-limit store, which Redis must make unnecessary.
    environment = {**os.environ, "LLMONPY_RATELIMIT_DIR": str(root / "local-ratelimits")}
    return subprocess.Popen(
        command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = process.communicate(timeout=600)
    return process.returncode, out


def _counts(out: str) -> dict[str, int]:
    """The outcomes on pytest's last line, e.g. {"passed": 23, "failed": 1}."""
    last = out.strip().splitlines()[-1]
    return {word: int(number) for number, word in re.findall(r"(\d+) (passed|failed|error)", last)}


def _fleet(roots: list[Path], server: FakeLLMServer, *args: str) -> list[tuple[int, str]]:
    """The runners at once, as a CI matrix runs them."""
    processes = [_start(root, server, *args) for root in roots]
    return [_finish(process) for process in processes]


def test_a_fleet_shares_verdicts_and_one_rate_limit_through_redis(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None, redis_server: RedisServer
) -> None:
    roots = [
        _runner(pytester.path, f"runner{n}", common=8, own=6, redis_url=redis_server.url) for n in (1, 2, 3)
    ]
    judges = "--jury-judges=judge-a"

    # The first runner records the common verdicts (and its own).
    code, out = _finish(_start(roots[0], llm_server, judges))
    assert code == 0, out
    assert len(llm_server.calls()) == 14

    # Then all three at once, six workers, under one limit of 5 requests per second.
    llm_server.reset()
    llm_server.latency_s = 0.02
    extra = [judges, "--jury-rate-limits=judge-a=5/s", "--jury-timeout=60", "-k", "own or common"]
    for root in roots[1:]:
        (root / "test_suite.py").write_text(SUITE.format(common=8, own=10))
    (roots[0] / "test_suite.py").write_text(SUITE.format(common=8, own=10))
    results = _fleet(roots, llm_server, *extra)
    for code, out in results:
        assert (code, _counts(out)) == (0, {"passed": 18}), out

    asked = Counter(call.output for call in llm_server.calls("judge-a"))
    # Runners 2 and 3 paid nothing for the common verdicts runner 1 recorded, nor for runner 1's own.
    assert not [text for text in asked if text.startswith("common")]
    assert not [text for text in asked if text.startswith("runner1 answer") and int(text.split()[-1]) < 6]
    # Every new verdict was asked exactly once: runner 2's and 3's ten each, runner 1's four new ones.
    assert sorted(asked.values()) == [1] * 24
    arrivals = [call.at for call in llm_server.calls("judge-a")]
    assert max_in_any_window(arrivals) <= 5  # the fleet's six workers together
    # The schedule was Redis's: no runner's own rate-limit store was ever opened.
    assert redis_server.client().exists("llmonpy:fleet:ratelimit:judge-a @ " + llm_server.url) == 1
    assert not [root for root in roots if (root / "local-ratelimits").exists()]

    # Each runner's local cache holds every verdict its run used: those it asked for, and copies of
    # those Redis answered. The namespace's keys are JSON text under llmonpy:fleet:.
    for root in roots:
        assert len(VerdictCache(root / ".llmonpy").entries()) == 18
    client = redis_server.client()
    keys = [str(key) for key in client.keys("*")]
    assert keys
    assert all(key.startswith("llmonpy:fleet:") for key in keys)
    verdicts = [key for key in keys if key.startswith("llmonpy:fleet:verdict:v2:")]
    assert len(verdicts) == 8 + 3 * 10
    assert str(client.get(verdicts[0])).startswith('{"attempts": 1')
    assert FAKE_API_KEY not in "".join(str(client.get(key)) for key in keys)


def test_one_budget_key_stops_the_whole_fleet(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None, redis_server: RedisServer
) -> None:
    llm_server.judge("pass", "fine", usage=(1000, 100))  # $0.00021 a call for gpt-4o-mini
    roots = [
        _runner(pytester.path, f"runner{n}", common=0, own=20, redis_url=redis_server.url) for n in (1, 2, 3)
    ]
    budget = ["--jury-max-cost=0.002", "--jury-budget-key=pipeline-41"]
    results = _fleet(roots, llm_server, f"--jury-judges={MINI}", *budget)

    calls = len(llm_server.calls())
    # $0.002 buys 10 calls; each of the six workers may have had one call in flight when it ran out.
    assert 10 <= calls <= 10 + 6
    for code, out in results:
        assert code == pytest.ExitCode.TESTS_FAILED, out
        assert "BudgetExceededError" in out
        assert re.search(r"budget: \$0\.00\d+ of \$0\.002000 spent \(\d+%\), EXHAUSTED", out), out
    spent = int(str(redis_server.client().get("llmonpy:fleet:budget:pipeline-41")))
    assert spent == calls * 210_000  # nano-dollars: every call of every runner was charged once

    # The same key stays spent for a later run (a retried job), cached verdicts aside; another
    # pipeline's key has a budget of its own.
    llm_server.reset()
    llm_server.judge("pass", "fine", usage=(1000, 100))
    (roots[0] / "test_more.py").write_text(
        "def test_new(jury):\n    jury.assert_passes('a new answer', 'Is an answer')\n"
    )
    code, out = _finish(_start(roots[0], llm_server, f"--jury-judges={MINI}", *budget, "test_more.py"))
    assert (code, _counts(out), len(llm_server.calls())) == (1, {"failed": 1}, 0), out
    assert "BudgetExceededError" in out
    other = ["--jury-max-cost=0.002", "--jury-budget-key=pipeline-42", "test_more.py"]
    code, out = _finish(_start(roots[0], llm_server, f"--jury-judges={MINI}", *other))
    assert (code, _counts(out), len(llm_server.calls())) == (0, {"passed": 1}, 1), out


def test_a_redis_killed_mid_run_loses_no_verdict_and_fails_no_test(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None, redis_server: RedisServer
) -> None:
    root = _runner(pytester.path, "runner1", common=0, own=24, redis_url=redis_server.url)
    llm_server.judge("fail", "not numbered", output_contains="answer 13")  # one test must fail, rightly
    # judge-b answers 6 checks, then holds its replies: Redis dies while the run is waiting on them.
    release = llm_server.hold_replies("judge-b", after=6)
    judges = ["--jury-judges=judge-a,judge-b", "--jury-quorum=unanimous"]
    process = _start(root, llm_server, *judges)
    client = redis_server.client()
    while len(llm_server.calls("judge-b")) < 7 or len(client.keys("llmonpy:fleet:verdict:*")) < 12:
        assert process.poll() is None, process.communicate()[0]
        release.wait(0.05)
    redis_server.kill()
    release.set()
    code, out = _finish(process)

    assert (code, _counts(out)) == (1, {"passed": 23, "failed": 1}), out
    assert "FAILED test_suite.py::test_own[13]" in out
    assert f"Redis at {redis_server.url} failed" in out
    assert len(llm_server.calls()) == 48  # every judge once per check: nothing asked twice

    # Every verdict, those stored in Redis before it died too, is in the runner's local cache: a replay
    # without Redis asks nobody.
    (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    code, out = _finish(_start(root, llm_server, *judges, "--jury-mode=replay"))
    assert (code, _counts(out)) == (1, {"passed": 23, "failed": 1}), out
    assert len(llm_server.calls()) == 48
