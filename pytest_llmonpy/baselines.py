"""Regression baselines: accepted outputs kept next to the tests, compared pairwise by the jury.

Each test module `test_x.py` has its baselines in `__llm_baselines__/test_x.json`: sorted, indented
JSON with each output as a list of lines, so a pull request shows exactly which outputs changed.
Checks read the files; only the run's controller writes them (`write_baselines`), at the end of the
session, under a cross-process lock, merging what every xdist worker recorded. No pytest import.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_llmonpy.baseline_files import baseline_file
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.ledger import comparison_record
from pytest_llmonpy.shared_dirs import prepare_private_directory
from pytest_llmonpy.texts import output_text
from pytest_llmonpy.untrusted import printable
from pytest_llmonpy.verdict import Comparison, HungJuryError, JuryError

FILE_VERSION = 1
UPDATE_FLAG = "--jury-baseline-update"
Status = Literal["improved", "held", "regressed", "inconclusive", "recorded", "stale", "missing"]
OUTCOME_OF_WINNER: dict[str, Status] = {"a": "improved", "b": "regressed", "tie": "held"}
# The case fields a baseline keeps next to its output; when one differs the baseline is stale.
CASE_FIELDS = ("criteria", "input", "reference")


class BaselineError(JuryError):
    """A baseline file that cannot be read: invalid JSON or an unexpected shape."""


class BaselineRegressionError(AssertionError):
    """The jury judged the accepted baseline better than the current output."""


# Failure reports name the public import path, not the defining module.
BaselineError.__module__ = BaselineRegressionError.__module__ = "pytest_llmonpy"


def baseline_key(test_name: str, name: str | None) -> str:
    """The entry of one test (its node id within the module), plus `#name` for several per test."""
    return test_name if name is None else f"{test_name}#{name}"


def _entry(output: str, criteria: str, input: str | None, reference: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"criteria": criteria, "output": output.split("\n")}
    if input is not None:
        entry["input"] = input
    if reference is not None:
        entry["reference"] = reference
    return entry


def entry_output(entry: dict[str, Any]) -> str:
    return "\n".join(entry["output"])


def read_baselines(path: Path) -> dict[str, dict[str, Any]]:
    """The entries of one baseline file ({} when it does not exist); BaselineError names what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise BaselineError(f"cannot read the baseline file {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise BaselineError(
            f"the baseline file {path} is not valid UTF-8 (byte {exc.start}: {exc.reason}). Fix it, or "
            f"delete it and record the baselines again with {UPDATE_FLAG}; nothing was overwritten."
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"the baseline file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
            f"Fix it, or delete it and record the baselines again with {UPDATE_FLAG}; nothing was "
            "overwritten."
        ) from None
    problem = _shape_problem(data)
    if problem:
        raise BaselineError(
            f"the baseline file {path} has an unexpected shape: {problem}. Fix it, or delete it and "
            f"record the baselines again with {UPDATE_FLAG}; nothing was overwritten."
        )
    entries: dict[str, dict[str, Any]] = data["baselines"]
    return entries


def _shape_problem(data: object) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("baselines"), dict):
        return 'expected an object with a "baselines" object'
    if data.get("version") != FILE_VERSION:
        return f'"version" is {data.get("version")!r}, expected {FILE_VERSION}'
    for key, entry in data["baselines"].items():
        if not isinstance(entry, dict):
            return f"entry {key!r} is not an object"
        output = entry.get("output")
        if not isinstance(output, list) or not all(isinstance(line, str) for line in output):
            return f'entry {key!r}: "output" must be a list of lines (strings)'
        if not isinstance(entry.get("criteria"), str):
            return f'entry {key!r}: "criteria" must be a string'
        for name in ("input", "reference"):
            if name in entry and not isinstance(entry[name], str):
                return f'entry {key!r}: "{name}" must be a string'
    return None


def render_baselines(entries: dict[str, dict[str, Any]]) -> str:
    """The file's text: stable key order and one line per output line, for readable diffs."""
    document = {"version": FILE_VERSION, "baselines": dict(sorted(entries.items()))}
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


