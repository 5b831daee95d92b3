"""What the judging cost: tokens and money (`Cost`) per judge model and per test, live vs from the cache.

Built from JSON-ready per-test records, so the same code merges the data of every xdist worker (the
records ride on each TestReport) and of a serial run. No pytest import.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_llmonpy.judge_samples import SelfAgreement, said
from pytest_llmonpy.money import Cost, total
from pytest_llmonpy.untrusted import redact_secrets
from pytest_llmonpy.verdict import Comparison, Score, Verdict, Vote


def vote_record(vote: Vote) -> dict[str, Any]:
    record = asdict(vote)
    # Reports are files people share: no secret echoed by a provider or a judge goes into them.
    record["reason"] = redact_secrets(vote.reason)
    record["error"] = None if vote.error is None else redact_secrets(vote.error)
    record["samples"] = [vote_record(sample) for sample in vote.samples]
    return record


def verdict_record(verdict: Verdict, *, texts: bool = False) -> dict[str, Any]:
    """A JSON-ready record of one verdict and all its votes; with `texts`, what the judges were asked
    in full (for --jury-export: records travel to the xdist controller, so only when asked for)."""
    record: dict[str, Any] = {
        "test_id": verdict.test_id,
        "criteria": verdict.criteria,
        "outcome": verdict.outcome,
        "contested": verdict.contested,
        "quorum": verdict.quorum,
        "required": verdict.required,
        "cost_usd": verdict.cost_usd,
        "cached": verdict.cached,
        "votes": [vote_record(vote) for vote in verdict.votes],
        "escalation": [vote_record(vote) for vote in verdict.escalation],
        "escalated": verdict.escalated,
    }
    if isinstance(verdict, Score):
        spread = verdict.spread
        record["score"] = {
            "median": verdict.median,
            "lowest": None if spread is None else spread[0],
            "highest": None if spread is None else spread[1],
            "scale": list(verdict.scale),
            "threshold": verdict.threshold,
        }
    if verdict.decided_by is not None:
        record["decided_by"] = verdict.decided_by
        record["outcome_by_jury"] = verdict.outcome_by_jury
    if texts and verdict.case is not None:
        case = verdict.case
        record["texts"] = {
            "output": case.output,
            "input": case.input,
            "reference": case.reference,
            "context": case.context,
        }
    return record


def vote_detail(vote: dict[str, Any]) -> str:
    """What explains a vote record: the error of an abstention, else the judge's reason."""
    return str((vote.get("error") if vote["vote"] == "abstain" else None) or vote.get("reason") or "")


