"""The example project, run the way the README says: live with the local judge, then from the cache.

Skipped unless the `local` extra is installed (CI installs it).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import NEEDS_LOCAL_JUDGE

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"

pytestmark = NEEDS_LOCAL_JUDGE


@pytest.mark.measure_subprocesses
def test_example_project_judges_live_then_from_the_cache(pytester: pytest.Pytester) -> None:
    shutil.copytree(
        EXAMPLE, pytester.path / "example_project", ignore=shutil.ignore_patterns(".llmonpy", ".answer_cache")
    )
    # The example's own pytest.ini keeps pytest-asyncio (installed here by the dev extra) quiet.
    args = ("example_project", "-p", "no:randomly", "-p", "no:cacheprovider")

    first = pytester.runpytest_subprocess(*args, timeout=900)
    first.assert_outcomes(passed=7, xfailed=1)
    first.stdout.fnmatch_lines(
        [
            "*= llm jury summary =*",
            "verdicts: 6 passed, 1 failed, 0 hung in 7 tests",
            "baselines: 1 compared (* held, 0 regressed), 0 recorded, 0 stale, 0 unused",
            "judge calls: 7 live, 0 cached (0% from cache)",
            "  local/qwen2.5-coder-1.5b      7       0 * free",
            "total spent: free",
        ]
    )
    # Said once, on the terminal, with its timing: the first call waits seconds for the model.
    loading = [line for line in first.outlines if line.startswith("llmonpy: loading local judge")]
    assert len(loading) == 1, first.outlines
    assert re.fullmatch(
        r"llmonpy: loading local judge local/qwen2\.5-coder-1\.5b \.\.\. \d+\.\d s.*", loading[0]
    )
    assert "Warning" not in first.stdout.str() + first.stderr.str()
    assert (pytester.path / "example_project" / ".llmonpy" / "CACHEDIR.TAG").is_file()
    assert (pytester.path / "example_project" / ".answer_cache").is_dir()

    # The assistant's answers come from litellm's cache and every verdict from the verdict cache:
    # the model is not even loaded.
    second = pytester.runpytest_subprocess(*args, timeout=900)
    second.assert_outcomes(passed=7, xfailed=1)
    second.stdout.fnmatch_lines(
        [
            "baselines: 1 compared (* held, 0 regressed), 0 recorded, 0 stale, 0 unused",
            "judge calls: 0 live, 7 cached (100% from cache)",
        ]
    )
    assert not [line for line in second.outlines if line.startswith("llmonpy: loading local judge")]
