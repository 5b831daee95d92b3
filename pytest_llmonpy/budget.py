"""The run-wide judging budget (`jury_max_cost`), shared by every xdist worker of one run.

The spend lives in a diskcache counter in a directory named after the run; diskcache's `incr` is an
atomic SQLite transaction, so concurrent workers never lose an addition. The directory is in the shared
temporary directory, so it is private (0700, no symlink, ours) and the counter is an int kept inline,
read through a Disk that refuses pickles and file rows.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import diskcache

from pytest_llmonpy.jsondisk import CounterDisk
from pytest_llmonpy.shared_dirs import prepare_private_directory

# The counter is an integer; nano-dollars keep sub-cent judge calls exact enough.
_UNITS_PER_USD = 1_000_000_000
_KEY = "spent_nano_usd"


class _BudgetDisk(CounterDisk):
    store_name = "run budget counter"


def budget_directory(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"pytest-llmonpy-budget-{run_id}"


class RunBudget:
    def __init__(self, limit_usd: float, run_id: str) -> None:
        self.limit_usd = limit_usd
        self.directory = budget_directory(run_id)
        self._cache: diskcache.Cache | None = None

    def _counter(self) -> diskcache.Cache:
        if self._cache is None:
            prepare_private_directory(self.directory)
            self._cache = diskcache.Cache(
                str(self.directory), disk=_BudgetDisk, timeout=30, statistics=0, eviction_policy="none"
            )
        return self._cache

    def spent_usd(self) -> float:
        if self._cache is None and not self.directory.exists():
            return 0.0
        return int(self._counter().get(_KEY, 0)) / _UNITS_PER_USD

    def exhausted(self) -> bool:
        return self.spent_usd() >= self.limit_usd

    def charge(self, cost_usd: float) -> None:
        if cost_usd > 0:
            self._counter().incr(_KEY, round(cost_usd * _UNITS_PER_USD), default=0)

    def close(self, *, remove: bool = False) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)
