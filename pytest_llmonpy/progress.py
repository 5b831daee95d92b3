"""What a waiting user sees: one-time notices (the local judge loading) and a live status line.

No pytest import: the plugin decides where the text goes (the terminal, only when it is one) and
gives a `write` function; this module decides what to say and when.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from pytest_llmonpy.untrusted import printable

# One-time messages of this process (e.g. "loading local judge … 4.2 s"), taken by the plugin after
# each test and shown on the terminal, not in the test's captured output.
_notices: list[str] = []
_notices_lock = threading.Lock()


def post_notice(text: str) -> None:
    with _notices_lock:
        _notices.append(text)


def take_notices() -> list[str]:
    with _notices_lock:
        taken = list(_notices)
        _notices.clear()
    return taken


def ascii_line(text: str, limit: int) -> str:
    """`text` on one line of plain ASCII, at most `limit` characters: its width on any terminal is its
    length, so the status line can be erased exactly."""
    flat = printable(text, None).encode("ascii", "replace").decode("ascii")
    return flat if len(flat) <= limit else flat[: max(limit - 3, 0)] + "..."


class _Wait:
    def __init__(self, label: str, pending: Callable[[], Sequence[str]], started: float) -> None:
        self.label = label
        self.pending = pending
        self.started = started


class StatusLine:
    """A status appended to the terminal's current line while checks wait on judges, erased after.

    Appended, not on a line of its own, so pytest's own line (the test id under -v, the dots without)
    is left exactly as pytest wrote it: erasing writes backspaces over the status only. Shown once a
    wait is `show_after_s` old (0 under -v), refreshed at most every `refresh_s`.
    """

    MIN_ROOM = 24  # below this many free columns a status says nothing useful: show none

    def __init__(
        self,
        write: Callable[[str], None],
        room: Callable[[], int],
        *,
        show_after_s: float,
        refresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._room = room
        self._show_after_s = show_after_s
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._waits: dict[int, _Wait] = {}
        self._ids = itertools.count()
        self._shown = ""
        self._shown_at = 0.0
        # Drawn only while a test's call phase runs: a check left running in a thread after its test
        # ended (an async gather that failed fast) must not write into pytest's report lines.
        self._active = False
        self._broken = False

    @contextmanager
    def waiting(self, label: str, pending: Callable[[], Sequence[str]]) -> Iterator[Callable[[], None]]:
        """While in the block, `label` waits on the judges `pending()` names; yields `tick`, to call
        periodically (from the waiting thread) so the line is shown and its elapsed time refreshed."""
        key = next(self._ids)
        with self._lock:
            self._waits[key] = _Wait(label, pending, self._clock())
        try:
            self.tick()
            yield self.tick
        finally:
            with self._lock:
                del self._waits[key]
                self._render("")

    def activate(self) -> None:
        with self._lock:
            self._active = True

    def deactivate(self) -> None:
        """Erase the line, and draw nothing until `activate`."""
        with self._lock:
            self._render("")
            self._active = False

    def tick(self) -> None:
        with self._lock:
            now = self._clock()
            text = self._text(now)
            if text and self._shown and now - self._shown_at < self._refresh_s:
                return
            self._render(text)
            if text:
                self._shown_at = now

    def _text(self, now: float) -> str:
        due = [wait for wait in self._waits.values() if now - wait.started >= self._show_after_s]
        if not due:
            return ""
        oldest = min(due, key=lambda wait: wait.started)
        judges = list(dict.fromkeys(oldest.pending()))
        if not judges:
            return ""
        more = f" (+{len(due) - 1} more checks)" if len(due) > 1 else ""
        status = (
            f"[llmonpy {now - oldest.started:.0f}s] waiting for {', '.join(judges)}: {oldest.label}{more}"
        )
        room = self._room() - 2  # a space before it, and the last column left free (no line wrap)
        return " " + ascii_line(status, room) if room >= self.MIN_ROOM else ""

    def _render(self, text: str) -> None:
        if text == self._shown or not self._active or self._broken:
            return
        width = len(self._shown)
        erase = "\b" * width + " " * width + "\b" * width
        try:
            self._write(erase + text)
        except (OSError, ValueError):
            # The terminal went away (a closed or broken stream): a status line is not worth failing
            # a check for; show none from now on.
            self._broken = True
            return
        self._shown = text
