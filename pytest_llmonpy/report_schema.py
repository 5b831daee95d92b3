"""The schema of the `--jury-report` JSON file (pydantic models), and building it from a Ledger.

Kept apart from report.py so that a run without a JSON report never imports pydantic for it.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from pytest_llmonpy.baseline_files import relative_path
from pytest_llmonpy.baselines import BaselineRun
from pytest_llmonpy.ledger import GROUP_CONFIDENCE, Ledger
from pytest_llmonpy.money import Cost

if TYPE_CHECKING:
    from pytest_llmonpy.budget import BudgetState


class _ReportAnswer(BaseModel):
    """What every judge answer records; a vote and a sample differ only in what `vote` may be."""

    model: str
    reason: str
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    latency_s: float
    cached: bool
    attempts: int
    error: str | None
    score: float | None = None  # a score's vote: the judge's score (vote: pass/fail by the threshold)
    seed: int | None = None  # --jury-samples: the seed one sample was asked with
    # --jury-estimate: no judge answered; the call was counted and priced (its tokens and cost_usd).
    # The call's identity: the same call made again in the run is counted once.
    estimated: str | None = None


class ReportSample(_ReportAnswer):
    # "score": a score's sample, before a threshold made the judge's vote pass or fail
    vote: Literal["pass", "fail", "abstain", "score", "not_needed"]


class ReportVote(_ReportAnswer):
    # pass/fail: a verdict; first/second/tie: one pairwise call, by the position of the output it chose
    # not_needed: the frugal strategy did not ask this judge (no call, no cost)
    vote: Literal["pass", "fail", "abstain", "first", "second", "tie", "not_needed"]
    # --jury-samples: the judge's answers, one per seed; the vote above is their majority (a score's:
    # their median)
    samples: list[ReportSample] = []


class ReportScore(BaseModel):
    median: float | None  # None: no judge answered
    lowest: float | None
    highest: float | None
    scale: list[int]  # lowest, highest
    threshold: float


class ReportVerdict(BaseModel):
    test_id: str | None
    criteria: str
    outcome: Literal["passed", "failed", "hung"]
    # The judges split (pass and fail votes both present, the escalation's included), whatever the outcome.
    contested: bool = False
    quorum: str
    required: int
    cost_usd: float | None
    cached: bool
    votes: list[ReportVote]
    escalation: list[ReportVote] = []  # the escalation judges' votes, when the jury was split or hung
    escalated: Literal["split", "hung"] | None = None
    # A human label (file:line) matched the check and decided it; outcome_by_jury is what the jury said.
    decided_by: str | None = None
    outcome_by_jury: Literal["passed", "failed", "hung"] | None = None
    score: ReportScore | None = None  # jury.score: the median of the judges' scores against its threshold


class ReportCost(BaseModel):
    usd: float
    unpriced_calls: int


class ReportModel(BaseModel):
    model: str
    live_calls: int
    cached_calls: int
    attempts: int
    abstained: int
    tokens_in: int
    tokens_out: int
    spent: ReportCost
    saved: ReportCost
    not_needed: int = 0  # calls the frugal strategy did not make


class ReportTest(BaseModel):
    test_id: str
    passed: int
    failed: int
    hung: int
    live_calls: int
    cached_calls: int
    tokens_in: int
    tokens_out: int
    spent: ReportCost
    saved: ReportCost
    blocked_by_budget: int
    contested: int = 0


class ReportBudget(BaseModel):
    limit_usd: float
    spent_usd: float
    exhausted: bool


class ReportTotals(BaseModel):
    verdicts_passed: int
    verdicts_failed: int
    verdicts_hung: int
    verdicts_contested: int = 0
    live_calls: int
    cached_calls: int
    tokens_in: int
    tokens_out: int
    spent: ReportCost
    saved: ReportCost
    blocked_by_budget: int
    not_needed_calls: int = 0
    not_needed_estimate: ReportCost | None = None  # each at its model's mean cost in this run
    escalations: int = 0


class ReportPairVote(BaseModel):
    model: str
    # inconsistent: the judge picked the same position in both orders (it followed the position)
    vote: Literal["a", "b", "tie", "inconsistent", "abstain"]
    calls: list[ReportVote]  # a shown first, then b shown first


class ReportComparison(BaseModel):
    test_id: str | None
    criteria: str
    winner: Literal["a", "b", "tie"]
    hung: bool
    inconclusive: bool = False  # decided only because judges followed the position (winner "tie")
    quorum: str
    required: int
    cost_usd: float | None
    cached: bool
    votes: list[ReportPairVote]
    decided_by: str | None = None  # a human label (file:line) decided it; winner_by_jury is the jury's
    winner_by_jury: Literal["a", "b", "tie", "hung"] | None = None


class ReportBaseline(BaseModel):
    file: str
    key: str
    status: Literal["improved", "held", "regressed", "inconclusive", "recorded", "stale", "missing", "unused"]
    comparison: ReportComparison | None = None  # a = the current output, b = the accepted baseline


class ReportPositionBias(BaseModel):
    """One judge's pairwise answers: how often it followed the position instead of the content."""

    model: str
    comparisons: int  # comparisons in which it answered both orders
    followed_position: int  # of those, the ones where it picked the same position both times
    answered_calls: int  # pairwise calls it answered (first, second or tie)
    first_position_calls: int  # of those, the ones that answered position 1
    first_position_rate: float | None  # first_position_calls / answered_calls
    flagged: bool  # followed the position in more than half of at least 5 comparisons (a warning)


