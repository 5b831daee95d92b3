"""Per-run state of the plugin, kept in `config.stash` by the pytest wiring."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmonpy.baselines import BaselineRun
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.ledger import Ledger, comparison_record, verdict_record, vote_record
from pytest_llmonpy.quorum import Quorum
from pytest_llmonpy.settings import (
    DEFAULT_CACHE_DIR,
    DEFAULT_CONCURRENCY,
    DEFAULT_MODE,
    DEFAULT_TIMEOUT_S,
    JurySettings,
    parse_api_base,
    parse_inconclusive,
    parse_judges,
    parse_mode,
    parse_positive_float,
    parse_positive_int,
    parse_strategy,
    settings_problem,
)
from pytest_llmonpy.shared_dirs import user_temp_directory
from pytest_llmonpy.spend_journal import SpendJournal, remove_journal

if TYPE_CHECKING:
    from pytest_llmonpy.budget import RunBudget
    from pytest_llmonpy.cache import VerdictCache
    from pytest_llmonpy.judges import JudgeCaller
    from pytest_llmonpy.progress import StatusLine
    from pytest_llmonpy.ratelimit import Rate
    from pytest_llmonpy.report import BudgetState

# (name, help) of every setting; each is a `--jury-...` flag and a `jury_...` ini key.
OPTIONS: tuple[tuple[str, str], ...] = (
    ("jury_judges", "litellm model names of the default jury, separated by commas and/or whitespace"),
    ("jury_quorum", "'majority' (default), 'unanimous', an integer N, or a fraction such as 0.66"),
    ("jury_concurrency", f"judge calls in flight per process (default {DEFAULT_CONCURRENCY})"),
    ("jury_timeout", f"seconds per judge call, retries included (default {DEFAULT_TIMEOUT_S:g})"),
    ("jury_api_base", "OpenAI-compatible endpoint for all judges (a local server, a litellm proxy)"),
    (
        "jury_mode",
        "record (default): cached verdicts, ask on a miss and store; replay: cached verdicts only, a miss "
        "fails; refresh: ask again and overwrite; off: no cache",
    ),
    ("jury_cache_dir", f"where verdicts are cached, relative to the rootdir (default {DEFAULT_CACHE_DIR})"),
    ("jury_max_cost", "run-wide judging budget in USD, shared by all xdist workers (default: none)"),
    ("jury_report", "write a JSON report of every verdict, vote and cost to this path"),
    (
        "jury_strategy",
        "parallel (default): ask every judge at once; frugal: ask the fewest judges that can decide the "
        "quorum, and more only while the outcome is open",
    ),
    ("jury_escalation", "judges asked when the jury is split or hung; their quorum decides (default: none)"),
    (
        "jury_inconclusive",
        "tie (default): a comparison decided only by judges that followed the position is a tie, reported "
        "as inconclusive; hung: it raises HungJuryError",
    ),
    (
        "jury_rate_limits",
        "per-model request limits shared by all workers and runs on this machine, e.g. "
        "'openai/gpt-4o-mini=500/min, judge-a=10/s'",
    ),
)


def resolve_cache_dir(rootdir: Path, value: str | None) -> Path:
    """The cache directory: `value` (relative to the rootdir) or the default `.llmonpy`."""
    path = Path(value.strip()) if value and value.strip() else Path(DEFAULT_CACHE_DIR)
    return path if path.is_absolute() else rootdir / path


def parse_budget(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    text = value.strip().lstrip("$")
    try:
        budget = float(text)
    except ValueError:
        raise ValueError(f"jury_max_cost must be an amount in USD such as 0.50, got {value!r}") from None
    if not budget >= 0 or budget == float("inf"):
        raise ValueError(f"jury_max_cost must be an amount in USD of at least 0, got {value!r}")
    return budget


def check_report_path(path: Path) -> None:
    """Fail before the run, not after it, when the JSON report cannot be written."""
    if path.is_dir():
        raise ValueError(f"jury_report: {path} is a directory; give a file path such as jury-report.json")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    try:
        # The only sure test is to write: os.access says yes to root even on read-only filesystems.
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as exc:
        raise ValueError(f"jury_report: cannot write {path}: {ancestor}: {exc.strerror or exc}") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"jury_report: cannot write {path}: the file is not writable")


def build_settings(value: Callable[[str], str | None], *, check: bool = True) -> JurySettings:
    """Settings from `value(name)` (flag, else ini, else None); ValueError names the bad setting.

    With `check=False`, settings that parse but cannot judge together (see `settings_problem`) are
    returned anyway: the pytest wiring reports them at collection, once it knows whether markers of
    the collected tests override them."""

    def get(name: str) -> str | None:
        raw = value(name)
        return raw if raw is not None and raw.strip() else None

    quorum = get("jury_quorum")
    concurrency = get("jury_concurrency")
    timeout = get("jury_timeout")
    try:
        parsed_quorum = Quorum.parse(quorum) if quorum else Quorum("majority")
    except ValueError as exc:
        raise ValueError(f"jury_quorum: {exc}") from None
    try:
        judges = parse_judges(get("jury_judges"))
    except ValueError as exc:
        raise ValueError(f"jury_judges: {exc}") from None
    mode = get("jury_mode")
    try:
        parsed_mode = parse_mode(mode) if mode else DEFAULT_MODE
    except ValueError as exc:
        raise ValueError(f"jury_mode: {exc}") from None
    strategy = get("jury_strategy")
    try:
        parsed_strategy = parse_strategy(strategy) if strategy else "parallel"
    except ValueError as exc:
        raise ValueError(f"jury_strategy: {exc}") from None
    try:
        escalation = parse_judges(get("jury_escalation"))
    except ValueError as exc:
        raise ValueError(f"jury_escalation: {exc}") from None
    inconclusive = get("jury_inconclusive")
    try:
        parsed_inconclusive = parse_inconclusive(inconclusive) if inconclusive else "tie"
    except ValueError as exc:
        raise ValueError(f"jury_inconclusive: {exc}") from None
    settings = JurySettings(
        inconclusive=parsed_inconclusive,
        strategy=parsed_strategy,
        escalation=escalation,
        mode=parsed_mode,
        judges=judges,
        quorum=parsed_quorum,
        concurrency=parse_positive_int("jury_concurrency", concurrency)
        if concurrency
        else DEFAULT_CONCURRENCY,
        timeout_s=parse_positive_float("jury_timeout", timeout) if timeout else DEFAULT_TIMEOUT_S,
        api_base=parse_api_base(get("jury_api_base")),
    )
    problem = settings_problem(settings) if check else None
    if problem:
        raise ValueError(problem)
    return settings


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Run-wide options (not overridable per test)."""

    cache_root: Path
    forced_mode: str | None = None  # a --jury-mode flag beats markers: replay must mean no judge call
    max_cost_usd: float | None = None
    report_path: Path | None = None
    run_id: str = "local"
    is_worker: bool = False
    baseline_update: bool = False  # --jury-baseline-update: record baselines instead of comparing
    rate_limits: Mapping[str, Rate] = dataclasses.field(default_factory=dict)


