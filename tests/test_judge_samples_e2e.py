"""End-to-end: `--jury-samples=K` asks each judge K times (one seed each, temperature above 0), takes
its majority, caches and costs each answer, and reports how often each judge agrees with itself.

The loopback server answers by seed: judge-b is scripted to fail the check at seed 1 only, so its
answers and its self-agreement are known exactly.
"""

from __future__ import annotations

import json

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer
from pytest_llmonpy.prompts import SAMPLE_TEMPERATURE

JUDGES = "--jury-judges=judge-a,judge-b"


@pytest.mark.xdist_merge
def test_each_judge_answers_k_times_and_its_self_agreement_is_reported(
    pytester: pytest.Pytester, run_jury: RunJury, llm_server: FakeLLMServer
) -> None:
    llm_server.judge("fail", "unsure this time", model="judge-b", seed=1)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(2))
        def test_answer(jury, n):
            verdict = jury.assert_passes(f"Refunds within 30 days ({n}).", "Mentions the 30-day limit")
            (a, b) = verdict.votes
            assert [s.vote for s in b.samples] == ["pass", "fail", "pass"] and b.vote == "pass"
            assert [s.seed for s in a.samples] == [0, 1, 2] and a.vote == "pass"
        """
    )
    result = run_jury(JUDGES, "--jury-samples=3", "--jury-report=jury.json", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "llmonpy: --jury-judges=judge-a,judge-b * --jury-samples=3 *",
            "judge self-agreement (each judge asked the same question several times):",
            "  judge-b  33% of answer pairs agree; the same answer every time on 0 of 2 checks",
            "  judge-a  100% of answer pairs agree; the same answer every time on 2 of 2 checks",
            "judge calls: 12 live, 0 cached (0% from cache)",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*judge-b: pass (samples: pass@seed0, fail@seed1, pass@seed2) (live) - default pass"]
    )
    calls = llm_server.calls()
    assert len(calls) == 12
    assert sorted(call.seed or 0 for call in calls) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert {call.body["temperature"] for call in calls} == {SAMPLE_TEMPERATURE}
    report = json.loads((pytester.path / "jury.json").read_text())
    assert report["self_agreement"] == [
        {"model": "judge-a", "checks": 2, "unanimous": 2, "pairs": 6, "agreeing_pairs": 6, "rate": 1.0},
        {"model": "judge-b", "checks": 2, "unanimous": 0, "pairs": 6, "agreeing_pairs": 2, "rate": 1 / 3},
    ]
    (judge_b,) = [model for model in report["models"] if model["model"] == "judge-b"]
    assert judge_b["live_calls"] == 6
    assert judge_b["tokens_in"] == sum(call.prompt_tokens for call in llm_server.calls("judge-b"))
    vote = report["verdicts"][0]["votes"][1]
    assert [(s["seed"], s["vote"]) for s in vote["samples"]] == [(0, "pass"), (1, "fail"), (2, "pass")]
    assert vote["tokens_in"] == sum(s["tokens_in"] for s in vote["samples"])


def test_each_answer_is_cached_so_more_samples_ask_only_the_new_seeds(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        def test_answer(jury):
            jury.assert_passes("Refunds within 30 days.", "Mentions the 30-day limit")
        """
    )
    run_inprocess(JUDGES, "--jury-samples=3").assert_outcomes(passed=1)
    assert len(llm_server.calls()) == 6
    result = run_inprocess(JUDGES, "--jury-samples=3")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["judge calls: 0 live, 6 cached (100% from cache)"])
    assert len(llm_server.calls()) == 6
    result = run_inprocess(JUDGES, "--jury-samples=5", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*judge-a: pass (samples: *pass@seed4) (live and cached) - default pass"])
    assert sorted(call.seed or 0 for call in llm_server.calls()[6:]) == [3, 3, 4, 4]
    # One answer at temperature 0 is another question: the samples never stand in for it.
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    assert [call.seed for call in llm_server.calls()[10:]] == [None, None]


def test_an_even_split_left_by_an_abstention_hangs_the_jury_and_the_next_run_asks_it_again(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    llm_server.judge("fail", "unsure", model="judge-b", seed=1)
    llm_server.judge("pass", content="not json", model="judge-b", seed=2)
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmonpy import HungJuryError

        def test_hung(jury):
            with pytest.raises(HungJuryError) as info:
                jury.check("Refunds.", "Mentions the 30-day limit")
            said = (
                "judge-b: ABSTAIN (3 samples: pass, fail, abstain) - of its 3 samples, 1 abstained and the "
                "other 2 split evenly (1 fail, 1 pass): no majority"
            )
            assert said in str(info.value)
        """
    )
    run_inprocess(JUDGES, "--jury-quorum=unanimous", "--jury-samples=3").assert_outcomes(passed=1)
    assert len(llm_server.calls()) == 6
    llm_server.reset()
    llm_server.judge("fail", "sure now", model="judge-b", seed=2)
    pytester.makepyfile(
        """
        def test_decided(jury):
            assert not jury.check("Refunds.", "Mentions the 30-day limit")  # pass, fail, fail
        """
    )
    run_inprocess(JUDGES, "--jury-quorum=unanimous", "--jury-samples=3").assert_outcomes(passed=1)
    assert [(call.model, call.seed) for call in llm_server.calls()] == [("judge-b", 2)]


def test_a_replay_miss_names_the_sample_that_was_never_recorded(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        def test_answer(jury):
            jury.assert_passes("Refunds within 30 days.", "Mentions the 30-day limit")
        """
    )
    run_inprocess(JUDGES, "--jury-samples=3").assert_outcomes(passed=1)
    result = run_inprocess(JUDGES, "--jury-samples=5", "--jury-mode=replay")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*no recorded verdict * for judges 'judge-a', 'judge-b' (--jury-mode=replay never calls *",
            "*closest recorded verdict: judge 'judge-a', criteria 'Mentions the 30-day *'; differs in: seed",
        ]
    )
    assert len(llm_server.calls()) == 6


