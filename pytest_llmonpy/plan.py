"""The judging plan: which judges to ask next, and the outcome once it is settled. No I/O.

A plan is a generator. It yields `Recall` (look these calls up in the verdict cache) and `Ask` (get
these calls answered live) and is sent back the votes found or given, by call; its return value is the
Verdict or the Comparison. Whoever runs it (the driver) owns the cache, the budget and the judges, so
the same plan serves every mode, the sync and the async checks, and the unit tests.

A call is `(judge model, question)`, where question 0 is what is judged and, for a comparison,
question 1 is the pair in the other order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeVar

from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.lean import Lean
from pytest_llmonpy.prompts import Case, PairCase
from pytest_llmonpy.quorum import Outcome, decide, decide_pair, next_batch, opening_batch, settled
from pytest_llmonpy.verdict import Comparison, JuryConfigError, PairVote, Score, Verdict, Vote, median_of

T = TypeVar("T")

CallKey = tuple[str, int]  # (judge model, question index)


@dataclass(frozen=True)
class Recall:
    """Look these calls up in the verdict cache; the plan is sent the votes found (maybe none)."""

    calls: tuple[CallKey, ...]


@dataclass(frozen=True)
class Ask:
    """Ask these calls live; the plan is sent one vote per call."""

    calls: tuple[CallKey, ...]


Step = Recall | Ask
Plan = Generator[Step, dict[CallKey, Vote], T]


def tally(votes: dict[str, Vote]) -> tuple[int, int, int]:
    """(pass, fail, abstain) counts, in the order quorum.decide and quorum.settled take them."""
    values = [vote.vote for vote in votes.values()]
    return values.count("pass"), values.count("fail"), values.count("abstain")


def check_plan(
    settings: JurySettings, case: Case, required: int, test_id: str | None = None, lean: Lean | None = None
) -> Plan[Verdict]:
    """Judge one output: the judges in their rounds, then the escalation judges when the jury is split
    or hung.

    parallel asks every judge not in the cache at once. frugal asks the fewest judges whose agreement
    settles the quorum, then the rest only while the outcome is open; the outcome is then the one
    parallel would give for the same votes (quorum.settled), and the judges not asked are recorded as
    "not_needed". Once the run's votes `lean` one way, frugal sizes each round for the fewest calls
    expected at the run's share of pass votes, and asks first the judges likeliest to vote that way.
    """
    __tracebackhide__ = True  # a failure report points at the test's line, not into the plan
    judges = settings.judges
    frugal = settings.strategy == "frugal"
    votes = yield from _ask_until_settled(
        judges, required, frugal=frugal, escalates=bool(settings.escalation), lean=lean or Lean()
    )
    outcome = decide(required, *tally(votes))
    verdict = Verdict(
        criteria=case.criteria,
        outcome=outcome,
        votes=tuple(votes.get(model) or _not_asked(model, settings.samples) for model in judges),
        quorum=str(settings.quorum),
        required=required,
        output_preview=case.output[:300],
        test_id=test_id,
        case=case,
    )
    escalation = settings.escalation
    passes, fails, _ = tally(votes)
    split = passes > 0 and fails > 0
    if not escalation or not (outcome == "hung" or split):
        return verdict
    try:
        escalation_required = settings.quorum.required(len(escalation))
    except ValueError as exc:
        raise JuryConfigError(f"jury_escalation: {exc}") from None
    decisive = yield from _ask_until_settled(
        escalation, escalation_required, frugal=False, escalates=False, lean=Lean()
    )
    return dataclasses.replace(
        verdict,
        outcome=decide(escalation_required, *tally(decisive)),
        required=escalation_required,
        escalation=tuple(decisive[model] for model in escalation),
        escalated="split" if split else "hung",
    )


def _not_asked(model: str, samples: int = 1) -> Vote:
    """A judge the frugal strategy did not ask: under --jury-samples, none of its answers were needed
    (each is counted as a call not made)."""
    vote = Vote(model, "not_needed", cost_usd=0.0, attempts=0)
    if samples == 1:
        return vote
    return dataclasses.replace(
        vote, samples=tuple(dataclasses.replace(vote, seed=seed) for seed in range(samples))
    )


def _ask_until_settled(
    judges: tuple[str, ...], required: int, *, frugal: bool, escalates: bool, lean: Lean
) -> Plan[dict[str, Vote]]:
    """The votes of `judges` on question 0: the cached ones, then live rounds until they are enough."""
    __tracebackhide__ = True
    found = yield Recall(tuple((model, 0) for model in judges))
    votes = {model: found[(model, 0)] for model in judges if (model, 0) in found}
    pending = [model for model in judges if model not in votes]
    if frugal:
        # With escalation a split must be found, whichever way the run leans: size the round either way.
        share = None if escalates else lean.pass_share
        pending = lean.order(pending) if share is not None else pending
        size = opening_batch(required, len(judges), *tally(votes), pass_share=share)
    else:
        share, size = None, len(pending)
    while pending and not (frugal and _frugal_can_stop(required, len(judges), votes, escalates)):
        batch, pending = pending[:size], pending[size:]
        live = yield Ask(tuple((model, 0) for model in batch))
        votes.update((model, live[(model, 0)]) for model in batch)
        if frugal:  # later rounds: as many more as could settle it, or the fewest calls expected
            size = (
                next_batch(required, len(judges), *tally(votes))
                if share is None
                else opening_batch(required, len(judges), *tally(votes), pass_share=share)
            )
    return votes


def _frugal_can_stop(required: int, judges: int, votes: dict[str, Vote], escalates: bool) -> bool:
    """Whether the judges not asked can no longer change the verdict parallel would give."""
    passes, fails, abstains = tally(votes)
    if not escalates:
        return settled(required, judges, passes, fails, abstains) is not None
    # With escalation, a split jury hands the decision to the escalation judges whatever the others
    # say; until a split is seen, any judge not asked could still cause one.
    return passes > 0 and fails > 0


def score_plan(
    settings: JurySettings, case: Case, threshold: float, test_id: str | None = None
) -> Plan[Score]:
    """Score one output: every judge's score (the cached ones, then the rest in one live batch), their
    median against `threshold`. Every judge is asked whatever the strategy: any one score can move the
    median. No escalation: a score has no split to settle, its spread is shown instead."""
    __tracebackhide__ = True
    assert case.scale is not None
    judges = settings.judges
    calls = tuple((model, 0) for model in judges)
    known = yield Recall(calls)
    missing = tuple(call for call in calls if call not in known)
    if missing:
        live = yield Ask(missing)
        known = {**known, **{call: live[call] for call in missing}}
    votes = tuple(_against(known[(model, 0)], threshold) for model in judges)
    return Score(
        criteria=case.criteria,
        outcome=score_outcome([vote.score for vote in votes], case.scale, threshold),
        votes=votes,
        quorum=f"median >= {threshold:g}",
        required=0,
        output_preview=case.output[:300],
        test_id=test_id,
        case=case,
        scale=case.scale,
        threshold=threshold,
    )


def _against(vote: Vote, threshold: float) -> Vote:
    """A judge's score as a vote: pass when it reaches the threshold (an abstention stays one)."""
    if vote.score is None:
        return vote
    return dataclasses.replace(vote, vote="pass" if vote.score >= threshold else "fail")