def record_votes(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    """A verdict record's votes: the jury's, then its escalation judges'."""
    return [*verdict["votes"], *verdict.get("escalation", [])]


def comparison_record(comparison: Comparison, *, texts: bool = False) -> dict[str, Any]:
    """A JSON-ready record of one pairwise comparison: each judge's vote and its two calls; with
    `texts`, the two outputs, input and reference in full (as verdict_record)."""
    record: dict[str, Any] = {
        "test_id": comparison.test_id,
        "criteria": comparison.criteria,
        "winner": comparison.winner,
        "hung": comparison.hung,
        "inconclusive": comparison.inconclusive,
        "quorum": comparison.quorum,
        "required": comparison.required,
        "cost_usd": comparison.cost_usd,
        "cached": comparison.cached,
        "votes": [
            {"model": vote.model, "vote": vote.vote, "calls": [vote_record(call) for call in vote.calls]}
            for vote in comparison.votes
        ],
    }
    if comparison.decided_by is not None:
        record["decided_by"] = comparison.decided_by
        record["winner_by_jury"] = comparison.winner_by_jury
    if texts and comparison.pair is not None:
        pair = comparison.pair
        record["texts"] = {"a": pair.first, "b": pair.second}
        record["texts"].update(input=pair.input, reference=pair.reference)
    return record


# A judge "followed the position" in a comparison when it picked the same position in both orders
# (output 1 both times, or output 2 both times): its two answers chose a in one order and b in the
# other. It is flagged when it did so in more than half of at least this many comparisons.
POSITION_BIAS_MIN_COMPARISONS = 5


@dataclass
class PositionBias:
    """One judge's pairwise answers in the run: how often it followed the position."""

    model: str
    comparisons: int = 0  # comparisons in which it answered both orders (no abstention)
    followed: int = 0  # of those, the ones where it picked the same position both times
    answered_calls: int = 0  # pairwise calls it answered (first, second or tie)
    first_calls: int = 0  # of those, the ones that answered position 1

    @property
    def first_position_rate(self) -> float | None:
        return self.first_calls / self.answered_calls if self.answered_calls else None

    @property
    def flagged(self) -> bool:
        return self.comparisons >= POSITION_BIAS_MIN_COMPARISONS and self.followed * 2 > self.comparisons

    def describe(self) -> str:
        rate = self.first_position_rate
        return (
            f"{self.model} followed the position in {self.followed} of {self.comparisons} comparisons "
            f"(first-position rate {0.0 if rate is None else rate:.0%} of {self.answered_calls} calls)"
        )


@dataclass
class ModelTotals:
    live_calls: int = 0
    cached_calls: int = 0
    attempts: int = 0
    abstained: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    spent: Cost = field(default_factory=Cost)
    saved: Cost = field(default_factory=Cost)
    not_needed: int = 0  # judges the frugal strategy did not have to ask

    def typical_cost(self) -> Cost:
        """The mean cost of this model's priced calls in the run (live or cached); unpriced if none."""
        calls = self.live_calls + self.cached_calls - self.spent.unpriced - self.saved.unpriced
        if calls <= 0:
            return Cost(unpriced=1)
        return Cost(round((self.spent.nano + self.saved.nano) / calls))


@dataclass
class TestTotals:
    test_id: str
    outcomes: Counter[str] = field(default_factory=Counter)
    live_calls: int = 0
    cached_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    spent: Cost = field(default_factory=Cost)
    saved: Cost = field(default_factory=Cost)
    blocked: int = 0
    replay_misses: int = 0  # checks that failed in replay mode for want of a recorded verdict
    contested: int = 0  # verdicts whose judges split (pass and fail votes), whatever the outcome


# How sure a group's pass rate must be: its exact lower bound at this confidence meets min_pass_rate.
GROUP_CONFIDENCE = 0.95


@dataclass
class GroupGate:
    """A jury_group's tests as samples of one pass rate, and the gate on its exact lower bound."""

    name: str
    min_pass_rate: float = 0.0  # the strictest its tests asked for
    # Per test id, "pass", "fail" or "uncounted" (skipped, an xfail of its own, an error, a hung jury,
    # its own assert): the last report wins, so a rerun test is counted once.
    outcomes: dict[str, str] = field(default_factory=dict)

    def _tests(self, outcome: str) -> list[str]:
        return sorted(test for test, got in self.outcomes.items() if got == outcome)

    @property
    def passed_tests(self) -> list[str]:
        return self._tests("pass")

    @property
    def failed_tests(self) -> list[str]:
        return self._tests("fail")

    @property
    def uncounted_tests(self) -> list[str]:
        return self._tests("uncounted")

    @property
    def samples(self) -> int:
        return len(self.passed_tests) + len(self.failed_tests)

    @property
    def lower(self) -> float:
        from pytest_llmonpy.pass_rate import exact_lower_bound

        return (
            exact_lower_bound(len(self.passed_tests), self.samples, GROUP_CONFIDENCE) if self.samples else 0.0
        )

    @property
    def upper(self) -> float:
        from pytest_llmonpy.pass_rate import exact_upper_bound

        return (
            exact_upper_bound(len(self.passed_tests), self.samples, GROUP_CONFIDENCE) if self.samples else 1.0
        )

    @property
    def passed(self) -> bool:
        return self.samples > 0 and self.lower >= self.min_pass_rate


@dataclass
class Ledger:
    """Run totals; `add_test` takes the record a test's report carries."""

    models: dict[str, ModelTotals] = field(default_factory=dict)
    tests: dict[str, TestTotals] = field(default_factory=dict)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    unconcluded: int = 0  # live votes that reached no verdict
    groups: dict[str, GroupGate] = field(default_factory=dict)
    # Set when the run selected part of the suite (-k, -m, test ids, --lf...): groups are not gated.
    groups_not_gated: str | None = None
    # --jury-samples: how often each judge's answers to the same question agree, by model.
    self_agreement: dict[str, SelfAgreement] = field(default_factory=dict)
    # --jury-estimate: the calls a real run would make, by model (as live calls: counted, priced, not made)
    estimating: bool = False
    estimated: dict[str, ModelTotals] = field(default_factory=dict)
    _estimated_calls: set[str] = field(default_factory=set, repr=False)

    def add_test(self, test_id: str, record: dict[str, Any]) -> None:
        test = self.tests.setdefault(test_id, TestTotals(test_id))
        test.blocked += int(record.get("blocked", 0))
        test.replay_misses += int(record.get("replay_misses", 0))
        for verdict in record.get("verdicts", []):
            self.verdicts.append(verdict)
            test.outcomes[verdict["outcome"]] += 1
            test.contested += bool(verdict.get("contested"))
            for vote in record_votes(verdict):
                self._add_vote(test, vote)
        for comparison in record.get("comparisons", []):
            self.comparisons.append(comparison)
            for vote in comparison["votes"]:
                for call in vote["calls"]:  # each judge is called twice: a shown first, then b
                    self._add_vote(test, call)
        group = record.get("group")
        if isinstance(group, dict):
            gate = self.groups.setdefault(group["name"], GroupGate(group["name"]))
            gate.min_pass_rate = max(gate.min_pass_rate, float(group["min_pass_rate"]))
            sample = str(group.get("sample"))
            gate.outcomes[test_id] = sample if sample in ("pass", "fail") else "uncounted"
        # Votes of checks cut short (a misconfigured judge): paid for, so counted, though no verdict.
        for vote in record.get("unconcluded", []):
            self.unconcluded += 1
            self._add_vote(test, vote)

    def _add_vote(self, test: TestTotals, vote: dict[str, Any]) -> None:
        samples = vote.get("samples")
        if samples:  # --jury-samples: one call per sample, each live or cached on its own
            agreement = self.self_agreement.get(vote["model"]) or SelfAgreement(vote["model"])
            agreement.add(said(sample) for sample in samples)
            if agreement.checks:  # listed only once it answered some question twice
                self.self_agreement[vote["model"]] = agreement
            for sample in samples:
                self._add_vote(test, sample)
            return
        if vote.get("estimated"):
            if vote["estimated"] in self._estimated_calls:
                return  # asked before in the run: a real run would answer it from the cache
            self._estimated_calls.add(vote["estimated"])
            estimate = self.estimated.setdefault(vote["model"], ModelTotals())
            estimate.live_calls += 1
            estimate.tokens_in += vote["tokens_in"]
            estimate.tokens_out += vote["tokens_out"]
            estimate.spent += Cost.of_usd(vote["cost_usd"], tokens=vote["tokens_in"] + vote["tokens_out"])
            return
        model = self.models.setdefault(vote["model"], ModelTotals())
        if vote["vote"] == "not_needed":
            model.not_needed += 1  # never asked: no call, no cost (see not_needed_estimate)
            return
        cost = Cost.of_usd(vote["cost_usd"], tokens=vote["tokens_in"] + vote["tokens_out"])
        if vote["cached"]:
            model.cached_calls += 1
            test.cached_calls += 1
            model.saved += cost
            test.saved += cost
            return
        model.live_calls += 1
        model.attempts += vote["attempts"]
        model.abstained += vote["vote"] == "abstain"
        model.tokens_in += vote["tokens_in"]
        model.tokens_out += vote["tokens_out"]
        model.spent += cost
        test.live_calls += 1
        test.tokens_in += vote["tokens_in"]
        test.tokens_out += vote["tokens_out"]
        test.spent += cost

    # -- totals -------------------------------------------------------------------------------
    @property
    def used(self) -> bool:
        return bool(self.verdicts or self.comparisons or self.unconcluded) or any(
            test.blocked or test.replay_misses for test in self.tests.values()
        )

    def checking_tests(self) -> int:
        """Tests that made checks: got a verdict, or had one stopped by the budget or a replay miss
        (tests that only compared outputs are counted with the comparisons)."""
        return sum(
            1
            for test in self.tests.values()
            if sum(test.outcomes.values()) or test.blocked or test.replay_misses
        )

    def verdicts_in_order(self) -> list[dict[str, Any]]:
        """Verdicts by test id (stable within a test), so -n N gives the same order as a serial run."""
        return sorted(self.verdicts, key=lambda verdict: verdict["test_id"] or "")

    def contested_first(self) -> list[dict[str, Any]]:
        """`verdicts_in_order`, the contested ones first: where to look for flaky criteria."""
        return sorted(self.verdicts_in_order(), key=lambda verdict: not verdict.get("contested"))

    def contested(self) -> int:
        return sum(1 for verdict in self.verdicts if verdict.get("contested"))

    def comparisons_in_order(self) -> list[dict[str, Any]]:
        return sorted(self.comparisons, key=lambda comparison: comparison["test_id"] or "")

    def comparison_outcomes(self) -> Counter[str]:
        """Comparisons by outcome: "a", "b", "tie", "hung" or "inconclusive" (each counted once)."""
        return Counter(
            "hung" if c["hung"] else "inconclusive" if c.get("inconclusive") else c["winner"]
            for c in self.comparisons
        )

    def position_bias(self) -> list[PositionBias]:
        """Per judge that answered pairwise calls, by name: how often it followed the position."""
        judges: dict[str, PositionBias] = {}
        for comparison in self.comparisons:
            for vote in comparison["votes"]:
                judge = judges.setdefault(vote["model"], PositionBias(vote["model"]))
                if any(call.get("estimated") for call in vote["calls"]):
                    continue  # --jury-estimate answered it: no judge showed a bias
                answers = [call["vote"] for call in vote["calls"]]
                answered = [answer for answer in answers if answer in ("first", "second", "tie")]
                judge.answered_calls += len(answered)
                judge.first_calls += answered.count("first")
                if len(answered) == len(answers) == 2:
                    judge.comparisons += 1
                    judge.followed += answered[0] == answered[1] != "tie"
        return [judges[name] for name in sorted(judges)]

    def group_gates(self) -> list[GroupGate]:
        """The jury_groups of the run, by name."""
        return [self.groups[name] for name in sorted(self.groups)]

    def outcomes(self) -> Counter[str]:
        return Counter(verdict["outcome"] for verdict in self.verdicts)

    def not_needed(self) -> tuple[int, Cost]:
        """Judge calls the strategy saved, and their estimated cost (each at its model's mean cost)."""
        estimate = total(
            model.typical_cost() for model in self.models.values() for _ in range(model.not_needed)
        )
        return sum(model.not_needed for model in self.models.values()), estimate

    def estimate_total(self) -> tuple[int, Cost]:
        """--jury-estimate: the live calls a real run would make, and what they would cost."""
        models = self.estimated.values()
        return sum(model.live_calls for model in models), total(model.spent for model in models)

    def escalations(self) -> int:
        return sum(1 for verdict in self.verdicts if verdict.get("escalated"))

    def spent(self) -> Cost:
        return total(model.spent for model in self.models.values())

    def saved(self) -> Cost:
        return total(model.saved for model in self.models.values())

    def live_calls(self) -> int:
        return sum(model.live_calls for model in self.models.values())

    def cached_calls(self) -> int:
        return sum(model.cached_calls for model in self.models.values())

    def tokens(self) -> tuple[int, int]:
        return (
            sum(model.tokens_in for model in self.models.values()),
            sum(model.tokens_out for model in self.models.values()),
        )

    def blocked(self) -> int:
        return sum(test.blocked for test in self.tests.values())

    def replay_misses(self) -> int:
        return sum(test.replay_misses for test in self.tests.values())

    def costliest_tests(self, limit: int | None = None, *, everyone: bool = False) -> list[TestTotals]:
        """Tests by live cost, highest first; only those that called a judge unless `everyone`."""
        ranked = sorted(
            (test for test in self.tests.values() if everyone or test.live_calls),
            key=lambda test: (-test.spent.nano, -test.spent.unpriced, test.test_id),
        )
        return ranked if limit is None else ranked[:limit]
