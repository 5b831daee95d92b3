"""What the installed-but-unused plugin costs a pytest run that never touches the `jury` fixture.

Measures, in fresh interpreters:

(a) the import time of `pytest_llmonpy.plugin` after `import pytest` (pytest itself excluded), with the
    modules it adds and an `-X importtime` breakdown;
(b) the median wall time of `python -m pytest -q -p no:cacheprovider` on a generated project of 200
    trivial tests, plugin enabled vs `-p no:llmonpy`, runs interleaved; target ratio < 1.05
    (product target: at most 2% slower). A third, A/A variant (enabled again) shows the noise floor,
    and CPU time is reported beside wall time;
(c) that such a run never imports litellm and writes no files (project dir and a scratch HOME checked);
(d) the plugin's share of that run's Python time, by cProfile in one run (plugin enabled): the time
    spent in pytest_llmonpy's own functions (its module-level import code and every hook) against the
    whole run's. One run measures both sides, so another process's load hardly moves it: where the
    wall-time ratio of (b) is noise-bound, this says what the plugin itself costs.

Bytecode is cached under a scratch PYTHONPYCACHEPREFIX (as after a wheel install), so nothing is written
to the checkout; `--no-bytecode-cache` times (b) with PYTHONDONTWRITEBYTECODE=1 instead.

Run by hand: `python benchmarks/import_overhead.py [--runs N] [--tests N]`. Exits 1 when litellm was
imported or a file was written; a missed timing target is reported but does not change the exit code
(timings on a shared machine are noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PLUGIN_MODULE = "pytest_llmonpy.plugin"
TARGET_RATIO = 1.05
PRODUCT_TARGET_RATIO = 1.02
TESTS_PER_FILE = 20

# In a fresh interpreter: import pytest, then time the plugin import alone and list what it added.
IMPORT_PROBE = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    import pytest
    t1 = time.perf_counter()
    before = set(sys.modules)
    t2 = time.perf_counter()
    import pytest_llmonpy.plugin
    t3 = time.perf_counter()
    print(json.dumps({"pytest_s": t1 - t0, "plugin_s": t3 - t2,
                      "new": sorted(set(sys.modules) - before)}))
    """
)

# pytest in-process, in a subprocess: record the interpreter's modules when pytest unconfigures
# (after the plugin's own pytest_unconfigure) and again after pytest.main returns.
RUN_PROBE = textwrap.dedent(
    """
    import json, sys
    import pytest

    def heavy(names):
        return sorted(n for n in names if n == "litellm" or n.startswith("litellm.")
                      or n == "pydantic" or n == "pytest_llmonpy.judges")

    class Probe:
        seen = {}

        @pytest.hookimpl(trylast=True)
        def pytest_unconfigure(self, config):
            Probe.seen = {
                "plugin_registered": config.pluginmanager.has_plugin("llmonpy"),
                "litellm_at_unconfigure": "litellm" in sys.modules,
                "heavy_at_unconfigure": heavy(sys.modules),
            }

    code = pytest.main(["-q", "-p", "no:cacheprovider"], plugins=[Probe()])
    result = dict(Probe.seen, exit_code=int(code), litellm_after_main="litellm" in sys.modules,
                  llmonpy_modules=sorted(n for n in sys.modules if n.startswith("pytest_llmonpy")))
    print("LLMONPY-PROBE " + json.dumps(result))
    """
)


