"""The jury: ask several judges about one output and combine their votes under a quorum rule.

No pytest import here: the plugin wires a Jury into the `jury` fixture.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, TypeVar

from pytest_llmonpy.config import NO_JUDGES_HELP, JurySettings
from pytest_llmonpy.judge_request import unknown_local_judges
from pytest_llmonpy.money import Cost, format_cost, typed_usd
from pytest_llmonpy.prompts import Case, PairCase
from pytest_llmonpy.quorum import Outcome, decide, decide_pair, first_batch, next_batch, settled
from pytest_llmonpy.untrusted import printable
from pytest_llmonpy.verdict import (
    BudgetExceededError,
    Comparison,
    HungJuryError,
    JuryConfigError,
    JuryError,
    PairVote,
    ReplayMissError,
    Verdict,
    Vote,
)

T = TypeVar("T")

if TYPE_CHECKING:
    from pytest_llmonpy.budget import RunBudget
    from pytest_llmonpy.cache import VerdictCache
    from pytest_llmonpy.judges import JudgeCaller


def output_text(output: object, what: str = "output", *, allow_none: bool = False) -> str:
    """The text a judge sees: strings as they are, anything else as its JSON text.

    `None` is refused unless `allow_none`: an app that returns nothing is almost always a bug, and
    judging the text `null` would be a paid, cached call about it.
    """
    __tracebackhide__ = True
    if isinstance(output, str):
        text = output
    elif output is None and not allow_none:
        raise TypeError(
            f"jury {what} is None: the code under test returned nothing. To judge JSON null on purpose, "
            "pass allow_none=True"
        )
    elif isinstance(output, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"jury {what} is {type(output).__name__}, not text: decode it first, e.g. "
            f"{what.split()[0]}.decode('utf-8')"
        )
    else:
        try:
            text = json.dumps(output, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"jury {what} must be a str or a JSON-serialisable value, got {type(output).__name__}: {exc}"
            ) from None
    _require_utf8(text, what)
    return text


def _require_utf8(text: str, what: str) -> None:
    """Judges, the cache and the reports all speak UTF-8: a lone surrogate is refused up front."""
    __tracebackhide__ = True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TypeError(
            f"jury {what} cannot be encoded as UTF-8: {exc.reason} at position {exc.start} "
            f"({printable(repr(text[max(0, exc.start - 20) : exc.end + 20]), 80)}). A lone surrogate "
            "usually comes from decoding bytes with errors='surrogateescape'; decode them with "
            "errors='replace', or fix the text."
        ) from None


def _optional_text(value: object, what: str) -> str | None:
    __tracebackhide__ = True
    return None if value is None else output_text(value, what)


async def _in_thread(function: Callable[..., T], *args: object) -> T:
    """`function(*args)` in a worker thread; its jury errors surface here, without the thread-pool
    frames, so pytest points at the test's await."""
    __tracebackhide__ = True
    try:
        return await asyncio.to_thread(function, *args)
    except (JuryError, TypeError) as exc:
        raise exc.with_traceback(None) from exc.__cause__


def _status_label(question: Case | PairCase) -> str:
    kind = "comparing" if isinstance(question, PairCase) else "judging"
    return f'{kind} "{question.criteria}"'


def _tally(votes: dict[str, Vote]) -> tuple[int, int, int]:
    """(pass, fail, abstain) counts, in the order quorum.decide and quorum.settled take them."""
    values = [vote.vote for vote in votes.values()]
    return values.count("pass"), values.count("fail"), values.count("abstain")


