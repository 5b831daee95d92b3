"""Does the plugin survive what goes wrong in real runs, without a false pass, a lost or uncounted call?

Starts the loopback FakeLLMServer from tests/fake_llm_server.py and runs fault scenarios as real pytest
subprocesses, each in its own temporary project (judges routed to the server with --jury-api-base, a
fake API key in the environment):

- HTTP faults of one judge of three (and of a judge alone): 500, 503, a 429 storm with Retry-After, a
  request never answered (jury_timeout=2), a connection reset, a connection closed mid-body, a non-JSON
  body, JSON without a vote, an empty `choices`, 401, 403, 404;
- a killed pytest-xdist worker (a test that judges, then os.kill's its own worker, under -n 2);
- SIGINT to a running pytest, then a re-run on the same cache;
- two concurrent runs on one cache, one of them with --jury-cache-clear;
- a verdict cache file truncated, overwritten with random bytes, or deleted during a run;
- tampered cache rows whose filename column points at a canary file outside the cache.

For each it measures, and then prints in total:
- survived: every run ended by itself (no hang), with no INTERNALERROR and no traceback from inside
  the plugin;
- false passes: tests whose real votes do not meet the quorum (the outcome hinges on abstentions or
  the judges failed the output) but that passed;
- verdicts lost: requests the server answered with a vote that are neither in the verdict cache nor
  in a JSON report;
- paid calls not counted: server replies with usage that no JSON report counts as a live call;
- keys found: files written or output printed that contain the fake API key;
- canary files harmed: files outside the cache read into the output, changed or deleted.

Goal: every fault survived, 0 false passes, 0 lost, 0 uncounted, 0 keys (and no canary harmed).
It reports what it finds, non-zero numbers included; exits 1 when the goal is not met.
Run by hand: `python benchmarks/faults.py [--only NAME ...] [--keep]`. Takes 2-4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
FAKE_KEY = "sk-bench-NEVER-PRINT-THIS-7373"
CANARY_TEXT = "CANARY: a file outside the verdict cache; the plugin must never read, change or delete it\n"
RUN_TIMEOUT_S = 180  # a run still going after this long counts as a hang
HEALTHY = ("judge-a", "judge-b")
BROKEN = "judge-c"
# The plugin's traceback frames, as pytest or Python print them (not a warning's location line).
PLUGIN_FRAME = re.compile(r"pytest_llmonpy[/\\]\w+\.py(:\d+: (?!\w*Warning\b)|\", line \d+)")

HTTP_FAULTS: dict[str, dict[str, Any]] = {
    "HTTP 500": {"status": 500},
    "HTTP 503": {"status": 503},
    "429 storm, Retry-After: 1": {"status": 429, "retry_after": "1"},
    "hang (no answer)": {"kind": "hang"},
    "connection reset": {"kind": "reset"},
    "closed mid-body": {"kind": "close_mid_body"},
    "non-JSON body": {"kind": "non_json"},
    "JSON without a vote": {"content": '{"verdict": "looks fine to me"}'},
    "empty choices": {"kind": "empty_choices"},
    "HTTP 401": {"status": 401, "delay_s": 0.3},
    "HTTP 403": {"status": 403, "delay_s": 0.3},
    "HTTP 404": {"status": 404, "delay_s": 0.3},
}
XDIST_FAULTS = {"HTTP 500", "hang (no answer)", "connection reset", "empty choices"}

# Cells of one HTTP fault scenario: (name, judges, quorum, the healthy judges' votes). The broken judge
# abstains, so "must not pass" is every cell whose real pass votes are fewer than the quorum needs.
QUORUM_REQUIRED = {"majority": 2, "unanimous": 3, "1": 1, "0.66": 2}
CELLS = [
    ("alone", [BROKEN], "majority", ()),
    ("majority_pp", [*HEALTHY, BROKEN], "majority", ("pass", "pass")),
    ("majority_pf", [*HEALTHY, BROKEN], "majority", ("pass", "fail")),
    ("unanimous_pp", [*HEALTHY, BROKEN], "unanimous", ("pass", "pass")),
    ("quorum1_ff", [*HEALTHY, BROKEN], "1", ("fail", "fail")),
    ("fraction_pf", [*HEALTHY, BROKEN], "0.66", ("pass", "fail")),
]

WARM_UP_CONFTEST = """
import os
import pytest

