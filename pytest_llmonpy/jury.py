"""The jury: ask several judges about one output and combine their votes under a quorum rule.

No pytest import here: the plugin wires a Jury into the `jury` fixture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from pytest_llmonpy.config import NO_JUDGES_HELP, JurySettings
from pytest_llmonpy.driver import PlanDriver
from pytest_llmonpy.judge_request import unknown_local_judges
from pytest_llmonpy.pass_rate import SequentialGate
from pytest_llmonpy.plan import Plan, check_plan, compare_plan, score_plan
from pytest_llmonpy.presets import BUILT_IN as BUILT_IN_PRESETS
from pytest_llmonpy.presets import Preset
from pytest_llmonpy.presets import resolve as resolve_preset
from pytest_llmonpy.prompts import Case, Example, PairCase
from pytest_llmonpy.quorum import Outcome, Winner
from pytest_llmonpy.sampled import PassRate, atake, batch_size, pass_rate_result, sampling_gate, settle, take
from pytest_llmonpy.texts import optional_text, output_text, require_utf8
from pytest_llmonpy.verdict import Comparison, HungJuryError, JuryConfigError, Score, Verdict, Vote

if TYPE_CHECKING:
    from pytest_llmonpy.budget import RunBudget
    from pytest_llmonpy.cache import VerdictCache
    from pytest_llmonpy.estimate import Estimator
    from pytest_llmonpy.judges import JudgeCaller
    from pytest_llmonpy.labels import LabelBook
    from pytest_llmonpy.lean import VoteLean


# A pass rate's step: the outputs to take (start, count), or the checks to judge.
SamplingStep = tuple[int, int] | list[tuple[Plan[Verdict], tuple[Case]]]


# The most points a scale may have: each is an enum value in the judge's response schema.
MAX_SCALE_POINTS = 101


def checked_scale(scale: object, threshold: object) -> tuple[int, int]:
    """The scale as (lowest, highest), or a TypeError/ValueError saying what is wrong with it or with
    the threshold."""
    if (
        not isinstance(scale, (tuple, list))
        or len(scale) != 2
        or not all(isinstance(end, int) and not isinstance(end, bool) for end in scale)
    ):
        raise TypeError(f"scale must be two integers (lowest, highest), like scale=(1, 5); got {scale!r}")
    low, high = scale
    if not low < high or high - low + 1 > MAX_SCALE_POINTS:
        raise ValueError(
            f"scale={tuple(scale)!r} needs lowest < highest and at most {MAX_SCALE_POINTS} points, "
            "like scale=(1, 5) or scale=(0, 10)"
        )
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not low <= threshold <= high:
        raise ValueError(
            f"threshold={threshold!r} must be a number on the scale {low}-{high}: the lowest median "
            "score that passes"
        )
    return low, high


class Jury:
    """Asks a jury of LLM judges whether an output meets plain-language criteria.

    `check` returns a `Verdict` (truthy when it passed); `assert_passes` raises `AssertionError`
    with every judge's vote and reason. Both raise `HungJuryError` when the outcome depends on
    judges that abstained, and `JuryConfigError` when the jury cannot run as configured.
    """

    def __init__(
        self,
        settings: JurySettings,
        caller: Callable[[], JudgeCaller],
        *,
        cache: Callable[[], VerdictCache | None] = lambda: None,
        budget: RunBudget | None = None,
        test_id: str | None = None,
        on_live_vote: Callable[[Vote], None] | None = None,
        labels: Callable[[], LabelBook | None] = lambda: None,
        examples: Callable[[], LabelBook | None] | None = None,
        presets: Mapping[str, Preset] | None = None,
        lean: VoteLean | None = None,
        estimator: Estimator | None = None,
    ) -> None:
        self.settings = settings
        # The criteria presets `preset=` names: the built-in ones unless the run adds its own.
        self.presets = BUILT_IN_PRESETS if presets is None else presets
        # The votes the process has seen, so frugal rounds lean the way the run's verdicts go.
        self._lean = lean
        self._labels = labels  # human labels that decide matching checks (read on first check)
        # where jury_examples come from: the same labels, unless told (calibration shows the labelled
        # set it measures, each case never its own example)
        self._examples = examples or labels
        self.test_id = test_id
        self.verdicts: list[Verdict] = []
        self.comparisons: list[Comparison] = []
        self._driver = PlanDriver(caller, cache, budget, on_live_vote, estimator)
        self._raised: set[int] = set()
        # The AssertionErrors this jury raised: a grouped test failed by one counts against its group.
        self.failures_raised: list[AssertionError] = []

    @property
    def unconcluded(self) -> list[Vote]:
        """Votes paid for by checks that never reached a verdict (a misconfigured judge, an interrupt)."""
        return self._driver.unconcluded

    @property
    def estimated(self) -> bool:
        """Whether --jury-estimate answered any of this jury's calls (no judge did)."""
        votes = [vote for verdict in self.verdicts for vote in verdict.all_votes]
        votes += [call for comparison in self.comparisons for pair in comparison.votes for call in pair.calls]
        return any(answer.estimated for vote in votes for answer in (vote, *vote.samples))

    @property
    def blocked_by_budget(self) -> int:
        """How many checks the spent budget stopped before any judge was called."""
        return self._driver.blocked_by_budget

    # -- public API ---------------------------------------------------------------------------
    def check(
        self,
        output: object,
        criteria: str | None = None,
        *,
        preset: str | None = None,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Verdict:
        """Judge `output` against `criteria`; returns the Verdict without raising on failure."""
        __tracebackhide__ = True
        plan, questions = self._check_plan(output, criteria, preset, input, reference, context, allow_none)
        return self._conclude(self._driver.run(plan, questions, self.settings))

    async def acheck(
        self,
        output: object,
        criteria: str | None = None,
        *,
        preset: str | None = None,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Verdict:
        """Async twin of `check`, for async tests. The check is driven on the judge loop (the cache, the
        budget and the judges), so nothing blocks the test's event loop while it awaits the verdict;
        cancelling the await cancels the judge calls in flight."""
        __tracebackhide__ = True
        # Arguments are checked here, so a bad one points at the test's line, not into the judge loop.
        plan, questions = self._check_plan(output, criteria, preset, input, reference, context, allow_none)
        return self._conclude(await self._driver.arun(plan, questions, self.settings))

    def assert_passes(
        self,
        output: object,
        criteria: str | None = None,
        *,
        preset: str | None = None,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Verdict:
        """Like `check`, but raise AssertionError explaining every vote when the jury fails the output."""
        __tracebackhide__ = True
        verdict = self.check(
            output, criteria, preset=preset, input=input, reference=reference, context=context,
            allow_none=allow_none,
        )  # fmt: skip
        return self._require_pass(verdict)

    async def aassert_passes(
        self,
        output: object,
        criteria: str | None = None,
        *,
        preset: str | None = None,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Verdict:
        """Async twin of `assert_passes`."""
        __tracebackhide__ = True
        verdict = await self.acheck(
            output, criteria, preset=preset, input=input, reference=reference, context=context,
            allow_none=allow_none,
        )  # fmt: skip
        return self._require_pass(verdict)

    def score(
        self,
        output: object,
        rubric: str,
        *,
        scale: tuple[int, int] = (1, 5),
        threshold: float = 4,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Score:
        """Score `output` on `rubric`: each judge gives an integer on `scale` (lowest, highest) with a
        reason, and the Score is their median, truthy when it reaches `threshold`. Every judge is
        asked; each score is cached (a new threshold re-reads them, it asks nobody). Raises
        HungJuryError when judges that abstained could decide whether the median reaches it."""
        __tracebackhide__ = True
        plan, questions = self._score_plan(
            output, rubric, scale, threshold, input, reference, context, allow_none
        )
        return self._conclude_score(self._driver.run(plan, questions, self.settings))

    async def ascore(
        self,
        output: object,
        rubric: str,
        *,
        scale: tuple[int, int] = (1, 5),
        threshold: float = 4,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Score:
        """Async twin of `score` (driven on the judge loop, like `acheck`)."""
        __tracebackhide__ = True
        plan, questions = self._score_plan(
            output, rubric, scale, threshold, input, reference, context, allow_none
        )
        return self._conclude_score(await self._driver.arun(plan, questions, self.settings))

    def assert_score(
        self,
        output: object,
        rubric: str,
        *,
        scale: tuple[int, int] = (1, 5),
        threshold: float = 4,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Score:
        """Like `score`, but raise AssertionError (every judge's score and reason) when the median is
        below `threshold`."""
        __tracebackhide__ = True
        score = self.score(
            output, rubric, scale=scale, threshold=threshold, input=input, reference=reference,
            context=context, allow_none=allow_none,
        )  # fmt: skip
        self._require_pass(score)
        return score

    async def aassert_score(
        self,
        output: object,
        rubric: str,
        *,
        scale: tuple[int, int] = (1, 5),
        threshold: float = 4,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Score:
        """Async twin of `assert_score`."""
        __tracebackhide__ = True
        score = await self.ascore(
            output, rubric, scale=scale, threshold=threshold, input=input, reference=reference,
            context=context, allow_none=allow_none,
        )  # fmt: skip
        self._require_pass(score)
        return score

    def compare(
        self,
        a: object,
        b: object,
        criteria: str,
        *,
        input: object = None,
        reference: object = None,
        allow_none: bool = False,
    ) -> Comparison:
        """Which of outputs `a` and `b` better meets `criteria`: winner "a", "b" or "tie".

        Each judge sees the pair twice, in both orders; a judge that picks the same position in both
        votes inconsistent, and a comparison that depends on such votes is inconclusive
        (jury_inconclusive: a tie, or HungJuryError). The quorum rule applies to the wins. Raises
        HungJuryError when abstentions decide it.
        """
        __tracebackhide__ = True
        plan, orders = self._compare_plan(a, b, criteria, input, reference, allow_none)
        return self._conclude_pair(self._driver.run(plan, orders, self.settings))

    async def acompare(
        self,
        a: object,
        b: object,
        criteria: str,
        *,
        input: object = None,
        reference: object = None,
        allow_none: bool = False,
    ) -> Comparison:
        """Async twin of `compare` (driven on the judge loop, like `acheck`)."""
        __tracebackhide__ = True
        plan, orders = self._compare_plan(a, b, criteria, input, reference, allow_none)
        return self._conclude_pair(await self._driver.arun(plan, orders, self.settings))

    def pass_rate(
        self,
        outputs: Callable[[], object] | Iterable[object],
        criteria: str | None = None,
        *,
        preset: str | None = None,
        samples: int | None = None,
        min_rate: float = 0.9,
        confidence: float = 0.95,
        early_stop: bool = True,
        input: object = None,
        reference: object = None,
        context: object = None,
    ) -> PassRate:
        """Judge sampled outputs until their pass rate is settled; returns the PassRate without raising.

        `outputs` is a callable returning one output per call (called at most `samples` times) or a
        list of outputs. Each output is judged (and cached) as a `check`, a batch at a time; after each
        batch the gate decides whether the rate is surely at least `min_rate` (at `confidence`), surely
        not, or needs more samples (see docs/pass-rates.md). Raises HungJuryError when the outcome
        depends on samples the jury could not decide.
        """
        __tracebackhide__ = True
        gate, source = sampling_gate(outputs, samples, min_rate, confidence, early_stop)
        sampling = self._sampling(gate, criteria, preset, input, reference, context)
        step = next(sampling)
        while True:
            try:
                if isinstance(step, tuple):
                    step = sampling.send(take(source, *step))
                else:
                    step = sampling.send(self._driver.run_many(step, self.settings))
            except StopIteration as done:
                rate: PassRate = done.value
                return rate

    async def apass_rate(
        self,
        outputs: Callable[[], object] | Iterable[object],
        criteria: str | None = None,
        *,
        preset: str | None = None,
        samples: int | None = None,
        min_rate: float = 0.9,
        confidence: float = 0.95,
        early_stop: bool = True,
        input: object = None,
        reference: object = None,
        context: object = None,
    ) -> PassRate:
        """Async twin of `pass_rate`: `outputs` may also be an async callable (awaited one at a time);
        each batch is judged on the judge loop, like `acheck`."""
        __tracebackhide__ = True
        gate, source = sampling_gate(outputs, samples, min_rate, confidence, early_stop)
        sampling = self._sampling(gate, criteria, preset, input, reference, context)
        step = next(sampling)
        while True:
            try:
                if isinstance(step, tuple):
                    step = sampling.send(await atake(source, *step))
                else:
                    step = sampling.send(await self._driver.arun_many(step, self.settings))
            except StopIteration as done:
                rate: PassRate = done.value
                return rate

    def assert_pass_rate(
        self,
        outputs: Callable[[], object] | Iterable[object],
        criteria: str | None = None,
        *,
        preset: str | None = None,
        samples: int | None = None,
        min_rate: float = 0.9,
        confidence: float = 0.95,
        early_stop: bool = True,
        input: object = None,
        reference: object = None,
        context: object = None,
    ) -> PassRate:
        """Like `pass_rate`, but raise AssertionError (the rate, its bound and the first failed
        samples) unless the rate is shown to be at least `min_rate` at `confidence`."""
        __tracebackhide__ = True
        rate = self.pass_rate(
            outputs, criteria, preset=preset, samples=samples, min_rate=min_rate, confidence=confidence,
            early_stop=early_stop, input=input, reference=reference, context=context,
        )  # fmt: skip
        return self._require_rate(rate)

    async def aassert_pass_rate(
        self,
        outputs: Callable[[], object] | Iterable[object],
        criteria: str | None = None,
        *,
        preset: str | None = None,
        samples: int | None = None,
        min_rate: float = 0.9,
        confidence: float = 0.95,
        early_stop: bool = True,
        input: object = None,
        reference: object = None,
        context: object = None,
    ) -> PassRate:
        """Async twin of `assert_pass_rate`."""
        __tracebackhide__ = True
        rate = await self.apass_rate(
            outputs, criteria, preset=preset, samples=samples, min_rate=min_rate, confidence=confidence,
            early_stop=early_stop, input=input, reference=reference, context=context,
        )  # fmt: skip
        return self._require_rate(rate)

    def unexplained_failures(self) -> list[Verdict]:
        """Failed verdicts whose explanation was not already raised (for the test report)."""
        return [v for v in self.verdicts if not v.passed and id(v) not in self._raised]

    # -- internals ----------------------------------------------------------------------------
    def _check_plan(
        self,
        output: object,
        criteria: str | None,
        preset: str | None,
        input: object,
        reference: object,
        context: object,
        allow_none: bool,
    ) -> tuple[Plan[Verdict], tuple[Case]]:
        __tracebackhide__ = True
        frames = {"input": input, "reference": reference, "context": context}
        text, found = resolve_preset(self.presets, criteria, preset, frames)
        case, required = self._prepare(output, text, input, reference, context, allow_none)
        case = dataclasses.replace(case, preset=found.key if found else None)
        case = dataclasses.replace(case, examples=self._examples_for(case))
        # Only frugal rounds lean: a parallel check asks every judge, and pays nothing for a snapshot.
        frugal = self.settings.strategy == "frugal"
        lean = self._lean.snapshot() if frugal and self._lean is not None else None
        return check_plan(self.settings, case, required, self.test_id, lean), (case,)

    def _score_plan(
        self,
        output: object,
        rubric: str,
        scale: tuple[int, int],
        threshold: float,
        input: object,
        reference: object,
        context: object,
        allow_none: bool,
    ) -> tuple[Plan[Score], tuple[Case]]:
        __tracebackhide__ = True
        scale = checked_scale(scale, threshold)
        if not isinstance(rubric, str) or not rubric.strip():
            raise TypeError(
                "a score's rubric must be a non-empty string describing what the output is scored on"
            )
        case, _ = self._prepare(output, rubric, input, reference, context, allow_none)
        case = dataclasses.replace(case, scale=scale)
        return score_plan(self.settings, case, float(threshold), self.test_id), (case,)

    def _compare_plan(
        self, a: object, b: object, criteria: str, input: object, reference: object, allow_none: bool
    ) -> tuple[Plan[Comparison], tuple[PairCase, PairCase]]:
        __tracebackhide__ = True
        case, required = self._prepare(a, criteria, input, reference, None, allow_none, "output a")
        pair = PairCase(
            first=case.output,
            second=output_text(b, "output b", allow_none=allow_none),
            criteria=case.criteria,
            input=case.input,
            reference=case.reference,
        )
        pair = dataclasses.replace(pair, examples=self._examples_for(pair))
        return compare_plan(self.settings, pair, required, self.test_id), (pair, pair.swapped())

    def _prepare(
        self,
        output: object,
        criteria: str,
        input: object,
        reference: object,
        context: object,
        allow_none: bool = False,
        what: str = "output",
    ) -> tuple[Case, int]:
        __tracebackhide__ = True
        if not isinstance(criteria, str) or not criteria.strip():
            raise TypeError("jury criteria must be a non-empty string describing what the output must do")
        if not self.settings.judges:
            raise JuryConfigError(NO_JUDGES_HELP)
        unknown_local = unknown_local_judges((*self.settings.judges, *self.settings.escalation))
        if unknown_local:
            raise JuryConfigError(unknown_local)
        try:
            required = self.settings.quorum.required(len(self.settings.judges))
        except ValueError as exc:
            raise JuryConfigError(str(exc)) from None
        require_utf8(criteria, "criteria")
        self._book()  # a broken label file is an error before any judge is paid, not after
        case = Case(
            output=output_text(output, what, allow_none=allow_none),
            criteria=criteria.strip(),
            input=optional_text(input, "input"),
            reference=optional_text(reference, "reference"),
            context=optional_text(context, "context"),
        )
        return case, required

    def _conclude(self, verdict: Verdict) -> Verdict:
        __tracebackhide__ = True
        verdict = self._keep(verdict)
        if verdict.hung:
            self._raised.add(id(verdict))
            raise HungJuryError(verdict)
        return verdict

    def _conclude_score(self, score: Score) -> Score:
        """A score reached: kept as a verdict. Neither the frugal lean (its votes are a threshold's, not
        a judge's pass/fail) nor a human pass/fail label applies to it."""
        __tracebackhide__ = True
        self.verdicts.append(score)
        if score.hung:
            self._raised.add(id(score))
            raise HungJuryError(score)
        return score

    def _sampling(
        self,
        gate: SequentialGate,
        criteria: str | None,
        preset: str | None,
        input: object,
        reference: object,
        context: object,
    ) -> Generator[SamplingStep, Any, PassRate]:
        """A pass rate's rounds, for `pass_rate` and `apass_rate` to run: it yields (start, count) and
        is sent the outputs to judge; it yields the checks of the outputs not judged yet and is sent
        their verdicts; it returns the PassRate once the gate has decided."""
        __tracebackhide__ = True
        verdicts: list[Verdict] = []
        judged: dict[Case, Verdict] = {}
        while True:
            count = batch_size(gate, len(verdicts), self.settings.concurrency, len(self.settings.judges))
            batch = yield (len(verdicts), count)
            jobs = [self._check_plan(o, criteria, preset, input, reference, context, False) for o in batch]
            new = self._new_samples(jobs, judged)
            answers = (yield list(new.values())) if new else []
            judged.update(zip(new, map(self._conclude_sample, answers), strict=True))
            verdicts += [judged[case] for _, (case,) in jobs]
            rate = self._settled(gate, verdicts)
            if rate is not None:
                return rate

    @staticmethod
    def _new_samples(
        jobs: list[tuple[Plan[Verdict], tuple[Case]]], judged: dict[Case, Verdict]
    ) -> dict[Case, tuple[Plan[Verdict], tuple[Case]]]:
        """The jobs of outputs not judged yet in this pass rate, each once: an output the generator
        gives again is a sample with the verdict it already got (judged again, it would measure the
        judges' noise, not the outputs')."""
        new: dict[Case, tuple[Plan[Verdict], tuple[Case]]] = {}
        for job in jobs:
            case = job[1][0]
            if case not in judged and case not in new:
                new[case] = job
            else:
                job[0].close()  # never started: nothing to keep
        return new

    def _conclude_sample(self, verdict: Verdict) -> Verdict:
        """A pass rate's sample: kept like a check's verdict, but a hung one is the rate's to weigh,
        and a failed one is explained by the rate (its first failures), not on its own."""
        verdict = self._keep(verdict)
        self._raised.add(id(verdict))
        return verdict

    def _keep(self, verdict: Verdict) -> Verdict:
        """A verdict reached: its votes seen by the run's lean, a matching human label applied, kept."""
        if self._lean is not None:
            self._lean.observe(verdict.votes)
        verdict = self._labelled(verdict)
        self.verdicts.append(verdict)
        return verdict

    def _settled(self, gate: SequentialGate, verdicts: list[Verdict]) -> PassRate | None:
        __tracebackhide__ = True
        look, depends_on_hung = settle(gate, verdicts)
        if look.decision == "continue" or (depends_on_hung and len(verdicts) < gate.max_samples):
            return None
        rate = pass_rate_result(gate, verdicts, look, verdicts[0].criteria)
        if depends_on_hung:
            hung = next(verdict for verdict in verdicts if verdict.hung)
            raise HungJuryError(
                hung,
                f"the jury is hung: the pass rate depends on {rate.hung} samples it could not decide.\n"
                f"{rate.explain()}\nA sample the jury could not decide (the others are like it):\n"
                f"{hung.explain()}",
            )
        return rate

    def _require_rate(self, rate: PassRate) -> PassRate:
        __tracebackhide__ = True
        if not rate.passed:
            self._fail(rate.explain())
        return rate

    def _fail(self, explanation: str) -> None:
        __tracebackhide__ = True
        error = AssertionError(explanation)
        self.failures_raised.append(error)
        raise error

    def _conclude_pair(self, comparison: Comparison) -> Comparison:
        __tracebackhide__ = True
        comparison = self._labelled_pair(comparison)
        self.comparisons.append(comparison)
        if comparison.hung or (comparison.inconclusive and self.settings.inconclusive == "hung"):
            raise HungJuryError(comparison)
        return comparison

    def _book(self, source: Callable[[], LabelBook | None] | None = None) -> LabelBook | None:
        """The human labels of `source` (default: those that decide checks), read on first use."""
        from pytest_llmonpy.labels import LabelFileError

        try:
            return (source or self._labels)()
        except LabelFileError as exc:
            raise JuryConfigError(f"a human label file cannot be read: {exc}") from None

    def _examples_for(self, case: Case | PairCase) -> tuple[Example, ...]:
        if not self.settings.examples:
            return ()
        book = self._book(self._examples)
        return book.examples(case, self.settings.examples) if book else ()

    def _labelled(self, verdict: Verdict) -> Verdict:
        """The verdict a human label decides, when one matches the check (the jury's outcome kept)."""
        case = verdict.case
        book = self._book() if case is not None else None
        if case is None or not book:
            return verdict
        labelled = book.point(case.criteria, case.output, case.input, case.reference, case.context)
        if labelled is None:
            return verdict
        outcome: Outcome = "passed" if labelled.label == "pass" else "failed"
        return dataclasses.replace(
            verdict, outcome=outcome, decided_by=labelled.where, outcome_by_jury=verdict.outcome
        )

    def _labelled_pair(self, comparison: Comparison) -> Comparison:
        pair = comparison.pair
        book = self._book() if pair is not None else None
        if pair is None or not book:
            return comparison
        found = book.pair(pair.criteria, pair.first, pair.second, pair.input, pair.reference)
        if found is None:
            return comparison
        label, labelled = found
        return dataclasses.replace(
            comparison,
            winner=cast("Winner", label),
            hung=False,
            inconclusive=False,
            decided_by=labelled.where,
            winner_by_jury="hung" if comparison.hung else comparison.winner,
        )

    def _require_pass(self, verdict: Verdict) -> Verdict:
        __tracebackhide__ = True
        if not verdict.passed:
            self._raised.add(id(verdict))
            self._fail(verdict.explain())
        return verdict

    def __repr__(self) -> str:
        return f"<Jury judges={list(self.settings.judges)} quorum={self.settings.quorum}>"