def test_a_frugal_judge_not_asked_counts_as_k_calls_not_needed(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        def test_answer(jury):
            verdict = jury.assert_passes("Refunds within 30 days.", "Mentions the 30-day limit")
            assert [vote.vote for vote in verdict.votes] == ["pass", "pass", "not_needed"]
        """
    )
    result = run_inprocess(
        "--jury-judges=judge-a,judge-b,judge-c", "--jury-strategy=frugal", "--jury-samples=3",
        "--jury-report=jury.json",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*(3 judge calls not needed)"])
    report = json.loads((pytester.path / "jury.json").read_text())
    assert [model["not_needed"] for model in report["models"]] == [0, 0, 3]
    assert [judge["model"] for judge in report["self_agreement"]] == ["judge-a", "judge-b"]


def test_a_judges_score_is_the_median_of_its_samples(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    llm_server.score(4, model="judge-a")
    llm_server.score(2, model="judge-a", seed=2)
    llm_server.score(5, model="judge-b")
    llm_server.score(3, model="judge-b", seed=0)
    pytester.makepyfile(
        """
        def test_score(jury):
            score = jury.assert_score("Refunds.", "Is clear", threshold=4)
            assert score.scores == (4, 5)
            assert [s.score for s in score.votes[0].samples] == [4, 4, 2]
        """
    )
    result = run_inprocess(JUDGES, "--jury-samples=3")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "  judge-a  33% of answer pairs agree; the same answer every time on 0 of 1 checks",
            "  judge-b  33% of answer pairs agree; the same answer every time on 0 of 1 checks",
        ]
    )


@pytest.mark.parametrize("value", ["0", "2", "21", "three"])
def test_a_bad_sample_count_is_one_clear_usage_error(
    pytester: pytest.Pytester, run_inprocess: RunJury, value: str
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run_inprocess(JUDGES, f"--jury-samples={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*jury_samples must be an odd whole number from 1 to 19 *"])
