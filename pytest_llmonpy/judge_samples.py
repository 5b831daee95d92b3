"""--jury-samples: each judge asked K times about the same question, and how often it agrees with
itself. No I/O, no pytest.

A judge's K answers are K questions to the cache and the judges (one per seed, at SAMPLE_TEMPERATURE),
so each is cached and costed on its own; the jury then sees one vote per judge, their majority. How
often a judge's answers to one question agree is its self-agreement: the judge's own noise, apart
from the output's (which pass rates measure).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmonpy.money import total
from pytest_llmonpy.prompts import Case
from pytest_llmonpy.verdict import Vote, median_of


def sampled(question: Case, samples: int) -> list[Case]:
    """The question once per seed, 0 to samples - 1."""
    return [dataclasses.replace(question, seed=seed) for seed in range(samples)]


def combine(model: str, answers: Sequence[Vote]) -> Vote:
    """One judge's vote from its answers to the same question (in seed order): the majority of those
    that answered (a score: their median). An even split is no majority: the judge abstains, with the
    split as its reason. Its cost, tokens and attempts are those of every answer; it is cached only
    when every answer was."""
    paid = Vote(
        model=model,
        vote="abstain",
        tokens_in=sum(answer.tokens_in for answer in answers),
        tokens_out=sum(answer.tokens_out for answer in answers),
        cost_usd=total(answer.cost for answer in answers).usd_or_none(),
        latency_s=max((answer.latency_s for answer in answers), default=0.0),
        cached=all(answer.cached for answer in answers),
        attempts=sum(answer.attempts for answer in answers),
        samples=tuple(answers),
        estimated=next((answer.estimated for answer in answers if answer.estimated), None),
    )
    answered = [answer for answer in answers if answer.vote != "abstain"]
    if not answered:
        first = next((answer.error for answer in answers if answer.error), "no answer")
        return dataclasses.replace(paid, error=f"all {len(answers)} samples abstained; the first: {first}")
    scores = [answer.score for answer in answered if answer.score is not None]
    score = median_of(scores)
    if score is not None:
        closest = min(answered, key=lambda answer: abs((answer.score or 0.0) - score))
        return dataclasses.replace(paid, vote="score", score=score, reason=closest.reason)
    counts = Counter(answer.vote for answer in answered).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        split = ", ".join(f"{count} {value}" for value, count in sorted(counts))
        abstained = len(answers) - len(answered)
        return dataclasses.replace(
            paid,
            error=f"of its {len(answers)} samples, {abstained} abstained and the other {len(answered)} "
            f"split evenly ({split}): no majority; the next run asks the abstained again",
        )
    value = counts[0][0]
    reason = next(answer.reason for answer in answered if answer.vote == value)
    return dataclasses.replace(paid, vote=value, reason=reason)


@dataclass
class SelfAgreement:
    """How often one judge's answers to the same question agree, over the run's checks."""

    model: str
    checks: int = 0  # questions asked with more than one answer
    unanimous: int = 0  # of those, how many got the same answer every time
    pairs: int = 0  # pairs of answers to the same question
    agreeing_pairs: int = 0

    @property
    def rate(self) -> float | None:
        """The share of answer pairs that agree (None: no question had two answers)."""
        return self.agreeing_pairs / self.pairs if self.pairs else None

    def add(self, answers: Iterable[Any]) -> None:
        """Count one question's answers (their vote, or their score when they scored)."""
        said = [answer for answer in answers if answer is not None]
        if len(said) < 2:
            return
        self.checks += 1
        counts = Counter(said)
        self.unanimous += len(counts) == 1
        self.pairs += len(said) * (len(said) - 1) // 2
        self.agreeing_pairs += sum(count * (count - 1) // 2 for count in counts.values())

    def describe(self) -> str:
        rate = self.rate
        agree = "no repeated answers" if rate is None else f"{rate:.0%} of answer pairs agree"
        return f"{agree}; the same answer every time on {self.unanimous} of {self.checks} checks"


def said(sample: dict[str, Any]) -> Any:
    """What one sample (a vote record) said: its score when it scored, its vote unless it abstained (or
    was not asked, or only estimated)."""
    if sample["vote"] in ("abstain", "not_needed") or sample.get("estimated"):
        return None
    return sample["score"] if sample.get("score") is not None else sample["vote"]
