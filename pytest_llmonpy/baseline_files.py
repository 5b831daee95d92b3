"""Where baselines live, and which collected tests own a baseline file.

Kept apart from baselines.py (which needs the jury) so collection can look for baseline files in a run
that never asks a jury, without importing the jury. No pytest import.
"""

from __future__ import annotations

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
    exists: dict[Path, bool] = {}
    for module, nodeid in items:
        path = baseline_file(module)
        if module not in narrowed and exists.setdefault(path, path.is_file()):
            collected.setdefault(str(path), []).append(nodeid.split("::", 1)[-1])
    return collected
