"""Runs a judging plan: answers its steps from the verdict cache and the live judges.

One driver, `PlanDriver._drive`, answers every step a plan takes: Recall from the cache, Ask after the
replay and budget checks, each live vote journaled, charged to the budget and cached the moment it
arrives (so a process killed mid-check loses no paid vote), and the votes of a batch cut short kept as
unconcluded. It hands out only the live asks themselves, and two thin runners answer those:

- `run` (sync checks) steps the driver in the caller's thread and answers a live ask with the blocking
  `JudgeCaller.judge_calls`, whose calls run on the judge loop (loop_thread.py). The caller's thread
  is blocked either way, and a fully cached check then never builds the judge caller, starts the judge
  loop's thread or imports litellm, nor pays a thread hop per check.
- `arun` (async checks) steps the same driver in a coroutine ON the judge loop, where a live ask is
  `await JudgeCaller.ajudge_calls(...)`: the test's event loop only awaits a future (no thread-pool
  worker per check), and cancelling that await cancels the task and its calls in flight, then returns
  once the driver has kept what was paid for. The live status line is ticked from the test's loop
  while it waits (a few bytes to the terminal, as pytest's own progress writes there), never from the
  judge loop. Even a fully cached async check builds the judge caller (judges.py, not litellm) and
  starts the judge loop's thread: that is where it runs.

Cache reads (and the budget's check) run directly on the judge loop, as the cache writes of live votes
always have: diskcache's SQLite is in WAL mode, where a read never waits for another process's write,
and a lookup takes well under a millisecond, less than a hop to a worker thread would cost. Only the
first lookup opens the cache (a one-time import and open). Importing litellm, which blocks for seconds,
happens in a worker thread, and only when a live call is needed.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.judge_samples import combine, sampled
from pytest_llmonpy.messages import budget_spent_message, replay_miss_message, status_label
from pytest_llmonpy.plan import Ask, CallKey, Plan, Recall
from pytest_llmonpy.prompts import Case, PairCase
from pytest_llmonpy.recall import CacheOpener, cached_votes, store_vote
from pytest_llmonpy.verdict import (
    BudgetExceededError,
    JuryConfigError,
    JuryError,
    ReplayMissError,
    Verdict,
    Vote,
)

if TYPE_CHECKING:
    from pytest_llmonpy.budget import RunBudget
    from pytest_llmonpy.estimate import Estimator
    from pytest_llmonpy.judges import JudgeCaller

T = TypeVar("T")
Question = Case | PairCase


@dataclass
class LiveAsk:
    """A batch of live calls the driver needs answered: one vote per (judge, question), in order.

    Each vote lands in `finished` (by the call's index) and goes to `keep` as it arrives.
    """

    calls: list[tuple[str, Question]]
    keep: Callable[[int, Vote], None]
    finished: dict[int, Vote] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return status_label(self.calls[0][1]) if self.calls else ""

    def pending(self) -> list[str]:
        """The judges still to answer (read from the waiting thread: a snapshot)."""
        return [model for index, (model, _) in enumerate(self.calls) if index not in self.finished]


@dataclass
class _Watch:
    """The live ask an async check is waiting on, for the status line ticked from the test's loop."""

    ask: LiveAsk | None = None

    def pending(self) -> list[str]:
        ask = self.ask
        return [] if ask is None else ask.pending()


Driving = Generator[LiveAsk, list[Vote], T]


class PlanDriver:
    """Answers plans for one jury. Keeps what a test report needs beyond the outcome: the live votes
    of checks that never concluded, and how many checks the budget blocked."""

    def __init__(
        self,
        caller: Callable[[], JudgeCaller],
        cache: CacheOpener,
        budget: RunBudget | None,
        on_live_vote: Callable[[Vote], None] | None,
        estimator: Estimator | None = None,
    ) -> None:
        self._caller = caller
        # --jury-estimate: live calls are counted and priced by it, never made.
        self._estimator = estimator
        self._cache = cache
        self._budget = budget
        self._on_live_vote = on_live_vote  # the run's spend journal
        # Votes paid for by checks that never reached a verdict (a misconfigured judge, an interrupt).
        self.unconcluded: list[Vote] = []
        self.blocked_by_budget = 0

    def run(self, plan: Plan[T], questions: tuple[Question, ...], settings: JurySettings) -> T:
        """Drive `plan` to its outcome; `questions[i]` is what call (judge, i) asks."""
        __tracebackhide__ = True
        return self._answer(self._drive(plan, questions, settings), settings)

    def run_many(
        self, jobs: Sequence[tuple[Plan[Verdict], Sequence[Question]]], settings: JurySettings
    ) -> list[Verdict]:
        """`run` for several checks at once: their live calls go out together, one batch per round, so
        N checks take about one check's latency (a pass rate's samples)."""
        __tracebackhide__ = True
        return self._answer(self._together(jobs, settings), settings)

    def _together(
        self, jobs: Sequence[tuple[Plan[Verdict], Sequence[Question]]], settings: JurySettings
    ) -> Driving[list[Verdict]]:
        drivings = [self._drive(plan, tuple(questions), settings) for plan, questions in jobs]
        return together(drivings, on_lost=self._lost_verdict)

    def _lost_verdict(self, verdict: Verdict) -> None:
        """A check of a batch that failed reached its verdict, which is never returned: its live votes
        are paid for, so they are kept as unconcluded."""
        answers = [answer for vote in verdict.all_votes for answer in (vote.samples or (vote,))]
        self.unconcluded.extend(
            answer for answer in answers if not answer.cached and answer.vote != "not_needed"
        )

    def _answer(self, driving: Driving[T], settings: JurySettings) -> T:
        """Answer a driving's live asks with the blocking `JudgeCaller.judge_calls`."""
        __tracebackhide__ = True
        try:
            ask = next(driving)
            while True:
                try:
                    live = self._caller().judge_calls(
                        ask.calls,
                        settings.api_base,
                        settings.timeout_s,
                        ask.finished,
                        on_vote=ask.keep,
                        label=ask.label,
                    )
                except BaseException as exc:
                    driving.throw(exc)  # the driver keeps the votes paid for, then raises it again
                    raise  # not reached: the driver never swallows a failed ask
                ask = driving.send(live)
        except StopIteration as done:
            outcome: T = done.value
            return outcome

    async def arun_many(
        self, jobs: Sequence[tuple[Plan[Verdict], Sequence[Question]]], settings: JurySettings
    ) -> list[Verdict]:
        """`arun` for several checks at once (see `run_many`)."""
        __tracebackhide__ = True
        driving = self._together(jobs, settings)
        return await self._await_on_judge_loop(driving, status_label(jobs[0][1][0]), settings)

    async def arun(self, plan: Plan[T], questions: tuple[Question, ...], settings: JurySettings) -> T:
        """`run` for async callers: the plan is driven on the judge loop while the caller's event loop
        only awaits it. Jury errors surface here without the judge loop's frames, so pytest points at
        the test's await."""
        __tracebackhide__ = True
        return await self._await_on_judge_loop(
            self._drive(plan, questions, settings), status_label(questions[0]), settings
        )

    async def _await_on_judge_loop(self, driving: Driving[T], label: str, settings: JurySettings) -> T:
        __tracebackhide__ = True
        caller = self._caller()
        watch = _Watch()
        on_loop = self._on_judge_loop(caller, driving, settings, watch)
        try:
            return await caller.on_judge_loop(on_loop, label, watch.pending)
        except (JuryError, TypeError) as exc:
            raise exc.with_traceback(None) from exc.__cause__

    @staticmethod
    async def _on_judge_loop(
        caller: JudgeCaller, driving: Driving[T], settings: JurySettings, watch: _Watch
    ) -> T:
        """`run`'s loop as a coroutine on the judge loop, a live ask awaited there."""
        try:
            ask = next(driving)
            while True:
                watch.ask = ask
                try:
                    live = await caller.ajudge_calls(
                        ask.calls, settings.api_base, settings.timeout_s, ask.finished, on_vote=ask.keep
                    )
                except BaseException as exc:  # cancellation too: the caller's await was cancelled
                    driving.throw(exc)
                    raise
                watch.ask = None
                ask = driving.send(live)
        except StopIteration as done:
            outcome: T = done.value
            return outcome

    def _drive(self, plan: Plan[T], questions: tuple[Question, ...], settings: JurySettings) -> Driving[T]:
        """Answer `plan`'s steps, handing out only its live asks; the outcome is the return value.

        A check that fails before its outcome (a live ask cut short by a misconfigured judge, an
        interrupt or a cancelled await; a later round refused by the budget or replay mode) keeps the
        votes it paid for, those of earlier rounds and those answered before the batch was cut short,
        as unconcluded, for the cost report; the exception goes on.
        """
        __tracebackhide__ = True
        answer: dict[CallKey, Vote] | None = None
        paid: list[Vote] = []  # the live votes answered so far
        calls = _Answers(questions, settings.samples)
        try:
            while True:
                try:
                    step = plan.send(answer)  # type: ignore[arg-type]  # None starts the generator
                except StopIteration as done:
                    outcome: T = done.value
                    return outcome
                if isinstance(step, Recall):
                    answer = self._recall(step.calls, calls, settings.mode)
                    continue
                ask, wanted = self._live_ask(step, calls, settings)
                if self._estimator is not None:
                    live = [self._estimator.vote(model, question) for model, question in ask.calls]
                    calls.learn(zip(wanted, live, strict=True))
                    answer = {call: calls.vote(call) for call in step.calls}
                    continue
                try:
                    live = yield ask
                except BaseException as exc:
                    paid += [vote for _, vote in sorted(ask.finished.items())]
                    if isinstance(exc, JuryConfigError):
                        raise JuryConfigError(str(exc)) from None  # one message, no event-loop trace
                    raise
                paid += live
                calls.learn(zip(wanted, live, strict=True))
                answer = {call: calls.vote(call) for call in step.calls}
        except BaseException:
            self.unconcluded.extend(paid)
            raise

    def _live_ask(
        self, step: Ask, calls: _Answers, settings: JurySettings
    ) -> tuple[LiveAsk, list[tuple[CallKey, int]]]:
        """The live calls `step` needs (each sample of each call not answered yet), and which call and
        sample each is, unless replay mode or a spent budget forbids them."""
        __tracebackhide__ = True
        wanted = calls.unanswered(step.calls)
        asked = [(call[0], calls.asked(call[1])[sample]) for call, sample in wanted]
        if settings.mode == "replay":
            # Named by the first question missing (under --jury-samples, with its seed): the closest
            # recorded verdict then says what differs, the seed included.
            (_, index), sample = wanted[0]
            missing = tuple(dict.fromkeys(model for (model, at), _ in wanted if at == index))
            raise ReplayMissError(replay_miss_message(calls.asked(index)[sample], missing, self._cache()))
        if self._estimator is not None:  # counted, not made: the budget has nothing to refuse
            return LiveAsk(asked, lambda index, vote: None), wanted
        self._refuse_when_budget_spent(settings.mode)

        def keep(index: int, vote: Vote) -> None:
            self._keep_live_vote(vote, asked[index][1], settings.mode)

        return LiveAsk(asked, keep), wanted

    def _recall(self, keys: tuple[CallKey, ...], calls: _Answers, mode: str) -> dict[CallKey, Vote]:
        """The votes the cache holds for `keys`: those whose every sample is cached (the others' cached
        samples are kept, so only the missing ones are asked)."""
        for index in sorted({at for _, at in keys}):
            models = [model for model, at in keys if at == index]
            for sample, question in enumerate(calls.asked(index)):
                votes = cached_votes(self._cache, mode, models, question)
                calls.learn((((model, index), sample), vote) for model, vote in votes.items())
        return {call: calls.vote(call) for call in keys if calls.complete(call)}

    def _refuse_when_budget_spent(self, mode: str) -> None:
        __tracebackhide__ = True
        state = None if self._budget is None else self._budget.exhausted_state()
        if state is not None:
            self.blocked_by_budget += 1
            raise BudgetExceededError(budget_spent_message(state, mode))

    def _keep_live_vote(self, vote: Vote, question: Question, mode: str) -> None:
        """Journal, charge and cache a live vote (called on the judge loop as it arrives)."""
        if self._on_live_vote is not None:
            self._on_live_vote(vote)
        if self._budget is not None:
            self._budget.charge(vote.cost)
        store_vote(self._cache, mode, vote, question)


class _Answers:
    """What one plan's calls were answered, by sample: a call (judge, question) is asked once, or
    once per seed under --jury-samples (questions that are checks or scores; a comparison already asks
    each judge twice), and its vote is then their combination."""

    def __init__(self, questions: tuple[Question, ...], samples: int) -> None:
        self.questions = questions
        self._asked: list[list[Question]] = [
            [*sampled(question, samples)] if samples > 1 and isinstance(question, Case) else [question]
            for question in questions
        ]
        self._answers: dict[CallKey, dict[int, Vote]] = {}

    def asked(self, index: int) -> list[Question]:
        """What question `index` is asked as: itself, or once per seed."""
        return self._asked[index]

    def learn(self, answers: Iterable[tuple[tuple[CallKey, int], Vote]]) -> None:
        for (call, sample), vote in answers:
            self._answers.setdefault(call, {})[sample] = vote

    def complete(self, call: CallKey) -> bool:
        return len(self._answers.get(call, ())) == len(self._asked[call[1]])

    def unanswered(self, calls: Iterable[CallKey]) -> list[tuple[CallKey, int]]:
        known = self._answers
        return [
            (call, sample)
            for call in calls
            for sample in range(len(self._asked[call[1]]))
            if sample not in known.get(call, {})
        ]

    def vote(self, call: CallKey) -> Vote:
        answers = self._answers[call]
        if len(self._asked[call[1]]) == 1:
            return answers[0]
        return combine(call[0], [answers[sample] for sample in sorted(answers)])


def together(drivings: list[Driving[T]], on_lost: Callable[[T], None]) -> Driving[list[T]]:
    """One driving for several: each round, the live asks of every driving still going become one ask
    (their calls in a row), and each gets its share of the answers.

    When a round fails, or one driving fails on its share (a later round refused by the budget), every
    driving still gets its share, the failure is thrown into those still asking, so each keeps the
    votes it paid for, and the outcomes already reached go to `on_lost`: none is returned.
    """
    __tracebackhide__ = True
    outcomes: dict[int, T] = {}
    asks: dict[int, LiveAsk] = {}
    failure: BaseException | None = None

    def step(index: int, advance: Callable[[], LiveAsk]) -> None:
        nonlocal failure
        try:
            asks[index] = advance()
        except StopIteration as done:
            outcomes[index] = done.value
        except BaseException as exc:  # raised below, once every driving has its share
            failure = failure or exc

    def fail(exc: BaseException) -> BaseException:
        for index in sorted(asks):
            with contextlib.suppress(BaseException):  # each re-raises it: raised once, by the caller
                drivings[index].throw(exc)
        for outcome in outcomes.values():
            on_lost(outcome)
        return exc

    for index, driving in enumerate(drivings):
        step(index, driving.__next__)
    while asks and failure is None:
        parts = sorted(asks.items())
        asks.clear()
        owners = [(index, ask, at) for index, ask in parts for at in range(len(ask.calls))]

        def keep(position: int, vote: Vote, owners: list[tuple[int, LiveAsk, int]] = owners) -> None:
            _, ask, at = owners[position]
            ask.finished[at] = vote
            ask.keep(at, vote)

        combined = LiveAsk([call for _, ask in parts for call in ask.calls], keep)
        try:
            live = yield combined
        except BaseException as exc:
            asks.update(parts)
            raise fail(exc) from None
        start = 0
        for index, ask in parts:
            share = live[start : start + len(ask.calls)]
            start += len(ask.calls)
            step(index, functools.partial(drivings[index].send, share))
    if failure is not None:
        raise fail(failure)
    return [outcomes[index] for index in range(len(drivings))]
