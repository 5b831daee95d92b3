"""How often a rater (one judge, or the jury) agrees with human labels: agreement, Cohen's kappa with a
percentile-bootstrap interval, the confusion matrix and error rates. Pure functions, no I/O.

Written here rather than taken from scikit-learn or SciPy: the statistics are a few lines each, and
neither library is otherwise needed by a pytest plugin (SciPy alone is larger than everything else the
plugin installs).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# What a rater answered when it gave no label: a judge that abstained, a hung jury.
NO_ANSWER = "abstain"
BOOTSTRAP_RESAMPLES = 2000
# Fixed, so that the same votes print the same interval on every run and every machine.
BOOTSTRAP_SEED = 20261203
CONFIDENCE = 0.95

Pair = tuple[str, str]  # (human label, rater's answer)


def cohen_kappa(pairs: Sequence[Pair]) -> float | None:
    """Cohen's kappa of the (human, rater) pairs; None when it is undefined.

    It is undefined with no pair, and when chance agreement is certain: both sides gave one and the
    same label to every case, so agreement says nothing about skill.
    """
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for human, rater in pairs if human == rater) / n
    humans = Counter(human for human, _ in pairs)
    raters = Counter(rater for _, rater in pairs)
    expected = sum(humans[label] * raters[label] for label in humans) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def bootstrap_interval(
    pairs: Sequence[Pair],
    statistic: Callable[[Sequence[Pair]], float | None] = cohen_kappa,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """The percentile bootstrap interval of `statistic` over the cases; None with fewer than 2 cases,
    or when the statistic is undefined in more than half of the resamples (too little variety to say).

    Resamples where the statistic is undefined are left out, which narrows the interval a little
    for very small sets; the report shows the number of cases beside it.
    """
    if len(pairs) < 2:
        return None
    rng = random.Random(seed)
    values: list[float] = []
    for _ in range(resamples):
        value = statistic(rng.choices(pairs, k=len(pairs)))
        if value is not None:
            values.append(value)
    if len(values) * 2 < resamples:
        return None
    values.sort()
    tail = (1.0 - confidence) / 2
    return _quantile(values, tail), _quantile(values, 1.0 - tail)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default, 'linear')."""
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Agreement:
    """One rater against the human labels of the same cases.

    `confusion` counts (human label, rater's answer) pairs, answers including NO_ANSWER; kappa and
    agreement are over the cases the rater answered (`answered`), and `no_answer` says how many it did
    not: a judge that abstains on hard cases must not look better for it.
    """

    labels: tuple[str, ...]
    confusion: dict[Pair, int]
    kappa: float | None
    interval: tuple[float, float] | None

    @property
    def cases(self) -> int:
        return sum(self.confusion.values())

    @property
    def no_answer(self) -> int:
        return sum(count for (_, rater), count in self.confusion.items() if rater == NO_ANSWER)

    @property
    def answered(self) -> int:
        return self.cases - self.no_answer

    @property
    def agreed(self) -> int:
        return sum(count for (human, rater), count in self.confusion.items() if human == rater)

    @property
    def agreement(self) -> float | None:
        """The share of answered cases where the rater gave the human label."""
        return self.agreed / self.answered if self.answered else None

    def rate(self, human: str, rater: str) -> float | None:
        """Of the answered cases labelled `human`, the share the rater answered `rater`."""
        labelled = sum(count for (h, r), count in self.confusion.items() if h == human and r != NO_ANSWER)
        return self.confusion.get((human, rater), 0) / labelled if labelled else None

    def count(self, human: str, rater: str) -> int:
        return self.confusion.get((human, rater), 0)


def measure(pairs: Sequence[Pair], labels: Sequence[str]) -> Agreement:
    """Agreement of the rater with the humans over `pairs`; NO_ANSWER answers are counted, not scored."""
    answered = [(human, rater) for human, rater in pairs if rater != NO_ANSWER]
    return Agreement(
        labels=tuple(labels),
        confusion=dict(Counter(pairs)),
        kappa=cohen_kappa(answered),
        interval=bootstrap_interval(answered),
    )
