"""Calibration: how often each judge, and the jury they make, agree with human labels.

Every judge is asked about every labelled case on its own (quorum 1), then the jury as configured; the
votes go through the verdict cache like any check's, so the jury's own questions are answered from what
its judges just said, and a re-run costs nothing. No pytest import.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pytest_llmonpy.agreement import NO_ANSWER, Agreement, measure
from pytest_llmonpy.config import JurySettings, settings_problem
from pytest_llmonpy.judge_request import is_local
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.labels import (
    LABELS_DIR,
    PAIR_LABELS,
    POINT_LABELS,
    LabelBook,
    LabelFileError,
    LabelledCase,
    find_label_files,
    load_labels,
)
from pytest_llmonpy.money import Cost, format_cost, total
from pytest_llmonpy.quorum import Quorum
from pytest_llmonpy.untrusted import printable
from pytest_llmonpy.verdict import Comparison, HungJuryError, ReplayMissError, Verdict, Vote

JURY = "jury"
# Checks in flight at once: the judge caller bounds the calls themselves (jury_concurrency).
CASES_IN_FLIGHT = 16


def cases_in_flight(settings: JurySettings) -> int:
    """How many cases to ask at once. One at a time with a local judge: it answers one call at a time,
    and a call's wait for the model counts against its jury_timeout, so a queue of cases would turn
    into abstentions."""
    if any(is_local(judge) for judge in (*settings.judges, *settings.escalation)):
        return 1
    return min(CASES_IN_FLIGHT, settings.concurrency)


class NewJury(Protocol):
    """Builds a jury that records its verdicts under `name`, showing `examples` when it shows any."""

    def __call__(self, settings: JurySettings, name: str, *, examples: LabelBook | None = None) -> Jury: ...


@dataclass(frozen=True)
class PairHabits:
    """How a rater treats pairs, whatever the labels say.

    `consistent`: pairs where both orders gave the same answer; `first_picks` of `side_picks`: calls
    that chose the output shown first, of those that chose a side (0.5 is no lean); `undecided`: pairs
    it answered with no winner (a tie, or a different side in each order).
    """

    answered: int
    consistent: int
    first_picks: int
    side_picks: int
    undecided: int


@dataclass(frozen=True)
class RaterResult:
    """One judge, or the jury: its agreement with the labels and what its verdicts cost."""

    name: str
    point: Agreement | None
    pair: Agreement | None
    habits: PairHabits | None
    verdicts: int
    cost: Cost
    calls: int
    replay_misses: int = 0  # cases not in the cache under --jury-mode=replay (counted as no answer)

    def cost_per_verdict(self) -> str:
        if not self.verdicts:
            return "-"
        each = Cost(
            round(self.cost.nano / self.verdicts), -(-self.cost.unpriced // self.verdicts), self.cost.free
        )
        return format_cost(each, calls=max(1, self.calls // self.verdicts))


@dataclass(frozen=True)
class Calibration:
    """The measurement of one jury against labelled cases."""

    jury_description: str
    judges: tuple[RaterResult, ...]
    jury: RaterResult
    point_cases: int
    pair_cases: int
    unlabelled: int

    def kappas(self) -> dict[str, float | None]:
        """The jury's kappa for each kind of case the labels hold."""
        kappas: dict[str, float | None] = {}
        if self.jury.point is not None:
            kappas["pointwise"] = self.jury.point.kappa
        if self.jury.pair is not None:
            kappas["pairs"] = self.jury.pair.kappa
        return kappas

    def below(self, min_kappa: float) -> list[str]:
        """Why the jury misses `min_kappa`, one line per kind of case; empty when it reaches it."""
        problems = []
        for kind, kappa in self.kappas().items():
            if kappa is None:
                problems.append(f"{kind}: the jury's kappa is undefined (see above), below {min_kappa:g}")
            elif kappa < min_kappa:
                problems.append(f"{kind}: the jury's kappa {kappa:.2f} is below {min_kappa:g}")
        return problems

    def trailing(self) -> list[str]:
        """Warnings where a single judge agrees with people better than the jury does."""
        warnings = []
        for kind in ("point", "pair"):
            jury: Agreement | None = getattr(self.jury, kind)
            scored = [(getattr(j, kind).kappa, j.name) for j in self.judges if getattr(j, kind) is not None]
            scored = [(kappa, name) for kappa, name in scored if kappa is not None]
            if jury is None or not scored or len(self.judges) < 2:
                continue
            best, name = max(scored)
            if jury.kappa is None or jury.kappa < best:
                shown = "undefined" if jury.kappa is None else f"{jury.kappa:.2f}"
                label = "pointwise" if kind == "point" else "pairs"
                warnings.append(
                    f"{label}: the jury (kappa {shown}) trails its best member {name} (kappa {best:.2f}): "
                    "try another quorum, or a jury without its weakest judges"
                )
        return warnings


