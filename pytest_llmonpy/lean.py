"""Which way a run's verdicts lean: the share of pass votes among the votes seen so far, in all and per
judge. The frugal strategy asks first the judges, and as many, as settle the likelier outcome.

What leans is only the order and the size of the frugal rounds: a frugal verdict still stops only when
the judges not asked could not change it (quorum.settled), so it is the verdict parallel would give.
No pytest import.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pytest_llmonpy.verdict import Vote

# Votes to see before leaning: below it, the first round is sized to decide either way.
MIN_VOTES = 10


@dataclass(frozen=True)
class Lean:
    """A snapshot for one plan: the run's share of pass votes (None before MIN_VOTES) and each
    judge's."""

    pass_share: float | None = None
    pass_shares: dict[str, float] = field(default_factory=dict)

    @property
    def toward(self) -> str | None:
        if self.pass_share is None:
            return None
        return "pass" if self.pass_share >= 0.5 else "fail"

    def order(self, judges: list[str]) -> list[str]:
        """`judges`, those likeliest to vote the way the run leans first (ties keep their order)."""
        if self.toward is None:
            return judges
        sign = -1.0 if self.toward == "pass" else 1.0
        return sorted(judges, key=lambda model: sign * self.pass_shares.get(model, self.pass_share or 0.5))


class VoteLean:
    """The pass and fail votes this process has seen, cached or live, per judge."""

    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}  # model -> [passes, fails]

    def observe(self, votes: Iterable[Vote]) -> None:
        for vote in votes:
            if vote.vote in ("pass", "fail"):
                counts = self._counts.setdefault(vote.model, [0, 0])
                counts[vote.vote == "fail"] += 1

    def snapshot(self) -> Lean:
        passes = sum(counts[0] for counts in self._counts.values())
        fails = sum(counts[1] for counts in self._counts.values())
        if passes + fails < MIN_VOTES:
            return Lean()
        share = passes / (passes + fails)
        # Each judge's share, pulled toward the run's by two votes' worth: a judge seen twice is not sure.
        shares = {model: (p + 2 * share) / (p + f + 2) for model, (p, f) in self._counts.items()}
        return Lean(share, shares)
