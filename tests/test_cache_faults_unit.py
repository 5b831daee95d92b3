"""Unit tests of the stores under faults: tampered rows, pickles, read-only and vanished caches, prune.

Issue 11: no lost spend, no stale replay, no harm from a tampered cache. The modules are imported
whole and their names looked up in each test, so every test fails on its own on a version without the
fix (instead of the whole file failing to import).
"""

from __future__ import annotations

import datetime
import os
import pickle
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import diskcache
import pytest

import pytest_llmonpy.budget as budget_module
import pytest_llmonpy.cache as cache_module
import pytest_llmonpy.cli as cli_module
from pytest_llmonpy import CacheWarning
from pytest_llmonpy.baselines import write_baselines
from pytest_llmonpy.money import Cost
from pytest_llmonpy.prompts import Case
from pytest_llmonpy.verdict import Vote

CASE = Case(output="Canberra", criteria="Names the capital")
OTHER = Case(output="Sydney", criteria="Names the capital")
VOTE = Vote("judge-a", "pass", "ok", 10, 2, 0.001, 0.1)


def _db(root: Path) -> Path:
    return root / "verdicts" / "cache.db"


def _edit(db: Path, statement: str, *args: object) -> None:
    con = sqlite3.connect(db)
    with con:
        con.execute(statement, args)
    con.close()


def _recorded(root: Path, case: Case = CASE, **kwargs: object) -> cache_module.VerdictCache:
    """A cache under `root` holding VOTE on `case`, closed (so the test can edit its database)."""
    cache = cache_module.VerdictCache(root, **kwargs)  # type: ignore[arg-type]
    cache.put(VOTE, case)
    cache.close()
    return cache


class PickleBomb:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (Path(self.path), "unpickled!"))  # type: ignore[return-value]


# -- 1. rows that point at files ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_a_row_pointing_at_a_file_is_never_opened_nor_deleted(tmp_path: Path, how: str) -> None:
    root = tmp_path / "project" / ".llmonpy"
    _recorded(root)
    # The canary holds a valid entry: a Disk that follows `filename` would turn it into a cached vote.
    canary = tmp_path / "outside" / "deep" / "canary.json"
    canary.parent.mkdir(parents=True)
    forged = cache_module._encode(Vote("judge-a", "fail", "forged"), CASE)
    canary.write_text(forged, encoding="utf-8")
    filename = str(canary) if how == "absolute" else "../../../outside/deep/canary.json"
    assert (_db(root).parent / filename).resolve() == canary.resolve()
    forge = "UPDATE Cache SET mode = ?, filename = ?, value = NULL"
    _edit(_db(root), forge, diskcache.core.MODE_TEXT, filename)

    cache = cache_module.VerdictCache(root)
    with pytest.warns(CacheWarning, match="points at a file"):
        assert cache.get("judge-a", CASE) is None  # a miss, not the forged vote
    cache.put(VOTE, CASE)  # re-recording replaces the row: diskcache then "removes" its old file
    assert cache.get("judge-a", CASE) == Vote("judge-a", "pass", "ok", 10, 2, 0.001, 0.1, cached=True)
    cache.close()
    assert canary.read_text(encoding="utf-8") == forged
    assert canary.parent.is_dir()  # nor its (otherwise empty) folders


def test_clearing_a_cache_with_forged_file_rows_deletes_no_file(tmp_path: Path) -> None:
    root = tmp_path / ".llmonpy"
    _recorded(root)
    canary = tmp_path / "keep" / "me.txt"
    canary.parent.mkdir()
    canary.write_text("precious", encoding="utf-8")
    _edit(_db(root), "UPDATE Cache SET mode = ?, filename = ?", diskcache.core.MODE_BINARY, str(canary))
    assert cache_module.clear_directory(root) == 1
    assert canary.read_text(encoding="utf-8") == "precious"


_DEV_ZERO_LOOKUP = """
import sys, warnings
from pathlib import Path
from pytest_llmonpy.cache import VerdictCache
from pytest_llmonpy.prompts import Case

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    case = Case(output="Canberra", criteria="Names the capital")
    vote = VerdictCache(Path(sys.argv[1])).get("judge-a", case)
print("VOTE", vote)
print("WARNINGS", [str(w.message) for w in caught])
"""


def _limit_memory() -> None:
    # A regression that reads /dev/zero must fail fast with MemoryError, not eat the machine's memory.
    resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("mode", [diskcache.core.MODE_TEXT, diskcache.core.MODE_BINARY])
