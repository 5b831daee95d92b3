"""Where baselines live, and which collected tests own a baseline file.

Kept apart from baselines.py (which needs the jury) so collection can look for baseline files in a run
that never asks a jury, without importing the jury. No pytest import.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

BASELINE_DIR = "__llm_baselines__"


def baseline_file(module: Path) -> Path:
    """Where the baselines of the test module at `module` live."""
    return module.parent / BASELINE_DIR / f"{module.stem}.json"


def narrowed_modules(args: Iterable[str], invocation_dir: Path) -> set[Path]:
    """Modules the command line selects by node id: only part of them is collected."""
    return {Path(invocation_dir, arg.split("::", 1)[0]) for arg in args if "::" in arg}


def collected_baseline_tests(items: Iterable[tuple[Path, str]], narrowed: set[Path]) -> dict[str, list[str]]:
    """Per existing baseline file, the tests collected in its module, from (module path, node id) pairs.

    A module collected only in part (`narrowed`) is left out: its missing tests are not gone, so its
    baselines must not count as unused."""
    collected: dict[str, list[str]] = {}
    # Per module, its baseline file's tests, or None without one: one stat per module, not per test.
    tests_of: dict[Path, list[str] | None] = {}
    for module, nodeid in items:
        if module not in tests_of:
            path = baseline_file(module)
            tests_of[module] = (
                collected.setdefault(str(path), []) if module not in narrowed and path.is_file() else None
            )
        tests = tests_of[module]
        if tests is not None:
            tests.append(nodeid.split("::", 1)[-1])
    return collected


def relative_path(path: str) -> str:
    """A baseline file's path relative to where pytest ran, as every report shows it (so reports
    compare across machines and CI runners)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
