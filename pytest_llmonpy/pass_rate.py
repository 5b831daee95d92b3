"""How sure a pass rate is: exact binomial bounds, and the sequential rule that stops sampling early.

Pure functions of counts, no I/O. The bounds are one-sided, because a gate asks one question: is the
rate at least `min_rate`?

- Exact (Clopper-Pearson) bounds for a sample whose size was fixed in advance: the rate p whose
  binomial tail makes the observed count just as unlikely as 1 - confidence. They never cover less
  than the stated confidence, which Wilson's and the normal approximation do near p = 1, where gates
  live (a 0.9 or 0.95 pass rate).
- An anytime-valid confidence sequence, for looking at the count after every batch: the beta-binomial
  mixture martingale M_t(p) = B(a + S, b + t - S) / (B(a, b) p^S (1 - p)^(t - S)) is a nonnegative
  martingale with mean 1 under the true p, so by Ville's inequality P(ever M_t(p) >= 1/alpha) <= alpha,
  and {p : M_t(p) < 1/alpha} holds the true rate at every t at once, however often it is looked at.

`SequentialGate` spends `confidence` between the two: most of it on the exact bound after the last
sample, a fifth of the error on stopping early (a sure pass, or a rate surely below the minimum);
stopping because the rest of the samples could no longer make it pass costs nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Decision = Literal["pass", "fail", "continue"]
# Why sampling stopped; "" while it goes on.
Stop = Literal["sure pass", "surely below", "cannot reach", "all samples"]

# The share of the error allowed (1 - confidence) that the early stops may spend; the exact bound after
# the last sample gets the rest.
EARLY_SHARE = 0.2
_BISECTIONS = 50  # halvings of [0, 1]: 1e-15, below any rate worth printing


def _check_counts(passes: int, samples: int) -> None:
    if samples < 0 or not 0 <= passes <= samples:
        raise ValueError(f"a pass count must be between 0 and the sample count, got {passes} of {samples}")


def _check_level(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (such as 0.95), got {confidence!r}")


@functools.lru_cache(maxsize=64)
def _log_factorials(n: int) -> tuple[float, ...]:
    return tuple(math.lgamma(i + 1) for i in range(n + 1))


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (exact to float precision for n in the
    thousands)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_factorial = _log_factorials(n)
    top_factorial = log_factorial[n]
    terms = [
        top_factorial - log_factorial[i] - log_factorial[n - i] + i * log_p + (n - i) * log_q
        for i in range(k + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed directly (1 - cdf loses the small tails a high
    confidence needs)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_factorial = _log_factorials(n)
    terms = [
        log_factorial[n] - log_factorial[i] - log_factorial[n - i] + i * log_p + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def _edge(low: float, high: float, inside: Callable[[float], bool]) -> tuple[float, float]:
    """Bisect [low, high], where `inside(low)` holds and `inside(high)` does not, down to the last
    interval around where it stops holding."""
    for _ in range(_BISECTIONS):
        mid = (low + high) / 2
        low, high = (mid, high) if inside(mid) else (low, mid)
    return low, high


def exact_lower_bound(passes: int, samples: int, confidence: float) -> float:
    """One-sided Clopper-Pearson: the rate is at least this with probability `confidence`.

    The p at which passing `passes` times or more has probability 1 - confidence; 0 for no pass."""
    _check_counts(passes, samples)
    _check_level(confidence)
    if passes == 0:
        return 0.0
    alpha = 1.0 - confidence
    # P(X >= passes | p) grows with p: below the bound it is under alpha.
    return _edge(0.0, passes / samples, lambda p: binomial_upper_tail(passes, samples, p) < alpha)[0]


def exact_upper_bound(passes: int, samples: int, confidence: float) -> float:
    """One-sided Clopper-Pearson: the rate is at most this with probability `confidence`."""
    _check_counts(passes, samples)
    _check_level(confidence)
    if passes == samples:
        return 1.0
    alpha = 1.0 - confidence
    # P(X <= passes | p) falls with p: above the bound it is under alpha.
    return _edge(passes / samples, 1.0, lambda p: binomial_cdf(passes, samples, p) >= alpha)[1]


@dataclass(frozen=True)
class MixturePrior:
    """The beta prior of the mixture martingale: where it puts its weight is where the sequence is
    narrowest. Any prior keeps the sequence valid; the choice only moves where it stops soonest."""

    a: float
    b: float

    @classmethod
    def for_rate(cls, min_rate: float) -> MixturePrior:
        """Weak (worth 4 samples), centred halfway between `min_rate` and 1: the rates a passing
        output is likely to have. Chosen by simulation (benchmarks/pass_rate.py) over centring on
        `min_rate` or a uniform prior: as valid, and the fewest samples to a sure pass."""
        centre = (1.0 + min_rate) / 2
        return cls(a=4.0 * centre, b=4.0 * (1.0 - centre))


def _log_mixture(passes: int, samples: int, p: float, prior: MixturePrior) -> float:
    """log M_t(p): the evidence, against the rate being exactly p, of `passes` in `samples`."""
    a, b = prior.a, prior.b
    log_beta = math.lgamma(a + passes) + math.lgamma(b + samples - passes) - math.lgamma(a + b + samples)
    log_beta -= math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    fails = samples - passes
    log_likelihood = (passes * math.log(p) if passes else 0.0) + (fails * math.log1p(-p) if fails else 0.0)
    return log_beta - log_likelihood


def sequence_bounds(passes: int, samples: int, confidence: float, prior: MixturePrior) -> tuple[float, float]:
    """The confidence sequence at this look: every rate the evidence so far has not ruled out.

    Valid at every look at once (the error is at most 1 - confidence over all of them), unlike an
    exact bound recomputed after each sample."""
    _check_counts(passes, samples)
    _check_level(confidence)
    if samples == 0:
        return 0.0, 1.0
    limit = math.log(1.0 / (1.0 - confidence))
    centre = passes / samples  # the maximum likelihood: M_t <= 1 there, so it is always inside

    def ruled_out(p: float) -> bool:
        return _log_mixture(passes, samples, p, prior) >= limit

    # Of the bisection's last interval, the side that keeps each bound conservative.
    lower = _edge(0.0, centre, ruled_out)[0] if passes > 0 else 0.0
    upper = _edge(centre, 1.0, lambda p: not ruled_out(p))[1] if passes < samples else 1.0
    return lower, upper


@dataclass(frozen=True)
class Look:
    """What the gate decided at one look, and the bounds it decided on."""

    decision: Decision
    lower: float
    upper: float
    reason: Stop | Literal[""]
    confidence: float  # what the bounds hold at: the final exact bound's, or the sequence's


@dataclass(frozen=True)
class SequentialGate:
    """Decides, after each batch of samples, whether a pass rate is at least `min_rate`.

    - All `max_samples` judged: pass when the exact lower bound at confidence 1 - alpha_final reaches
      `min_rate` (alpha_final = 4/5 of the error allowed; all of it with `early_stop=False`).
    - Before that (when `early_stop`): pass as soon as the confidence sequence at 1 - alpha_early
      (the other fifth) lies at or above `min_rate`; fail as soon as it lies below; fail as soon as
      even all the remaining samples passing could not make it pass (this spends nothing).

    A wrong pass (the true rate below `min_rate`) happens at most 1 - confidence of the time, however
    the batches fall; a wrong "surely below" (the true rate at or above `min_rate`) at most
    alpha_early. A "cannot reach" stop is no error: judging the rest would fail it too.
    """

    min_rate: float
    confidence: float
    max_samples: int
    early_stop: bool = True

    def __post_init__(self) -> None:
        _check_level(self.confidence)
        if not 0.0 < self.min_rate < 1.0:
            raise ValueError(
                f"min_rate must be above 0 and below 1 (such as 0.9), got {self.min_rate!r}: no number of "
                "samples proves a rate of exactly 1; to require every output to pass, assert_passes each"
            )
        if self.max_samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.max_samples!r}")

    @property
    def final_confidence(self) -> float:
        alpha = 1.0 - self.confidence
        return 1.0 - (alpha * (1.0 - EARLY_SHARE) if self.early_stop else alpha)

    @property
    def early_confidence(self) -> float:
        return 1.0 - (1.0 - self.confidence) * EARLY_SHARE

    @property
    def prior(self) -> MixturePrior:
        return MixturePrior.for_rate(self.min_rate)

    def look(self, passes: int, samples: int) -> Look:
        """The decision after `samples` judged outputs of which `passes` passed."""
        _check_counts(passes, samples)
        if samples > self.max_samples:
            raise ValueError(f"{samples} samples judged, more than the {self.max_samples} allowed")
        if samples == self.max_samples:
            lower = exact_lower_bound(passes, samples, self.final_confidence)
            upper = exact_upper_bound(passes, samples, self.final_confidence)
            decision: Decision = "pass" if lower >= self.min_rate else "fail"
            return Look(decision, lower, upper, "all samples", self.final_confidence)
        if self.early_stop:
            level = self.early_confidence
            lower, upper = sequence_bounds(passes, samples, level, self.prior)
            if lower >= self.min_rate:
                return Look("pass", lower, upper, "sure pass", level)
            if upper < self.min_rate:
                return Look("fail", lower, upper, "surely below", level)
        else:
            # Not a claim at this look (an exact bound holds after the last sample only): a guide.
            level = self.final_confidence
            lower = exact_lower_bound(passes, samples, level) if samples else 0.0
            upper = exact_upper_bound(passes, samples, level) if samples else 1.0
        if not self.can_still_pass(passes, samples):
            return Look("fail", lower, upper, "cannot reach", level)
        return Look("continue", lower, upper, "", level)

    def can_still_pass(self, passes: int, samples: int) -> bool:
        """Whether some way the remaining samples could fall would still pass the gate: the best case
        is every one of them passing (both bounds only rise with each added pass)."""
        rest = self.max_samples - samples
        best, total = passes + rest, self.max_samples
        if exact_lower_bound(best, total, self.final_confidence) >= self.min_rate:
            return True
        if not self.early_stop:
            return False
        # Or an early pass at a later look, every sample up to it passing: likeliest at the last look
        # before the end, as each added pass raises the sequence's lower bound.
        if rest < 2:
            return False
        last = rest - 1
        lower = sequence_bounds(passes + last, samples + last, self.early_confidence, self.prior)[0]
        return lower >= self.min_rate

    def samples_to_pass(self) -> int:
        """The fewest samples that can pass this gate (every one of them passing); max_samples + 1
        when none can."""
        if self.early_stop:
            # The sequence's lower bound rises with each pass: the first sure pass, by bisection.
            low, high = 0, self.max_samples  # sure pass at `high` (or never before the last look)
            while high - low > 1:
                mid = (low + high) // 2
                if sequence_bounds(mid, mid, self.early_confidence, self.prior)[0] >= self.min_rate:
                    high = mid
                else:
                    low = mid
            if high < self.max_samples:
                return high
        if exact_lower_bound(self.max_samples, self.max_samples, self.final_confidence) >= self.min_rate:
            return self.max_samples
        return self.max_samples + 1

    def samples_needed(self) -> int:
        """The fewest max_samples with which this gate could pass: n passes of n show a rate of at
        least (1 - confidence) ** (1 / n) by the exact bound."""
        alpha = 1.0 - self.final_confidence
        needed = max(1, math.ceil(math.log(alpha) / math.log(self.min_rate)) - 1)
        while exact_lower_bound(needed, needed, self.final_confidence) < self.min_rate:
            needed += 1
        return needed
