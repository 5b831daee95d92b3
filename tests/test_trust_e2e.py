"""End-to-end: paid votes are never dropped, bad settings fail before anything is paid, interrupts
leave finished votes cached and no task pending. Real pytest runs through litellm to the loopback
server, serially and with `-n 2`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FAKE_API_KEY, RunJury, inprocess_run
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"
# One call at a time, in the jury's order: judge-a and judge-b have answered before judge-c is asked,
# whatever the machine's speed.
IN_ORDER = "--jury-concurrency=1"

ONE_CHECK = """
def test_check(jury):
    jury.assert_passes("the answer", "Is an answer")
"""


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refused_judge_is_a_config_error_and_the_votes_already_paid_are_kept(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury, status: int
) -> None:
    """What the plugin does with a refusal: in-process (the fault matrix refuses judges through
    litellm's real HTTP path, with each of these statuses)."""
    llm_server.judge("pass", "fine", usage=(100, 10))
    llm_server.inject(model="judge-c", status=status, times=99)
    pytester.makepyfile(ONE_CHECK)
    result = run_inprocess(JUDGES, IN_ORDER, "--jury-report=report.json", "--jury-max-cost=1")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "JuryConfigError" in output
    assert "judge 'judge-c' was refused by its provider" in output
    assert f"HTTP {status}" in output
    assert "ABSTAIN" not in output
    # Refused once, not retried; judge-a and judge-b answered and were paid for.
    assert len(llm_server.calls("judge-c", status=status)) == 1
    assert [c.model for c in llm_server.calls()] == ["judge-a", "judge-b"]
    report = json.loads((pytester.path / "report.json").read_text())
    assert report["totals"]["live_calls"] == 2
    assert report["totals"]["tokens_in"] == 200
    assert FAKE_API_KEY not in output + (pytester.path / "report.json").read_text()

    # Fixed: only the judge that was refused is asked again; the others' votes were cached.
    llm_server.reset()
    llm_server.judge("pass", "fine")
    run_inprocess(JUDGES, IN_ORDER).assert_outcomes(passed=1)
    assert [c.model for c in llm_server.calls()] == ["judge-c"]


def test_votes_paid_before_a_refusal_are_charged_to_the_budget(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury
) -> None:
    """A refused judge used to drop its batch's finished votes: the budget never saw their cost."""
    llm_server.judge("pass", "fine", usage=(1000, 100))
    llm_server.inject(model="judge-c", status=401, times=99)
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmonpy import JuryConfigError

        @pytest.mark.parametrize("n", range(4))
        def test_check(jury, n):
            with pytest.raises(JuryConfigError):
                jury.check(f"answer {n}", "Is an answer")
        """
    )
    # judge-a and judge-b answer at gpt-4o-mini prices, well over this budget after the first test.
    result = run_jury("--jury-judges=openai/gpt-4o-mini,judge-b,judge-c", IN_ORDER, "--jury-max-cost=0.0001")
    # The first check's finished votes spend the budget: the other three are stopped before any call.
    result.assert_outcomes(passed=1, failed=3)
    assert result.stdout.str().count("BudgetExceededError") >= 3
    assert len(llm_server.calls("gpt-4o-mini")) == 1  # litellm strips "openai/" before sending


def test_settings_that_cannot_judge_fail_at_start_up_before_any_call(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(ONE_CHECK)
    overlap = run_inprocess(JUDGES, "--jury-escalation=judge-c,judge-d")
    assert overlap.ret == pytest.ExitCode.USAGE_ERROR
    overlap.stderr.fnmatch_lines(["*jury_escalation: judge-c is also in the jury*"])
    small = run_inprocess(JUDGES, "--jury-quorum=3", "--jury-escalation=judge-d,judge-e")
    assert small.ret == pytest.ExitCode.USAGE_ERROR
    small.stderr.fnmatch_lines(["*jury_escalation: quorum 3 needs 3 pass votes but the jury has only 2*"])
    assert llm_server.calls(status=None) == []


def test_a_marker_that_makes_escalation_overlap_fails_at_setup(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jury(escalate_to=["judge-a", "judge-z"])
        def test_check(jury):
            jury.assert_passes("the answer", "Is an answer")
        """
    )
    result = run_inprocess(JUDGES)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pytest-llmonpy: jury_escalation: judge-a is also in the jury*"])
    assert llm_server.calls(status=None) == []