@dataclass
class BaselineChecks:
    """The `llm_baseline` fixture's object: compares a test's outputs with its accepted baselines."""

    jury: Jury = field(repr=False)
    module: Path
    test_name: str
    update: bool = False
    texts: bool = False  # keep both outputs in each result (--jury-html shows their diff)
    results: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _files: dict[Path, dict[str, dict[str, Any]]] = field(default_factory=dict, repr=False)

    def compare_to_baseline(
        self,
        output: object,
        criteria: str,
        *,
        input: object = None,
        reference: object = None,
        name: str | None = None,
        allow_none: bool = False,
    ) -> Comparison | None:
        """The jury's comparison of `output` (a) with the accepted baseline (b).

        Returns None when the output was recorded (--jury-baseline-update) or equals the baseline.
        Fails the test when there is no baseline, or when its criteria/input/reference differ (stale).
        """
        __tracebackhide__ = True
        if not isinstance(criteria, str) or not criteria.strip():
            raise TypeError("baseline criteria must be a non-empty string describing what the output must do")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise TypeError("baseline name= must be a non-empty string")
        key = baseline_key(self.test_name, name)
        current = _entry(
            output_text(output, allow_none=allow_none),
            criteria.strip(),
            None if input is None else output_text(input, "input"),
            None if reference is None else output_text(reference, "reference"),
        )
        path = baseline_file(self.module)
        if self.update:
            self._note(key, "recorded", entry=current)
            return None
        accepted = self._read(path).get(key)
        if accepted is None:
            self._note(key, "missing")
            raise AssertionError(
                f"no baseline {key!r} in {path}: record it with {UPDATE_FLAG} (then review and commit "
                "the file)"
            )
        differ = [name for name in CASE_FIELDS if accepted.get(name) != current.get(name)]
        if differ:
            self._note(key, "stale")
            lines = [
                f"baseline {key!r} in {path} is stale: the test's {' and '.join(differ)} changed since it "
                f"was recorded, so comparing would be meaningless. Re-record it with {UPDATE_FLAG}."
            ]
            for name in differ:
                lines.append(f"  baseline {name}: {printable(str(accepted.get(name)), 200)}")
                lines.append(f"  test {name}: {printable(str(current.get(name)), 200)}")
            raise AssertionError("\n".join(lines))
        if entry_output(accepted) == entry_output(current):
            self._note(key, "held")  # the same text cannot be worse: no judge is asked
            return None
        try:
            comparison = self.jury.compare(
                entry_output(current),
                entry_output(accepted),
                current["criteria"],
                input=current.get("input"),
                reference=current.get("reference"),
            )
        except HungJuryError as exc:
            # jury_inconclusive = hung: the baseline is still reported as inconclusive, then the error.
            if isinstance(exc.verdict, Comparison) and exc.verdict.inconclusive:
                self._note(key, "inconclusive", comparison=exc.verdict)
            raise
        # Judges that followed the position cannot say it held: it is inconclusive, not a silent held.
        status = "inconclusive" if comparison.inconclusive else OUTCOME_OF_WINNER[comparison.winner]
        self._note(key, status, comparison=comparison)
        return comparison

    def assert_not_worse(
        self,
        output: object,
        criteria: str,
        *,
        input: object = None,
        reference: object = None,
        name: str | None = None,
        allow_none: bool = False,
    ) -> Comparison | None:
        """Fail only when the jury judges the accepted baseline better than `output`, by quorum."""
        __tracebackhide__ = True
        comparison = self.compare_to_baseline(
            output, criteria, input=input, reference=reference, name=name, allow_none=allow_none
        )
        if comparison is not None and comparison.winner == "b":
            raise BaselineRegressionError(
                f"regression: the jury prefers the accepted baseline {baseline_key(self.test_name, name)!r}"
                f" ({baseline_file(self.module)}).\n{comparison.explain()}\n"
                f"If the new output is acceptable, accept it with {UPDATE_FLAG}."
            )
        return comparison

    def _read(self, path: Path) -> dict[str, dict[str, Any]]:
        __tracebackhide__ = True
        if path not in self._files:
            try:
                self._files[path] = read_baselines(path)
            except BaselineError as exc:
                raise BaselineError(str(exc)) from None  # one message, no trace into the JSON parser
        return self._files[path]

    def _note(
        self,
        key: str,
        status: Status,
        *,
        entry: dict[str, Any] | None = None,
        comparison: Comparison | None = None,
    ) -> None:
        self.results.append(
            {
                "file": str(baseline_file(self.module)),
                "key": key,
                "status": status,
                "entry": entry,
                "comparison": None if comparison is None else comparison_record(comparison, texts=self.texts),
            }
        )

    def record(self) -> dict[str, Any]:
        """What this test's report carries: its results and the keys it used."""
        return {"test": self.test_name, "file": str(baseline_file(self.module)), "results": self.results}


