"""The jury's answer: one Vote per judge, combined into a Verdict; and the errors a jury raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pytest_llmonpy.money import Cost, total
from pytest_llmonpy.quorum import Outcome, Winner
from pytest_llmonpy.untrusted import printable

if TYPE_CHECKING:
    from pytest_llmonpy.prompts import Case, PairCase

# "pass"/"fail" answer a verdict; "first"/"second"/"tie" answer one pairwise call (by position).
# "not_needed": the frugal strategy did not ask this judge, the outcome was already settled.
# "score": a judge's score (Vote.score) as it answered and is cached, before a threshold made it a
# pass or a fail (a Score's votes are "pass"/"fail" by its threshold, their scores kept).
VoteValue = Literal["pass", "fail", "abstain", "first", "second", "tie", "not_needed", "score"]
# "inconsistent": the judge picked the same position in both orders (it followed the position).
PairVoteValue = Literal["a", "b", "tie", "inconsistent", "abstain"]


@dataclass(frozen=True)
class Vote:
    """One judge's vote. `reason` and `error` are untrusted model/provider text."""

    model: str
    vote: VoteValue
    reason: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None  # None: the model has no known price (unpriced), not free
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 1
    error: str | None = None  # why the judge abstained
    score: float | None = (
        None  # a score on a rubric's scale (jury.score): the judge's, or its samples' median
    )
    seed: int | None = None  # --jury-samples: the seed this answer was asked with
    # --jury-samples: the judge's answers to the same question, one per seed; this vote is their majority
    samples: tuple[Vote, ...] = ()
    # --jury-estimate: a call counted and priced, not made (no judge answered); the call's identity,
    # so that the run counts a call made again once.
    estimated: str | None = None

    @property
    def cost(self) -> Cost:
        """`cost_usd` as money to add up (users read `cost_usd`, the USD figure litellm gave)."""
        return Cost.of_usd(self.cost_usd, tokens=self.tokens_in + self.tokens_out)

    def describe(self) -> str:
        """One line for failure messages: model, vote and reason (or the error of an abstention)."""
        detail = self.error if self.vote == "abstain" and self.error else self.reason
        line = f"{self.model}: {self.vote.upper().replace('_', ' ')}"
        if self.score is not None:
            line += f" (score {self.score:g})"
        if self.samples:
            line += f" ({_samples_said(self.samples)})"
        if detail:
            line += f" - {printable(detail)}"
        return line


def _samples_said(samples: tuple[Vote, ...]) -> str:
    said = [f"{sample.score:g}" if sample.score is not None else sample.vote for sample in samples]
    return f"{len(samples)} samples: {', '.join(said)}"


@dataclass(frozen=True)
class Verdict:
    """The jury's decision on one output against one criteria text. Truthy when it passed."""

    criteria: str
    outcome: Outcome
    votes: tuple[Vote, ...]
    quorum: str
    required: int
    output_preview: str = ""
    test_id: str | None = field(default=None, compare=False)
    # Escalation: when the jury was "split" or "hung", these judges decided under the quorum rule.
    escalation: tuple[Vote, ...] = ()
    escalated: str | None = None
    # What the judges were asked, in full (output_preview is cut): for --jury-export.
    case: Case | None = field(default=None, compare=False, repr=False)
    # A human label matched this check and decided it: where it is written, and what the jury said.
    decided_by: str | None = None
    outcome_by_jury: Outcome | None = None

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def hung(self) -> bool:
        return self.outcome == "hung"

    @property
    def contested(self) -> bool:
        """The judges split: pass and fail votes both present (the escalation's included), whatever
        the quorum made of them. A criteria the judges read differently, or an output on its edge."""
        cast = {vote.vote for vote in self.all_votes if not vote.estimated}
        return "pass" in cast and "fail" in cast

    @property
    def cost_usd(self) -> float | None:
        """Total cost of the votes; None when any vote's model is unpriced. (--jury-estimate's votes
        cost nothing: no judge was called.)"""
        paid = [vote for vote in self.all_votes if vote.vote != "not_needed" and not vote.estimated]
        return total(vote.cost for vote in paid).usd_or_none()

    @property
    def all_votes(self) -> tuple[Vote, ...]:
        return self.votes + self.escalation

    @property
    def cached(self) -> bool:
        """True when every vote came from the verdict cache (no judge was called)."""
        asked = [vote for vote in self.all_votes if vote.vote != "not_needed"]
        return bool(asked) and all(vote.cached for vote in asked)

    def count(self, value: VoteValue) -> int:
        return sum(1 for vote in self.votes if vote.vote == value)

    def __bool__(self) -> bool:
        return self.passed

    def tally(self) -> str:
        votes = self.escalation or self.votes
        counts = {
            value: sum(1 for vote in votes if vote.vote == value) for value in ("pass", "fail", "abstain")
        }
        text = f"{counts['pass']} pass, {counts['fail']} fail, {counts['abstain']} abstain"
        not_needed = 0 if self.escalated else self.count("not_needed")
        if not_needed:
            text += f", {not_needed} not needed"
        text += f"; quorum {self.quorum} needs {self.required} of {len(votes)}"
        if self.escalated:
            text = f"escalated ({self.escalated} jury): {text}"
        return text

    def explain(self) -> str:
        """Multi-line explanation: the criteria, the outcome, then each judge's vote and reason."""
        lines = [
            f"jury {self.outcome.upper()}: {printable(self.criteria, 200)}",
            f"  votes: {self.tally()}",
        ]
        if self.output_preview:
            lines.append(f"  output: {printable(self.output_preview, 200)}")
        if self.decided_by:
            lines.append(
                f"  decided by the human label at {printable(self.decided_by, 200)} "
                f"(the jury said {self.outcome_by_jury})"
            )
        lines.extend(f"  - {vote.describe()}" for vote in self.votes)
        if self.escalated:
            lines.append(f"  the jury was {self.escalated}; escalated to:")
            lines.extend(f"  - {vote.describe()}" for vote in self.escalation)
        return "\n".join(lines)

    def __repr__(self) -> str:
        # One line: pytest shows this for a bare `assert verdict`; the full votes go in a report section.
        return f"<Verdict {self.outcome.upper()} ({self.tally()}) for {printable(self.criteria, 80)!r}>"