def test_text_that_is_not_valid_utf8_is_a_type_error_before_any_call(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("where", ["output", "criteria", "input", "reference", "context", "nested"])
        def test_check(jury, where):
            bad = "caf\\udce9"
            kwargs = {"output": "ok", "criteria": "Is ok"}
            if where == "nested":
                kwargs["output"] = {"text": bad}
            else:
                kwargs[where] = bad
            with pytest.raises(TypeError, match="cannot be encoded as UTF-8"):
                jury.check(kwargs.pop("output"), kwargs.pop("criteria"), **kwargs)
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=6)
    assert llm_server.calls(status=None) == []


def test_async_checks_keep_the_tests_event_loop_free(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    """The cache, budget and judges are used from a worker thread: the test's loop keeps running.

    judge-b's reply is held until the test's own loop has ticked TICKS times. A jury that blocked the
    loop would get that reply only when the hold gives up, with the gate still shut: a count fails it.
    """
    pytester.makepyfile(
        """
        import asyncio
        import threading

        import pytest

        TICKS = 5

        @pytest.mark.asyncio
        async def test_check(jury, scripted_server):
            gate = scripted_server.hold_replies("judge-b")
            ticks = 0
            loop_thread = threading.get_ident()
            seen = set()

            async def ticker():
                nonlocal ticks
                while ticks < TICKS:
                    ticks += 1
                    await asyncio.sleep(0)
                gate.set()  # judge-b answers only once the loop has run this often

            task = asyncio.create_task(ticker())
            import pytest_llmonpy.cache as cache_module
            original = cache_module.VerdictCache.get_many

            def spy(self, *args, **kwargs):
                seen.add(threading.get_ident())
                return original(self, *args, **kwargs)

            cache_module.VerdictCache.get_many = spy
            try:
                verdict = await jury.acheck("the answer", "Is an answer")
                opened_before_the_verdict = gate.is_set()
                comparison = await jury.acompare("one", "two", "Is better")
            finally:
                cache_module.VerdictCache.get_many = original
                task.cancel()
            assert verdict.passed and comparison.winner in ("a", "b", "tie")
            assert opened_before_the_verdict  # the loop ran while judge-b's reply was held
            assert seen and loop_thread not in seen  # no SQLite on the test's loop
            assert len(scripted_server.calls("judge-b")) == 3  # one check, both orders of the pair
        """
    )
    run_inprocess(JUDGES, "-p", "asyncio", "-o", "asyncio_mode=strict").assert_outcomes(passed=1)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_an_interrupted_run_keeps_the_votes_answered_before_it(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    judge_env: None,
    litellm_in_this_process: None,
    stop: signal.Signals,
) -> None:
    """Stopped while judge-c hangs: judge-a's and judge-b's votes are cached as they arrived (even when
    the process is killed outright); after SIGINT they are in the report and no task is left pending."""
    llm_server.inject(model="judge-c", delay_s=60)
    pytester.makepyfile(ONE_CHECK)
    pytest_args = [
        "-p",
        "no:cacheprovider",
        f"--jury-api-base={llm_server.url}",
        JUDGES,
        IN_ORDER,
        "--jury-timeout=120",
        "--jury-report=report.json",
    ]
    with subprocess.Popen(
        [sys.executable, "-m", "pytest", *pytest_args],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A run started in the background by a non-interactive shell (`cmd &`, nohup) ignores SIGINT,
        # and its children inherit that: Python then never raises KeyboardInterrupt. The stopped run
        # gets SIGINT as a terminal would give it.
        preexec_fn=_default_sigint,
    ) as process:
        # Bounded wait for judge-c's request (one call at a time: judge-a and judge-b have answered).
        for _ in range(2400):
            if llm_server.calls("judge-c", status=None):
                break
            time.sleep(0.05)
        else:
            process.kill()
            pytest.fail(f"judge-c was never asked: {process.communicate()[0]}")
        signals = signal_state(process.pid)
        process.send_signal(stop)
        output, _ = process.communicate(timeout=120)
    if stop == signal.SIGINT:
        # Where the signal went if it didn't stop the run: what each thread blocked, ignored, caught.
        shown = f"{output}\nsignal state when sent: {signals}"
        assert_clean_interrupt(process.returncode, shown, pytester.path)
    else:
        assert process.returncode == -signal.SIGKILL

    llm_server.reset()
    # What the stopped run left behind, checked by a run in this process (through litellm).
    rerun = inprocess_run(pytester, pytest_args, ())
    assert rerun.ret == 0, "\n".join(rerun.outlines + rerun.errlines)
    assert [c.model for c in llm_server.calls()] == ["judge-c"]
    assert "Task was destroyed" not in rerun.stdout.str() + rerun.stderr.str()


@pytest.mark.measure_subprocesses
def test_a_killed_worker_s_paid_votes_are_still_in_the_cost_report(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None
) -> None:
    """The test's record dies with its worker; the run's spend journal still counts its votes."""
    llm_server.judge("pass", "fine", usage=(100, 10))
    pytester.makepyfile(
        """
        import os, signal

        def test_dies(jury):
            jury.check("about to die", "Is an answer")
            os.kill(os.getpid(), signal.SIGKILL)

        def test_lives(jury):
            jury.check("still here", "Is an answer")
        """
    )
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--jury-api-base={llm_server.url}",
        JUDGES,
        "-n",
        "2",
        "--jury-report=report.json",
        timeout=300,
    )
    result.assert_outcomes(passed=1, failed=1)
    report = json.loads((pytester.path / "report.json").read_text())
    assert len(llm_server.calls()) == 6
    assert report["totals"]["live_calls"] == 6
    assert report["totals"]["tokens_in"] == 600
    result.stdout.fnmatch_lines(["*judge calls: 6 live, 0 cached*"])


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_state(pid: int) -> list[str]:
    """Per thread of process `pid`: its name and its blocked, ignored and caught signal masks."""
    state = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        try:
            lines = (task / "status").read_text().splitlines()
        except OSError:
            continue
        wanted = [line for line in lines if line.startswith(("Name:", "SigBlk:", "SigIgn:", "SigCgt:"))]
        state.append(" ".join(" ".join(line.split()) for line in wanted))
    return state