class CalibrationError(ValueError):
    """Calibration cannot start: no or bad label files, or a jury that cannot judge."""


def calibrate_paths(paths: Sequence[Path], settings: JurySettings, new_jury: NewJury) -> Calibration:
    """Find and read the label files under `paths`, then `calibrate`; CalibrationError when it
    cannot start (before any judge is asked)."""
    problem = settings_problem(settings)
    if problem:
        raise CalibrationError(problem)
    try:
        files = find_label_files(paths)
        if not files:
            where = ", ".join(str(path) for path in paths)
            raise CalibrationError(
                f"--jury-calibrate: no label files under {where}: write labelled cases to "
                f"{LABELS_DIR}/<name>.jsonl, one JSON object per line (see docs/calibration.md)"
            )
        cases = load_labels(files)
    except LabelFileError as exc:
        raise CalibrationError(str(exc)) from None
    if not any(case.label for case in cases):
        raise CalibrationError(
            f"--jury-calibrate: none of the {len(cases)} cases in {len(files)} label file(s) has a label yet"
        )
    return asyncio.run(calibrate(cases, settings, new_jury))


async def calibrate(
    cases: Sequence[LabelledCase],
    settings: JurySettings,
    new_jury: NewJury,
    *,
    unlabelled: int = 0,
) -> Calibration:
    """Ask each judge alone, then the jury, about every labelled case; measure each against the labels.

    `new_jury(settings, name)` builds a jury that records its verdicts under `name` (in the cost
    report). Raises what a check raises for a jury that cannot run (JuryConfigError, a spent budget).
    """
    labelled = [case for case in cases if case.label]
    # With jury_examples, a case is shown the other labelled cases of its criteria, never itself. Only
    # then: a book refuses a case labelled twice both ways, which calibration otherwise measures as is.
    try:
        examples = LabelBook(labelled) if settings.examples else None
    except LabelFileError as exc:
        raise CalibrationError(f"--jury-examples: {exc}") from None
    results = []
    for judge in settings.judges:
        alone = dataclasses.replace(
            settings, judges=(judge,), quorum=Quorum.parse("1"), strategy="parallel", escalation=()
        )
        rater = new_jury(alone, f"calibrate: {judge}", examples=examples)
        results.append(await _rate(judge, rater, labelled, own_vote=True))
    whole = new_jury(settings, "calibrate: jury", examples=examples)
    jury = await _rate(JURY, whole, labelled, own_vote=False)
    return Calibration(
        jury_description=describe_jury(settings),
        judges=tuple(results),
        jury=jury,
        point_cases=sum(not case.is_pair for case in labelled),
        pair_cases=sum(case.is_pair for case in labelled),
        unlabelled=unlabelled + len(cases) - len(labelled),
    )


def describe_jury(settings: JurySettings) -> str:
    text = f"judges {', '.join(settings.judges)}; quorum {settings.quorum}; strategy {settings.strategy}"
    if settings.escalation:
        text += f"; escalation to {', '.join(settings.escalation)}"
    return text


async def _rate(name: str, jury: Jury, cases: Sequence[LabelledCase], *, own_vote: bool) -> RaterResult:
    gate = asyncio.Semaphore(cases_in_flight(jury.settings))

    missed = 0

    async def ask(case: LabelledCase) -> tuple[str, Verdict | Comparison | None]:
        nonlocal missed
        async with gate:
            try:
                return await _answer(jury, case, own_vote)
            except ReplayMissError:
                missed += 1
                return NO_ANSWER, None

    answers = await asyncio.gather(*(ask(case) for case in cases))
    labelled = [(case, answer) for case, (answer, _) in zip(cases, answers, strict=True)]
    point = [(case.label, answer) for case, answer in labelled if not case.is_pair]
    pair = [(case.label, answer) for case, answer in labelled if case.is_pair]
    outcomes = [outcome for _, outcome in answers if outcome is not None]
    votes = [vote for outcome in outcomes for vote in _votes(outcome)]
    comparisons = [outcome for outcome in outcomes if isinstance(outcome, Comparison)]
    return RaterResult(
        name=name,
        point=measure(point, POINT_LABELS) if point else None,
        pair=measure(pair, PAIR_LABELS) if pair else None,
        habits=_habits(comparisons, own_vote) if pair else None,
        verdicts=len(outcomes),
        cost=total(vote.cost for vote in votes),
        calls=len(votes),
        replay_misses=missed,
    )