class Jury:
    """Asks a jury of LLM judges whether an output meets plain-language criteria.

    `check` returns a `Verdict` (truthy when it passed); `assert_passes` raises `AssertionError`
    with every judge's vote and reason. Both raise `HungJuryError` when the outcome depends on
    judges that abstained, and `JuryConfigError` when the jury cannot run as configured.
    """

    def __init__(
        self,
        settings: JurySettings,
        caller: Callable[[], JudgeCaller],
        *,
        cache: Callable[[], VerdictCache | None] = lambda: None,
        budget: RunBudget | None = None,
        test_id: str | None = None,
        on_live_vote: Callable[[Vote], None] | None = None,
    ) -> None:
        self.settings = settings
        self.test_id = test_id
        self.verdicts: list[Verdict] = []
        self.comparisons: list[Comparison] = []
        # Votes paid for by checks that never reached a verdict (a misconfigured judge, an interrupt).
        self.unconcluded: list[Vote] = []
        self._caller = caller
        self._cache = cache
        self._budget = budget
        self._on_live_vote = on_live_vote  # the run's spend journal
        self.blocked_by_budget = 0
        self._raised: set[int] = set()

    # -- public API ---------------------------------------------------------------------------
    def check(
        self,
        output: object,
        criteria: str,
        *,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Verdict:
        """Judge `output` against `criteria`; returns the Verdict without raising on failure."""
        __tracebackhide__ = True
        return self._check_case(*self._prepare(output, criteria, input, reference, context, allow_none))

    def _check_case(self, case: Case, required: int) -> Verdict:
        __tracebackhide__ = True
        rounds = self._rounds(case, required)
        try:
            batch = next(rounds)
            while True:
                batch = rounds.send(self._ask([(model, case) for model in batch]))
        except StopIteration as done:
            verdict: Verdict = done.value
        return self._conclude(verdict)

    async def acheck(
        self,
        output: object,
        criteria: str,
        *,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Verdict:
        """Async twin of `check`, for async tests. The cache, the budget and the judges are used from a
        worker thread, so nothing blocks the test's event loop."""
        __tracebackhide__ = True
        # Arguments are checked here, so a bad one points at the test's line, not into a thread.
        prepared = self._prepare(output, criteria, input, reference, context, allow_none)
        return await _in_thread(self._check_case, *prepared)

    def assert_passes(
        self,
        output: object,
        criteria: str,
        *,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Verdict:
        """Like `check`, but raise AssertionError explaining every vote when the jury fails the output."""
        __tracebackhide__ = True
        verdict = self.check(
            output, criteria, input=input, reference=reference, context=context, allow_none=allow_none
        )
        return self._require_pass(verdict)

    async def aassert_passes(
        self,
        output: object,
        criteria: str,
        *,
        input: object = None,
        reference: object = None,
        context: object = None,
        allow_none: bool = False,
    ) -> Verdict:
        """Async twin of `assert_passes`."""
        __tracebackhide__ = True
        verdict = await self.acheck(
            output, criteria, input=input, reference=reference, context=context, allow_none=allow_none
        )
        return self._require_pass(verdict)

    def compare(
        self,
        a: object,
        b: object,
        criteria: str,
        *,
        input: object = None,
        reference: object = None,
        allow_none: bool = False,
    ) -> Comparison:
        """Which of outputs `a` and `b` better meets `criteria`: winner "a", "b" or "tie".

        Each judge sees the pair twice, in both orders; a judge that picks the same position in both
        votes inconsistent, and a comparison that depends on such votes is inconclusive
        (jury_inconclusive: a tie, or HungJuryError). The quorum rule applies to the wins. Raises
        HungJuryError when abstentions decide it.
        """
        __tracebackhide__ = True
        return self._compare_orders(*self._prepare_pair(a, b, criteria, input, reference, allow_none))

    def _compare_orders(self, orders: tuple[PairCase, PairCase], required: int) -> Comparison:
        __tracebackhide__ = True
        known, missing = self._recall_pair(orders)
        if missing:
            self._check_budget()
            live = self._ask([(model, orders[index]) for model, index in missing])
            known.update(self._remember_pair(orders, missing, live))
        return self._conclude_pair(orders[0], required, known)

    async def acompare(
        self,
        a: object,
        b: object,
        criteria: str,
        *,
        input: object = None,
        reference: object = None,
        allow_none: bool = False,
    ) -> Comparison:
        """Async twin of `compare` (run from a worker thread, like `acheck`)."""
        __tracebackhide__ = True
        prepared = self._prepare_pair(a, b, criteria, input, reference, allow_none)
        return await _in_thread(self._compare_orders, *prepared)

    def unexplained_failures(self) -> list[Verdict]:
        """Failed verdicts whose explanation was not already raised (for the test report)."""
        return [v for v in self.verdicts if not v.passed and id(v) not in self._raised]

    # -- internals ----------------------------------------------------------------------------
    def _prepare(
        self,
        output: object,
        criteria: str,
        input: object,
        reference: object,
        context: object,
        allow_none: bool = False,
        what: str = "output",
    ) -> tuple[Case, int]:
        __tracebackhide__ = True
        if not isinstance(criteria, str) or not criteria.strip():
            raise TypeError("jury criteria must be a non-empty string describing what the output must do")
        if not self.settings.judges:
            raise JuryConfigError(NO_JUDGES_HELP)
        unknown_local = unknown_local_judges((*self.settings.judges, *self.settings.escalation))
        if unknown_local:
            raise JuryConfigError(unknown_local)
        try:
            required = self.settings.quorum.required(len(self.settings.judges))
        except ValueError as exc:
            raise JuryConfigError(str(exc)) from None
        _require_utf8(criteria, "criteria")
        case = Case(
            output=output_text(output, what, allow_none=allow_none),
            criteria=criteria.strip(),
            input=_optional_text(input, "input"),
            reference=_optional_text(reference, "reference"),
            context=_optional_text(context, "context"),
        )
        return case, required

    def _prepare_pair(
        self, a: object, b: object, criteria: str, input: object, reference: object, allow_none: bool = False
    ) -> tuple[tuple[PairCase, PairCase], int]:
        __tracebackhide__ = True
        case, required = self._prepare(a, criteria, input, reference, None, allow_none, "output a")
        pair = PairCase(
            first=case.output,
            second=output_text(b, "output b", allow_none=allow_none),
            criteria=case.criteria,
            input=case.input,
            reference=case.reference,
        )
        return (pair, pair.swapped()), required

    def _recall_pair(
        self, orders: tuple[PairCase, PairCase]
    ) -> tuple[dict[tuple[str, int], Vote], list[tuple[str, int]]]:
        """Cached answers by (judge, order), and the (judge, order) calls still to make."""
        __tracebackhide__ = True
        known: dict[tuple[str, int], Vote] = {}
        missing: list[tuple[str, int]] = []
        for index, order in enumerate(orders):
            found, absent = self._recall(order)
            known.update(((model, index), vote) for model, vote in found.items())
            missing.extend((model, index) for model in absent)
        return known, missing

    def _remember_pair(
        self, orders: tuple[PairCase, PairCase], calls: list[tuple[str, int]], live: list[Vote]
    ) -> dict[tuple[str, int], Vote]:
        remembered: dict[tuple[str, int], Vote] = {}
        for index, order in enumerate(orders):
            votes = [vote for (_, at), vote in zip(calls, live, strict=True) if at == index]
            remembered.update(((model, index), vote) for model, vote in self._remember(order, votes).items())
        return remembered

    def _conclude_pair(self, pair: PairCase, required: int, known: dict[tuple[str, int], Vote]) -> Comparison:
        __tracebackhide__ = True
        votes = tuple(
            PairVote(model, (known[(model, 0)], known[(model, 1)])) for model in self.settings.judges
        )
        winner = decide_pair(
            required,
            a_wins=sum(v.vote == "a" for v in votes),
            b_wins=sum(v.vote == "b" for v in votes),
            abstains=sum(v.vote == "abstain" for v in votes),
            inconsistent=sum(v.vote == "inconsistent" for v in votes),
        )
        comparison = Comparison(
            criteria=pair.criteria,
            # An inconclusive comparison is a tie (jury_inconclusive = tie), whatever the votes leaned to.
            winner="tie" if winner in ("hung", "inconclusive") else winner,  # type: ignore[arg-type]
            votes=votes,
            quorum=str(self.settings.quorum),
            required=required,
            a_preview=pair.first[:300],
            b_preview=pair.second[:300],
            hung=winner == "hung",
            inconclusive=winner == "inconclusive",
            test_id=self.test_id,
        )
        self.comparisons.append(comparison)
        if comparison.hung or (comparison.inconclusive and self.settings.inconclusive == "hung"):
            raise HungJuryError(comparison)
        return comparison

    def _recall(self, case: Case | PairCase) -> tuple[dict[str, Vote], tuple[str, ...]]:
        """Cached votes by judge, and the judges still to ask; replay mode raises on a miss."""
        __tracebackhide__ = True
        known = self._cached_votes(case, self.settings.judges)
        missing = tuple(model for model in self.settings.judges if model not in known)
        if missing and self.settings.mode == "replay":
            raise ReplayMissError(self._replay_miss_message(case, missing, self._cache()))
        return known, missing

    def _check_budget(self) -> None:
        __tracebackhide__ = True
        state = None if self._budget is None else self._budget.state()
        if state is not None and state.exhausted:
            self.blocked_by_budget += 1
            raise BudgetExceededError(
                f"the run's judging budget is spent: {format_cost(state.spent)} of "
                f"--jury-max-cost={typed_usd(state.limit)} USD; no judge was called for this check. "
                f"{self._budget_remedy(state.limit)}"
            )

    def _budget_remedy(self, limit: Cost) -> str:
        """What to do: talk of cached verdicts only where the cache can help."""
        mode = self.settings.mode
        if limit.nano <= 0:
            if mode in ("off", "refresh"):
                return (
                    f"A budget of 0 allows no judge call and jury_mode={mode} uses no cached verdict: "
                    "raise the budget."
                )
            return "A budget of 0 allows only cached verdicts: raise the budget to ask the judges."
        if mode == "off":
            return "Raise the budget (with jury_mode=off nothing is cached, so a re-run pays again)."
        if mode == "refresh":
            return "Raise the budget, or re-run in record mode to reuse the verdicts paid for so far."
        return "Raise the budget, or re-run: the verdicts paid for so far are cached."

    def _ask(self, calls: list[tuple[str, Case | PairCase]]) -> list[Vote]:
        """Ask judges live, one vote per (judge, question) call.

        Each vote is cached and charged to the budget the moment it arrives, so a process killed
        mid-check loses no paid vote. When the batch is cut short (a misconfigured judge, an
        interrupt), the votes answered before it are also kept for the cost report, then the
        exception goes on.
        """
        __tracebackhide__ = True
        finished: dict[int, Vote] = {}

        def store(index: int, vote: Vote) -> None:
            self._store(calls[index][1], vote)

        try:
            return self._caller().judge_calls(
                calls,
                self.settings.api_base,
                self.settings.timeout_s,
                finished,
                on_vote=store,
                label=_status_label(calls[0][1]) if calls else "",
            )
        except BaseException as exc:
            self.unconcluded.extend(vote for _, vote in sorted(finished.items()))
            if isinstance(exc, JuryConfigError):
                raise JuryConfigError(str(exc)) from None  # one message, no trace into the event loop
            raise

    def _store(self, case: Case | PairCase, vote: Vote) -> None:
        """Journal, charge and cache a live vote (called on the judge loop as it arrives)."""
        if self._on_live_vote is not None:
            self._on_live_vote(vote)
        if self._budget is not None:
            self._budget.charge(vote.cost)
        cache = self._cache() if self.settings.mode != "off" else None
        if cache is not None:
            cache.put(vote, case)

    @staticmethod
    def _remember(case: Case | PairCase, live: list[Vote]) -> dict[str, Vote]:
        """Live votes by judge (already cached and charged as they arrived)."""
        return {vote.model: vote for vote in live}

    def _replay_miss_message(
        self, case: Case | PairCase, missing: tuple[str, ...], cache: VerdictCache | None
    ) -> str:
        where = f" in {cache.root}" if cache is not None else ""
        lines = [
            f"no recorded verdict{where} for judge{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} (--jury-mode=replay never calls a judge).",
            f"  criteria: {printable(case.criteria, 200)}",
        ]
        if isinstance(case, PairCase):
            lines.append(f"  comparing: {printable(case.first, 100)} | with: {printable(case.second, 100)}")
        else:
            lines.append(f"  output: {printable(case.output, 200)}")
        closest = cache.closest(missing[0], case) if cache is not None else None
        if closest is not None:
            entry, differ = closest
            lines.append(
                f"  closest recorded verdict: judge {entry.vote.model!r}, criteria "
                f"{printable(entry.case.criteria, 80)!r}; differs in: {', '.join(differ) or 'nothing'}"
            )
            if "output" in differ and isinstance(entry.case, Case):
                lines.append(f"  recorded output: {printable(entry.case.output, 200)}")
        lines.append(
            "Record it by running with --jury-mode=record (the default) and the judges' API keys set, "
            "then keep the cache directory between runs."
        )
        return "\n".join(lines)

    def _rounds(self, case: Case, required: int) -> Generator[tuple[str, ...], list[Vote], Verdict]:
        """The judging plan: yields each batch of judges to ask live, receives their votes, returns the
        Verdict. Sync and async checks drive the same plan; only the calling differs.

        parallel asks every judge not in the cache at once. frugal asks the fewest judges whose
        agreement settles the quorum, then the rest only while the outcome is open; the outcome is then
        the one parallel would give for the same votes (quorum.settled), and the judges not asked are
        recorded as "not_needed".
        """
        __tracebackhide__ = True
        judges = self.settings.judges
        votes = yield from self._ask_until_settled(case, judges, required)
        outcome = self._outcome(required, votes)
        verdict = Verdict(
            criteria=case.criteria,
            outcome=outcome,
            votes=tuple(
                votes.get(model, Vote(model, "not_needed", cost_usd=0.0, attempts=0)) for model in judges
            ),
            quorum=str(self.settings.quorum),
            required=required,
            output_preview=case.output[:300],
            test_id=self.test_id,
        )
        escalation = self.settings.escalation
        passes, fails, _ = _tally(votes)
        split = passes > 0 and fails > 0
        if escalation and (outcome == "hung" or split):
            try:
                escalation_required = self.settings.quorum.required(len(escalation))
            except ValueError as exc:
                raise JuryConfigError(f"jury_escalation: {exc}") from None
            decisive = yield from self._ask_until_settled(case, escalation, escalation_required, every=True)
            verdict = dataclasses.replace(
                verdict,
                outcome=self._outcome(escalation_required, decisive),
                required=escalation_required,
                escalation=tuple(decisive[model] for model in escalation),
                escalated="split" if split else "hung",
            )
        return verdict

    def _ask_until_settled(
        self, case: Case, judges: tuple[str, ...], required: int, *, every: bool = False
    ) -> Generator[tuple[str, ...], list[Vote], dict[str, Vote]]:
        __tracebackhide__ = True
        votes = self._cached_votes(case, judges)
        pending = [model for model in judges if model not in votes]
        frugal = self.settings.strategy == "frugal" and not every
        size = max(first_batch(required, len(judges)) - len(votes), 1) if frugal else len(pending)
        while pending and (not frugal or not self._frugal_can_stop(required, len(judges), votes)):
            batch, pending = tuple(pending[:size]), pending[size:]
            if self.settings.mode == "replay":
                raise ReplayMissError(self._replay_miss_message(case, batch, self._cache()))
            self._check_budget()
            live = yield batch
            votes.update(self._remember(case, live))
            if frugal:  # later rounds: only as many more as could settle it, so calls stay minimal
                size = next_batch(required, len(judges), *_tally(votes))
        return votes

    def _frugal_can_stop(self, required: int, judges: int, votes: dict[str, Vote]) -> bool:
        """Whether the judges not asked can no longer change the verdict parallel would give."""
        passes, fails, abstains = _tally(votes)
        if not self.settings.escalation:
            return settled(required, judges, passes, fails, abstains) is not None
        # With escalation, a split jury hands the decision to the escalation judges whatever the others
        # say; until a split is seen, any judge not asked could still cause one.
        return passes > 0 and fails > 0

    @staticmethod
    def _outcome(required: int, votes: dict[str, Vote]) -> Outcome:
        return decide(required, *_tally(votes))

    def _cached_votes(self, case: Case | PairCase, judges: tuple[str, ...]) -> dict[str, Vote]:
        cache = self._cache() if self.settings.mode in ("record", "replay") else None
        return cache.get_many(judges, case) if cache is not None else {}

    def _conclude(self, verdict: Verdict) -> Verdict:
        __tracebackhide__ = True
        self.verdicts.append(verdict)
        if verdict.hung:
            self._raised.add(id(verdict))
            raise HungJuryError(verdict)
        return verdict

    def _require_pass(self, verdict: Verdict) -> Verdict:
        __tracebackhide__ = True
        if not verdict.passed:
            self._raised.add(id(verdict))
            raise AssertionError(verdict.explain())
        return verdict

    def __repr__(self) -> str:
        return f"<Jury judges={list(self.settings.judges)} quorum={self.settings.quorum}>"
