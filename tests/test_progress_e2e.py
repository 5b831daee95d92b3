"""End-to-end: the live status line on a real pseudo-terminal, and nothing of it where it must not show.

pytest prints to a pty (so it believes it prints to a terminal), judged by the loopback server through
litellm.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import sys
import termios
import threading
import warnings

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer

TEST_FILE = """
def test_capital(jury):
    jury.assert_passes("Paris is the capital of France.", "Names Paris as the capital")
"""


def run_on_a_terminal(pytester: pytest.Pytester, *args: str) -> str:
    """Run pytest in this process with a pty as its terminal (sys.stdout and sys.stderr); everything it
    wrote, raw. The judges go through litellm's real HTTP path, imported once per worker; a subprocess
    would add a cold litellm import and nothing the terminal shows."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    terminal = os.fdopen(slave, "w", encoding="utf-8", errors="replace")
    chunks: list[bytes] = []

    def read_all() -> None:  # drained all along, so a full pty buffer never blocks pytest's writes
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal was closed
                return
            if not data:
                return
            chunks.append(data)

    # pytest-asyncio only where a test asks for it, with the option it warns about at start-up set.
    plugin_args = (
        ["-o", "asyncio_default_fixture_loop_scope=function"] if "asyncio" in args else ["-p", "no:asyncio"]
    )
    reader = threading.Thread(target=read_all, name="pty-reader", daemon=True)
    reader.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("COLUMNS", "160")
            patch.setenv("TERM", "xterm")
            patch.setattr(sys, "stdout", terminal)
            patch.setattr(sys, "stderr", terminal)
            with warnings.catch_warnings():
                warnings.resetwarnings()  # the filters of a fresh interpreter, as in inprocess_run
                pytester.inline_run("-p", "no:cacheprovider", "-p", "no:randomly", *plugin_args, *args)
        terminal.flush()
    finally:
        terminal.close()  # the reader sees EIO once the last writer end is gone
        reader.join(timeout=60)  # a guard against a stuck read, not a speed assertion
        os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def erased(raw: str) -> str:
    """What the terminal shows after backspaces: each moves left, the next character overwrites."""
    lines: list[str] = []
    for raw_line in raw.replace("\r\n", "\n").split("\n"):
        cells: list[str] = []
        cursor = 0
        for char in raw_line:
            if char == "\b":
                cursor = max(cursor - 1, 0)
            elif char == "\r":
                cursor = 0
            else:
                if cursor < len(cells):
                    cells[cursor] = char
                else:
                    cells.append(char)
                cursor += 1
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


def test_verbose_run_on_a_terminal_shows_which_judges_a_check_waits_for_then_erases_it(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    judge_env: None,
    litellm_in_this_process: None,
) -> None:
    pytester.makepyfile(test_jury=TEST_FILE)
    raw = run_on_a_terminal(
        pytester, "-v", "--jury-judges=judge-a,judge-b", f"--jury-api-base={llm_server.url}"
    )
    assert '[llmonpy 0s] waiting for judge-a, judge-b: judging "Names Paris as the capital"' in raw
    shown = erased(raw)
    assert "[llmonpy" not in shown, "the status line is erased once the verdict is in"
    assert "test_jury.py::test_capital PASSED" in shown.replace("  ", " ")
    assert len(llm_server.calls()) == 2


def test_a_check_waiting_a_few_seconds_shows_the_line_without_verbose(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    judge_env: None,
    litellm_in_this_process: None,
) -> None:
    # The judge takes 4 s to answer: longer than the 3 s after which a wait is shown (a busy machine
    # only makes the wait longer, so the line shows whatever the load).
    llm_server.inject(model="judge-a", delay_s=4.0)
    pytester.makepyfile(test_jury=TEST_FILE)
    raw = run_on_a_terminal(pytester, "--jury-judges=judge-a", f"--jury-api-base={llm_server.url}")
    assert "waiting for judge-a: judging" in raw
    assert "[llmonpy 0s]" not in raw
    assert "[llmonpy" not in erased(raw)
    assert "1 passed" in raw


@pytest.mark.parametrize("where", ["quiet terminal", "pipe"])
def test_no_status_line_under_quiet_or_when_output_is_not_a_terminal(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury, where: str
) -> None:
    pytester.makepyfile(test_jury=TEST_FILE)
    if where == "pipe":
        result = run_jury("-v", "--jury-judges=judge-a")
        result.assert_outcomes(passed=1)
        output = result.stdout.str() + result.stderr.str()
    else:
        output = run_on_a_terminal(
            pytester, "-q", "--jury-judges=judge-a", f"--jury-api-base={llm_server.url}"
        )
        assert "1 passed" in output
    assert "[llmonpy" not in output
    assert "\b" not in output


def test_a_check_outliving_its_test_draws_nothing_into_pytests_report(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    judge_env: None,
    litellm_in_this_process: None,
) -> None:
    # gather() raises as soon as the fast check fails; the slow one goes on in its thread while pytest
    # writes the test's result.
    llm_server.judge("fail", "wrong", output_contains="bad")
    llm_server.inject(model="judge-a", delay_s=3.0, criteria_contains="slow criteria")
    pytester.makepyfile(
        test_jury="""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_gather(jury):
            await asyncio.gather(
                jury.aassert_passes("bad", "fast criteria"), jury.aassert_passes("ok", "slow criteria")
            )

        def test_after(jury):
            jury.assert_passes("ok", "other criteria")
        """
    )
    raw = run_on_a_terminal(
        pytester, "-v", "-p", "asyncio", "--jury-judges=judge-a", f"--jury-api-base={llm_server.url}"
    )
    shown = erased(raw)
    assert "[llmonpy" not in shown
    lines = [" ".join(line.split()) for line in shown.splitlines()]
    assert "test_jury.py::test_gather FAILED [ 50%]" in lines
    assert "test_jury.py::test_after PASSED [100%]" in lines


def test_no_status_line_when_live_logs_share_the_terminal(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    judge_env: None,
    litellm_in_this_process: None,
) -> None:
    pytester.makepyfile(test_jury=TEST_FILE)
    raw = run_on_a_terminal(
        pytester, "-v", "-o", "log_cli=true", "--jury-judges=judge-a", f"--jury-api-base={llm_server.url}"
    )
    assert "1 passed" in raw
    assert "[llmonpy" not in raw
