"""End-to-end: the live status line on a real pseudo-terminal, and nothing of it where it must not show.

pytest runs in a subprocess whose output is a pty (so it believes it prints to a terminal), judged by
the loopback server through litellm.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer

TEST_FILE = """
def test_capital(jury):
    jury.assert_passes("Paris is the capital of France.", "Names Paris as the capital")
"""


def run_on_a_terminal(pytester: pytest.Pytester, *args: str, timeout: float = 180) -> str:
    """Run pytest with a pty as its stdin, stdout and stderr; everything it wrote, raw."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-p",
            "no:asyncio",
            *args,
        ],
        cwd=pytester.path,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout  # a guard against a hung child, not a speed assertion
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
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
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None
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
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None
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
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None
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
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None
) -> None:
    pytester.makepyfile(test_jury=TEST_FILE)
    raw = run_on_a_terminal(
        pytester, "-v", "-o", "log_cli=true", "--jury-judges=judge-a", f"--jury-api-base={llm_server.url}"
    )
    assert "1 passed" in raw
    assert "[llmonpy" not in raw
