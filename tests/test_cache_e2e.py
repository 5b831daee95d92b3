"""End-to-end: the verdict cache across real pytest runs, serially and with `-n 2`."""

from __future__ import annotations

import pickle
import sqlite3
import sys
from pathlib import Path

import pytest

from conftest import FAKE_API_KEY, RunJury
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"

SUITE = """
import pytest

@pytest.mark.parametrize("n", range(6))
def test_answer(jury, n):
    verdict = jury.check(f"answer {n}", "Is a numbered answer", input="question")
    assert verdict
    print(f"CACHED={verdict.cached}")
"""


def litellm_probe(pytester: pytest.Pytester, probe_dir: Path) -> None:
    """A conftest recording, per process, whether litellm was imported by the end of the run."""
    pytester.makeconftest(
        f"""
        import os, sys

        def pytest_unconfigure(config):
            with open(os.path.join({str(probe_dir)!r}, str(os.getpid())), "w") as f:
                f.write(str("litellm" in sys.modules))
        """
    )


def litellm_imported(probe_dir: Path) -> set[str]:
    answers = {p.read_text() for p in probe_dir.iterdir()}
    for p in probe_dir.iterdir():
        p.unlink()
    return answers


@pytest.mark.xdist_merge
@pytest.mark.fresh_process
def test_rerun_of_an_unchanged_suite_makes_no_judge_call_and_imports_no_litellm(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_jury: RunJury,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    probe = tmp_path_factory.mktemp("probe")
    litellm_probe(pytester, probe)
    pytester.makepyfile(SUITE)
    run_jury(JUDGES, in_this_process=True).assert_outcomes(passed=6)  # records
    assert len(llm_server.calls()) == 18
    assert "True" in litellm_imported(probe)  # the probe sees litellm when it is imported
    root = pytester.path / ".llmonpy"
    assert (root / ".gitignore").read_text().strip().endswith("*")
    assert (root / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")

    llm_server.requests.clear()
    result = run_jury(JUDGES, "-s")
    result.assert_outcomes(passed=6)
    assert llm_server.calls() == []
    assert litellm_imported(probe) == {"False"}
    if not run_jury.xdist:  # type: ignore[attr-defined]
        assert result.stdout.str().count("CACHED=True") == 6
    # pytest's own --cache-clear empties .pytest_cache, not the paid verdicts.
    run_jury(JUDGES, "--cache-clear", "-p", "cacheprovider", in_this_process=True).assert_outcomes(passed=6)
    assert llm_server.calls() == []


def test_only_changed_inputs_and_new_judges_are_asked_again(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES).assert_outcomes(passed=6)
    llm_server.requests.clear()
    pytester.makepyfile(SUITE.replace('f"answer {n}"', 'f"answer {n}" if n else "answer zero"'))
    run_inprocess(JUDGES).assert_outcomes(passed=6)
    assert sorted((c.model, c.output) for c in llm_server.calls()) == [
        ("judge-a", "answer zero"),
        ("judge-b", "answer zero"),
        ("judge-c", "answer zero"),
    ]
    llm_server.requests.clear()
    run_inprocess("--jury-judges=judge-a,judge-b,judge-c,judge-d").assert_outcomes(passed=6)
    assert {c.model for c in llm_server.calls()} == {"judge-d"}
    assert len(llm_server.calls()) == 6


@pytest.mark.parametrize(
    "change",
    ['"Is a numbered answer"', 'input="question"'],
    ids=["criteria", "input"],
)
def test_changed_criteria_or_input_is_a_miss(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury, change: str
) -> None:
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES).assert_outcomes(passed=6)
    llm_server.requests.clear()
    pytester.makepyfile(SUITE.replace(change, change[:-1] + ' (changed)"'))
    run_inprocess(JUDGES).assert_outcomes(passed=6)
    assert len(llm_server.calls()) == 18


def test_cached_votes_keep_their_original_tokens_reason_and_vote(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.judge("fail", "too vague", model="judge-c", usage=(111, 7))
    pytester.makepyfile(
        """
        import os

        def test_votes(jury):
            verdict = jury.check("some answer", "Is precise")
            c = verdict.votes[2]
            assert (c.model, c.vote, c.reason, c.tokens_in, c.tokens_out) == (
                "judge-c", "fail", "too vague", 111, 7)
            assert c.cached == (os.environ["EXPECT_CACHED"] == "1")
            assert verdict.cached == c.cached
        """
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPECT_CACHED", "0")
        run_inprocess(JUDGES).assert_outcomes(passed=1)
        mp.setenv("EXPECT_CACHED", "1")
        run_inprocess(JUDGES).assert_outcomes(passed=1)
    assert len(llm_server.calls()) == 3


@pytest.mark.fresh_process
def test_replay_on_an_empty_cache_fails_with_the_hint_and_calls_nothing(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_jury: RunJury,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")  # a fork without secrets
    probe = tmp_path_factory.mktemp("probe")
    litellm_probe(pytester, probe)
    pytester.makepyfile(
        """
        def test_x(jury):
            jury.assert_passes("Refunds within 30 days.", "Mentions the refund window")
        """
    )
    result = run_jury(JUDGES, "--jury-mode=replay")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ReplayMissError: no recorded verdict in */.llmonpy for judges 'judge-a', 'judge-b', 'judge-c' "
            "(--jury-mode=replay never calls a judge).",
            "*criteria: Mentions the refund window",
            "*output: Refunds within 30 days.",
            "*Record it by running with --jury-mode=record (the default) and the judges' API keys set*",
        ]
    )
    assert llm_server.requests == []
    assert litellm_imported(probe) == {"False"}
    assert not (pytester.path / ".llmonpy").exists()  # replay on a fresh checkout leaves no trace


def test_replay_miss_names_the_closest_recorded_verdict_and_what_differed(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        """
        import os

        def test_x(jury):
            answer = os.environ.get("ANSWER", "Refunds within 30 days.")
            jury.assert_passes(answer, "Mentions the refund window")
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    run_inprocess(JUDGES, "--jury-mode=replay").assert_outcomes(passed=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANSWER", "Refunds within 31 days.")
        result = run_inprocess(JUDGES, "--jury-mode=replay")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*closest recorded verdict: judge 'judge-a', criteria 'Mentions the refund window'; "
            "differs in: output",
            "*recorded output: Refunds within 30 days.",
        ]
    )
    assert len(llm_server.calls()) == 3


def test_refresh_and_off_ask_every_judge(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES).assert_outcomes(passed=6)
    llm_server.requests.clear()
    llm_server.default_vote = "fail"
    # refresh asks again and overwrites: a later record run sees the new (failing) verdicts.
    run_inprocess(JUDGES, "--jury-mode=refresh").assert_outcomes(failed=6)
    assert len(llm_server.calls()) == 18
    llm_server.default_vote = "pass"
    run_inprocess(JUDGES).assert_outcomes(failed=6)
    assert len(llm_server.calls()) == 18
    # off neither reads nor writes.
    run_inprocess(JUDGES, "--jury-mode=off").assert_outcomes(passed=6)
    assert len(llm_server.calls()) == 36
    run_inprocess(JUDGES).assert_outcomes(failed=6)
    assert len(llm_server.calls()) == 36


def test_off_creates_no_cache_directory(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES, "--jury-mode=off").assert_outcomes(passed=6)
    assert not (pytester.path / ".llmonpy").exists()


def test_marker_mode_beats_the_flag(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jury(mode="off")
        def test_always_live(jury):
            assert jury.check("x", "uncached")

        def test_cached(jury):
            assert jury.check("x", "cached")
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=2)
    run_inprocess(JUDGES).assert_outcomes(passed=2)
    assert sorted(c.criteria for c in llm_server.calls()) == ["cached"] * 3 + ["uncached"] * 6
    # The most specific setting wins: the marker's mode beats --jury-mode, as its judges= beat --jury-judges.
    llm_server.requests.clear()
    run_inprocess(JUDGES, "--jury-mode=replay").assert_outcomes(passed=2)
    assert sorted(c.criteria for c in llm_server.calls()) == ["uncached"] * 3


def test_ini_mode_and_cache_dir_relative_to_rootdir(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makeini(
        """
        [pytest]
        jury_mode = record
        jury_cache_dir = build/verdicts-cache
        """
    )
    pytester.mkdir("sub")
    pytester.path.joinpath("sub", "test_sub.py").write_text(SUITE)
    run_inprocess(JUDGES, "sub").assert_outcomes(passed=6)
    assert (pytester.path / "build" / "verdicts-cache" / "CACHEDIR.TAG").exists()
    assert not (pytester.path / ".llmonpy").exists()


def test_cache_clear_flag_drops_every_verdict(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES).assert_outcomes(passed=6)
    run_inprocess(JUDGES, "--jury-cache-clear").assert_outcomes(passed=6)
    assert len(llm_server.calls()) == 36
    run_inprocess(JUDGES).assert_outcomes(passed=6)
    assert len(llm_server.calls()) == 36


def test_abstentions_are_not_cached(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.inject(model="judge-c", content="no idea", times=1)
    pytester.makepyfile(
        """
        def test_x(jury):
            assert jury.check("x", "y")
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    assert sorted(c.model for c in llm_server.calls()) == ["judge-a", "judge-b", "judge-c", "judge-c"]


def test_corrupt_cache_is_a_warning_and_a_miss(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES).assert_outcomes(passed=6)
    db = pytester.path / ".llmonpy" / "verdicts" / "cache.db"
    db.write_bytes(b"this is not a database" * 100)
    result = run_inprocess(JUDGES, "-W", "default")
    result.assert_outcomes(passed=6, warnings=result.parseoutcomes().get("warnings", 0))
    result.stdout.fnmatch_lines(
        ["*CacheWarning: pytest-llmonpy verdict cache at *.llmonpy cannot be opened*"]
    )
    assert len(llm_server.calls()) == 36
    # The way out that the warning names works on a corrupt cache too.
    run_inprocess(JUDGES, "--jury-cache-clear").assert_outcomes(passed=6)
    assert "CacheWarning" not in run_inprocess(JUDGES).stdout.str()


def test_tampered_entries_are_never_unpickled(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES).assert_outcomes(passed=6)
    canary = pytester.path / "pwned"
    payload = pickle.dumps(PickleBomb(str(canary)))
    db = sqlite3.connect(pytester.path / ".llmonpy" / "verdicts" / "cache.db")
    with db:
        db.execute("UPDATE Cache SET mode = 4, value = ?", (payload,))  # MODE_PICKLE
    db.close()
    result = run_inprocess(JUDGES, "-W", "default")
    result.assert_outcomes(passed=6, warnings=result.parseoutcomes().get("warnings", 0))
    result.stdout.fnmatch_lines(["*CacheWarning: *a pickled value was found in the verdict cache; refusing*"])
    assert not canary.exists()
    assert len(llm_server.calls()) == 36


class PickleBomb:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (Path(self.path), "unpickled!"))  # type: ignore[return-value]


def test_no_api_key_in_the_cache_directory(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.judge("pass", f"the key is {FAKE_API_KEY}")
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES).assert_outcomes(passed=6)
    files = [p for p in (pytester.path / ".llmonpy").rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert FAKE_API_KEY.encode() not in path.read_bytes(), path


@pytest.mark.measure_subprocesses
def test_cache_command_shows_stats_and_clears(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.judge("fail", "no", model="judge-b")
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES).assert_outcomes(failed=0, passed=6)
    stats = pytester.run(sys.executable, "-m", "pytest_llmonpy", "cache", "stats")
    stats.stdout.fnmatch_lines(
        [
            "verdict cache: .llmonpy",
            "entries: 18",
            "size on disk: *",
            "per judge model:",
            "  judge-a       6 verdicts (6 pass, 0 fail)",
            "  judge-b       6 verdicts (0 pass, 6 fail)",
            "  judge-c       6 verdicts (6 pass, 0 fail)",
        ]
    )
    pytester.run(sys.executable, "-m", "pytest_llmonpy", "cache", "clear").stdout.fnmatch_lines(
        ["cleared 18 cached verdicts from .llmonpy"]
    )
    # Cleared in place (a run using it meanwhile keeps its new verdicts): the cache is there, empty.
    pytester.run(sys.executable, "-m", "pytest_llmonpy", "cache", "stats").stdout.fnmatch_lines(
        ["verdict cache: .llmonpy", "entries: 0"]
    )
    bad = pytester.run(sys.executable, "-m", "pytest_llmonpy", "cache", "sats")
    assert bad.ret == 2
    bad.stderr.fnmatch_lines(["*invalid choice: 'sats' (choose from*stats*clear*"])


def test_bad_mode_is_a_usage_error(pytester: pytest.Pytester, run_inprocess: RunJury) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jury(mode="replya")
        def test_x(jury):
            pass
        """
    )
    result = run_inprocess("--jury-mode=recrod")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: pytest-llmonpy: jury_mode: invalid jury mode 'recrod': use one of record, replay, refresh*"]
    )
    result = run_inprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["pytest-llmonpy: @pytest.mark.jury: invalid jury mode 'replya': use one of*"]
    )


@pytest.mark.xdist_merge
def test_many_workers_record_concurrently_without_losing_entries(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury
) -> None:
    pytester.makepyfile(SUITE.replace("range(6)", "range(40)"))
    run_jury(JUDGES).assert_outcomes(passed=40)
    run_jury(JUDGES, in_this_process=True).assert_outcomes(passed=40)  # every verdict was kept
    assert len(llm_server.calls()) == 120