class ReportGroup(BaseModel):
    """A jury_group: its tests as samples of one pass rate, gated on the rate's exact lower bound."""

    name: str
    passed: bool
    gated: bool  # false when the run selected part of the suite (-k, -m, test ids, --lf): not gated
    min_pass_rate: float
    confidence: float
    passes: int
    samples: int
    lower: float
    upper: float
    failed_tests: list[str]
    uncounted_tests: list[str]  # errors, hung juries, the test's own failed asserts


class ReportSelfAgreement(BaseModel):
    model: str
    checks: int  # questions this judge answered more than once (--jury-samples)
    unanimous: int  # of those, how many it answered the same every time
    pairs: int  # pairs of its answers to the same question
    agreeing_pairs: int
    rate: float | None  # agreeing_pairs / pairs


class ReportEstimateModel(BaseModel):
    model: str
    live_calls: int  # the cache misses a real run would ask this judge live
    tokens_in: int  # counted by litellm's tokenizer for the model
    tokens_out: int  # the mean of the judge's cached replies, per call (30 when it has none)
    cost: ReportCost  # by litellm's prices; unpriced calls counted apart


class ReportEstimate(BaseModel):
    live_calls: int
    cost: ReportCost
    models: list[ReportEstimateModel]


class JuryReport(BaseModel):
    """The `--jury-report` file. `schema_version` changes when a field changes meaning or goes away."""

    schema_version: Literal[1] = 1
    generated_at: str
    totals: ReportTotals
    budget: ReportBudget | None
    models: list[ReportModel]
    tests: list[ReportTest]
    verdicts: list[ReportVerdict]
    comparisons: list[ReportComparison] = []
    baselines: list[ReportBaseline] = []
    position_bias: list[ReportPositionBias] = []  # every judge that answered a pairwise call
    groups: list[ReportGroup] = []  # the jury_groups and their pass-rate gates
    self_agreement: list[ReportSelfAgreement] = []  # --jury-samples: each judge's agreement with itself
    estimate: ReportEstimate | None = None  # --jury-estimate: what a real run would call and cost


def _cost(total: Cost) -> ReportCost:
    return ReportCost(usd=total.usd, unpriced_calls=total.unpriced)


def _baselines(baselines: BaselineRun | None) -> list[ReportBaseline]:
    if baselines is None:
        return []
    found = [
        ReportBaseline(
            file=relative_path(result["file"]),
            key=result["key"],
            status=result["status"],
            comparison=result["comparison"] and ReportComparison.model_validate(result["comparison"]),
        )
        for result in baselines.results
    ]
    found += [
        ReportBaseline(file=relative_path(path), key=key, status="unused") for path, key in baselines.unused
    ]
    return sorted(found, key=lambda baseline: (baseline.file, baseline.key))


def _estimate(ledger: Ledger) -> ReportEstimate | None:
    if not ledger.estimating:
        return None
    models = sorted(ledger.estimated.items())
    calls, spent = ledger.estimate_total()
    return ReportEstimate(
        live_calls=calls,
        cost=_cost(spent),
        models=[
            ReportEstimateModel(
                model=name,
                live_calls=m.live_calls,
                tokens_in=m.tokens_in,
                tokens_out=m.tokens_out,
                cost=_cost(m.spent),
            )
            for name, m in models
        ],
    )


