"""The live status line and one-time notices, with an injected clock and a recording terminal."""

from __future__ import annotations

import threading

from pytest_llmonpy.progress import StatusLine, ascii_line, post_notice, take_notices


class Terminal:
    """What a terminal would show: backspaces move left, other characters overwrite."""

    def __init__(self, prefix: str = "test_x.py::test_a ") -> None:
        self.cells = list(prefix)
        self.cursor = len(prefix)
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)
        for char in text:
            if char == "\b":
                self.cursor -= 1
            else:
                if self.cursor < len(self.cells):
                    self.cells[self.cursor] = char
                else:
                    self.cells.append(char)
                self.cursor += 1

    @property
    def line(self) -> str:
        return "".join(self.cells[: self.cursor]).rstrip()

    @property
    def visible(self) -> str:
        return "".join(self.cells).rstrip()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def status_line(terminal: Terminal, clock: Clock, *, after: float, room: int = 120) -> StatusLine:
    status = StatusLine(terminal.write, lambda: room, show_after_s=after, clock=clock)
    status.activate()  # as pytest_runtest_call does around a test's call phase
    return status


def test_a_wait_shows_once_it_is_old_enough_and_is_erased_leaving_pytests_line_untouched() -> None:
    terminal, clock = Terminal(), Clock()
    status = status_line(terminal, clock, after=3.0)
    pending = ["judge-a", "judge-b"]
    with status.waiting('judging "Names the capital"', lambda: pending) as tick:
        assert terminal.writes == []  # not yet a few seconds old
        clock.now += 2.9
        tick()
        assert terminal.writes == []
        clock.now += 0.2
        tick()
        assert terminal.visible == (
            'test_x.py::test_a  [llmonpy 3s] waiting for judge-a, judge-b: judging "Names the capital"'
        )
        pending.remove("judge-a")
        clock.now += 1.0
        tick()
        assert terminal.visible.endswith('[llmonpy 4s] waiting for judge-b: judging "Names the capital"')
    assert terminal.visible == "test_x.py::test_a"
    assert terminal.cursor == len("test_x.py::test_a ")  # pytest writes PASSED where it left off


def test_under_verbose_the_line_shows_at_once_and_refreshes_at_most_every_interval() -> None:
    terminal, clock = Terminal(), Clock()
    status = status_line(terminal, clock, after=0.0)
    with status.waiting("judging", lambda: ["judge-a"]) as tick:
        assert "[llmonpy 0s] waiting for judge-a" in terminal.visible
        shown = len(terminal.writes)
        clock.now += 0.5
        tick()
        assert len(terminal.writes) == shown  # nothing to refresh yet
        clock.now += 0.6
        tick()
        assert len(terminal.writes) == shown + 1
        assert "[llmonpy 1s]" in terminal.visible
    assert terminal.visible == "test_x.py::test_a"


def test_a_narrow_terminal_gets_a_cut_line_and_a_too_narrow_one_none() -> None:
    terminal, clock = Terminal(), Clock()
    with status_line(terminal, clock, after=0.0, room=40).waiting("judging " + "x" * 80, lambda: ["j"]):
        shown = terminal.visible.removeprefix("test_x.py::test_a ")
        assert len(shown) == 39
        assert shown.endswith("...")
    assert terminal.visible == "test_x.py::test_a"

    terminal = Terminal()
    with status_line(terminal, clock, after=0.0, room=StatusLine.MIN_ROOM).waiting("judging", lambda: ["j"]):
        assert terminal.writes == []


def test_criteria_cannot_move_the_cursor_or_break_the_erase() -> None:
    terminal, clock = Terminal(), Clock()
    label = 'judging "\x1b[2J\rcafé\nSays ok\b\b"'
    with status_line(terminal, clock, after=0.0).waiting(label, lambda: ["judge-a"]):
        written = "".join(terminal.writes)
        assert "\x1b" not in written
        assert "\r" not in written
        assert "\n" not in written
        assert written.isascii()
        assert "\b" not in written
    assert terminal.visible == "test_x.py::test_a"


def test_concurrent_checks_share_one_line_naming_the_oldest() -> None:
    terminal, clock = Terminal(), Clock()
    status = status_line(terminal, clock, after=0.0)
    with status.waiting("judging one", lambda: ["judge-a"]):
        clock.now += 1.0
        with status.waiting("judging two", lambda: ["judge-b"]) as tick:
            clock.now += 1.0
            tick()
            assert "waiting for judge-a: judging one (+1 more checks)" in terminal.visible
        clock.now += 1.0
        status.tick()
        assert terminal.visible.endswith("[llmonpy 3s] waiting for judge-a: judging one")
    assert terminal.visible == "test_x.py::test_a"


def test_a_wait_with_no_judge_left_shows_nothing() -> None:
    terminal, clock = Terminal(), Clock()
    with status_line(terminal, clock, after=0.0).waiting("judging", list):
        assert terminal.writes == []


def test_ascii_line_keeps_plain_text_and_cuts_the_rest() -> None:
    assert ascii_line("waiting for judge-a", 80) == "waiting for judge-a"
    assert ascii_line("naïve", 80) == "na?ve"
    assert ascii_line("a" * 10, 6) == "aaa..."


def test_notices_are_taken_once_from_any_thread() -> None:
    take_notices()
    thread = threading.Thread(target=post_notice, args=("loading local judge ... 4.2 s",))
    thread.start()
    thread.join()
    post_notice("second")
    assert take_notices() == ["loading local judge ... 4.2 s", "second"]
    assert take_notices() == []


def test_nothing_is_drawn_outside_a_tests_call_phase_and_leaving_it_erases_the_line() -> None:
    terminal, clock = Terminal(), Clock()
    status = StatusLine(terminal.write, lambda: 120, show_after_s=0.0, clock=clock)
    with status.waiting("judging early", lambda: ["judge-a"]) as tick:
        tick()
        assert terminal.writes == []  # e.g. a check made while pytest reports another test
        status.activate()
        clock.now += 1.0
        tick()
        assert "waiting for judge-a" in terminal.visible
        status.deactivate()  # the test's call phase ended, its check still runs in a thread
        assert terminal.visible == "test_x.py::test_a"
        written = len(terminal.writes)
        clock.now += 5.0
        tick()
    assert len(terminal.writes) == written


def test_a_terminal_that_fails_to_write_turns_the_line_off_instead_of_failing_the_check() -> None:
    clock = Clock()
    attempts: list[str] = []

    def broken(text: str) -> None:
        attempts.append(text)
        raise OSError(5, "Input/output error")

    status = StatusLine(broken, lambda: 120, show_after_s=0.0, clock=clock)
    status.activate()
    with status.waiting("judging", lambda: ["judge-a"]) as tick:
        clock.now += 2.0
        tick()
    assert len(attempts) == 1