_warmed = []

@pytest.fixture(autouse=True)
def _warm_up(jury):
    # Set up litellm's HTTP client before the faults (a 2 s jury_timeout leaves little room).
    if not _warmed:
        _warmed.append(True)
        jury.check(f"warm-up {os.getpid()}", "warm-up")
"""


def start_server() -> Any:
    sys.path.insert(0, str(TESTS_DIR))
    server = importlib.import_module("fake_llm_server").FakeLLMServer()
    server.start()
    return server


@dataclass
class Run:
    returncode: int | None
    output: str
    timed_out: bool
    report: dict[str, Any] | None
    junit: dict[str, str]  # test name -> passed / failed / error / skipped


@dataclass
class Outcome:
    name: str
    runs: list[Run] = field(default_factory=list)
    must_not_pass: set[str] = field(default_factory=set)  # test names (junit "name")
    survived: bool = True
    false_passes: int = 0
    lost: int = 0
    uncounted: int = 0
    keys: int = 0
    canary_harmed: int = 0
    notes: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, server: Any, root: Path) -> None:
        self.server = server
        self.root = root

    # -- a project and its runs -----------------------------------------------------------------
    def project(self, name: str, files: dict[str, str]) -> Path:
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        path = self.root / slug
        path.mkdir()
        for filename, text in {"conftest.py": WARM_UP_CONFTEST, **files}.items():
            (path / filename).write_text(textwrap.dedent(text))
        return path

    def env(self, project: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "PYTEST_ADDOPTS"))}
        env.update(
            OPENAI_API_KEY=FAKE_KEY,
            INITIAL_RETRY_DELAY="0.005",
            JITTER="0.01",
            LLMONPY_RATELIMIT_DIR=str(project / "_ratelimits"),
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    def start(self, project: Path, tag: str, *args: str) -> subprocess.Popen[str]:
        command = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q",
            f"--jury-api-base={self.server.url}", f"--jury-report=report-{tag}.json",
            f"--junitxml=junit-{tag}.xml", f"--basetemp={project / ('_tmp-' + tag)}", *args,
        ]  # fmt: skip
        out = (project / f"output-{tag}.txt").open("w")
        return subprocess.Popen(
            command, cwd=project, env=self.env(project), stdout=out, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip

    def finish(self, project: Path, tag: str, process: subprocess.Popen[str]) -> Run:
        timed_out = False
        try:
            process.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        output = (project / f"output-{tag}.txt").read_text(errors="replace")
        report_path = project / f"report-{tag}.json"
        report = None
        if report_path.exists():
            try:
                report = json.loads(report_path.read_text())
            except ValueError:
                report = None
        return Run(process.returncode, output, timed_out, report, read_junit(project / f"junit-{tag}.xml"))

    def run(self, project: Path, tag: str, *args: str) -> Run:
        return self.finish(project, tag, self.start(project, tag, *args))

    def wait_for_requests(self, count: int, limit_s: float = 60) -> None:
        deadline = time.monotonic() + limit_s
        while len(self.server.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    # -- measuring --------------------------------------------------------------------------------
    def measure(
        self, outcome: Outcome, project: Path, *, interrupted: frozenset[int] = frozenset()
    ) -> Outcome:
        """Fill in the outcome's figures from its runs, the server's log, the cache and the files."""
        for index, run in enumerate(outcome.runs):
            allowed = {0, 1, 2} if index in interrupted else {0, 1}
            problems = []
            if run.timed_out:
                problems.append("hung (killed after the run timeout)")
            elif run.returncode not in allowed:
                problems.append(f"exit code {run.returncode}")
            if "INTERNALERROR" in run.output:
                problems.append("INTERNALERROR")
            frames = PLUGIN_FRAME.findall(run.output)
            if frames:
                problems.append(f"{len(frames)} traceback frame(s) inside pytest_llmonpy")
            if problems:
                outcome.survived = False
                outcome.notes.append(f"run {index + 1}: {', '.join(problems)}")
            for test, status in run.junit.items():
                if status == "passed" and test in outcome.must_not_pass:
                    outcome.false_passes += 1
                    outcome.notes.append(f"run {index + 1}: FALSE PASS {test}")
        answered = [r for r in self.server.requests if r.paid]
        live: collections.Counter[tuple[str, str]] = collections.Counter()
        # Live tokens each model's report totals hold; the votes of checks cut short by a refused judge
        # are counted there without a verdict (so without criteria to match them by).
        leftover: collections.Counter[str] = collections.Counter()
        for run in outcome.runs:
            for vote in report_votes(run.report):
                if not vote["cached"]:
                    live[(vote["model"], vote["criteria"])] += 1
            for model in (run.report or {}).get("models", []):
                leftover[model["model"]] += model["tokens_in"]
        cached = cache_entries(project / ".llmonpy")
        unmatched = []
        missing: collections.Counter[str] = collections.Counter()
        for request in answered:
            key = (request.model, request.criteria)
            if live[key] > 0:
                live[key] -= 1
                leftover[request.model] -= request.prompt_tokens
            else:
                unmatched.append(request)
        for request in unmatched:
            key = (request.model, request.criteria)
            if leftover[request.model] >= request.prompt_tokens > 0:
                leftover[request.model] -= request.prompt_tokens  # in the totals, without a verdict
                continue
            outcome.uncounted += 1
            missing[request.criteria] += 1
            if has_vote(request.content) and key not in cached:
                outcome.lost += 1
        for criteria, count in missing.items():
            where = "cached" if any((m, criteria) in cached for m in (*HEALTHY, BROKEN)) else "not cached"
            outcome.notes.append(f"{count} paid call(s) for {criteria!r} in no report ({where})")
        outcome.keys = count_keys(project, outcome.runs)
        return outcome


def read_junit(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return {}
    results = {}
    for case in root.iter("testcase"):
        status = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                status = tag
        results[case.get("name", "")] = status
    return results


def report_votes(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every vote of a JSON report, with its verdict's criteria."""
    if not report:
        return []
    votes = []
    for verdict in report.get("verdicts", []):
        for vote in [*verdict.get("votes", []), *verdict.get("escalation", [])]:
            if vote.get("vote") != "not_needed":
                votes.append({**vote, "criteria": verdict["criteria"]})
    return votes


