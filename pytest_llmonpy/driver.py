"""Runs a judging plan: answers its steps from the verdict cache and the live judges.

Each live vote is journaled, charged to the budget and cached the moment it arrives, so a process
killed mid-check loses no paid vote. Replay mode and a spent budget stop a plan before any judge is
called.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.messages import budget_spent_message, replay_miss_message, status_label
from pytest_llmonpy.plan import CallKey, Plan, Recall, Step
from pytest_llmonpy.prompts import Case, PairCase
from pytest_llmonpy.recall import CacheOpener, cached_votes, store_vote
from pytest_llmonpy.verdict import BudgetExceededError, JuryConfigError, JuryError, ReplayMissError, Vote

if TYPE_CHECKING:
    from pytest_llmonpy.budget import RunBudget
    from pytest_llmonpy.judges import JudgeCaller

T = TypeVar("T")
Question = Case | PairCase


class PlanDriver:
    """Answers plans for one jury. Keeps what a test report needs beyond the outcome: the live votes
    of checks that never concluded, and how many checks the budget blocked."""

    def __init__(
        self,
        caller: Callable[[], JudgeCaller],
        cache: CacheOpener,
        budget: RunBudget | None,
        on_live_vote: Callable[[Vote], None] | None,
    ) -> None:
        self._caller = caller
        self._cache = cache
        self._budget = budget
        self._on_live_vote = on_live_vote  # the run's spend journal
        # Votes paid for by checks that never reached a verdict (a misconfigured judge, an interrupt).
        self.unconcluded: list[Vote] = []
        self.blocked_by_budget = 0

    def run(self, plan: Plan[T], questions: tuple[Question, ...], settings: JurySettings) -> T:
        """Drive `plan` to its outcome; `questions[i]` is what call (judge, i) asks."""
        __tracebackhide__ = True
        answer: dict[CallKey, Vote] | None = None
        while True:
            try:
                step = plan.send(answer)  # type: ignore[arg-type]  # None starts the generator
            except StopIteration as done:
                outcome: T = done.value
                return outcome
            answer = self._answer(step, questions, settings)

    async def arun(self, plan: Plan[T], questions: tuple[Question, ...], settings: JurySettings) -> T:
        """`run` for async callers: from a worker thread, so the cache, the budget and the wait for the
        judges never block the caller's event loop. Jury errors surface here without the thread-pool
        frames, so pytest points at the test's await."""
        __tracebackhide__ = True
        try:
            return await asyncio.to_thread(self.run, plan, questions, settings)
        except (JuryError, TypeError) as exc:
            raise exc.with_traceback(None) from exc.__cause__

    def _answer(
        self, step: Step, questions: tuple[Question, ...], settings: JurySettings
    ) -> dict[CallKey, Vote]:
        __tracebackhide__ = True
        if isinstance(step, Recall):
            return self._recall(step.calls, questions, settings.mode)
        if settings.mode == "replay":
            index = step.calls[0][1]
            missing = tuple(model for model, at in step.calls if at == index)
            raise ReplayMissError(replay_miss_message(questions[index], missing, self._cache()))
        self._refuse_when_budget_spent(settings.mode)
        live = self._ask([(model, questions[index]) for model, index in step.calls], settings)
        return dict(zip(step.calls, live, strict=True))

    def _recall(
        self, calls: tuple[CallKey, ...], questions: tuple[Question, ...], mode: str
    ) -> dict[CallKey, Vote]:
        found: dict[CallKey, Vote] = {}
        for index, question in enumerate(questions):
            models = [model for model, at in calls if at == index]
            if models:
                votes = cached_votes(self._cache, mode, models, question)
                found.update(((model, index), vote) for model, vote in votes.items())
        return found

    def _refuse_when_budget_spent(self, mode: str) -> None:
        __tracebackhide__ = True
        state = None if self._budget is None else self._budget.exhausted_state()
        if state is not None:
            self.blocked_by_budget += 1
            raise BudgetExceededError(budget_spent_message(state, mode))

    def _ask(self, calls: list[tuple[str, Question]], settings: JurySettings) -> list[Vote]:
        """Ask judges live, one vote per (judge, question) call, keeping each vote as it arrives.

        When the batch is cut short (a misconfigured judge, an interrupt), the votes answered before it
        are also kept for the cost report, then the exception goes on.
        """
        __tracebackhide__ = True
        finished: dict[int, Vote] = {}

        def keep(index: int, vote: Vote) -> None:
            self._keep_live_vote(vote, calls[index][1], settings.mode)

        try:
            return self._caller().judge_calls(
                calls,
                settings.api_base,
                settings.timeout_s,
                finished,
                on_vote=keep,
                label=status_label(calls[0][1]) if calls else "",
            )
        except BaseException as exc:
            self.unconcluded.extend(vote for _, vote in sorted(finished.items()))
            if isinstance(exc, JuryConfigError):
                raise JuryConfigError(str(exc)) from None  # one message, no trace into the event loop
            raise

    def _keep_live_vote(self, vote: Vote, question: Question, mode: str) -> None:
        """Journal, charge and cache a live vote (called on the judge loop as it arrives)."""
        if self._on_live_vote is not None:
            self._on_live_vote(vote)
        if self._budget is not None:
            self._budget.charge(vote.cost)
        store_vote(self._cache, mode, vote, question)