def score_outcome(scores: list[float | None], scale: tuple[int, int], threshold: float) -> Outcome:
    """passed when the median score reaches `threshold`; hung when the judges that abstained (None)
    could decide it: the median with them scoring the lowest and with them scoring the highest would
    fall on two sides of the threshold (or nobody answered)."""
    given = [score for score in scores if score is not None]
    missing = len(scores) - len(given)
    low, high = scale
    worst = median_of(given + [float(low)] * missing)
    best = median_of(given + [float(high)] * missing)
    if not given or worst is None or best is None:
        return "hung"
    if worst >= threshold:
        return "passed"
    return "failed" if best < threshold else "hung"


def compare_plan(
    settings: JurySettings, pair: PairCase, required: int, test_id: str | None = None
) -> Plan[Comparison]:
    """Compare a pair: every judge sees it in both orders (question 0: a first, question 1: b first),
    all in one live batch after the cache, so one judge's two answers come from the same moment."""
    calls = tuple((model, index) for index in (0, 1) for model in settings.judges)
    known = yield Recall(calls)
    missing = tuple(call for call in calls if call not in known)
    if missing:
        live = yield Ask(missing)
        known = {**known, **{call: live[call] for call in missing}}
    votes = tuple(PairVote(model, (known[(model, 0)], known[(model, 1)])) for model in settings.judges)
    winner = decide_pair(
        required,
        a_wins=sum(v.vote == "a" for v in votes),
        b_wins=sum(v.vote == "b" for v in votes),
        abstains=sum(v.vote == "abstain" for v in votes),
        inconsistent=sum(v.vote == "inconsistent" for v in votes),
    )
    return Comparison(
        criteria=pair.criteria,
        # An inconclusive comparison is a tie (jury_inconclusive = tie), whatever the votes leaned to.
        winner="tie" if winner in ("hung", "inconclusive") else winner,  # type: ignore[arg-type]
        votes=votes,
        quorum=str(settings.quorum),
        required=required,
        a_preview=pair.first[:300],
        b_preview=pair.second[:300],
        hung=winner == "hung",
        inconclusive=winner == "inconclusive",
        test_id=test_id,
        pair=pair,
    )