def assert_clean_interrupt(returncode: int, output: str, path: Path) -> None:
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    assert "Task was destroyed but it is pending" not in output
    assert "Traceback" not in output.split("KeyboardInterrupt")[0]
    # The two answers were paid for: the cost report counts them though the test never finished.
    report = json.loads((path / "report.json").read_text())
    assert report["totals"]["live_calls"] == 2
    assert "judge calls: 2 live, 0 cached" in output


def test_the_first_call_imports_nothing_after_the_warm_up(tmp_path: Path, llm_server: FakeLLMServer) -> None:
    """litellm's lazy first-call setup happens in warm_up, before any judge's clock starts: the first
    judged call imports no module of its own (on a busy machine those imports took seconds and were
    reported as the judge timing out)."""
    llm_server.judge("pass", "fine")
    script = tmp_path / "probe.py"
    script.write_text(
        f"""
import json, sys
from pytest_llmonpy.judges import JudgeCaller
from pytest_llmonpy.prompts import Case

caller = JudgeCaller(4)
caller.warm_up()
before = set(sys.modules)
votes = caller.judge_calls([("judge-a", Case("x", "y"))], {llm_server.url!r}, 60.0)
after = set(sys.modules)
caller.close()
print(json.dumps({{"vote": votes[0].vote, "new": sorted(after - before)}}))
"""
    )
    env = {**os.environ, "OPENAI_API_KEY": FAKE_API_KEY}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["vote"] == "pass"
    assert probe["new"] == []