def test_a_row_pointing_at_dev_zero_is_a_miss_not_a_memory_error(tmp_path: Path, mode: int) -> None:
    root = tmp_path / ".llmonpy"
    _recorded(root)
    _edit(_db(root), "UPDATE Cache SET mode = ?, filename = '/dev/zero', value = NULL", mode)
    result = subprocess.run(
        [sys.executable, "-c", _DEV_ZERO_LOOKUP, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "VOTE None" in result.stdout
    assert "points at a file" in result.stdout


# -- 2. the budget counter and the baseline lock store: JSON only, private directories ----------


def test_budget_counter_refuses_a_planted_pickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    budget = budget_module.RunBudget(Cost.of_usd(1.0), "run-1")
    budget.charge(Cost.of_usd(0.25))
    assert budget.spent() == Cost.of_usd(0.25)
    budget.close()
    assert (budget.directory.stat().st_mode & 0o777) == 0o700
    canary = tmp_path / "pwned"
    _edit(
        budget.directory / "cache.db",
        "UPDATE Cache SET mode = ?, value = ?",
        diskcache.core.MODE_PICKLE,
        pickle.dumps(PickleBomb(str(canary))),
    )
    budget = budget_module.RunBudget(Cost.of_usd(1.0), "run-1")
    with pytest.raises(ValueError, match="pickled value"):
        budget.spent()
    budget.close(remove=True)
    assert not canary.exists()


def test_budget_directory_refuses_a_planted_symlink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    budget_module.budget_directory("run-2").symlink_to(elsewhere)
    budget = budget_module.RunBudget(Cost.of_usd(1.0), "run-2")
    with pytest.raises(OSError, match="not a plain directory"):
        budget.charge(Cost.of_usd(0.1))
    assert list(elsewhere.iterdir()) == []


def test_no_store_ever_pickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock store keeps None (diskcache.Lock's value) and the budget ints, both without pickle."""

    def refuse(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("pickle.dumps was called")

    monkeypatch.setattr(pickle, "dumps", refuse)  # what diskcache's default Disk calls
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    path = tmp_path / "__llm_baselines__" / "test_x.json"
    assert write_baselines(path, {"test_a": {"criteria": "c", "output": ["o"]}}, (), tmp_path / "locks")
    assert (tmp_path / "locks").stat().st_mode & 0o777 == 0o700
    budget = budget_module.RunBudget(Cost.of_usd(1.0), "run-3")
    budget.charge(Cost.of_usd(0.5))
    assert budget.spent() == Cost.of_usd(0.5)
    budget.close(remove=True)
    cache = cache_module.VerdictCache(tmp_path / ".llmonpy", run_id="run-3")
    cache.put(VOTE, CASE)
    assert cache.get("judge-a", CASE) is not None
    cache.close()


def test_a_forged_lock_row_deletes_no_file(tmp_path: Path) -> None:
    canary = tmp_path / "keep" / "me.txt"
    canary.parent.mkdir()
    canary.write_text("precious", encoding="utf-8")
    locks = tmp_path / "locks"
    path = tmp_path / "__llm_baselines__" / "test_x.json"
    write_baselines(path, {"test_a": {"criteria": "c", "output": ["o"]}}, (), locks)
    # An expired lock row for the same file that names the canary: taking the lock replaces the row.
    con = sqlite3.connect(locks / "cache.db")
    with con:
        con.execute(
            "INSERT INTO Cache (key, raw, store_time, expire_time, access_time, mode, filename, value)"
            " VALUES (?, 1, 0, 1, 0, ?, ?, NULL)",
            (f"baselines:{path.resolve()}", diskcache.core.MODE_BINARY, str(canary)),
        )
    con.close()
    assert write_baselines(path, {"test_b": {"criteria": "c", "output": ["o"]}}, (), locks)
    assert canary.read_text(encoding="utf-8") == "precious"


# -- 3. a cache deleted or cleared during the run --------------------------------------------------


def test_a_cache_deleted_during_the_run_is_recreated_and_keeps_later_verdicts(tmp_path: Path) -> None:
    root = tmp_path / ".llmonpy"
    cache = cache_module.VerdictCache(root)
    cache.put(VOTE, CASE)
    shutil.rmtree(root)  # `rm -rf .llmonpy` while the run goes on
    with pytest.warns(CacheWarning, match="was deleted or replaced during the run"):
        cache.put(VOTE, OTHER)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning, not one per verdict
        cache.put(Vote("judge-b", "pass", "ok"), OTHER)
    cache.close()
    fresh = cache_module.VerdictCache(root)
    assert set(fresh.get_many(["judge-a", "judge-b"], OTHER)) == {"judge-a", "judge-b"}
    assert fresh.get("judge-a", CASE) is None  # what was deleted stays deleted
    fresh.close()


def test_a_cache_cleared_during_the_run_keeps_later_verdicts(tmp_path: Path) -> None:
    root = tmp_path / ".llmonpy"
    cache = cache_module.VerdictCache(root)
    cache.put(VOTE, CASE)
    assert cache_module.clear_directory(root) == 1  # `llmonpy cache clear` from another shell
    assert cache.get("judge-a", CASE) is None
    cache.put(VOTE, OTHER)
    cache.close()
    fresh = cache_module.VerdictCache(root)
    assert fresh.get("judge-a", OTHER) is not None
    fresh.close()


def test_a_replaced_cache_is_not_read_stale(tmp_path: Path) -> None:
    root = tmp_path / ".llmonpy"
    cache = cache_module.VerdictCache(root, mode="replay")
    _recorded(root)
    assert cache.get("judge-a", CASE) is not None
    shutil.rmtree(root / "verdicts")
    _recorded(root, OTHER)  # another process starts a new cache in its place
    with pytest.warns(CacheWarning, match="was deleted or replaced during the run"):
        assert cache.get("judge-a", CASE) is None
    assert cache.get("judge-a", OTHER) is not None
    cache.close()


# -- 4. read-only caches ----------------------------------------------------------------------------


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """Make `paths` immutable (chattr +i): even root cannot write them, like a read-only mount."""
    done: list[Path] = []
    try:
        for path in paths:
            result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
            if result.returncode != 0:
                pytest.skip(f"chattr +i is not available here: {result.stderr.decode(errors='replace')}")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run(["chattr", "-i", str(path)], check=False)


def _read_only_cache(tmp_path: Path) -> Path:
    root = tmp_path / ".llmonpy"
    _recorded(root)
    return root


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr")
def test_replay_reads_a_read_only_cache_without_a_warning(tmp_path: Path) -> None:
    root = _read_only_cache(tmp_path)
    with immutable(_db(root), _db(root).parent):
        cache = cache_module.VerdictCache(root, mode="replay")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert cache.get("judge-a", CASE) is not None
            assert cache.get("judge-a", OTHER) is None
            assert [entry.vote.model for entry in cache.entries()] == ["judge-a"]
        cache.close()


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr")
def test_record_on_a_read_only_cache_uses_it_and_says_new_verdicts_are_not_stored(tmp_path: Path) -> None:
    root = _read_only_cache(tmp_path)
    with immutable(_db(root), _db(root).parent):
        cache = cache_module.VerdictCache(root, mode="record", run_id="run-1")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert cache.get("judge-a", CASE) is not None
            cache.put(VOTE, OTHER)
            cache.put(Vote("judge-b", "pass", "ok"), OTHER)
            cache.close()
    (warning,) = caught  # once, not once per verdict
    assert warning.category is CacheWarning
    assert "read-only: cached verdicts are used, new verdicts are not stored" in str(warning.message)
    assert "judging live" not in str(warning.message)


def test_a_cache_whose_writer_cannot_open_is_read_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where chattr is missing: the same path, with diskcache's (writing) open failing as on a RO mount."""
    root = _read_only_cache(tmp_path)

    def read_only_mount(*args: object, **kwargs: object) -> diskcache.Cache:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(diskcache, "Cache", read_only_mount)
    cache = cache_module.VerdictCache(root, mode="replay")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.get("judge-a", CASE) is not None
    cache.close()


def test_replay_warnings_never_say_judging_live(tmp_path: Path) -> None:
    _db(tmp_path).parent.mkdir(parents=True)
    _db(tmp_path).write_bytes(b"garbage" * 1000)
    cache = cache_module.VerdictCache(tmp_path, mode="replay")
    with pytest.warns(CacheWarning) as caught:
        assert cache.get("judge-a", CASE) is None
    message = str(caught[0].message)
    assert "cannot be opened" in message
    assert "judging live" not in message
    assert "replay" in message


# -- 6. corrupt files ------------------------------------------------------------------------------


def test_random_bytes_are_a_warning_and_a_miss(tmp_path: Path) -> None:
    _db(tmp_path).parent.mkdir(parents=True)
    _db(tmp_path).write_bytes(os.urandom(64 * 1024))
    cache = cache_module.VerdictCache(tmp_path)
    with pytest.warns(CacheWarning):
        assert cache.get("judge-a", CASE) is None
    cache.put(VOTE, CASE)
    assert cache.entries() == []
    cache.close()


def test_a_truncated_cache_is_a_warning_and_a_miss(tmp_path: Path) -> None:
    cache = cache_module.VerdictCache(tmp_path)
    for index in range(300):  # enough rows for the table to span many pages
        cache.put(VOTE, Case(output=f"answer {index} " + "x" * 200, criteria="c"))
    cache.close()
    data = _db(tmp_path).read_bytes()
    _db(tmp_path).write_bytes(data[: len(data) // 3])
    cache = cache_module.VerdictCache(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for index in range(0, 300, 10):
            cache.get("judge-a", Case(output=f"answer {index} " + "x" * 200, criteria="c"))
        cache.put(VOTE, CASE)
        cache.entries()
        cache.close()
    assert caught
    assert all(issubclass(w.category, CacheWarning) for w in caught)


# -- 5. prune: entries not used by the last runs ---------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's clock, set by the test (no test depends on real time passing)."""
    now = [datetime.datetime(2024, 1, 10, 12).timestamp()]
    monkeypatch.setattr(cache_module, "_now", lambda: now[0])
    return now


def _run(root: Path, run_id: str, used: list[Case], new: list[Case]) -> None:
    """One pytest run as the cache sees it: hits on `used`, votes recorded on `new`."""
    cache = cache_module.VerdictCache(root, run_id=run_id)
    for case in used:
        assert cache.get("judge-a", case) is not None
    for case in new:
        cache.put(VOTE, case)
    cache.close()


CASES = [Case(output=f"answer {n}", criteria="c") for n in range(4)]


def test_prune_keeps_what_the_last_runs_used(tmp_path: Path, clock: list[float]) -> None:
    root = tmp_path / ".llmonpy"
    a, b, c, d = CASES
    _run(root, "run-1", [], [a, b])
    clock[0] += 86400
    _run(root, "run-2", [a], [c])
    clock[0] += 86400
    _run(root, "run-3", [c], [d])
    assert "not used by the last run: 2" in cli_module.stats(root)
    dry = cache_module.prune(root, keep_runs=2, dry_run=True)
    assert (dry.removed, dry.kept) == (1, 3)  # b: used by run 1 only
    assert cache_module.prune(root, keep_runs=2).removed == 1
    cache = cache_module.VerdictCache(root)
    kept = {case.output for case in CASES if cache.get("judge-a", case)}
    assert kept == {"answer 0", "answer 2", "answer 3"}
    cache.close()
    assert cache_module.prune(root, keep_runs=1).removed == 1  # a: last used by run 2
    assert "entries: 2" in cli_module.stats(root)


def test_prune_before_a_date_and_both_criteria(tmp_path: Path, clock: list[float]) -> None:
    root = tmp_path / ".llmonpy"
    a, b, c, _ = CASES
    _run(root, "run-1", [], [a, b])  # 2024-01-10
    clock[0] += 5 * 86400
    _run(root, "run-2", [a], [c])  # 2024-01-15
    jan_12 = datetime.date(2024, 1, 12)
    assert cache_module.prune(root, before=jan_12, dry_run=True).removed == 1  # b
    # Both given: an entry goes only if it is old by both (a was used by run 2: kept either way).
    assert cache_module.prune(root, keep_runs=1, before=datetime.date(2024, 1, 11)).removed == 1
    assert cache_module.prune(root, before=datetime.date(2024, 1, 16)).removed == 2


def test_runs_of_one_xdist_session_count_as_one_run(tmp_path: Path, clock: list[float]) -> None:
    root = tmp_path / ".llmonpy"
    a, b, c, _ = CASES
    _run(root, "run-1", [], [a, b, c])
    _run(root, "run-2", [a], [])  # worker gw0
    _run(root, "run-2", [b], [])  # worker gw1, same run id
    assert "not used by the last run: 1" in cli_module.stats(root)
    assert cache_module.prune(root, keep_runs=1).removed == 1
    assert "entries: 2" in cli_module.stats(root)


def test_usage_is_stored_as_json_without_pickle(tmp_path: Path, clock: list[float]) -> None:
    root = tmp_path / ".llmonpy"
    _run(root, "run-1", [], CASES)
    con = sqlite3.connect(_db(root))
    rows = con.execute("SELECT raw, mode, filename, typeof(value) FROM Cache").fetchall()
    con.close()
    assert rows
    assert set(rows) == {(1, diskcache.core.MODE_RAW, None, "text")}


def test_prune_cli(tmp_path: Path, clock: list[float], capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / ".llmonpy"
    a, b, *_ = CASES
    _run(root, "run-1", [], [a, b])
    _run(root, "run-2", [a], [])
    assert cli_module.main(["cache", "prune", "--keep-runs", "1", "--dir", str(root), "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith(f"would remove 1 of 2 cached verdicts from {root}")
    assert cli_module.main(["cache", "prune", "--keep-runs", "1", "--dir", str(root)]) == 0
    assert capsys.readouterr().out.startswith(f"removed 1 of 2 cached verdicts from {root}")
    with pytest.raises(SystemExit):
        cli_module.main(["cache", "prune", "--dir", str(root)])
    assert "--keep-runs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_module.main(["cache", "prune", "--before", "last tuesday", "--dir", str(root)])
    assert "YYYY-MM-DD" in capsys.readouterr().err
