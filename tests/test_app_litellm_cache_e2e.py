"""End-to-end: an app under test that turns on litellm's own response cache in the test process.

The judges' votes must still come from the judges (through the verdict cache's rules only): litellm's
cache neither answers nor stores a judge call.
"""

from __future__ import annotations

import pytest

from conftest import FAKE_API_KEY, inprocess_run
from fake_llm_server import FakeLLMServer


@pytest.mark.usefixtures("judge_env", "litellm_in_this_process")
def test_an_app_with_litellm_cache_on_does_not_answer_the_judges(
    pytester: pytest.Pytester, llm_server: FakeLLMServer
) -> None:
    pytester.makeconftest(
        """
        import litellm
        from litellm.caching.caching import Cache

        # The app caches every litellm call in memory (litellm's default mode: on for every call).
        litellm.cache = Cache(type="local")


        def pytest_unconfigure():
            litellm.cache = None  # this run shares the test process's litellm: leave it as it was
        """
    )
    pytester.makepyfile(
        """
        def test_one(jury):
            jury.assert_passes("same output", "same criteria")

        def test_two(jury):
            jury.assert_passes("same output", "same criteria")
        """
    )
    # No verdict cache: each check must ask the judge itself.
    base = ["-p", "no:cacheprovider", "-p", "no:randomly", f"--jury-api-base={llm_server.url}"]
    result = inprocess_run(pytester, base, ("--jury-judges=judge-a", "--jury-mode=off"))
    result.assert_outcomes(passed=2)
    calls = llm_server.calls("judge-a")
    assert len(calls) == 2
    # litellm keeps its cache controls to itself: nothing of them reaches the provider.
    assert all("cache" not in call.body for call in calls)
    assert FAKE_API_KEY not in result.stdout.str()