async def _answer(jury: Jury, case: LabelledCase, own_vote: bool) -> tuple[str, Verdict | Comparison | None]:
    """The rater's answer to one case (NO_ANSWER when it gave none) and the verdict it came from.

    `own_vote`: the rater is the jury's only judge, and its answer is its vote (a pair it judged
    differently in each order is a tie, as `compare` counts it); otherwise the jury's outcome."""
    if case.is_pair:
        comparison: Comparison = await _settled(
            jury.acompare(case.a, case.b, case.criteria, input=case.input, reference=case.reference)
        )
        if comparison.hung:
            return NO_ANSWER, comparison
        if own_vote:
            vote = comparison.votes[0].vote
            return ("tie" if vote == "inconsistent" else vote), comparison
        return comparison.winner, comparison
    verdict: Verdict = await _settled(
        jury.acheck(
            case.output,
            case.criteria,
            input=case.input,
            reference=case.reference,
            context=case.context,
            allow_none=True,
        )
    )
    if verdict.hung:
        return NO_ANSWER, verdict
    if own_vote:
        return verdict.votes[0].vote, verdict
    return ("pass" if verdict.passed else "fail"), verdict


async def _settled(call: Awaitable[Any]) -> Any:
    """The verdict, also when the jury is hung (it raises HungJuryError carrying it)."""
    try:
        return await call
    except HungJuryError as exc:
        return exc.verdict


def _votes(outcome: Verdict | Comparison) -> list[Vote]:
    if isinstance(outcome, Verdict):
        return list(outcome.all_votes)
    return [call for vote in outcome.votes for call in vote.calls]


def _habits(comparisons: Sequence[Comparison], own_vote: bool) -> PairHabits:
    pair_votes = [vote for comparison in comparisons for vote in comparison.votes]
    answered = [vote for vote in pair_votes if vote.vote != "abstain"]
    calls = [call for vote in answered for call in vote.calls]
    sides = [call for call in calls if call.vote in ("first", "second")]
    if own_vote:
        undecided = sum(vote.vote in ("tie", "inconsistent") for vote in answered)
    else:
        undecided = sum(not c.hung and c.winner == "tie" for c in comparisons)
    return PairHabits(
        answered=len(answered),
        consistent=sum(vote.vote in ("a", "b") or _both_tie(vote.calls) for vote in answered),
        first_picks=sum(call.vote == "first" for call in sides),
        side_picks=len(sides),
        undecided=undecided,
    )


def _both_tie(calls: tuple[Vote, Vote]) -> bool:
    return calls[0].vote == "tie" and calls[1].vote == "tie"


# ---- presentation ----


def _share(part: float | None) -> str:
    return "-" if part is None else f"{part:.0%}"


def _kappa(agreement: Agreement) -> str:
    if agreement.kappa is None:
        return "undefined"
    if agreement.interval is None:
        return f"{agreement.kappa:.2f}"
    low, high = agreement.interval
    return f"{agreement.kappa:.2f} [{low:.2f}, {high:.2f}]"