def clean_env(scratch: Path, *, cached: bool = True, **extra: str) -> dict[str, str]:
    """The environment for a child: no inherited pytest options or bytecode settings.

    cached: bytecode is written once and reused, as for a wheel install, but under a prefix in the
    scratch dir so nothing lands in the checkout or the test project. Otherwise PYTHONDONTWRITEBYTECODE=1:
    modules without a .pyc (an editable checkout such as pytest_llmonpy/) are compiled on every import.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "PYTEST_ADDOPTS",
            "PYTEST_PLUGINS",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
            "PYTHONDONTWRITEBYTECODE",
            "PYTHONPYCACHEPREFIX",
        )
    }
    if cached:
        env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def write_project(root: Path, n_tests: int) -> None:
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    files = max(1, (n_tests + TESTS_PER_FILE - 1) // TESTS_PER_FILE)
    written = 0
    for index in range(files):
        count = min(TESTS_PER_FILE, n_tests - written)
        body = "".join(
            f"\n\ndef test_trivial_{index:02d}_{i:02d}() -> None:\n    assert {i} + 1 == {i + 1}\n"
            for i in range(count)
        )
        (root / f"test_trivial_{index:02d}.py").write_text(f'"""Trivial tests."""{body}')
        written += count


def snapshot(*roots: Path) -> set[str]:
    return {str(path) for root in roots for path in root.rglob("*")}


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def probe_imports(runs: int, env: dict[str, str]) -> tuple[list[float], list[float], list[str]]:
    """Plugin and pytest import times in `runs` fresh interpreters (after a warm-up); the modules added."""
    plugin_s: list[float] = []
    pytest_s: list[float] = []
    new: list[str] = []
    for _ in range(runs + 1):  # the first run fills the bytecode cache and the OS file cache
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_PROBE], env=env, capture_output=True, text=True, check=True
        ).stdout
        data = json.loads(out)
        plugin_s.append(float(data["plugin_s"]))
        pytest_s.append(float(data["pytest_s"]))
        new = list(data["new"])
    return plugin_s[1:], pytest_s[1:], new


def import_time(runs: int, scratch: Path) -> dict[str, float]:
    print(f"(a) import of {PLUGIN_MODULE} after `import pytest`, fresh interpreters, {runs} runs each")
    plugin_s, pytest_s, new = probe_imports(runs, clean_env(scratch))
    print(
        f"    bytecode cached   : plugin import best {ms(min(plugin_s))}, median {ms(median(plugin_s))}"
        f"  (`import pytest` itself: median {ms(median(pytest_s))})"
    )
    raw_plugin_s, raw_pytest_s, _ = probe_imports(runs, clean_env(scratch, cached=False))
    print(
        f"    no .pyc for package: plugin import best {ms(min(raw_plugin_s))}, "
        f"median {ms(median(raw_plugin_s))}  (`import pytest`: median {ms(median(raw_pytest_s))}; "
        "PYTHONDONTWRITEBYTECODE=1, editable install)"
    )
    ours = [name for name in new if name.startswith("pytest_llmonpy")]
    others = [name for name in new if not name.startswith("pytest_llmonpy")]
    print(
        f"    modules added: {len(new)} ({len(ours)} pytest_llmonpy, {len(others)} others)"
        + (f": {', '.join(others)}" if others else "")
    )

    command = [sys.executable, "-X", "importtime", "-c", f"import pytest; import {PLUGIN_MODULE}"]
    env = clean_env(scratch)
    stderr = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stderr
    line = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
    rows: list[tuple[int, str]] = []
    after_pytest = False
    for text in stderr.splitlines():
        match = line.match(text)
        if not match:
            continue
        self_us, indent, name = int(match[1]), match[3], match[4]
        if after_pytest:
            rows.append((self_us, name))
        elif name == "pytest" and len(indent) == 1:
            after_pytest = True
    total_us = sum(self_us for self_us, _ in rows)
    top = sorted(rows, reverse=True)[:5]
    print(
        f"    -X importtime (one run, bytecode cached): {total_us / 1000:.1f} ms after pytest; "
        "top self times: " + ", ".join(f"{name} {self_us / 1000:.1f} ms" for self_us, name in top)
    )
    return {
        "plugin_median_s": median(plugin_s),
        "pytest_median_s": median(pytest_s),
        "raw_plugin_median_s": median(raw_plugin_s),
    }


# pytest in-process under cProfile, in a fresh interpreter: the plugin's functions' own time against all.
PROFILE_PROBE = textwrap.dedent(
    """
    import cProfile, json, pstats
    profiler = cProfile.Profile()
    profiler.enable()
    import pytest
    code = pytest.main(["-q", "-p", "no:cacheprovider"])
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    total = sum(row[2] for row in stats.values())
    ours = {key: row for key, row in stats.items() if "pytest_llmonpy" in key[0]}
    named = ((row[3], f"{key[0].rsplit('/', 1)[-1]}:{key[2]}") for key, row in ours.items())
    top = sorted(named, reverse=True)
    print("LLMONPY-PROFILE " + json.dumps({"exit_code": int(code), "total_s": total,
          "plugin_s": sum(row[2] for row in ours.values()), "top": top[:5]}))
    """
)


def profile_share(n_tests: int, scratch: Path) -> float:
    project = scratch / "profile-project"
    write_project(project, n_tests)
    proc = subprocess.run(
        [sys.executable, "-c", PROFILE_PROBE],
        cwd=project,
        env=clean_env(scratch),
        capture_output=True,
        text=True,
    )
    lines = [text for text in proc.stdout.splitlines() if text.startswith("LLMONPY-PROFILE ")]
    if not lines:
        raise SystemExit(f"the profile probe printed no result:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(lines[-1].removeprefix("LLMONPY-PROFILE "))
    share = float(result["plugin_s"]) / float(result["total_s"])
    print(
        f"\n(d) cProfile of one in-process run, {n_tests} tests, plugin enabled (exit {result['exit_code']})"
    )
    print(
        f"    pytest_llmonpy's own functions: {ms(result['plugin_s'])} of {ms(result['total_s'])} "
        f"of Python time: {share:.2%}"
    )
    print("    most inclusive time: " + ", ".join(f"{name} {ms(cum)}" for cum, name in result["top"]))
    return share


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pytest(project: Path, env: dict[str, str], extra: Sequence[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + sys) of one pytest run; CPU time is less sensitive to other load."""
    cpu_before = children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    cpu = children_cpu() - cpu_before
    if proc.returncode != 0:
        raise SystemExit(
            f"pytest failed ({proc.returncode}) with {list(extra)}:\n{proc.stdout}\n{proc.stderr}"
        )
    return elapsed, cpu