def has_vote(content: str | None) -> bool:
    try:
        return json.loads(content or "").get("vote") in ("pass", "fail")
    except (ValueError, AttributeError):
        return False


def cache_entries(root: Path) -> set[tuple[str, str]]:
    """(judge, criteria) of every readable cached verdict, read with sqlite3 (not through the plugin)."""
    found: set[tuple[str, str]] = set()
    for database in root.rglob("cache.db"):
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
                rows = connection.execute("SELECT mode, filename, value FROM Cache").fetchall()
        except sqlite3.Error:
            continue
        for mode, filename, value in rows:
            text = value
            if mode == 3 and filename:  # MODE_TEXT: a file inside the cache directory
                inside = (database.parent / filename).resolve()
                if database.parent.resolve() not in inside.parents or not inside.exists():
                    continue
                text = inside.read_text(errors="replace")
            try:
                entry = json.loads(text)
                found.add((entry["model"], entry["case"]["criteria"]))
            except (TypeError, ValueError, KeyError):
                continue
    return found


def count_keys(project: Path, runs: list[Run]) -> int:
    secret = FAKE_KEY.encode()
    found = sum(FAKE_KEY in run.output for run in runs)
    for path in project.rglob("*"):
        if path.is_file() and not path.name.startswith("output-"):
            try:
                found += secret in path.read_bytes()
            except OSError:
                continue
    return found


Check = tuple[str, list[str] | None, str | None, str, str]  # name, judges, quorum, output, criteria