class JurySession:
    """Owns the run's settings, the lazily opened cache, judge caller and budget, and the ledger.

    `caller_factory`, when set before the first judge call, builds the judge caller instead of the
    litellm-backed `JudgeCaller`: the seam through which the plugin's own tests run whole pytest runs
    in-process against scripted judges, without importing litellm.
    """

    def __init__(self, settings: JurySettings, options: RunOptions) -> None:
        self.settings = settings
        self.options = options
        self.ledger = Ledger()
        self.baselines = BaselineRun(update=options.baseline_update)
        # Per baseline file, the tests this process collected in its module (see BaselineRun).
        self.baseline_tests: dict[str, list[str]] = {}
        self._caller: JudgeCaller | None = None
        self.caller_factory: Callable[[], JudgeCaller] | None = None
        self._cache: VerdictCache | None = None
        self._budget: RunBudget | None = None
        self.journal = SpendJournal(options.run_id)
        # The live "waiting for judges" line: set by the plugin for a serial run on a terminal.
        self.status: StatusLine | None = None

    @staticmethod
    def lock_directory() -> Path:
        """Cross-process locks (diskcache) shared by every pytest run of this user on this machine."""
        return user_temp_directory("locks")

    def cache(self) -> VerdictCache:
        if self._cache is None:
            from pytest_llmonpy.cache import VerdictCache  # diskcache is imported only when judging

            self._cache = VerdictCache(
                self.options.cache_root,
                self.settings.api_base,
                run_id=self.options.run_id,  # shared by xdist workers: one run for `cache prune`
                mode=self.options.forced_mode or self.settings.mode,
            )
        return self._cache

    def caller(self) -> JudgeCaller:
        if self._caller is None and self.caller_factory is not None:
            self._caller = self.caller_factory()
        if self._caller is None:
            # Imported here: judges.py pulls in pydantic, and litellm on the first live call.
            from pytest_llmonpy.judges import JudgeCaller
            from pytest_llmonpy.ratelimit import SharedRateLimiter, default_directory

            # Always present: even without jury_rate_limits, a provider's 429 Retry-After pauses that
            # model for every worker and run on this machine.
            self._caller = JudgeCaller(
                self.settings.concurrency,
                SharedRateLimiter(default_directory(), self.options.rate_limits),
                status=self.status,
            )
        return self._caller

    def budget(self) -> RunBudget | None:
        if self._budget is None and self.options.max_cost_usd is not None:
            from pytest_llmonpy.budget import RunBudget

            self._budget = RunBudget(self.options.max_cost_usd, self.options.run_id)
        return self._budget

    def new_jury(self, settings: JurySettings, test_id: str) -> Jury:
        if self.options.forced_mode is not None:
            settings = dataclasses.replace(settings, mode=self.options.forced_mode)
        return Jury(
            settings,
            self.caller,
            cache=self.cache,
            budget=self.budget(),
            test_id=test_id,
            on_live_vote=lambda vote: self.journal.record_vote(test_id, vote_record(vote)),
        )

    def reported(self, test_id: str) -> None:
        """The test's report carries its jury's record: its journaled votes are not counted again."""
        self.journal.record_reported(test_id)

    def lost_records(self) -> dict[str, dict[str, object]]:
        """Controller: records of the live votes of tests that never reported them (an interrupt or a
        killed xdist worker during the test), from the run's spend journal."""
        from pytest_llmonpy.spend_journal import unreported_votes

        return {
            test_id: {"unconcluded": votes}
            for test_id, votes in unreported_votes(self.journal.directory).items()
        }

    @staticmethod
    def test_record(jury: Jury, replay_misses: int = 0) -> dict[str, object] | None:
        """What a test's report carries to the controller; None when the test judged nothing.

        `replay_misses`: the ReplayMissErrors the test raised (the jury keeps no count of them)."""
        if (
            not jury.verdicts
            and not jury.comparisons
            and not jury.blocked_by_budget
            and not jury.unconcluded
            and not replay_misses
        ):
            return None
        return {
            "verdicts": [verdict_record(v) for v in jury.verdicts],
            "comparisons": [comparison_record(c) for c in jury.comparisons],
            "unconcluded": [vote_record(v) for v in jury.unconcluded],
            "blocked": jury.blocked_by_budget,
            "replay_misses": replay_misses,
        }

    def cache_mode(self) -> str:
        """The run's jury mode: the --jury-mode flag, else the ini key, else record."""
        return self.options.forced_mode or self.settings.mode

    def budget_state(self) -> BudgetState | None:
        budget = self.budget()
        if budget is None:
            return None
        from pytest_llmonpy.report import BudgetState

        return BudgetState(limit_usd=budget.limit_usd, spent_usd=budget.spent_usd())

    def close(self) -> None:
        if self._caller is not None:
            self._caller.close()
            self._caller = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        self.journal.close()
        if not self.options.is_worker:
            remove_journal(self.journal.directory)  # the controller owns the run's journal
        budget = self.budget() if not self.options.is_worker else self._budget
        if budget is not None:
            # The controller owns the run's budget counter and removes it; workers only close theirs.
            budget.close(remove=not self.options.is_worker)
            self._budget = None