def render(calibration: Calibration) -> list[str]:
    """The calibration report as text lines; model names and texts are escaped."""
    lines = [
        f"jury: {printable(calibration.jury_description, 300)}",
        f"labelled cases: {calibration.point_cases} pointwise, {calibration.pair_cases} pairs"
        + (f" ({calibration.unlabelled} not labelled yet, skipped)" if calibration.unlabelled else ""),
    ]
    raters = [*calibration.judges, calibration.jury]
    width = max(len(printable(rater.name, 60)) for rater in raters)
    if calibration.point_cases:
        lines += ["", "pointwise (pass/fail):"]
        lines.append(
            f"  {'rater':<{width}}  agree  kappa [95% interval]    false pass  false fail  "
            "no answer  cost per verdict"
        )
        for rater in raters:
            point = rater.point
            assert point is not None
            lines.append(
                f"  {printable(rater.name, 60):<{width}}  {_share(point.agreement):>5}  "
                f"{_kappa(point):<22}  {_share(point.rate('fail', 'pass')):>10}  "
                f"{_share(point.rate('pass', 'fail')):>10}  {point.no_answer:>9}  {rater.cost_per_verdict()}"
            )
        lines += _confusion(calibration.jury.point, POINT_LABELS, "jury")
    if calibration.pair_cases:
        lines += ["", "pairs (a/b/tie):"]
        lines.append(
            f"  {'rater':<{width}}  agree  kappa [95% interval]    decided  right when decided  "
            "consistent  first picked  no answer"
        )
        for rater in raters:
            pair, habits = rater.pair, rater.habits
            assert pair is not None
            assert habits is not None
            decided = sum(c for (_, r), c in pair.confusion.items() if r in ("a", "b"))
            right = sum(c for (h, r), c in pair.confusion.items() if r in ("a", "b") and h == r)
            lines.append(
                f"  {printable(rater.name, 60):<{width}}  {_share(pair.agreement):>5}  {_kappa(pair):<22}  "
                f"{_share(decided / pair.answered if pair.answered else None):>7}  "
                f"{_share(right / decided if decided else None):>18}  "
                f"{_share(habits.consistent / habits.answered if habits.answered else None):>10}  "
                f"{_share(habits.first_picks / habits.side_picks if habits.side_picks else None):>12}  "
                f"{pair.no_answer:>9}"
            )
        lines += _confusion(calibration.jury.pair, PAIR_LABELS, "jury")
    warnings = calibration.trailing()
    if warnings:
        lines.append("")
        lines += [f"warning: {warning}" for warning in warnings]
    if any(is_local(judge.name) for judge in calibration.judges):
        lines += ["", LOCAL_JUDGE_NOTE]
    return lines


# Said with every calibration of the embedded judge: its numbers on the starter labels are in the docs.
LOCAL_JUDGE_NOTE = (
    "note: the local judge is a 1.5B model for offline runs and demos. Trust it with criteria that state "
    "the fact to check; not with finding hallucinations, checking an answer against a reference answer "
    "or comparing answers by quality, where it agrees with people little more than chance. Gate merges "
    "on a jury of stronger models "
    "(docs/judges.md#how-good-it-is)."
)


def _confusion(agreement: Agreement | None, labels: Sequence[str], name: str) -> list[str]:
    if agreement is None:
        return []
    answers = [*labels, NO_ANSWER]
    lines = [f"  {name}'s answers (columns) by human label (rows):"]
    lines.append("    " + " " * 8 + "".join(f"{answer:>9}" for answer in answers))
    for human in labels:
        lines.append(
            f"    {human:<8}" + "".join(f"{agreement.count(human, answer):>9}" for answer in answers)
        )
    return lines


def to_json(calibration: Calibration) -> dict[str, Any]:
    """The calibration as JSON-ready data (the --json / --jury-calibration-report file)."""

    def agreement(value: Agreement | None) -> dict[str, Any] | None:
        if value is None:
            return None
        return {
            "cases": value.cases,
            "answered": value.answered,
            "no_answer": value.no_answer,
            "agreement": value.agreement,
            "kappa": value.kappa,
            "kappa_interval_95": list(value.interval) if value.interval else None,
            "confusion": [
                {"human": human, "rater": rater, "count": count}
                for (human, rater), count in sorted(value.confusion.items())
            ],
        }

    def rater(result: RaterResult) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": result.name,
            "verdicts": result.verdicts,
            "cost_usd": result.cost.usd_or_none(),
            "unpriced_calls": result.cost.unpriced,
            "pointwise": agreement(result.point),
            "pairs": agreement(result.pair),
        }
        if result.point is not None:
            data["pointwise"]["false_pass_rate"] = result.point.rate("fail", "pass")
            data["pointwise"]["false_fail_rate"] = result.point.rate("pass", "fail")
        if result.habits is not None:
            data["pairs"]["habits"] = dataclasses.asdict(result.habits)
        return data

    return {
        "jury": calibration.jury_description,
        "point_cases": calibration.point_cases,
        "pair_cases": calibration.pair_cases,
        "unlabelled": calibration.unlabelled,
        "raters": [rater(result) for result in (*calibration.judges, calibration.jury)],
        "warnings": calibration.trailing(),
    }