def suite(checks: list[Check]) -> str:
    """A test module: one test per (name, judges, quorum, output, criteria)."""
    lines = ["import pytest", ""]
    for name, judges, quorum, output, criteria in checks:
        marks = {k: v for k, v in (("judges", judges), ("quorum", quorum)) if v is not None}
        if marks:
            lines.append(f"@pytest.mark.jury({', '.join(f'{k}={v!r}' for k, v in marks.items())})")
        lines += [f"def test_{name}(jury):", f"    jury.assert_passes({output!r}, {criteria!r})", ""]
    return "\n".join(lines)


# -- scenarios -------------------------------------------------------------------------------------
def http_fault(bench: Bench, name: str, fault: dict[str, Any]) -> Outcome:
    server = bench.server
    for model in HEALTHY:
        server.judge("fail", f"{model} says no", model=model, output_contains=f"[{model}:fail]")
    server.inject(model=BROKEN, times=100_000, criteria_contains="[broken]", **fault)
    checks: list[Check] = []
    must_not = set()
    for cell, judges, quorum, votes in CELLS:
        markers = "".join(f" [{m}:fail]" for m, v in zip(HEALTHY, votes, strict=False) if v == "fail")
        required = 1 if len(judges) == 1 else QUORUM_REQUIRED[quorum]
        if votes.count("pass") < required:
            must_not.add(f"test_{cell}")
        checks.append((cell, judges, quorum, f"output {cell}{markers}", f"[broken] {name}: {cell}"))
    project = bench.project(name, {"test_cells.py": suite(checks)})
    args = ["--jury-timeout=2"] if fault.get("kind") == "hang" or fault.get("status") == 429 else []
    if name in XDIST_FAULTS:
        args += ["-n", "2"]
    outcome = Outcome(name + (" (-n 2)" if name in XDIST_FAULTS else ""), must_not_pass=must_not)
    outcome.runs.append(bench.run(project, "1", *args))
    if fault.get("status") in (401, 403, 404):
        run = outcome.runs[0]
        wrong = [t for t, status in run.junit.items() if status not in ("failure", "error")] + (
            [] if "JuryConfigError" in run.output else ["no JuryConfigError shown"]
        )
        if wrong:
            outcome.notes.append(f"expected JuryConfigError in every test; not in: {', '.join(wrong)}")
    return bench.measure(outcome, project)