@dataclass(frozen=True)
class Score(Verdict):
    """The jury's score of one output on a rubric: each judge's score (a vote's `score`; its `vote` is
    pass or fail by the threshold), combined by their median. Truthy when the median is at least the
    threshold. A Verdict in every report: a test's cost, contested scores (judges on both sides of the
    threshold), the JSON and JUnit records."""

    scale: tuple[int, int] = (1, 5)
    threshold: float = 4

    @property
    def scores(self) -> tuple[float, ...]:
        """The scores of the judges that answered, in the jury's order."""
        return tuple(vote.score for vote in self.votes if vote.score is not None)

    @property
    def median(self) -> float | None:
        """The median score (None when no judge answered)."""
        return median_of(self.scores)

    @property
    def spread(self) -> tuple[float, float] | None:
        """The lowest and the highest score."""
        scores = self.scores
        return (min(scores), max(scores)) if scores else None

    def tally(self) -> str:
        low, high = self.scale
        abstained = self.count("abstain")
        spread = self.spread
        text = "no score" if spread is None else f"median {self.median:g}"
        if spread is not None and spread[0] != spread[1]:
            text += f" (spread {spread[0]:g}-{spread[1]:g})"
        text += f" on {low}-{high}, passes at {self.threshold:g} or above"
        text += f"; scores {', '.join(f'{score:g}' for score in self.scores) or 'none'}"
        return text + (f", {abstained} abstain" if abstained else "")

    def __repr__(self) -> str:
        return f"<Score {self.outcome.upper()} ({self.tally()}) for {printable(self.criteria, 80)!r}>"


def median_of(values: tuple[float, ...] | list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True)
class PairVote:
    """One judge's vote on a pair, asked in both orders: `calls` are (a shown first, b shown first).

    A side wins the judge's vote only when both orders chose it. A judge that chose a in one order and
    b in the other picked the same position both times (it followed the position, not the content):
    its vote is "inconsistent". A side in one order and a tie in the other is a weak preference that
    counts as a "tie": a win needs both orders.
    """

    model: str
    calls: tuple[Vote, Vote]

    @property
    def vote(self) -> PairVoteValue:
        a_first, b_first = self.calls
        if a_first.vote == "abstain" or b_first.vote == "abstain":
            return "abstain"
        as_shown = {"first": "a", "second": "b", "tie": "tie"}
        swapped = {"first": "b", "second": "a", "tie": "tie"}
        one, other = as_shown.get(a_first.vote, "tie"), swapped.get(b_first.vote, "tie")
        if one == other:
            return one  # type: ignore[return-value]
        return "tie" if "tie" in (one, other) else "inconsistent"

    @property
    def followed_position(self) -> bool:
        """Whether the judge picked the same position in both orders (its vote is "inconsistent")."""
        return self.vote == "inconsistent"

    @property
    def cost_usd(self) -> float | None:
        """The cost of both calls; None when the model is unpriced."""
        return total(call.cost for call in self.calls).usd_or_none()

    def describe(self) -> str:
        a_first, b_first = self.calls
        return (
            f"{self.model}: {self.vote.upper()} (a shown first: {_pair_answer(a_first, 'a', 'b')}; "
            f"b shown first: {_pair_answer(b_first, 'b', 'a')})"
        )


def _pair_answer(call: Vote, first: str, second: str) -> str:
    if call.vote == "abstain":
        return f"abstained - {printable(call.error or '', 160)}"
    picked = {"first": first, "second": second}.get(call.vote, "tie")
    return f"{picked}" + (f" - {printable(call.reason, 160)}" if call.reason else "")


