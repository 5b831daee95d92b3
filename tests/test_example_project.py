"""The example project, run the way the README says: live with the local judge, then from the cache.

Skipped unless the `local` extra is installed (CI installs it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import NEEDS_LOCAL_JUDGE

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"

pytestmark = NEEDS_LOCAL_JUDGE


def test_example_project_judges_live_then_from_the_cache(pytester: pytest.Pytester) -> None:
    shutil.copytree(EXAMPLE, pytester.path / "example_project", ignore=shutil.ignore_patterns(".llmonpy"))
    # -p no:asyncio: the example sets no asyncio ini option (it does not need pytest-asyncio).
    args = ("example_project", "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio")

    first = pytester.runpytest_subprocess(*args, timeout=900)
    first.assert_outcomes(passed=6, xfailed=1)
    first.stdout.fnmatch_lines(
        [
            "*= llm jury summary =*",
            "verdicts: 6 passed, 1 failed, 0 hung (7 tests)",
            "judge calls: 7 live, 0 cached (0% from cache)",
            "  local/qwen2.5-coder-1.5b      7       0 * free",
            "total spent: $0.000000",
        ]
    )
    assert (pytester.path / "example_project" / ".llmonpy" / "CACHEDIR.TAG").is_file()

    second = pytester.runpytest_subprocess(*args, timeout=900)
    second.assert_outcomes(passed=6, xfailed=1)
    second.stdout.fnmatch_lines(["judge calls: 0 live, 7 cached (100% from cache)"])
