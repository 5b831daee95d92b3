"""A per-run journal of live votes, so their cost is reported even when a process dies mid-test.

A test's votes reach the cost report on its pytest report; a test whose process is killed (an xdist
worker out of memory, a crash in the code under test) never gets one. So each process appends one
JSON line per live vote to its own file in a private per-run directory, and one line once a test's
record is on its way to the controller. At the end of the run the controller counts the votes of
tests that never got there. JSON lines only (never pickle); one small append per live vote, none on
a cached run. No pytest import.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import IO, Any

from pytest_llmonpy.shared_dirs import prepare_private_directory, user_temp_directory


def journal_directory(run_id: str) -> Path:
    return user_temp_directory("journal") / run_id


class SpendJournal:
    """This process's journal file for one run; created on the first live vote."""

    def __init__(self, run_id: str) -> None:
        self.directory = journal_directory(run_id)
        self._file: IO[str] | None = None
        self._broken = False
        self._lock = threading.Lock()

    def record_vote(self, test_id: str, vote: dict[str, Any]) -> None:
        """A live vote of `test_id`: paid for, whatever happens to the process next."""
        self._write({"test": test_id, "vote": vote}, create=True)

    def record_reported(self, test_id: str) -> None:
        """`test_id`'s votes travel with its report (or a worker's output): not counted from here."""
        self._write({"reported": test_id}, create=False)

    def _write(self, entry: dict[str, Any], *, create: bool) -> None:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file is None and (not create or self._broken):
                return
            try:
                if self._file is None:
                    prepare_private_directory(self.directory.parent)
                    prepare_private_directory(self.directory)
                    self._file = (self.directory / f"{os.getpid()}.jsonl").open("a", encoding="utf-8")
                self._file.write(line)
                self._file.flush()  # on disk before the next call: a killed process keeps its lines
            except OSError:
                self._broken = True  # a journal that cannot be written must never fail a test

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def unreported_votes(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Per test id, the live votes journaled by any process of the run for tests never reported."""
    votes: dict[str, list[dict[str, Any]]] = {}
    reported: set[str] = set()
    for path in sorted(directory.glob("*.jsonl")) if directory.is_dir() else []:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # the last line of a process killed mid-write
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("reported"), str):
                reported.add(entry["reported"])
            elif isinstance(entry.get("test"), str) and isinstance(entry.get("vote"), dict):
                votes.setdefault(entry["test"], []).append(entry["vote"])
    return {test_id: found for test_id, found in votes.items() if test_id not in reported}


def remove_journal(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    # The per-user parent too, once no other run uses it: a run leaves nothing in the temp directory.
    with contextlib.suppress(OSError):
        directory.parent.rmdir()