@dataclass
class Timing:
    """(b)'s medians: wall and CPU time with the plugin, without it, and with it again (A/A control)."""

    ratio: float
    control_ratio: float
    cpu_ratio: float
    disabled_s: float


VARIANTS: dict[str, list[str]] = {"enabled": [], "disabled": ["-p", "no:llmonpy"], "enabled again": []}


def wall_time(runs: int, n_tests: int, scratch: Path, cached: bool) -> Timing:
    project = scratch / "timing-project"
    write_project(project, n_tests)
    env = clean_env(scratch, cached=cached)
    mode = "bytecode cached" if cached else "PYTHONDONTWRITEBYTECODE=1"
    print(
        f"\n(b) `python -m pytest -q -p no:cacheprovider` on {n_tests} trivial tests, "
        f"{runs} interleaved rounds, {mode}; 'enabled again' is an A/A control that shows the noise"
    )
    wall: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(2):  # warm-up: bytecode cache, assertion-rewrite cache, OS file cache
        for extra in VARIANTS.values():
            run_pytest(project, env, extra)
    names = list(VARIANTS)
    for index in range(runs):
        # Rotate the order each round so a drift in machine load hits every variant alike.
        for name in names[index % 3 :] + names[: index % 3]:
            elapsed, used = run_pytest(project, env, VARIANTS[name])
            wall[name].append(elapsed)
            cpu[name].append(used)
    for name in names:
        print(
            f"    {name:<13}: wall median {ms(median(wall[name]))} (best {ms(min(wall[name]))}), "
            f"CPU (user+sys) median {ms(median(cpu[name]))}"
        )
    on, off, again = (median(wall[name]) for name in names)
    cpu_on, cpu_off = median(cpu["enabled"]), median(cpu["disabled"])
    # Within a round the variants run back to back, so per-round ratios cancel slow drifts in load.
    paired = median([e / d for e, d in zip(wall["enabled"], wall["disabled"], strict=True)])
    paired_control = median([a / e for a, e in zip(wall["enabled again"], wall["enabled"], strict=True)])
    print(
        f"    wall ratio enabled/disabled {on / off:.3f} (difference {ms(on - off)}); "
        f"A/A control enabled again/enabled {again / on:.3f}"
    )
    print(
        f"    median of per-round ratios: enabled/disabled {paired:.3f}, A/A {paired_control:.3f}; "
        f"best-vs-best: enabled/disabled {min(wall['enabled']) / min(wall['disabled']):.3f}, "
        f"A/A {min(wall['enabled again']) / min(wall['enabled']):.3f}"
    )
    print(f"    CPU ratio enabled/disabled {cpu_on / cpu_off:.3f} (difference {ms(cpu_on - cpu_off)})")
    return Timing(ratio=on / off, control_ratio=again / on, cpu_ratio=cpu_on / cpu_off, disabled_s=off)