def killed_worker(bench: Bench) -> Outcome:
    checks: list[Check] = [
        (f"may_pass_{n}", None, None, f"answer {n}", f"killed worker: check {n}") for n in range(6)
    ]
    module = suite(checks) + textwrap.dedent(
        """
        import os, signal

        def test_judges_then_kills_its_worker(jury):
            jury.check("about to die", "killed worker: the last check")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    project = bench.project("killed xdist worker", {"test_killed.py": module})
    outcome = Outcome("killed xdist worker (-n 2)")
    outcome.runs.append(bench.run(project, "1", "-n", "2", "--jury-judges=judge-a,judge-b,judge-c"))
    if "crashed" not in outcome.runs[0].output:
        outcome.notes.append("xdist did not report the crashed worker")
    return bench.measure(outcome, project)


def sigint_then_rerun(bench: Bench) -> Outcome:
    bench.server.latency_s = 0.15
    checks: list[Check] = [
        (f"may_pass_{n}", None, None, f"answer {n}", f"interrupted: check {n}") for n in range(12)
    ]
    checks += [("must_not_pass_fail", None, None, "wrong [judge-a:fail] [judge-b:fail]", "interrupted: fail")]
    for model in HEALTHY:
        bench.server.judge("fail", "no", model=model, output_contains=f"[{model}:fail]")
    project = bench.project("sigint", {"test_interrupted.py": suite(checks)})
    outcome = Outcome("SIGINT, then a re-run", must_not_pass={"test_must_not_pass_fail"})
    judges = "--jury-judges=judge-a,judge-b,judge-c"
    process = bench.start(project, "1", judges)
    bench.wait_for_requests(12)
    os.kill(process.pid, signal.SIGINT)
    outcome.runs.append(bench.finish(project, "1", process))
    outcome.runs.append(bench.run(project, "2", judges))
    if outcome.runs[0].returncode != 2:
        outcome.notes.append(f"the interrupted run exited {outcome.runs[0].returncode}, not 2")
    if outcome.runs[0].report is None:
        outcome.notes.append("the interrupted run wrote no JSON report")
    return bench.measure(outcome, project, interrupted=frozenset({0}))


def concurrent_clear(bench: Bench) -> Outcome:
    bench.server.latency_s = 0.05
    checks: list[Check] = [
        (f"may_pass_{n}", None, None, f"answer {n}", f"concurrent: check {n}") for n in range(10)
    ]
    checks += [("must_not_pass_fail", None, None, "wrong [judge-a:fail] [judge-b:fail]", "concurrent: fail")]
    for model in HEALTHY:
        bench.server.judge("fail", "no", model=model, output_contains=f"[{model}:fail]")
    project = bench.project("concurrent clear", {"test_shared.py": suite(checks)})
    judges = "--jury-judges=judge-a,judge-b,judge-c"
    bench.run(project, "0", judges)  # a cache to start from (this run is not measured twice)
    bench.server.requests.clear()
    outcome = Outcome("two runs on one cache, one clearing it", must_not_pass={"test_must_not_pass_fail"})
    (project / "test_shared.py").write_text(
        suite([(n, j, q, o + " v2", c + " v2") for n, j, q, o, c in checks])
    )
    first = bench.start(project, "1", judges)
    second = bench.start(project, "2", judges, "--jury-cache-clear", "-n", "2")
    outcome.runs += [bench.finish(project, "1", first), bench.finish(project, "2", second)]
    return bench.measure(outcome, project)


def broken_cache(
    bench: Bench, name: str, damage: Callable[[Path], None], *, mid_run: bool = False
) -> Outcome:
    checks: list[Check] = [
        (f"may_pass_{n}", None, None, f"answer {n}", f"{name}: check {n}") for n in range(8)
    ]
    checks += [("must_not_pass_fail", None, None, "wrong [judge-a:fail] [judge-b:fail]", f"{name}: fail")]
    checks += [("must_not_pass_hung", None, "unanimous", "half [broken]", f"{name}: hung [broken]")]
    for model in HEALTHY:
        bench.server.judge("fail", "no", model=model, output_contains=f"[{model}:fail]")
    bench.server.inject(model=BROKEN, status=500, times=100_000, criteria_contains="[broken]")
    project = bench.project(name, {"test_cached.py": suite(checks)})
    outcome = Outcome(name, must_not_pass={"test_must_not_pass_fail", "test_must_not_pass_hung"})
    judges = "--jury-judges=judge-a,judge-b,judge-c"
    outcome.runs.append(bench.run(project, "1", judges))
    if mid_run:
        bench.server.latency_s = 0.2
        (project / "test_cached.py").write_text(
            suite([(n, j, q, o + " again", c + " again") for n, j, q, o, c in checks])
        )
        process = bench.start(project, "2", judges)
        bench.wait_for_requests(len(bench.server.requests) + 6)
        damage(project / ".llmonpy")
        outcome.runs.append(bench.finish(project, "2", process))
    else:
        damage(project / ".llmonpy")
        outcome.runs.append(bench.run(project, "2", judges))
    if mid_run or name.startswith("tampered"):
        outcome.runs.append(bench.run(project, "3", judges))  # and the run after that: the cache heals
    return bench.measure(outcome, project)


def truncate(cache: Path) -> None:
    for database in cache.rglob("cache.db"):
        size = database.stat().st_size
        with database.open("r+b") as handle:
            handle.truncate(size // 2)


def garble(cache: Path) -> None:
    rng = random.Random(11)
    for database in cache.rglob("cache.db"):
        database.write_bytes(bytes(rng.getrandbits(8) for _ in range(database.stat().st_size)))


def delete(cache: Path) -> None:
    shutil.rmtree(cache, ignore_errors=True)


def tampered_rows(bench: Bench) -> Outcome:
    canaries = [bench.root / "canary-absolute.txt", bench.root / "canary-relative.txt"]
    for canary in canaries:
        canary.write_text(CANARY_TEXT)

    def tamper(cache: Path) -> None:
        for database in cache.rglob("cache.db"):
            connection = sqlite3.connect(database)
            with connection:
                rowids = [row[0] for row in connection.execute("SELECT rowid FROM Cache ORDER BY rowid")]
                for index, rowid in enumerate(rowids):
                    target = canaries[index % 2]
                    filename = str(target) if index % 2 == 0 else os.path.relpath(target, database.parent)
                    connection.execute(
                        "UPDATE Cache SET mode = 3, filename = ?, value = NULL WHERE rowid = ?",
                        (filename, rowid),
                    )
            connection.close()

    outcome = broken_cache(bench, "tampered rows point outside the cache", tamper)
    for canary in canaries:
        if not canary.exists():
            outcome.canary_harmed += 1
            outcome.notes.append(f"{canary.name} was DELETED")
        elif canary.read_text() != CANARY_TEXT:
            outcome.canary_harmed += 1
            outcome.notes.append(f"{canary.name} was CHANGED")
    if any("CANARY" in run.output for run in outcome.runs):
        outcome.canary_harmed += 1
        outcome.notes.append("a canary file's content was printed")
    return outcome


def scenarios() -> list[tuple[str, Callable[[Bench], Outcome]]]:
    found: list[tuple[str, Callable[[Bench], Outcome]]] = [
        (name, lambda bench, name=name, fault=fault: http_fault(bench, name, fault))  # type: ignore[misc]
        for name, fault in HTTP_FAULTS.items()
    ]
    found += [
        ("killed xdist worker", killed_worker),
        ("SIGINT, then a re-run", sigint_then_rerun),
        ("two runs on one cache, one clearing it", concurrent_clear),
        ("cache file truncated", lambda bench: broken_cache(bench, "cache file truncated", truncate)),
        ("cache file of random bytes", lambda b: broken_cache(b, "cache file of random bytes", garble)),
        ("cache deleted mid-run", lambda b: broken_cache(b, "cache deleted mid-run", delete, mid_run=True)),
        ("tampered rows point outside the cache", tampered_rows),
    ]  # fmt: skip
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run only the scenarios whose name contains one of these")
    parser.add_argument("--keep", action="store_true", help="keep the scenario projects (prints where)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="llmonpy-faults-"))
    server = start_server()
    bench = Bench(server, root)
    results: list[Outcome] = []
    started = time.perf_counter()
    try:
        for name, scenario in scenarios():
            if args.only and not any(part.lower() in name.lower() for part in args.only):
                continue
            server.reset()
            try:
                outcome = scenario(bench)
            except Exception as exc:  # the benchmark's own failure: shown, counted as not survived
                outcome = Outcome(
                    name, survived=False, notes=[f"benchmark error: {type(exc).__name__}: {exc}"]
                )
            results.append(outcome)
            state = "survived" if outcome.survived else "NOT SURVIVED"
            figures = (
                f"{state:12}  false passes {outcome.false_passes}  lost {outcome.lost}  "
                f"uncounted {outcome.uncounted}  keys {outcome.keys}"
            )
            exits = ",".join(str(run.returncode) for run in outcome.runs)
            print(f"  {outcome.name:40} {figures}  (exit {exits})", flush=True)
            for note in outcome.notes:
                print(f"      {note}", flush=True)
    finally:
        server.stop()
        if args.keep:
            print(f"scenario projects kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    survived = sum(o.survived for o in results)
    totals = {
        "false passes": sum(o.false_passes for o in results),
        "verdicts lost": sum(o.lost for o in results),
        "paid calls not counted": sum(o.uncounted for o in results),
        "keys found in artefacts": sum(o.keys for o in results),
        "canary files harmed": sum(o.canary_harmed for o in results),
    }
    print(f"faults tried: {len(results)}")
    print(f"survived: {survived}/{len(results)}")
    for label, value in totals.items():
        print(f"{label}: {value}")
    met = survived == len(results) and not any(totals.values())
    print(
        "goal: every fault survived, 0 false passes, 0 lost, 0 uncounted, 0 keys: "
        f"{'MET' if met else 'NOT MET'} ({time.perf_counter() - started:.0f}s)"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
