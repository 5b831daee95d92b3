"""End-to-end: `jury.score` / `assert_score` and their async twins, with scripted judges.

Each judge's score is scripted per model (and per output), so the median, the spread, the calls made
and what the cache replays are exact.
"""

from __future__ import annotations

import json

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"
RUBRIC = "Explains the refund policy clearly and completely"


def _scores(server: FakeLLMServer, **by_model: int) -> None:
    for name, score in by_model.items():
        model = name.replace("_", "-")
        server.score(score, f"{model} gives {score}", model=model)


def test_a_score_is_the_median_of_the_judges_scores_and_shows_the_spread(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    _scores(llm_server, judge_a=5, judge_b=4, judge_c=2)
    pytester.makepyfile(
        f"""
        def test_score(jury):
            score = jury.assert_score("Refunds within 30 days.", {RUBRIC!r}, input="Refunds?")
            assert score.passed and score.median == 4 and score.spread == (2, 5)
            assert score.scores == (5, 4, 2)
            assert [vote.vote for vote in score.votes] == ["pass", "pass", "fail"]
            assert score.contested  # judges on both sides of the threshold
            print("SCORE", repr(score))
        """
    )
    result = run_inprocess(JUDGES, "-s", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*SCORE <Score PASSED (median 4 (spread 2-5) on 1-5, passes at 4 or above; scores 5, 4, 2) for *",
            "*PASSED (CONTESTED)*test_score: Explains the refund policy* [[]median 4, 2-5 on 1-5, needs 4]",
            "*judge-c: fail 2 (live) - judge-c gives 2",
        ]
    )
    calls = llm_server.calls()
    assert len(calls) == 3
    assert all(call.scoring and call.criteria == RUBRIC for call in calls)
    user = calls[0].body["messages"][-1]["content"]
    assert "<input>\nRefunds?\n</input>" in user
    assert user.endswith("SCALE: an integer from 1 (does not meet the rubric at all) to 5 (fully meets it)")


def test_a_failing_score_explains_every_judges_score_and_reason(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    _scores(llm_server, judge_a=3, judge_b=2, judge_c=5)
    pytester.makepyfile(
        f"""
        def test_score(jury):
            jury.assert_score("Refunds maybe.", {RUBRIC!r}, threshold=3.5)
        """
    )
    result = run_inprocess(JUDGES)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*AssertionError: jury FAILED: Explains the refund policy clearly and completely",
            "E*votes: median 3 (spread 2-5) on 1-5, passes at 3.5 or above; scores 3, 2, 5",
            "E*judge-a: FAIL (score 3) - judge-a gives 3",
            "E*judge-b: FAIL (score 2) - judge-b gives 2",
            "E*judge-c: PASS (score 5) - judge-c gives 5",
        ]
    )


def test_scores_are_cached_and_a_new_threshold_asks_nobody_but_a_new_scale_does(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    _scores(llm_server, judge_a=4, judge_b=3, judge_c=3)
    test = """
        def test_score(jury):
            score = jury.score("Refunds within 30 days.", "Is clear", scale={scale}, threshold={threshold})
            print("OUTCOME", score.outcome, score.cached)
    """
    pytester.makepyfile(test.format(scale=(1, 5), threshold=4))
    run_inprocess(JUDGES, "-s").stdout.fnmatch_lines(["*OUTCOME failed False"])
    assert len(llm_server.calls()) == 3

    pytester.makepyfile(test.format(scale=(1, 5), threshold=3))
    run_inprocess(JUDGES, "-s").stdout.fnmatch_lines(["*OUTCOME passed True"])
    assert len(llm_server.calls()) == 3  # the threshold is the jury's, not the judges' question

    pytester.makepyfile(test.format(scale=(0, 10), threshold=3))
    run_inprocess(JUDGES, "-s").stdout.fnmatch_lines(["*OUTCOME passed False"])
    assert len(llm_server.calls()) == 6  # another scale is another question


def test_a_score_off_the_scale_abstains_and_hangs_the_jury_when_it_decides(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    _scores(llm_server, judge_a=5, judge_b=1)
    llm_server.score(9, model="judge-c")
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_llmonpy import HungJuryError

        def test_hung(jury):
            with pytest.raises(HungJuryError, match="whether the median reaches the threshold") as info:
                jury.score("Refunds.", {RUBRIC!r})
            assert "judge-c: ABSTAIN - the judge scored 9, outside the scale 1-5" in str(info.value)

        def test_decided_anyway(jury):
            score = jury.score("Refunds.", {RUBRIC!r}, threshold=1)
            assert score.passed and score.median == 3 and score.count("abstain") == 1
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ("jury.score('x', 'Is clear', scale=(5, 1))", "ValueError: scale=(5, 1) needs lowest < highest"),
        ("jury.score('x', 'Is clear', scale=(1.0, 5))", "TypeError: scale must be two integers"),
        (
            "jury.score('x', 'Is clear', threshold=6)",
            "ValueError: threshold=6 must be a number on the scale",
        ),
        ("jury.score('x', '  ')", "TypeError: a score's rubric must be a non-empty string"),
    ],
)
def test_bad_score_arguments_are_one_clear_error_before_any_call(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer, call: str, error: str
) -> None:
    pytester.makepyfile(f"def test_bad(jury):\n    {call}\n")
    result = run_inprocess(JUDGES)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"E*{error}*"])
    assert llm_server.calls() == []


def test_the_async_twins_score_on_the_judge_loop(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    _scores(llm_server, judge_a=2, judge_b=2, judge_c=4)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_async(jury):
            score = await jury.ascore("Refunds.", "Is clear", threshold=2)
            assert score.passed and score.median == 2
            with pytest.raises(AssertionError, match="spread 2-4. on 1-5, passes at 3 or above"):
                await jury.aassert_score("Refunds.", "Is clear", threshold=3)
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    assert len(llm_server.calls()) == 3  # the second call is answered from the cache


@pytest.mark.xdist_merge
def test_scores_through_litellm_are_costed_and_reported(
    pytester: pytest.Pytester, run_jury: RunJury, llm_server: FakeLLMServer
) -> None:
    _scores(llm_server, judge_a=4, judge_b=5, judge_c=3)
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_score(jury, n):
            jury.assert_score(f"Refunds within 30 days ({{n}}).", {RUBRIC!r})
        """
    )
    result = run_jury(JUDGES, "--jury-report=jury.json", "--junitxml=junit.xml")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["verdicts: 3 passed, 0 failed, 0 hung in 3 tests; 3 contested (the judges split)"]
    )
    report = json.loads((pytester.path / "jury.json").read_text())
    verdicts = report["verdicts"]
    assert len(verdicts) == 3
    for verdict in verdicts:
        assert verdict["score"] == {"median": 4, "lowest": 3, "highest": 5, "scale": [1, 5], "threshold": 4}
        assert [vote["score"] for vote in verdict["votes"]] == [4, 5, 3]
        assert verdict["quorum"] == "median >= 4"
    assert report["totals"]["live_calls"] == 9
    # A generic endpoint gets json_object; the scale is in the prompt and in the parser's check.
    assert all(call.body["response_format"] == {"type": "json_object"} for call in llm_server.calls())
    assert sum(model["tokens_in"] for model in report["models"]) == sum(
        call.prompt_tokens for call in llm_server.calls()
    )
