"""Quorum rules: how many pass votes a jury needs, and whether abstentions leave it hung."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["passed", "failed", "hung"]
Winner = Literal["a", "b", "tie"]

QUORUM_HELP = "'majority', 'unanimous', an integer N (at least N pass votes) or a fraction such as 0.66"


@dataclass(frozen=True)
class Quorum:
    """A parsed quorum rule; `required(n)` turns it into a pass-vote count for a jury of n judges."""

    rule: Literal["majority", "unanimous", "count", "fraction"]
    value: float = 0.0

    @classmethod
    def parse(cls, text: str | int | float) -> Quorum:
        """Parse a user-supplied quorum; raises ValueError whose message lists the valid forms."""
        if isinstance(text, bool):
            raise ValueError(f"invalid quorum {text!r}: use {QUORUM_HELP}")
        raw = str(text).strip().lower()
        if raw in ("majority", "unanimous"):
            return cls(rule=raw)  # type: ignore[arg-type]
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"invalid quorum {text!r}: use {QUORUM_HELP}") from None
        if number.is_integer() and "." not in raw:
            if number < 1:
                raise ValueError(f"invalid quorum {text!r}: an integer quorum must be at least 1")
            return cls(rule="count", value=number)
        if not 0 < number <= 1:
            raise ValueError(f"invalid quorum {text!r}: a fraction must be greater than 0 and at most 1")
        return cls(rule="fraction", value=number)

    def required(self, n_judges: int) -> int:
        """Pass votes needed out of `n_judges`; raises ValueError when the jury is too small."""
        if self.rule == "majority":
            return n_judges // 2 + 1
        if self.rule == "unanimous":
            return n_judges
        if self.rule == "fraction":
            # A tiny epsilon so that 0.66 of 3 asks for 2 votes, not 3, despite float rounding.
            return max(1, math.ceil(self.value * n_judges - 1e-9))
        needed = int(self.value)
        if needed > n_judges:
            raise ValueError(
                f"quorum {needed} needs {needed} pass votes but the jury has only {n_judges} "
                f"judge{'s' if n_judges != 1 else ''}: lower the quorum or add judges"
            )
        return needed

    def __str__(self) -> str:
        if self.rule in ("majority", "unanimous"):
            return self.rule
        if self.rule == "count":
            return str(int(self.value))
        text = f"{self.value:g}"
        return text if "." in text else f"{self.value:.1f}"  # 1.0 (all judges) must not read as 1 vote

    def describe(self, n_judges: int) -> str:
        """Human-readable rule, e.g. 'majority: 2 of 3 pass votes'."""
        return f"{self}: {self.required(n_judges)} of {n_judges} pass votes"


def decide(required: int, passes: int, fails: int, abstains: int) -> Outcome:
    """Decide a verdict; abstentions never pass, and a result that hinges on them is hung."""
    if passes >= required:
        return "passed"
    if passes + abstains < required:
        return "failed"
    return "hung"


def decide_pair(
    required: int, a_wins: int, b_wins: int, abstains: int, inconsistent: int = 0
) -> Winner | Literal["hung", "inconclusive"]:
    """Decide a comparison: a side wins with `required` votes and the other side without them;
    anything else (no side, or both sides under a low quorum) is a tie. Inconsistent votes (a judge
    that picked the same position in both orders) count for neither side.

    Hung when the abstentions, voting any way, could have changed that result. Otherwise inconclusive
    when the inconsistent judges, had they voted consistently (for a, for b or a tie), could have
    changed it, together with any abstentions (see docs/baselines.md, "Inconclusive comparisons").
    """
    result = _pair_results(required, a_wins, b_wins, abstains)
    if len(result) > 1:
        return "hung"
    if len(_pair_results(required, a_wins, b_wins, abstains + inconsistent)) > 1:
        return "inconclusive"
    return result.pop()


def _pair_results(required: int, a_wins: int, b_wins: int, free: int) -> set[Winner]:
    """Every winner the comparison could have had, had the `free` judges voted a, b or tie."""

    def winner(a: int, b: int) -> Winner:
        a_decides, b_decides = a >= required, b >= required
        return "a" if a_decides and not b_decides else "b" if b_decides and not a_decides else "tie"

    return {
        winner(a_wins + to_a, b_wins + to_b) for to_a in range(free + 1) for to_b in range(free - to_a + 1)
    }


def settled(required: int, judges: int, passes: int, fails: int, abstains: int) -> Outcome | None:
    """The outcome once it no longer depends on the judges not yet asked, else None.

    The frugal strategy stops asking as soon as this is not None; by construction the outcome is then
    what `decide` gives for every possible set of votes from the judges not asked.
    """
    unknown = judges - passes - fails - abstains
    if passes >= required:
        return "passed"
    if passes + abstains + unknown < required:
        return "failed"
    if unknown == 0:
        return decide(required, passes, fails, abstains)
    return None


def first_batch(required: int, judges: int) -> int:
    """How many judges the frugal strategy asks first: the fewest whose agreement decides either way."""
    return min(judges, max(required, judges - required + 1))


def opening_batch(
    required: int, judges: int, passes: int, fails: int, abstains: int, pass_share: float | None = None
) -> int:
    """How many judges the frugal strategy asks next (at first, after the cached votes).

    Without a `pass_share` (the run's share of pass votes so far), the fewest whose agreement settles
    the outcome either way. With one, the size that makes the fewest calls in expectation, if each
    judge passes with that probability and every later round is sized the same way; of sizes equally
    good, the largest, for fewer round trips.
    """
    unknown = judges - passes - fails - abstains
    if pass_share is None:
        return max(first_batch(required, judges) - (judges - unknown), 1)
    share = min(max(round(pass_share, 2), 0.01), 0.99)  # rounded: a handful of memoised tables
    return _fewest_expected_calls(required, judges, passes, fails, abstains, share)[1]


@functools.lru_cache(maxsize=8192)
def _fewest_expected_calls(
    required: int, judges: int, passes: int, fails: int, abstains: int, share: float
) -> tuple[float, int]:
    """(the fewest expected calls until `settled`, the round size that achieves it), each judge
    passing with probability `share`."""
    if settled(required, judges, passes, fails, abstains) is not None:
        return 0.0, 0
    unknown = judges - passes - fails - abstains
    best: tuple[float, int] = (float("inf"), 0)
    for size in range(1, unknown + 1):
        expected = float(size)
        for passed in range(size + 1):
            chance = math.comb(size, passed) * share**passed * (1 - share) ** (size - passed)
            after = _fewest_expected_calls(
                required, judges, passes + passed, fails + size - passed, abstains, share
            )
            expected += chance * after[0]
        if expected <= best[0] + 1e-9:  # the larger of equal sizes: fewer round trips
            best = (expected, size)
    return best


def next_batch(required: int, judges: int, passes: int, fails: int, abstains: int) -> int:
    """After the first round: the fewest more judges whose agreement could settle the outcome."""
    unknown = judges - passes - fails - abstains
    to_pass = required - passes
    to_fail = unknown - (required - passes - abstains) + 1  # enough fails that passes cannot reach it
    return max(1, min(to_pass, to_fail, unknown))
