"""What the jury tells a user when it cannot judge: a replay miss, a spent budget; and the status label.

Every text ends with what to do about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_llmonpy.money import Cost, format_cost, typed_usd
from pytest_llmonpy.prompts import Case, PairCase
from pytest_llmonpy.untrusted import printable

if TYPE_CHECKING:
    from pytest_llmonpy.budget import BudgetState
    from pytest_llmonpy.cache import VerdictCache


def status_label(question: Case | PairCase) -> str:
    """The check's name on the live "waiting for judges" line."""
    kind = (
        "comparing" if isinstance(question, PairCase) else "judging" if question.scale is None else "scoring"
    )
    return f'{kind} "{question.criteria}"'


def replay_miss_message(case: Case | PairCase, missing: tuple[str, ...], cache: VerdictCache | None) -> str:
    """Which judges have no recorded verdict, the closest recorded one and what differed, how to record."""
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


def budget_spent_message(state: BudgetState, mode: str) -> str:
    """Why no judge was called: the budget is spent; and what to do under this jury_mode."""
    return (
        f"the run's judging budget is spent: {format_cost(state.spent)} of "
        f"--jury-max-cost={typed_usd(state.limit)} USD; no judge was called for this check. "
        f"{budget_remedy(state.limit, mode)}"
    )


def budget_remedy(limit: Cost, mode: str) -> str:
    """What to do: talk of cached verdicts only where the cache can help."""
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
