"""Per-run state of the plugin, kept in `config.stash` by the pytest wiring."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmonpy.baselines import BaselineRun
from pytest_llmonpy.config import JurySettings, RunOptions
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.lean import VoteLean
from pytest_llmonpy.ledger import Ledger, comparison_record, verdict_record, vote_record
from pytest_llmonpy.shared_dirs import user_temp_directory
from pytest_llmonpy.spend_journal import SpendJournal, remove_journal

if TYPE_CHECKING:
    from pytest_llmonpy.budget import BudgetState, RunBudget
    from pytest_llmonpy.cache import VerdictCache
    from pytest_llmonpy.estimate import Estimator
    from pytest_llmonpy.judges import JudgeCaller
    from pytest_llmonpy.labels import LabelBook
    from pytest_llmonpy.progress import StatusLine
    from pytest_llmonpy.redis_store import RedisLink


class JurySession:
    """Owns the run's settings, the lazily opened cache, judge caller and budget, and the ledger.

    `caller_factory`, when set before the first judge call, builds the judge caller instead of the
    litellm-backed `JudgeCaller`: the seam through which the plugin's own tests run whole pytest runs
    in-process against scripted judges, without importing litellm.
    """

    def __init__(self, settings: JurySettings, options: RunOptions) -> None:
        self.settings = settings
        self.options = options
        self.ledger = Ledger(estimating=options.estimate)
        self.baselines = BaselineRun(update=options.baseline_update)
        self._caller: JudgeCaller | None = None
        self.caller_factory: Callable[[], JudgeCaller] | None = None
        self._cache: VerdictCache | None = None
        self._budget: RunBudget | None = None
        self._estimator: Estimator | None = None
        self._link: RedisLink | None = None
        self.journal = SpendJournal(options.run_id)
        # The live "waiting for judges" line: set by the plugin for a serial run on a terminal.
        self.status: StatusLine | None = None
        # --jury-export, --jury-label-disagreements: records carry what the judges were asked in full.
        self.exporting = options.export_path is not None or options.disagreements_path is not None
        # Which way this process's verdicts lean: frugal juries size their first round by it.
        self.lean = VoteLean()
        # Juries of module- and session-scoped fixtures (jury_factory), by name: no test reports
        # their verdicts, so the process hands them over at the end of the session.
        self.shared: dict[str, Jury] = {}
        self._labels: dict[Path, LabelBook] = {}

    @staticmethod
    def lock_directory() -> Path:
        """Cross-process locks (diskcache) shared by every pytest run of this user on this machine."""
        return user_temp_directory("locks")

    def shared_link(self) -> RedisLink | None:
        """jury_cache_url: this process's link to the fleet's Redis (connected on first use)."""
        if self._link is None and self.options.shared is not None:
            from pytest_llmonpy.redis_store import RedisLink

            stored = "" if self.settings.mode == "replay" else " (new verdicts are stored there)"
            instead = (
                f"uses the local verdict cache at {self.options.cache_root}{stored}, "
                "keeps rate limits and 429 pauses on this machine only"
            )
            if self.options.budget_key is not None:
                instead += ", and counts the budget from the fleet's spend last seen plus its own"
            self._link = RedisLink(self.options.shared, instead=instead)
        return self._link

    def undelivered_warnings(self) -> list[str]:
        """The Redis warning this process could not give (filterwarnings = error), if any."""
        link = self._link
        return [link.undelivered] if link is not None and link.undelivered else []

    def cache(self) -> VerdictCache:
        if self._cache is None:
            from pytest_llmonpy.cache import VerdictCache  # diskcache is imported only when judging
            from pytest_llmonpy.redis_store import RedisVerdicts  # redis itself only on connecting

            link = self.shared_link()
            self._cache = VerdictCache(
                self.options.cache_root,
                self.settings.api_base,
                run_id=self.options.run_id,  # shared by xdist workers: one run for `cache prune`
                mode=self.settings.mode,
                shared=RedisVerdicts(link) if link is not None else None,
            )
        return self._cache

    def caller(self) -> JudgeCaller:
        if self._caller is None and self.caller_factory is not None:
            self._caller = self.caller_factory()
        if self._caller is None:
            # Imported here: judges.py pulls in pydantic, and litellm on the first live call.
            from pytest_llmonpy.judges import JudgeCaller
            from pytest_llmonpy.ratelimit import SharedRateLimiter, default_directory
            from pytest_llmonpy.redis_store import RedisRateState

            # Always present: even without jury_rate_limits, a provider's 429 Retry-After pauses that
            # model for every worker and run on this machine.
            link = self.shared_link()
            shared = RedisRateState(link) if link is not None else None
            self._caller = JudgeCaller(
                self.settings.concurrency,
                SharedRateLimiter(default_directory(), self.options.rate_limits, shared=shared),
                status=self.status,
            )
        return self._caller

    def estimator(self) -> Estimator | None:
        """--jury-estimate: what answers the live calls instead of the judges (one per process)."""
        if self._estimator is None and self.options.estimate:
            from pytest_llmonpy.estimate import Estimator, mean_reply_tokens

            def cached_replies() -> dict[str, int]:
                entries = self.cache().entries() if self.settings.mode != "off" else []
                return mean_reply_tokens((entry.vote.model, entry.vote.tokens_out) for entry in entries)

            self._estimator = Estimator(cached_replies)
        return self._estimator

    def budget(self) -> RunBudget | None:
        if self._budget is None and self.options.max_cost is not None:
            from pytest_llmonpy.budget import RunBudget
            from pytest_llmonpy.redis_store import RedisBudget

            key, link = self.options.budget_key, self.shared_link()
            shared = RedisBudget(link, key) if key is not None and link is not None else None
            self._budget = RunBudget(self.options.max_cost, self.options.run_id, shared)
        return self._budget

    def new_jury(
        self,
        settings: JurySettings,
        test_id: str,
        directory: Path | None = None,
        *,
        examples: LabelBook | None = None,
        presets: Mapping[str, object] | None = None,
    ) -> Jury:
        """A jury for one test; the human labels of `directory` (the test module's) decide its
        matching checks and give its examples, unless `examples` are given. `presets`: the test's own
        criteria presets (its `jury_presets` fixture), over the run's file and the built-in ones."""
        from pytest_llmonpy.presets import merged

        own = [self.options.presets, presets or {}]
        return Jury(
            settings,
            self.caller,
            cache=self.cache,
            budget=self.budget(),
            test_id=test_id,
            on_live_vote=lambda vote: self.journal.record_vote(test_id, vote_record(vote)),
            labels=(lambda: self.labels(directory)) if directory is not None else lambda: None,
            examples=(lambda: examples) if examples is not None else None,
            presets=merged(*own) if any(own) else None,
            lean=self.lean,
            estimator=self.estimator(),
        )

    def labels(self, directory: Path) -> LabelBook:
        """The human labels for checks made in `directory`, read once per directory."""
        if directory not in self._labels:
            from pytest_llmonpy.labels import label_book_for

            self._labels[directory] = label_book_for(directory, self.options.rootdir or directory)
        return self._labels[directory]

    def shared_jury(
        self, settings: JurySettings, name: str | None, *, examples: LabelBook | None = None
    ) -> Jury:
        """A jury for fixtures wider than one test; `name` labels its verdicts in the reports, and
        `examples` (when given) are the labelled cases it may show judges."""
        label = name or f"jury_factory #{len(self.shared) + 1}"
        if label in self.shared:
            raise ValueError(
                f"jury_factory: a jury named {label!r} already exists in this run; pick another name"
            )
        self.shared[label] = self.new_jury(settings, label, examples=examples)
        return self.shared[label]

    def shared_records(self) -> dict[str, dict[str, object]]:
        """The records of the shared juries that judged something; their journaled votes are then
        counted by these records, not again as lost ones."""
        records: dict[str, dict[str, object]] = {}
        for label, jury in self.shared.items():
            record = self.test_record(jury)
            if record is not None:
                records[label] = record
                self.reported(label)
        return records

    @staticmethod
    def take_notices() -> list[str]:
        """One-time notices (the local judge loading) posted since the last call."""
        from pytest_llmonpy.progress import take_notices

        return take_notices()

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

    def test_record(
        self, jury: Jury, replay_misses: int = 0, group_sample: str | None = None
    ) -> dict[str, object] | None:
        """What a test's report carries to the controller; None when the test judged nothing.

        `replay_misses`: the ReplayMissErrors the test raised (the jury keeps no count of them);
        `group_sample`: for a test in a jury_group, whether it counts as a pass or a fail of the group."""
        if (
            not jury.verdicts
            and not jury.comparisons
            and not jury.blocked_by_budget
            and not jury.unconcluded
            and not replay_misses
        ):
            return None
        record: dict[str, object] = {
            "verdicts": [verdict_record(v, texts=self.exporting) for v in jury.verdicts],
            "comparisons": [comparison_record(c, texts=self.exporting) for c in jury.comparisons],
            "unconcluded": [vote_record(v) for v in jury.unconcluded],
            "blocked": jury.blocked_by_budget,
            "replay_misses": replay_misses,
        }
        if jury.settings.group is not None and jury.test_id not in self.shared:  # a test's own jury
            record["group"] = {
                "name": jury.settings.group,
                "min_pass_rate": jury.settings.min_pass_rate,
                "sample": group_sample,
            }
        return record

    def cache_mode(self) -> str:
        """The run's jury mode: the --jury-mode flag, else the ini key, else record."""
        return self.settings.mode

    def budget_state(self) -> BudgetState | None:
        budget = self.budget()
        return None if budget is None else budget.state()

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
        if self._link is not None:
            self._link.close()
            self._link = None
