"""End-to-end: `--jury-estimate` counts and prices the live calls a real run would make, and makes
none; then the real run on the same loopback server makes exactly that many, at about that cost.

The server bills as OpenAI does (a BPE tokenizer and the chat overhead), so the estimate's tokens
(litellm's tokenizer) and the real run's (the provider's usage) are counted independently.
"""

from __future__ import annotations

import json

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=openai/gpt-4o-mini,openai/gpt-4o,judge-x"

SUITE = """
import pytest

ANSWERS = {
    "refund": "Refunds are possible within 30 days of delivery. After that, we can offer store credit "
    "for the amount paid, which you can use on any order within a year.",
    "shipping": "Shipping is free for orders over 50 euros; below that it costs 4.90 euros in France "
    "and 9.90 euros elsewhere in the EU.",
    "hours": "Our support line is open from 9 to 18, Monday to Friday.",
    "password": "Click 'Forgot password' on the sign-in page and follow the link we email you. The "
    "link expires after one hour; ask for another if it does.",
}


@pytest.mark.parametrize("topic", sorted(ANSWERS))
def test_answer(jury, topic):
    jury.assert_passes(ANSWERS[topic], f"Answers the customer's question about {topic} accurately")
    if topic == "refund":
        jury.assert_score(ANSWERS[topic], "Explains the refund policy clearly", threshold=3)


def test_compare(jury):
    jury.compare(ANSWERS["refund"], ANSWERS["hours"], "Answers a question about refunds")
    # Asked again: a real run answers it from the cache, so the estimate counts it once.
    jury.assert_passes(ANSWERS["refund"], "Answers the customer's question about refund accurately")
"""


def _report(pytester: pytest.Pytester) -> dict[str, object]:
    report: dict[str, object] = json.loads((pytester.path / "jury.json").read_text())
    return report


@pytest.mark.xdist_merge
def test_the_estimate_counts_exactly_the_calls_a_real_run_makes_and_prices_them_closely(
    pytester: pytest.Pytester, run_jury: RunJury, llm_server: FakeLLMServer
) -> None:
    llm_server.count_tokens_like_openai()
    pytester.makepyfile(test_suite=SUITE)
    # An earlier run judged two of the answers: they are cached, and the judges' replies measured.
    run_jury(JUDGES, "-k", "hours or password", in_this_process=True).assert_outcomes(passed=2)
    recorded = len(llm_server.calls())

    result = run_jury(JUDGES, "--jury-estimate", "--jury-report=jury.json")
    result.assert_outcomes(passed=5)
    assert len(llm_server.calls()) == recorded  # no judge was called
    estimate = _report(pytester)["estimate"]
    assert isinstance(estimate, dict)
    result.stdout.fnmatch_lines(
        [
            "estimate (--jury-estimate; no judge was called): a real run would make "
            f"{estimate['live_calls']} live calls, about $* + * unpriced calls",
            "  judge model * calls  tokens in  tokens out  estimated cost",
        ]
    )

    result = run_jury(JUDGES, "--jury-report=jury.json", in_this_process=True)
    result.assert_outcomes(passed=5)
    real = _report(pytester)["totals"]
    assert isinstance(real, dict)
    made = len(llm_server.calls()) - recorded
    # 2 checks x 3 judges, a score x 3, a comparison x 3 judges x 2 orders
    assert made == real["live_calls"] == estimate["live_calls"] == 2 * 3 + 3 + 6
    assert estimate["cost"]["unpriced_calls"] == real["spent"]["unpriced_calls"]
    assert estimate["cost"]["usd"] == pytest.approx(real["spent"]["usd"], rel=0.15)
    by_model = {model["model"]: model for model in estimate["models"]}
    assert by_model["openai/gpt-4o"]["tokens_in"] == pytest.approx(
        sum(call.prompt_tokens for call in llm_server.calls("gpt-4o")[-made // 3 :]), rel=0.15
    )

    # Everything is cached now: the estimate is no call, no cost.
    result = run_jury(JUDGES, "--jury-estimate", "--jury-report=jury.json", in_this_process=True)
    result.stdout.fnmatch_lines(["estimate (*): a real run would make 0 live calls, about $0.000000"])
    assert _report(pytester)["estimate"] == {
        "live_calls": 0,
        "cost": {"usd": 0.0, "unpriced_calls": 0},
        "models": [],
    }


def test_an_estimate_needs_no_key_and_fails_no_test(
    pytester: pytest.Pytester, run_jury: RunJury, llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    pytester.makepyfile(
        """
        def test_expects_a_failure(jury):
            assert not jury.check("Refunds within 30 days.", "Says refunds are never possible")
        """
    )
    # No endpoint and no key: a real run would stop at the missing key; the estimate asks nobody.
    result = run_jury("--jury-judges=openai/gpt-4o-mini", "--jury-estimate", "-rx", api_base=False)
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "estimate (*): a real run would make 1 live call, about $0.0000*",
            "*--jury-estimate: no judge was called, so this test's outcome says nothing*",
        ]
    )
    assert llm_server.calls() == []


def test_an_estimate_in_replay_mode_misses_as_a_replay_does_and_gates_no_group(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jury(group="faq", min_pass_rate=0.9)
        @pytest.mark.parametrize("n", range(2))
        def test_grouped(jury, n):
            jury.assert_passes(f"answer {n}", "Is an answer")
        """
    )
    result = run_inprocess("--jury-judges=judge-a", "--jury-estimate", "--jury-mode=replay")
    result.assert_outcomes(failed=2)  # a replay run would miss these: no recorded verdict
    result.stdout.fnmatch_lines(["*a real run would make 0 live calls*"])
    result = run_inprocess("--jury-judges=judge-a", "--jury-estimate")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*NOT GATED*--jury-estimate (no judge was called)*"])
    assert result.ret == 0
    assert llm_server.calls() == []


def test_an_estimate_of_a_calibration_is_refused(pytester: pytest.Pytester, run_inprocess: RunJury) -> None:
    result = run_inprocess("--jury-judges=judge-a", "--jury-estimate", "--jury-calibrate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--jury-estimate and --jury-calibrate can't be used together*"])