def build_report(
    ledger: Ledger, budget: BudgetState | None, baselines: BaselineRun | None = None
) -> JuryReport:
    outcomes = ledger.outcomes()
    tokens_in, tokens_out = ledger.tokens()
    return JuryReport(
        generated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        totals=ReportTotals(
            verdicts_passed=outcomes["passed"],
            verdicts_failed=outcomes["failed"],
            verdicts_hung=outcomes["hung"],
            verdicts_contested=ledger.contested(),
            live_calls=ledger.live_calls(),
            cached_calls=ledger.cached_calls(),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            spent=_cost(ledger.spent()),
            saved=_cost(ledger.saved()),
            blocked_by_budget=ledger.blocked(),
            not_needed_calls=ledger.not_needed()[0],
            not_needed_estimate=_cost(ledger.not_needed()[1]),
            escalations=ledger.escalations(),
        ),
        budget=None
        if budget is None
        else ReportBudget(
            limit_usd=budget.limit.usd,
            spent_usd=budget.spent.usd,
            exhausted=budget.exhausted,
        ),
        models=[
            ReportModel(
                model=name,
                live_calls=m.live_calls,
                cached_calls=m.cached_calls,
                attempts=m.attempts,
                abstained=m.abstained,
                tokens_in=m.tokens_in,
                tokens_out=m.tokens_out,
                spent=_cost(m.spent),
                saved=_cost(m.saved),
                not_needed=m.not_needed,
            )
            for name, m in sorted(ledger.models.items())
        ],
        tests=[
            ReportTest(
                test_id=t.test_id,
                passed=t.outcomes["passed"],
                failed=t.outcomes["failed"],
                hung=t.outcomes["hung"],
                live_calls=t.live_calls,
                cached_calls=t.cached_calls,
                tokens_in=t.tokens_in,
                tokens_out=t.tokens_out,
                spent=_cost(t.spent),
                saved=_cost(t.saved),
                blocked_by_budget=t.blocked,
                contested=t.contested,
            )
            for _, t in sorted(ledger.tests.items())
        ],
        verdicts=[ReportVerdict.model_validate(v) for v in ledger.verdicts_in_order()],
        comparisons=[ReportComparison.model_validate(c) for c in ledger.comparisons_in_order()],
        baselines=_baselines(baselines),
        estimate=_estimate(ledger),
        self_agreement=[
            ReportSelfAgreement(
                model=judge.model,
                checks=judge.checks,
                unanimous=judge.unanimous,
                pairs=judge.pairs,
                agreeing_pairs=judge.agreeing_pairs,
                rate=judge.rate,
            )
            for _, judge in sorted(ledger.self_agreement.items())
        ],
        groups=[
            ReportGroup(
                name=gate.name,
                passed=gate.passed,
                gated=ledger.groups_not_gated is None,
                min_pass_rate=gate.min_pass_rate,
                confidence=GROUP_CONFIDENCE,
                passes=len(gate.passed_tests),
                samples=gate.samples,
                lower=gate.lower,
                upper=gate.upper,
                failed_tests=gate.failed_tests,
                uncounted_tests=gate.uncounted_tests,
            )
            for gate in ledger.group_gates()
        ],
        position_bias=[
            ReportPositionBias(
                model=judge.model,
                comparisons=judge.comparisons,
                followed_position=judge.followed,
                answered_calls=judge.answered_calls,
                first_position_calls=judge.first_calls,
                first_position_rate=None
                if judge.first_position_rate is None
                else round(judge.first_position_rate, 4),
                flagged=judge.flagged,
            )
            for judge in ledger.position_bias()
        ],
    )


def report_json(ledger: Ledger, budget: BudgetState | None, baselines: BaselineRun | None = None) -> str:
    # Pydantic's JSON encoder escapes what must be escaped; untrusted reasons stay valid JSON strings.
    return (
        json.dumps(
            build_report(ledger, budget, baselines).model_dump(mode="json"), indent=2, ensure_ascii=False
        )
        + "\n"
    )


def json_schema() -> dict[str, Any]:
    """The report's JSON Schema (draft 2020-12), as docs/jury-report.schema.json publishes it."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **JuryReport.model_json_schema(),
        "description": "The pytest-llmonpy --jury-report file. schema_version changes when a field changes "
        "meaning or goes away; new fields may appear without a change.",
    }


def json_schema_text() -> str:
    """The published schema file's text: docs/jury-report.schema.json (a test keeps the two equal)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
