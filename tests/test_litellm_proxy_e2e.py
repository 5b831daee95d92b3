"""End-to-end: judges behind a real litellm proxy (the organisation's gateway) on 127.0.0.1, which routes
its model aliases to the loopback fake server. The plugin judges through it with --jury-api-base and the
proxy's key; calls and costs are counted per alias, priced by what the proxy reports; the proxy's
budget and rate-limit refusals become the plugin's clear messages."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from conftest import FAKE_API_KEY, RunJury
from fake_llm_server import FakeLLMServer
from litellm_proxy import INPUT_COST, OUTPUT_COST, REQUIRE_ENV, UPSTREAM_KEY, LitellmProxy, running_proxy

# One proxy for the module, on one xdist worker: its budgets and rate limits are state the tests share.
pytestmark = pytest.mark.xdist_group("litellm_proxy")

CALL_COST = 1000 * INPUT_COST + 100 * OUTPUT_COST  # the fake server bills 1000 + 100 tokens a call


@pytest.fixture(scope="module")
def litellm_proxy(_server: FakeLLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LitellmProxy]:
    # The plugin authenticates to the proxy with its master key, sent as the OpenAI key (judge_env's).
    try:
        with running_proxy(_server.url, FAKE_API_KEY, tmp_path_factory.mktemp("proxy")) as proxy:
            yield proxy
    except FileNotFoundError as exc:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def _suite(pytester: pytest.Pytester, judge: str, count: int) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.parametrize("n", range({count}))
        def test_answer(jury, n):
            jury.assert_passes(f"answer {{n}} for {judge}", "Is a numbered answer")
        """
    )


@pytest.mark.xdist_merge
def test_judges_are_the_proxys_aliases_counted_and_priced_by_what_it_reports(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury, litellm_proxy: LitellmProxy
) -> None:
    llm_server.judge("pass", "numbered", usage=(1000, 100))
    _suite(pytester, "judge-fast", 3)
    through = f"--jury-api-base={litellm_proxy.url}"
    result = run_jury("--jury-judges=judge-fast", through, "--jury-report=report.json", api_base=False)
    result.assert_outcomes(passed=3)
    upstream = llm_server.calls()
    # The proxy routed the alias to its deployment, with the key it holds, not the plugin's.
    assert {call.model for call in upstream} == {"judge-a"}
    assert len(upstream) == 3
    assert {call.headers.get("authorization") for call in upstream} == {f"Bearer {UPSTREAM_KEY}"}
    result.stdout.fnmatch_lines(
        [
            "  judge model   live  cached   tokens in  tokens out  cost",
            f"  judge-fast       3       0       3,000         300  ${3 * CALL_COST:.6f}",
            f"total spent: ${3 * CALL_COST:.6f}",
        ]
    )
    assert FAKE_API_KEY not in result.stdout.str() + (pytester.path / "report.json").read_text()


def test_a_budget_the_proxy_enforces_stops_the_check_with_a_clear_message(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury, litellm_proxy: LitellmProxy
) -> None:
    llm_server.judge("pass", "numbered", usage=(1000, 100))
    _suite(pytester, "judge-capped", 5)
    result = run_jury("--jury-judges=judge-capped", f"--jury-api-base={litellm_proxy.url}", api_base=False)
    # $0.003 at $0.0012 a call: three checks start under the budget, then the proxy refuses (a fourth
    # may start while the proxy is still recording the third's spend, which it does after replying).
    outcomes = result.parseoutcomes()
    assert 3 <= outcomes.get("passed", 0) <= 4
    assert outcomes.get("failed", 0) == 5 - outcomes["passed"]
    assert len(llm_server.calls("judge-c")) == outcomes["passed"]
    result.stdout.fnmatch_lines(
        [
            "E *pytest_llmonpy.JuryConfigError: judge 'judge-capped' was refused because a budget at its "
            "endpoint is spent. Retrying cannot help until that budget is raised or resets (a litellm "
            "proxy's max_budget and budget_duration, for the key, team or model); this run's own budget is "
            "jury_max_cost. (RateLimitError (HTTP 429): No deployments available - crossed budget: "
            "Exceeded budget for deployment model_name: judge-capped*"
        ]
    )


def test_the_proxys_rate_limit_becomes_a_reason_that_says_what_to_change(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury, litellm_proxy: LitellmProxy
) -> None:
    _suite(pytester, "judge-limited", 4)
    result = run_jury(
        "--jury-judges=judge-limited",
        f"--jury-api-base={litellm_proxy.url}",
        "--jury-timeout=3",
        api_base=False,
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1  # 2 requests a minute: not four checks in three seconds
    assert outcomes.get("passed", 0) + outcomes["failed"] == 4
    assert len(llm_server.calls("judge-b")) == outcomes.get("passed", 0)
    result.stdout.fnmatch_lines(
        [
            "E *- judge-limited: ABSTAIN - no deployment free at its proxy (a rate limit, or a cooldown "
            "after failures): space its calls with jury_rate_limits ('judge-limited=N/min', shared by every "
            "worker), lower jury_concurrency, or raise the limit (RateLimitError (HTTP 429): No deployments*"
        ]
    )
