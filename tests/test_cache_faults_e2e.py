"""End-to-end: the verdict cache under faults.

A tampered cache does no harm outside itself, a cache deleted or cleared during a run loses no later
verdict, a read-only cache is still replayed, and `cache prune` keeps what the last runs used.

These test the cache, not the judge path: they run in-process against scripted judges, except the
read-only cache, which a fresh interpreter asks through litellm's real HTTP path (a restored CI cache
is opened by a process that never wrote it).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys

import diskcache
import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer
from test_cache_faults_unit import immutable

JUDGES = "--jury-judges=judge-a,judge-b"

SUITE = """
import pytest

@pytest.mark.parametrize("n", range(4))
def test_answer(jury, n):
    assert jury.check(f"answer {n}", "Is a numbered answer")
"""


def test_a_row_pointing_outside_the_cache_touches_nothing_there(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES).assert_outcomes(passed=4)
    canary = pytester.path.parent / f"{pytester.path.name}-canary" / "canary.txt"
    canary.parent.mkdir()
    canary.write_text("precious", encoding="utf-8")
    db = sqlite3.connect(pytester.path / ".llmonpy" / "verdicts" / "cache.db")
    with db:  # every verdict row now names the canary, once by absolute and once by relative path
        db.execute(
            "UPDATE Cache SET mode = ?, filename = ?, value = NULL WHERE key LIKE 'v%' AND rowid % 2 = 0",
            (diskcache.core.MODE_TEXT, str(canary)),
        )
        db.execute(
            "UPDATE Cache SET mode = ?, filename = ?, value = NULL WHERE key LIKE 'v%' AND rowid % 2 = 1",
            (diskcache.core.MODE_BINARY, f"../../../{canary.parent.name}/canary.txt"),
        )
    db.close()
    result = run_inprocess(JUDGES, "-W", "default")  # looks every row up, then records each again
    result.assert_outcomes(passed=4, warnings=result.parseoutcomes().get("warnings", 0))
    assert canary.read_text(encoding="utf-8") == "precious"
    assert len(llm_server.calls()) == 16
    result.stdout.fnmatch_lines(["*CacheWarning: *points at a file*refusing to open it*"])
    run_inprocess(JUDGES).assert_outcomes(passed=4)  # the rows were recorded again, cleanly
    assert len(llm_server.calls()) == 16


DELETING_SUITE = """
import os, shutil, subprocess, sys
import pytest

FLAG = os.path.join(os.path.dirname(__file__), "cache-was-{how}")

def test_00_delete_the_cache(jury):
    assert jury.check("answer delete", "Is a numbered answer")  # the cache exists before it goes
    if "{how}" == "removed":
        shutil.rmtree(".llmonpy")
    else:
        subprocess.run([sys.executable, "-m", "pytest_llmonpy", "cache", "clear"], check=True)
    open(FLAG, "w").close()

@pytest.mark.parametrize("n", range(1, 12))
def test_answer(jury, n):
    after = os.path.exists(FLAG)  # this check starts after the cache was deleted
    assert jury.check(f"answer {{n}}", "Is a numbered answer")
    if after:
        with open(os.path.join(os.path.dirname(__file__), f"after-{{n}}"), "w"):
            pass
"""


@pytest.mark.parametrize("how", ["removed", "cleared"])
def test_verdicts_recorded_after_the_cache_was_deleted_mid_run_are_kept(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury, how: str
) -> None:
    pytester.makepyfile(DELETING_SUITE.format(how=how))
    result = run_inprocess(JUDGES, "-W", "default")
    result.assert_outcomes(passed=12, warnings=result.parseoutcomes().get("warnings", 0))
    after = {f"answer {p.name.split('-')[1]}" for p in pytester.path.glob("after-*")}
    assert after  # the first worker runs more tests after deleting
    assert len(llm_server.calls()) == 24
    llm_server.requests.clear()

    (pytester.path / f"cache-was-{how}").unlink()  # the second run deletes nothing
    pytester.makepyfile(DELETING_SUITE.format(how=how).replace("def test_00", "def skip_00"))
    run_inprocess(JUDGES).assert_outcomes(passed=11)
    asked_again = {call.output for call in llm_server.calls()}
    assert not asked_again & after, "verdicts recorded after the deletion were lost"
    if how == "removed":  # said once per process; clearing in place needs no warning
        result.stdout.fnmatch_lines(["*CacheWarning: *was deleted or replaced during the run*"])


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr")
# A new interpreter for each run on the read-only cache, as a CI job meets a restored cache: a run in this
# process would still hold SQLite connections of the run before it (opened in the judge loop's threads,
# closed only when garbage-collected), and SQLite shares one process's file locks among its connections.
@pytest.mark.fresh_process
def test_a_read_only_cache_is_replayed_and_recorded_from(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury
) -> None:
    pytester.makepyfile(SUITE)
    run_jury(JUDGES, in_this_process=True).assert_outcomes(passed=4)  # records: not what is tested
    verdicts = pytester.path / ".llmonpy" / "verdicts"
    with immutable(verdicts / "cache.db", verdicts):  # a restored CI cache on a read-only mount
        replay = run_jury(JUDGES, "--jury-mode=replay", "-W", "error::pytest_llmonpy.CacheWarning")
        replay.assert_outcomes(passed=4)
        pytester.makepyfile(SUITE.replace("range(4)", "range(6)"))
        record = run_jury(JUDGES, "-W", "default")
    record.assert_outcomes(passed=6, warnings=record.parseoutcomes().get("warnings", 0))
    record.stdout.fnmatch_lines(
        ["*CacheWarning: *read-only: cached verdicts are used, new verdicts are not stored*"]
    )
    assert "judging live" not in record.stdout.str()
    assert len(llm_server.calls()) == 8 + 4


def _cli(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.run(sys.executable, "-m", "pytest_llmonpy", "cache", *args)


def test_prune_keeps_what_the_last_run_used(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(SUITE.replace("range(4)", "range(8)"))
    run_inprocess(JUDGES).assert_outcomes(passed=8)
    _cli(pytester, "stats").stdout.fnmatch_lines(["entries: 16", "*not used by the last run: 0*"])
    pytester.makepyfile(SUITE.replace("range(4)", "range(4, 12)"))  # 4 answers gone, 4 new
    run_inprocess(JUDGES).assert_outcomes(passed=8)
    _cli(pytester, "stats").stdout.fnmatch_lines(["entries: 24", "*not used by the last run: 8*"])
    _cli(pytester, "prune", "--keep-runs", "1").stdout.fnmatch_lines(
        ["removed 8 of 24 cached verdicts from .llmonpy*"]
    )
    llm_server.requests.clear()
    run_inprocess(JUDGES).assert_outcomes(passed=8)
    assert llm_server.calls() == []
    command = [sys.executable, "-m", "pytest_llmonpy", "cache", "--help"]
    help_text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    for word in ("prune", "--keep-runs N", "--before YYYY-MM-DD", "--dry-run"):
        assert word in help_text
