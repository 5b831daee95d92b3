"""End-to-end: `jury.assert_pass_rate` and its twins, as a test suite uses them.

The scripted judges fail an output that contains "bad"; each inner test's generator yields a known
sequence of outputs, so the number of samples judged and the judge calls made are exact.
"""

from __future__ import annotations

import pytest

from conftest import RunJury
from fake_judges import FakeJudges
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=judge-a,judge-b"


@pytest.fixture(autouse=True)
def _bad_fails(llm_server: FakeLLMServer) -> None:
    llm_server.judge("fail", "says something bad", output_contains="bad")


def test_a_good_generator_passes_early_and_says_how_many_samples_it_took(
    pytester: pytest.Pytester, run_inprocess: RunJury, fake_judges: FakeJudges, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        import itertools

        def test_rate(jury):
            counter = itertools.count()
            rate = jury.assert_pass_rate(
                lambda: f"answer {next(counter)}", "Is an answer", samples=200, min_rate=0.7
            )
            print("RATE", rate.summary())
            assert rate.passed and rate.stopped == "sure pass"
            assert rate.samples < 200 and rate.passes == rate.samples
            assert next(counter) == rate.samples  # no output generated past the stop
        """
    )
    result = run_inprocess(JUDGES, "-s")
    result.assert_outcomes(passed=1)
    (line,) = [line.split("RATE ", 1)[1] for line in result.outlines if "RATE " in line]
    samples = len(llm_server.calls("judge-a"))
    assert f"pass rate PASSED: {samples} of {samples} passed (100%); the rate is at least " in line
    assert ">= min_rate 70% (an anytime-valid bound at 99%)" in line
    assert "stopped after" in line
    assert "the rate is surely at least min_rate" in line
    # Judged a batch at a time: each batch asks both judges about up to 8 outputs at once.
    (caller,) = fake_judges.callers
    assert [len(batch) for batch in caller.batches] == [16, 16]
    assert len(llm_server.calls("judge-b")) == samples


def test_a_failing_rate_lists_the_failed_samples_and_stops_when_it_cannot_pass(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        def test_rate(jury):
            outputs = ["good 1", "bad 2", "good 3", "bad 4", "bad 5"] + [f"good {n}" for n in range(6, 41)]
            jury.assert_pass_rate(outputs, "Is a good answer", min_rate=0.9)
        """
    )
    result = run_inprocess(JUDGES)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: pass rate FAILED: 5 of 8 passed (62%); the rate is at least *% < min_rate 90% "
            "(an anytime-valid bound at 99%); stopped after 8 of 40 samples: the rest could not make it pass",
            "*criteria: Is a good answer",
            "*sample 2:",
            "*jury FAILED: Is a good answer",
            "*output: bad 2",
            "*judge-a: FAIL - says something bad*",
            "*sample 4:",
            "*sample 5:",
        ]
    )
    assert len(llm_server.calls("judge-a")) == 8  # one batch: the other 32 outputs never judged
    # The samples are explained by the rate, not once more each in the test's report.
    assert "llm jury verdicts" not in result.stdout.str()