@dataclass
class BaselineRun:
    """Run-wide baseline bookkeeping on the controller: results, collected tests, and the final write."""

    update: bool
    results: list[dict[str, Any]] = field(default_factory=list)
    # Per baseline file: the tests collected in its module (known to exist), and those that used it.
    collected: dict[str, set[str]] = field(default_factory=dict)
    used: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    unused: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.results or self.unused or self.problems)

    def add_collected(self, files: Mapping[str, Iterable[str]]) -> None:
        for path, tests in files.items():
            self.collected.setdefault(path, set()).update(tests)

    def add_test(self, record: dict[str, Any], passed: bool) -> None:
        # A failing test's outputs are not accepted as baselines, even with --jury-baseline-update.
        self.results.extend(r for r in record["results"] if passed or r["status"] != "recorded")
        if passed:
            # Only a test that ran to the end proves which of its names it no longer uses.
            keys = {result["key"] for result in record["results"]}
            self.used.setdefault(record["file"], {})[record["test"]] = keys

    def add_passed(self, file: str, test: str) -> None:
        """A test that passed; unless its baseline record says otherwise, it used no baseline."""
        self.used.setdefault(file, {}).setdefault(test, set())

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(
            ("improved", "held", "regressed", "inconclusive", "recorded", "stale", "missing"), 0
        )
        for result in self.results:
            counts[result["status"]] += 1
        counts["compared"] = sum(counts[name] for name in ("improved", "held", "regressed", "inconclusive"))
        counts["unused"] = len(self.unused)
        return counts

    def find_unused(self) -> None:
        """Entries no test uses: their test is gone from the module, or it passed without using them."""
        self.unused = []
        for path, tests in sorted(self.collected.items()):
            try:
                entries = read_baselines(Path(path))
            except BaselineError:
                continue  # reported by the tests that read it
            used = self.used.get(path, {})
            for key in sorted(entries):
                test = _owner(key, tests)
                if test is None or (test in used and key not in used[test]):
                    self.unused.append((path, key))

    def write(self, lock_dir: Path) -> None:
        """With --jury-baseline-update: write what was recorded and drop unused entries, per file."""
        if not self.update:
            return
        changes: dict[str, tuple[dict[str, dict[str, Any]], set[str]]] = {}
        for result in self.results:
            if result["status"] == "recorded":
                changes.setdefault(result["file"], ({}, set()))[0][result["key"]] = result["entry"]
        for path, key in self.unused:
            changes.setdefault(path, ({}, set()))[1].add(key)
        for path, (recorded, removed) in sorted(changes.items()):
            try:
                write_baselines(Path(path), recorded, removed, lock_dir)
            except (BaselineError, OSError) as exc:
                self.problems.append(f"baselines not written to {path}: {exc}")


def _owner(key: str, tests: set[str]) -> str | None:
    """The collected test an entry belongs to (node ids may themselves contain '#')."""
    if key in tests:
        return key
    owners = [test for test in tests if key.startswith(test + "#")]
    return max(owners, key=len) if owners else None


def write_baselines(
    path: Path, recorded: dict[str, dict[str, Any]], removed: Iterable[str], lock_dir: Path
) -> bool:
    """Merge `recorded` into the file and drop `removed`, atomically, under a cross-process lock.

    Re-reads the file inside the lock, so concurrent runs recording other entries are kept.
    Returns whether the file changed.
    """
    import diskcache

    from pytest_llmonpy.jsondisk import CounterDisk

    prepare_private_directory(lock_dir)  # a predictable name in the shared temporary directory
    # diskcache.Lock stores None: CounterDisk keeps it inline, with no pickle, and never follows (nor
    # deletes) a file a forged row names. Eviction off, as diskcache advises for locks.
    with (
        diskcache.Cache(str(lock_dir), disk=CounterDisk, eviction_policy="none") as locks,
        diskcache.Lock(locks, f"baselines:{path.resolve()}", expire=60),
    ):
        entries = read_baselines(path)
        dropped = set(removed)
        merged = {key: value for key, value in entries.items() if key not in dropped}
        merged.update(recorded)
        if merged == entries:
            return False
        if not merged:
            path.unlink()  # every entry was unused: no empty file is left behind
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(render_baselines(merged))
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return True