def side_effects(n_tests: int, scratch: Path) -> tuple[bool, list[str], dict[str, object]]:
    project = scratch / "probe-project"
    home = scratch / "probe-home"
    write_project(project, n_tests)
    home.mkdir()
    env = clean_env(scratch, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    before = snapshot(project, home)
    proc = subprocess.run(
        [sys.executable, "-c", RUN_PROBE], cwd=project, env=env, capture_output=True, text=True
    )
    after = snapshot(project, home)
    lines = [text for text in proc.stdout.splitlines() if text.startswith("LLMONPY-PROBE ")]
    if not lines:
        raise SystemExit(f"the probe printed no result ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    result: dict[str, object] = json.loads(lines[-1].removeprefix("LLMONPY-PROBE "))
    new_files = sorted(after - before)
    imported = bool(result.get("litellm_at_unconfigure")) or bool(result.get("litellm_after_main"))
    print(f"\n(c) in-process pytest run in a subprocess, {n_tests} tests, plugin enabled")
    print(
        f"    pytest exit code: {result.get('exit_code')}; llmonpy plugin registered: "
        f"{result.get('plugin_registered')}"
    )
    print(
        f"    litellm in sys.modules at pytest_unconfigure: {result.get('litellm_at_unconfigure')}; "
        f"after pytest.main: {result.get('litellm_after_main')}"
    )
    print(
        f"    heavy modules loaded (litellm*, pydantic, pytest_llmonpy.judges): "
        f"{result.get('heavy_at_unconfigure') or 'none'}"
    )
    modules = result.get("llmonpy_modules")
    listed = ", ".join(modules) if isinstance(modules, list) else modules
    print(f"    pytest_llmonpy modules loaded: {listed}")
    print(f"    new files in the project dir or HOME: {new_files or 'none'}")
    return imported, new_files, result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="timed runs per variant (default 15)")
    parser.add_argument("--tests", type=int, default=200, help="trivial tests in the generated project")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="time (b) with PYTHONDONTWRITEBYTECODE=1 (pytest_llmonpy/ compiled on every run)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.tests < 1:
        parser.error("--runs and --tests must be at least 1")
    started = time.perf_counter()
    print(f"python {sys.version.split()[0]} at {sys.executable}; {os.cpu_count()} CPUs\n")
    with tempfile.TemporaryDirectory(prefix="llmonpy-bench-") as tmp:
        scratch = Path(tmp)
        imports = import_time(args.runs, scratch)
        timing = wall_time(args.runs, args.tests, scratch, not args.no_bytecode_cache)
        imported, new_files, probe = side_effects(args.tests, scratch)
        share = profile_share(args.tests, scratch)

    ratio = timing.ratio
    verdict = "MET" if ratio < TARGET_RATIO else "MISSED"
    product = "MET" if ratio <= PRODUCT_TARGET_RATIO else "MISSED"
    print("\nsummary")
    print(
        f"  plugin import after pytest: median {ms(imports['plugin_median_s'])} with bytecode cached "
        f"({imports['plugin_median_s'] / imports['pytest_median_s']:.1%} of `import pytest`), "
        f"{ms(imports['raw_plugin_median_s'])} compiling pytest_llmonpy/ (no .pyc)"
    )
    print(
        f"  wall-time ratio, plugin enabled vs -p no:llmonpy: {ratio:.3f} "
        f"(target < {TARGET_RATIO}: {verdict}; product target <= {PRODUCT_TARGET_RATIO}: {product}); "
        f"A/A control {timing.control_ratio:.3f}, CPU-time ratio {timing.cpu_ratio:.3f}"
    )
    if abs(timing.control_ratio - 1) > abs(ratio - 1) / 2 or abs(timing.control_ratio - 1) > 0.02:
        print(
            "  note: the A/A control is off by as much as the effect, so the machine is too noisy for the "
            "wall-time ratio to settle the target; rerun on an idle machine or with more --runs"
        )
    estimate = imports["plugin_median_s"] / timing.disabled_s
    print(
        f"  estimate from (a): the plugin import alone is {estimate:.1%} of a plugin-less run "
        f"({ms(imports['plugin_median_s'])} of {ms(timing.disabled_s)})"
    )
    # cProfile charges the import machinery (finding files, reading bytecode) to importlib, not to the
    # plugin: (a)'s measured import time adds what (d) leaves out.
    combined = estimate + share
    met = "MET" if combined <= PRODUCT_TARGET_RATIO - 1 else "MISSED"
    print(
        f"  profiled share of the run's Python time in the plugin's own code: {share:.2%}; with the import "
        f"estimate of (a): {combined:.2%} (product target <= {PRODUCT_TARGET_RATIO - 1:.0%}: {met})"
    )
    print(f"  litellm imported by an unused plugin: {'YES (FAIL)' if imported else 'no'}")
    print(f"  files written: {'YES (FAIL): ' + ', '.join(new_files) if new_files else 'none'}")
    print(f"  total benchmark time: {time.perf_counter() - started:.1f} s")
    if not probe.get("plugin_registered"):
        print("  FAIL: the llmonpy plugin was not registered, so (c) proved nothing")
        return 1
    if probe.get("exit_code") != 0:
        print("  FAIL: the probe's pytest run did not pass")
        return 1
    return 1 if imported or new_files else 0


if __name__ == "__main__":
    sys.exit(main())