@dataclass(frozen=True)
class Comparison:
    """The jury's comparison of output `a` with output `b` against criteria; `winner` is a, b or tie."""

    criteria: str
    winner: Winner
    votes: tuple[PairVote, ...]
    quorum: str
    required: int
    a_preview: str = ""
    b_preview: str = ""
    hung: bool = False
    # Decided only because judges followed the position: consistent votes could have changed it.
    inconclusive: bool = False
    test_id: str | None = field(default=None, compare=False)
    # What the judges were asked, a shown first, in full: for --jury-export.
    pair: PairCase | None = field(default=None, compare=False, repr=False)
    # A human label matched this comparison and decided it: where it is written, and the jury's winner.
    decided_by: str | None = None
    winner_by_jury: str | None = None

    @property
    def followed_position(self) -> tuple[str, ...]:
        """The judges that picked the same position in both orders."""
        return tuple(vote.model for vote in self.votes if vote.followed_position)

    @property
    def cost_usd(self) -> float | None:
        """The cost of every judge's calls; None when any of them is unpriced."""
        return total(call.cost for vote in self.votes for call in vote.calls).usd_or_none()

    @property
    def cached(self) -> bool:
        return bool(self.votes) and all(call.cached for vote in self.votes for call in vote.calls)

    def count(self, value: PairVoteValue) -> int:
        return sum(1 for vote in self.votes if vote.vote == value)

    def tally(self) -> str:
        return (
            f"{self.count('a')} for a, {self.count('b')} for b, {self.count('tie')} tie, "
            f"{self.count('inconsistent')} inconsistent, {self.count('abstain')} abstain; "
            f"quorum {self.quorum} needs {self.required} of {len(self.votes)}"
        )

    def explain(self) -> str:
        outcome = (
            "HUNG"
            if self.hung
            else f"INCONCLUSIVE (winner {self.winner.upper()})"
            if self.inconclusive
            else f"winner {self.winner.upper()}"
        )
        lines = [f"jury comparison, {outcome}: {printable(self.criteria, 200)}", f"  votes: {self.tally()}"]
        if self.decided_by:
            lines.append(
                f"  decided by the human label at {printable(self.decided_by, 200)} "
                f"(the jury said {self.winner_by_jury})"
            )
        if self.a_preview or self.b_preview:
            lines.append(f"  a: {printable(self.a_preview, 200)}")
            lines.append(f"  b: {printable(self.b_preview, 200)}")
        lines.extend(f"  - {vote.describe()}" for vote in self.votes)
        if self.inconclusive:
            lines.append(
                f"  inconclusive: {', '.join(self.followed_position)} followed the position (picked the "
                "same position in both orders); had they judged the content, the winner could differ"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        status = " INCONCLUSIVE" if self.inconclusive else " HUNG" if self.hung else ""
        return (
            f"<Comparison winner={self.winner}{status} ({self.tally()}) for {printable(self.criteria, 80)!r}>"
        )


class JuryError(Exception):
    """Base class of the errors a jury raises."""


class HungJuryError(JuryError):
    """The outcome depends on judges that abstained (errors, timeouts, unparseable answers), or, with
    jury_inconclusive = hung, a comparison depends on judges that followed the position.

    Not an AssertionError: an outage (or a judge blind to the content) says nothing about the quality
    of the output.
    """

    def __init__(self, verdict: Verdict | Comparison, message: str | None = None) -> None:
        self.verdict = verdict
        if message is not None:  # a pass rate's: it names its samples
            super().__init__(message)
            return
        if isinstance(verdict, Comparison) and verdict.inconclusive and not verdict.hung:
            super().__init__(
                "the jury is hung: the comparison is inconclusive because judges followed the position, "
                f"not the content (each picked the same position in both orders): "
                f"{', '.join(verdict.followed_position)}.\n"
                + verdict.explain()
                + "\nUse judges that compare the content (stronger models), or set jury_inconclusive = tie "
                "to count such a comparison as a tie (reported as inconclusive)."
            )
            return
        if isinstance(verdict, Score):
            super().__init__(
                "the jury is hung: whether the median reaches the threshold depends on judges that "
                "abstained.\n" + verdict.explain() + "\nFix the failing judges (see each error above)."
            )
            return
        super().__init__(
            "the jury is hung: the outcome depends on judges that abstained.\n"
            + verdict.explain()
            + "\nFix the failing judges (see each error above), "
            "or use a quorum the remaining judges can meet."
        )


class JuryConfigError(JuryError):
    """The jury cannot run as configured: no judges, an unroutable judge name, a missing API key."""


class ReplayMissError(JuryError):
    """In replay mode a judge's verdict was never recorded; replay never calls a judge."""


class BudgetExceededError(JuryError):
    """The run's judging budget (jury_max_cost) is spent; no judge was called for this check."""


# Failure reports name the public import path, not the defining module.
for _error in (JuryError, HungJuryError, JuryConfigError, ReplayMissError, BudgetExceededError):
    _error.__module__ = "pytest_llmonpy"
