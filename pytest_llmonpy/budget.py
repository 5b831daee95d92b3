"""The run-wide judging budget (`jury_max_cost`), shared by every xdist worker of one run.

The spend lives in a diskcache counter in a directory named after the run; diskcache's `incr` is an
atomic SQLite transaction, so concurrent workers never lose an addition. The directory is in the shared
temporary directory, so it is private (0700, no symlink, ours) and the counter is an int kept inline,
read through a Disk that refuses pickles and file rows.

Money is a `Cost` throughout; the counter holds its nano-dollars. The unit is named in the counter's
key, and a counter lives only as long as its run (a directory per run id), so no run can read a count
kept in another unit.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import diskcache

from pytest_llmonpy.jsondisk import CounterDisk
from pytest_llmonpy.money import Cost
from pytest_llmonpy.shared_dirs import prepare_private_directory

if TYPE_CHECKING:
    from pytest_llmonpy.redis_store import RedisBudget

_KEY = "spent_nano_usd"  # Cost.nano: the same unit as every other sum of money in the plugin


@dataclass(frozen=True)
class BudgetState:
    """The budget at the end of the run, for the summary and the reports."""

    limit: Cost
    spent: Cost

    @property
    def exhausted(self) -> bool:
        return self.spent.nano >= self.limit.nano

    @property
    def percent(self) -> float:
        """How much of the limit is spent; a limit of 0 is all spent."""
        return self.spent.nano / self.limit.nano * 100 if self.limit.nano else 100.0


class _BudgetDisk(CounterDisk):
    store_name = "run budget counter"


def budget_directory(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"pytest-llmonpy-budget-{run_id}"


class RunBudget:
    """The run's budget; with `shared` (jury_budget_key), the budget of every run given that key.

    If Redis fails, the spend goes on from the fleet's total last seen, plus what this run spends from
    then on (counted locally): the budget still stops this run, later by at most what the other
    runners spent meanwhile.
    """

    def __init__(self, limit: Cost, run_id: str, shared: RedisBudget | None = None) -> None:
        self.limit = limit
        self.directory = budget_directory(run_id)
        self._cache: diskcache.Cache | None = None
        self.shared = shared
        self._fleet_seen = 0  # the shared total last read, in nano-dollars

    def _counter(self) -> diskcache.Cache:
        if self._cache is None:
            prepare_private_directory(self.directory)
            self._cache = diskcache.Cache(
                str(self.directory), disk=_BudgetDisk, timeout=30, statistics=0, eviction_policy="none"
            )
        return self._cache

    def spent(self) -> Cost:
        """What the run's priced live calls cost so far, across every worker (unpriced ones are not
        counted: the budget limits what is known to be spent)."""
        shared = self.shared  # read once: another thread may drop it when Redis fails
        if shared is not None:
            from pytest_llmonpy.redis_store import SharedStoreFailed

            try:
                self._fleet_seen = shared.spent_nano()
                return Cost(self._fleet_seen)
            except SharedStoreFailed:
                self.shared = None  # the link warned once; counted here from now on
        if self._cache is None and not self.directory.exists():
            return Cost(self._fleet_seen)
        return Cost(self._fleet_seen + int(self._counter().get(_KEY, 0)))

    def state(self) -> BudgetState:
        """The limit and what is spent, read once: whether it is exhausted, and the figures to show."""
        return BudgetState(limit=self.limit, spent=self.spent())

    def exhausted_state(self) -> BudgetState | None:
        """The state when the budget is spent and no judge may be called; None while money is left."""
        state = self.state()
        return state if state.exhausted else None

    def charge(self, cost: Cost) -> None:
        """Add a live call's cost (unpriced calls add nothing) to the spend every worker sees."""
        if cost.nano <= 0:
            return
        shared = self.shared
        if shared is not None:
            from pytest_llmonpy.redis_store import SharedStoreFailed

            try:
                self._fleet_seen = shared.charge(cost.nano)
                return
            except SharedStoreFailed:
                self.shared = None
        self._counter().incr(_KEY, cost.nano, default=0)

    def close(self, *, remove: bool = False) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)