def test_judged_samples_are_cached_like_checks(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        def test_rate(jury):
            rate = jury.assert_pass_rate([f"answer {n}" for n in range(40)], "Is an answer", min_rate=0.8)
            assert rate.passed and rate.samples < 40  # stopped early: a sure pass
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    first = len(llm_server.calls())
    assert first > 0
    llm_server.requests.clear()
    result = run_inprocess(JUDGES)
    result.assert_outcomes(passed=1)
    assert llm_server.calls() == []
    result.stdout.fnmatch_lines([f"judge calls: 0 live, {first} cached (100% from cache)"])


def test_the_async_twin_awaits_an_async_generator(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_rate(jury):
            made = []

            async def generate():
                await asyncio.sleep(0)
                made.append(len(made))
                return "bad answer" if len(made) % 2 else "good answer"

            with pytest.raises(AssertionError, match="surely below|could not make it pass"):
                await jury.aassert_pass_rate(generate, "Is a good answer", samples=50, min_rate=0.9)
            rate = await jury.apass_rate(["fine"] * 5, "Is a good answer", min_rate=0.5, early_stop=False)
            assert rate and rate.samples == 5 and rate.stopped == "all samples" and rate.method == "exact"
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)


def test_samples_the_jury_cannot_decide_hang_the_rate_only_when_they_decide_it(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    llm_server.judge("pass", content='{"verdict": "no idea"}', output_contains="murky")
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmonpy import HungJuryError

        def test_decided_anyway(jury):
            # 2 undecided of 40: passing needs more than the other 38 can show, but failing does not.
            outputs = ["murky 1", "murky 2"] + ["bad"] * 10 + ["good"] * 28
            rate = jury.pass_rate(outputs, "Is a good answer", min_rate=0.9)
            assert not rate and rate.hung == 2

        def test_hung(jury):
            outputs = [f"good {n}" for n in range(30)] + ["murky 1", "murky 2"]
            with pytest.raises(HungJuryError, match="the pass rate depends on 2 samples it could not decide"):
                jury.pass_rate(outputs, "Is a good answer", min_rate=0.85, early_stop=False)
        """
    )
    run_inprocess(JUDGES, "--jury-quorum=unanimous").assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("jury.pass_rate(lambda: 'x', 'ok')", "pass_rate with a callable needs samples=N"),
        ("jury.pass_rate('one output', 'ok')", "pass_rate takes a callable that returns one output"),
        ("jury.pass_rate(['a'], 'ok', samples=2)", "samples=2 but only 1 outputs were given"),
        ("jury.pass_rate([], 'ok')", "pass_rate needs at least one output"),
        ("jury.pass_rate(['a'], 'ok', min_rate=1)", "no number of samples proves a rate of exactly 1"),
        ("jury.pass_rate(['a'], 'ok', confidence=95)", "confidence must be between 0 and 1"),
        ("jury.pass_rate(lambda: 'x', 'ok', samples=2.5)", "samples must be a whole number"),
        (
            "jury.pass_rate(['a'] * 30, 'ok', min_rate=0.9)",
            "samples=30 can never pass min_rate=0.9 at confidence=0.95: even 30 passes of 30 do not show "
            "it; ask for at least 31 samples, or a lower min_rate",
        ),
    ],
)
def test_bad_arguments_are_one_clear_error_before_any_judge_is_asked(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer, call: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import re
        import pytest

        def test_bad(jury):
            with pytest.raises((TypeError, ValueError), match=re.escape({message!r})):
                {call}
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    assert llm_server.calls() == []


def test_samples_go_to_the_judges_together_through_litellm(
    pytester: pytest.Pytester, run_jury: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        def test_rate(jury):
            rate = jury.assert_pass_rate(
                [f"answer {n}" for n in range(31)], "Is an answer", min_rate=0.9, early_stop=False
            )
            assert rate.samples == 31 and rate.stopped == "all samples" and rate.lower >= 0.9
        """
    )
    result = run_jury(JUDGES, "--jury-report=jury.json")
    result.assert_outcomes(passed=1)
    assert len(llm_server.calls("judge-a")) == len(llm_server.calls("judge-b")) == 31
    result.stdout.fnmatch_lines(["verdicts: 31 passed, 0 failed, 0 hung in 1 test"])


def test_an_output_given_again_is_a_sample_with_the_verdict_it_already_got(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        def test_rate(jury):
            outputs = iter(["answer one", "answer two"] * 100)
            rate = jury.assert_pass_rate(lambda: next(outputs), "Is an answer", samples=200, min_rate=0.7)
            assert rate.samples == 16 and rate.passes == 16  # two sure-pass batches of 8
            assert len({id(verdict) for verdict in rate.verdicts}) == 2
            assert len(jury.verdicts) == 2  # reported once each
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    assert len(llm_server.calls()) == 4  # two outputs x two judges, in the first batch only
