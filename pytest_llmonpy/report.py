"""Turning a Ledger into what people read: terminal summary lines, the JSON report, Markdown.

Pure functions (plus one atomic file write); model output inside reasons is untrusted and is escaped
for each medium.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmonpy.baseline_files import relative_path
from pytest_llmonpy.ledger import GROUP_CONFIDENCE, GroupGate, Ledger, record_votes, vote_detail
from pytest_llmonpy.money import Cost, format_cost
from pytest_llmonpy.untrusted import printable

if TYPE_CHECKING:
    from pytest_llmonpy.baselines import BaselineRun
    from pytest_llmonpy.budget import BudgetState
    from pytest_llmonpy.config import JurySettings
    from pytest_llmonpy.html_report import RunInfo


def could_save(saved: Cost) -> bool:
    """Whether the cached votes stood for any cost: none when all were zero-priced (a free judge)."""
    return saved.nano > 0 or saved.unpriced > 0


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _verdict_line(ledger: Ledger) -> str:
    outcomes = ledger.outcomes()
    parts = [f"{outcomes['passed']} passed", f"{outcomes['failed']} failed", f"{outcomes['hung']} hung"]
    # Only the tests that made checks: a test that only compared outputs is on the comparisons line.
    line = f"verdicts: {', '.join(parts)} in {_plural(ledger.checking_tests(), 'test')}"
    if ledger.contested():
        line += f"; {ledger.contested()} contested (the judges split)"
    if ledger.blocked():
        line += f"; {_plural(ledger.blocked(), 'check')} stopped by the budget"
    misses = ledger.replay_misses()
    if misses:
        line += f"; {misses} replay miss{'es' if misses != 1 else ''} (no recorded verdict)"
    return line


def summary_lines(
    ledger: Ledger,
    budget: BudgetState | None,
    verbosity: int,
    baselines: BaselineRun | None = None,
    *,
    cache_mode: str = "record",
    display_id: Callable[[str], str] | None = None,
) -> list[str]:
    """The `llm jury summary` section: short by default, per-test and per-judge detail with -v.

    `cache_mode` is the run's jury mode (the hints of `next:` depend on whether verdicts are cached);
    `display_id` turns a node id into the form pytest shows (relative to the invocation directory).
    """
    show = display_id or (lambda test_id: test_id)
    live, cached = ledger.live_calls(), ledger.cached_calls()
    spent, saved = ledger.spent(), ledger.saved()
    baselines_active = baselines is not None and baselines.active
    checked = ledger.verdicts or ledger.blocked() or ledger.replay_misses()
    # The verdict line, unless the run only compared outputs (it would read "0 passed, 0 failed").
    lines = [_verdict_line(ledger)] if checked or not (ledger.comparisons or baselines_active) else []
    if verbosity <= 0:
        lines += _contested_lines(ledger, show)
    lines += _group_lines(ledger, show)
    if ledger.comparisons:
        outcomes = ledger.comparison_outcomes()
        line = (
            f"comparisons: {len(ledger.comparisons)} ({outcomes['a']} won by a, {outcomes['b']} by b, "
            f"{_plural(outcomes['tie'], 'tie')}, {outcomes['hung']} hung"
        )
        if outcomes["inconclusive"]:
            line += f", {outcomes['inconclusive']} inconclusive"
        lines.append(line + ")")
        lines.extend(
            f"position bias: {judge.describe()}" for judge in ledger.position_bias() if judge.flagged
        )
    if baselines is not None and baselines.active:
        lines.append(_baseline_line(baselines))
    lines += _self_agreement_lines(ledger)
    lines += _human_label_lines(ledger, show)
    if ledger.replay_misses():
        # Not "100% from cache": checks that found no recorded verdict made no call to count.
        share = f" ({_plural(ledger.replay_misses(), 'check')} found no recorded verdict)"
    else:
        share = f" ({cached * 100 // (live + cached)}% from cache)" if live + cached else ""
    lines.append(f"judge calls: {live} live, {cached} cached{share}")
    lines += estimate_lines(ledger)
    if verbosity >= 0:
        tokens_in, tokens_out = ledger.tokens()
        lines.append(f"tokens (live): {tokens_in:,} in, {tokens_out:,} out")
        lines.extend(_model_table(ledger))
    lines.append(f"total spent: {format_cost(spent, live, cached=saved)}")
    if cached and could_save(saved):  # zero-priced cached votes saved nothing: no $0 line
        lines.append(
            f"saved by the cache: {format_cost(saved, cached)} ({_plural(cached, 'call')} not repeated)"
        )
    not_needed, estimate = ledger.not_needed()
    if not_needed:
        lines.append(
            f"saved by the frugal strategy: about {format_cost(estimate, not_needed)} "
            f"({_plural(not_needed, 'judge call')} not needed)"
        )
    if ledger.escalations():
        lines.append(f"escalated: {_plural(ledger.escalations(), 'split or hung verdict')}")
    if verbosity >= 0:
        if verbosity > 0:
            costliest = ledger.costliest_tests(None, everyone=True)
        elif spent.nano or spent.unpriced:
            costliest = ledger.costliest_tests(3)
        else:
            costliest = []  # a list of $0 tests ranks nothing (a free local judge, a cached run)
        if costliest:
            lines.append("costliest tests:" if verbosity <= 0 else "cost per test:")
            for test in costliest:
                detail = f"{test.live_calls} live, {test.cached_calls} cached"
                cost = format_cost(test.spent, test.live_calls, cached=test.saved)
                lines.append(f"  {cost:>12}  {show(test.test_id)}  ({detail})")
    if verbosity > 0:
        lines.extend(_verdict_details(ledger, show))
        lines.extend(_comparison_details(ledger, show))
    if budget is not None:
        state = "EXHAUSTED" if budget.exhausted else "ok"
        lines.append(
            f"budget: {format_cost(budget.spent)} of {format_cost(budget.limit)} spent "
            f"({budget.percent:.0f}%), {state}"
        )
    if verbosity > 0 and baselines is not None and baselines.active:
        lines.extend(_baseline_details(baselines))
    lines.extend(_next_steps(ledger, budget, cache_mode, verbosity))
    if baselines is not None:
        lines.extend(_baseline_next_steps(baselines, verbosity))
    return lines


def _baseline_line(baselines: BaselineRun) -> str:
    counts = baselines.counts()
    inconclusive = f", {counts['inconclusive']} inconclusive" if counts["inconclusive"] else ""
    line = (
        f"baselines: {counts['compared']} compared ({counts['improved']} improved, {counts['held']} held, "
        f"{counts['regressed']} regressed{inconclusive}), {counts['recorded']} recorded, "
        f"{counts['stale']} stale"
    )
    if counts["missing"]:
        line += f", {counts['missing']} missing"
    return line + f", {counts['unused']} {'removed as unused' if baselines.update else 'unused'}"


def _baseline_details(baselines: BaselineRun) -> list[str]:
    lines = ["baselines in detail:"]
    width = max([9, *(len(result["status"]) for result in baselines.results)])  # INCONCLUSIVE is 12
    for result in sorted(baselines.results, key=lambda result: (result["file"], result["key"])):
        lines.append(f"  {result['status'].upper():{width}}  {result['key']}  ({result['file']})")
    for path, key in baselines.unused:
        lines.append(f"  {'UNUSED':{width}}  {key}  ({path})")
    return lines


def _baseline_next_steps(baselines: BaselineRun, verbosity: int = 0) -> list[str]:
    counts = baselines.counts()
    steps = []
    if counts["missing"] or counts["stale"]:
        steps.append(
            f"next: {counts['missing']} missing and {counts['stale']} stale baselines: record them with "
            "--jury-baseline-update, then review and commit the __llm_baselines__ files."
        )
    if counts["unused"] and not baselines.update:
        listed = " (listed above)" if verbosity > 0 else " (run -v to list them)"
        steps.append(
            f"next: {_plural(counts['unused'], 'baseline')} no test uses; remove them with "
            f"--jury-baseline-update{listed}."
        )
    return steps


def _model_table(ledger: Ledger) -> list[str]:
    if not ledger.models:
        return []
    width = max(len("judge model"), *(len(name) for name in ledger.models))
    header = (
        f"  {'judge model':<{width}}  {'live':>5}  {'cached':>6}  {'tokens in':>10}  {'tokens out':>10}  cost"
    )
    rows = [header]
    for name in sorted(ledger.models):
        m = ledger.models[name]
        rows.append(
            f"  {name:<{width}}  {m.live_calls:>5}  {m.cached_calls:>6}  {m.tokens_in:>10,}  "
            f"{m.tokens_out:>10,}  {format_cost(m.spent, m.live_calls, cached=m.saved)}"
        )
    return rows


# Contested verdicts listed in the summary without -v (all are listed with -v and in the JSON report).
CONTESTED_SHOWN = 5


def _split(verdict: dict[str, Any]) -> str:
    """How a contested verdict's judges split: "1 pass (judge-a), 2 fail (judge-b, judge-c)"."""
    votes = record_votes(verdict)
    return ", ".join(
        f"{len(names)} {value} ({', '.join(names)})"
        for value in ("pass", "fail")
        if (names := [vote["model"] for vote in votes if vote["vote"] == value])
    )


# Failed tests of a group listed in the summary (all are in the JSON report).
GROUP_FAILURES_SHOWN = 10


def group_line(gate: GroupGate, not_gated: str | None = None) -> str:
    verdict = "PASSED" if gate.passed else "FAILED"
    if not_gated is not None:
        verdict = f"NOT GATED (the run selected part of the suite: {not_gated}), would have {verdict.lower()}"
    rate = len(gate.passed_tests) / gate.samples if gate.samples else 0.0
    comparison = ">=" if gate.passed else "<"
    uncounted = f", {len(gate.uncounted_tests)} not counted" if gate.uncounted_tests else ""
    return (
        f"group {printable(gate.name, 60)} {verdict}: {len(gate.passed_tests)} of {gate.samples} tests "
        f"passed ({rate:.0%}{uncounted}); at {GROUP_CONFIDENCE:.0%} confidence the pass rate is at least "
        f"{gate.lower:.1%} {comparison} min_pass_rate {gate.min_pass_rate:.0%}"
    )


def _group_lines(ledger: Ledger, show: Callable[[str], str]) -> list[str]:
    lines = []
    for gate in ledger.group_gates():
        lines.append(group_line(gate, ledger.groups_not_gated))
        lines.extend(
            f"  failed: {printable(show(test), 160)}" for test in gate.failed_tests[:GROUP_FAILURES_SHOWN]
        )
        if len(gate.failed_tests) > GROUP_FAILURES_SHOWN:
            lines.append(
                f"  ... and {len(gate.failed_tests) - GROUP_FAILURES_SHOWN} more (see --jury-report)"
            )
        lines.extend(f"  not counted: {printable(show(test), 160)}" for test in gate.uncounted_tests)
    return lines


def estimate_lines(ledger: Ledger) -> list[str]:
    """--jury-estimate: the live calls a real run would make, and what they would cost, per model."""
    if not ledger.estimating:
        return []
    models = sorted(ledger.estimated.items())
    calls, spent = ledger.estimate_total()
    cost = format_cost(spent, calls)
    lines = [
        "estimate (--jury-estimate; no judge was called): a real run would make "
        f"{_plural(calls, 'live call')}, about {cost}"
    ]
    if models:
        width = max(len("judge model"), *(len(name) for name, _ in models))
        lines.append(f"  {'judge model':{width}}  calls  tokens in  tokens out  estimated cost")
        lines += [
            f"  {printable(name, 80):{width}}  {m.live_calls:5}  {m.tokens_in:9,}  {m.tokens_out:10,}  "
            f"{format_cost(m.spent, m.live_calls)}"
            for name, m in models
        ]
    return lines


def _self_agreement_lines(ledger: Ledger) -> list[str]:
    """--jury-samples: how often each judge agreed with itself, least consistent first."""
    judges = sorted(ledger.self_agreement.values(), key=lambda judge: (judge.rate or 0.0, judge.model))
    if not judges:
        return []
    width = max(len(judge.model) for judge in judges)
    lines = ["judge self-agreement (each judge asked the same question several times):"]
    lines += [f"  {printable(judge.model, 80):{width}}  {judge.describe()}" for judge in judges]
    return lines


def _contested_lines(ledger: Ledger, show: Callable[[str], str]) -> list[str]:
    contested = [verdict for verdict in ledger.verdicts_in_order() if verdict.get("contested")]
    lines = [
        f"  contested {verdict['outcome']}: {printable(show(verdict['test_id'] or ''), 120)}: "
        f"{printable(verdict['criteria'], 80)} - {_split(verdict)}{_score_note(verdict)}"
        for verdict in contested[:CONTESTED_SHOWN]
    ]
    if len(contested) > CONTESTED_SHOWN:
        lines.append(f"  ... and {len(contested) - CONTESTED_SHOWN} more (run -v to list them)")
    return lines


def _verdict_details(ledger: Ledger, show: Callable[[str], str]) -> list[str]:
    if not ledger.verdicts:
        return []
    lines = ["verdicts in detail (contested first):" if ledger.contested() else "verdicts in detail:"]
    for verdict in ledger.contested_first():
        test_id = show(verdict["test_id"] or "")
        status = verdict["outcome"].upper() + (" (CONTESTED)" if verdict.get("contested") else "")
        lines.append(f"  {status:6}  {test_id}: {printable(verdict['criteria'], 100)}{_score_note(verdict)}")
        if verdict.get("escalated"):
            lines.append(f"          (the jury was {verdict['escalated']}; escalated to the last votes)")
        for vote in record_votes(verdict):
            if vote["vote"] == "not_needed":
                lines.append(f"          {vote['model']}: not needed (not asked)")
                continue
            source = _source(vote)
            detail = vote_detail(vote)
            said = vote["vote"] + ("" if vote.get("score") is None else f" {vote['score']:g}")
            if vote.get("samples"):
                answers = [_sample_said(sample) for sample in vote["samples"]]
                said += f" (samples: {', '.join(answers)})"
            lines.append(f"          {vote['model']}: {said} ({source}) - {printable(detail, 120)}")
    return lines


def _source(vote: dict[str, Any]) -> str:
    """Where a vote came from; under --jury-samples, some of its answers may be cached and some live."""
    if vote.get("estimated"):
        return "estimated, not asked"
    if vote["cached"]:
        return "cached"
    samples = vote.get("samples") or []
    return "live and cached" if any(sample["cached"] for sample in samples) else "live"


def _sample_said(sample: dict[str, Any]) -> str:
    value = sample["vote"] if sample.get("score") is None else f"{sample['score']:g}"
    return f"{value}@seed{sample.get('seed')}"


def _score_note(verdict: dict[str, Any]) -> str:
    """A score's median, spread and threshold, after its rubric on a verdict line."""
    score = verdict.get("score")
    if not score or score["median"] is None:
        return ""
    spread = "" if score["lowest"] == score["highest"] else f", {score['lowest']:g}-{score['highest']:g}"
    low, high = score["scale"]
    return f" [median {score['median']:g}{spread} on {low}-{high}, needs {score['threshold']:g}]"


def position_bias_message(ledger: Ledger) -> str | None:
    """The PositionBiasWarning text naming every flagged judge, or None when no judge is flagged."""
    biased = [judge for judge in ledger.position_bias() if judge.flagged]
    if not biased:
        return None
    return (
        f"{'; '.join(judge.describe() for judge in biased)}. A judge that picks the same position in "
        "both orders judges the order, not the outputs: comparisons that depended on its votes are "
        "inconclusive (see jury_inconclusive). Use judges that compare the content."
    )


def _comparison_details(ledger: Ledger, show: Callable[[str], str]) -> list[str]:
    if not ledger.comparisons:
        return []
    lines = ["comparisons in detail:"]
    for comparison in ledger.comparisons_in_order():
        if comparison["hung"] or comparison.get("inconclusive"):
            status = "HUNG" if comparison["hung"] else "INCONCLUSIVE"
        else:
            status = "TIE" if comparison["winner"] == "tie" else f"WON BY {comparison['winner'].upper()}"
        test_id = show(comparison["test_id"] or "")
        lines.append(f"  {status:12}  {test_id}: {printable(comparison['criteria'], 100)}")
        for vote in comparison["votes"]:
            a_first, b_first = (
                _pair_call(call, first) for call, first in zip(vote["calls"], "ab", strict=True)
            )
            source = "cached" if all(call["cached"] for call in vote["calls"]) else "live"
            lines.append(
                f"                {vote['model']}: {vote['vote']} ({source}; a shown first: {a_first}; "
                f"b shown first: {b_first})"
            )
            # Each call's reason (or, for an abstention, its error), as for the votes of a check.
            for call, first in zip(vote["calls"], "ab", strict=True):
                detail = call["error"] if call["vote"] == "abstain" and call["error"] else call["reason"]
                chose = _pair_call(call, first)
                lines.append(f"                  {first} shown first: {chose} - {printable(detail, 120)}")
    return lines


def _pair_call(call: dict[str, Any], first: str) -> str:
    """What one pairwise call chose, as the output (a or b) it picked, not the position."""
    second = "b" if first == "a" else "a"
    if call["vote"] == "abstain":
        return "abstained"
    return {"first": first, "second": second}.get(call["vote"], "tie")


def _next_steps(ledger: Ledger, budget: BudgetState | None, cache_mode: str, verbosity: int) -> list[str]:
    steps = []
    misses = ledger.replay_misses()
    if misses:
        steps.append(
            f"next: {_plural(misses, 'check')} found no recorded verdict (--jury-mode=replay never calls a "
            "judge); record them by running with --jury-mode=record (the default) and the judges' API keys "
            "set, then keep the cache directory between runs."
        )
    if ledger.blocked() and budget is not None:
        steps.append(
            f"next: {_plural(ledger.blocked(), 'check')} got no verdict because the budget ran out; "
            f"{_budget_remedy(ledger, budget, cache_mode)}"
        )
    if ledger.outcomes()["hung"] or any(comparison["hung"] for comparison in ledger.comparisons):
        steps.append(
            "next: hung juries depend on judges that abstained; see each judge's error in the failures above."
        )
    inconclusive = ledger.comparison_outcomes()["inconclusive"]
    if inconclusive:
        steps.append(
            f"next: {_plural(inconclusive, 'comparison')} {'was' if inconclusive == 1 else 'were'} "
            "inconclusive: judges followed the position, not the content; use stronger judges "
            f"({'see the votes above' if verbosity > 0 else 'see the votes with -v'})."
        )
    return steps


def _budget_remedy(ledger: Ledger, budget: BudgetState, cache_mode: str) -> str:
    """What to do about checks the budget stopped: only talk of cached verdicts when there are some."""
    if budget.limit.nano <= 0:
        # A budget of 0 asks no judge in any run: re-running cannot help, whatever the cache holds.
        if cache_mode == "off":
            return (
                "--jury-max-cost=0 allows no judge call, and --jury-mode=off uses no cached verdict: "
                "raise --jury-max-cost."
            )
        return "--jury-max-cost=0 allows only cached verdicts: raise --jury-max-cost to ask the judges."
    if cache_mode == "off":
        return (
            "raise --jury-max-cost (with --jury-mode=off nothing is cached, so a re-run pays for every "
            "check again)."
        )
    if ledger.live_calls() == 0:
        return "raise --jury-max-cost."
    if cache_mode == "refresh":
        return (
            "raise --jury-max-cost, or re-run without --jury-mode=refresh to reuse the verdicts this run "
            "recorded and pay only for the stopped checks."
        )
    return (
        "raise --jury-max-cost, or re-run: the verdicts this run paid for are cached, so the next run "
        "pays only for the stopped checks."
    )


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a later CI step may read it as another user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- Markdown (GitHub step summary) -------------------------------------------------------------


def _cell(text: str, limit: int = 120) -> str:
    """Make untrusted text safe in a Markdown table cell: one line, no pipes, no HTML, no links."""
    safe = printable(text, limit)
    for char, escaped in (
        ("\\", "\\\\"),
        ("|", "\\|"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("`", "\\`"),
        ("[", "\\["),
        ("]", "\\]"),
        ("*", "\\*"),
        ("_", "\\_"),
    ):
        safe = safe.replace(char, escaped)
    return safe


def markdown_summary(ledger: Ledger, budget: BudgetState | None, baselines: BaselineRun | None = None) -> str:
    outcomes = ledger.outcomes()
    live, cached = ledger.live_calls(), ledger.cached_calls()
    saved = ledger.saved()
    spent = format_cost(ledger.spent(), live, cached=saved)
    contested = f" ({ledger.contested()} contested)" if ledger.contested() else ""
    headline = (
        f"**Verdicts:** {outcomes['passed']} passed, {outcomes['failed']} failed, {outcomes['hung']} hung"
        f"{contested} · **judge calls:** {live} live, {cached} cached · **spent:** {spent}"
    )
    if cached and could_save(saved):
        headline += f" · **saved by the cache:** {format_cost(saved, cached)}"
    lines = ["## LLM jury summary", "", headline]
    for gate in ledger.group_gates():
        lines += ["", _cell(group_line(gate, ledger.groups_not_gated))]
    if ledger.comparisons:
        compared = ledger.comparison_outcomes()
        lines += [
            "",
            f"**Comparisons:** {len(ledger.comparisons)} ({compared['a']} won by a, {compared['b']} by b, "
            f"{_plural(compared['tie'], 'tie')}, {compared['hung']} hung, "
            f"{compared['inconclusive']} inconclusive)",
        ]
    if baselines is not None and baselines.active:
        lines += ["", f"**Baselines:** {_cell(_baseline_line(baselines).removeprefix('baselines: '), 300)}"]
    if budget is not None:
        lines.append("")
        lines.append(f"**Budget:** {format_cost(budget.spent)} of {format_cost(budget.limit)} spent")
    if ledger.models:
        lines += [
            "",
            "| judge model | live | cached | tokens in | tokens out | cost |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for name in sorted(ledger.models):
            m = ledger.models[name]
            lines.append(
                f"| {_cell(name)} | {m.live_calls} | {m.cached_calls} | {m.tokens_in:,} | {m.tokens_out:,} "
                f"| {format_cost(m.spent, m.live_calls, cached=m.saved)} |"
            )
    failing = [v for v in ledger.contested_first() if v["outcome"] != "passed" or v.get("contested")]
    if failing:
        lines += ["", "| test | outcome | criteria | first dissent |", "|---|---|---|---|"]
        for verdict in failing[:50]:
            # A hung verdict is explained by its abstentions; a failed one by its fail votes, a
            # contested pass by the fail votes it overruled.
            wanted = "abstain" if verdict["outcome"] == "hung" else "fail"
            dissent = next((v for v in record_votes(verdict) if v["vote"] == wanted), None)
            reason = "" if dissent is None else f"{dissent['model']}: {dissent['error'] or dissent['reason']}"
            outcome = verdict["outcome"] + (", contested" if verdict.get("contested") else "")
            lines.append(
                f"| {_cell(verdict['test_id'] or '')} | {outcome} | {_cell(verdict['criteria'])} "
                f"| {_cell(reason)} |"
            )
    lines += _markdown_attention(ledger, baselines)
    return "\n".join(lines) + "\n\n"


def _markdown_attention(ledger: Ledger, baselines: BaselineRun | None) -> list[str]:
    """The comparisons and baselines that need a look: hung or inconclusive comparisons, baselines
    that regressed, were inconclusive, stale, missing or unused."""
    rows = [
        (comparison["test_id"] or "", "comparison", "hung" if comparison["hung"] else "inconclusive",
         comparison["criteria"])
        for comparison in ledger.comparisons_in_order()
        if comparison["hung"] or comparison.get("inconclusive")
    ]  # fmt: skip
    if baselines is not None:
        rows += [
            (result["key"], f"baseline in {relative_path(result['file'])}", result["status"], "")
            for result in sorted(baselines.results, key=lambda result: (result["file"], result["key"]))
            if result["status"] in ("regressed", "inconclusive", "stale", "missing")
        ]
        rows += [(key, f"baseline in {relative_path(path)}", "unused", "") for path, key in baselines.unused]
    if not rows:
        return []
    lines = ["", "| what | kind | status | criteria |", "|---|---|---|---|"]
    lines += [
        f"| {_cell(what)} | {_cell(kind)} | {status} | {_cell(criteria)} |"
        for what, kind, status, criteria in rows[:50]
    ]
    return lines


# Disagreements between the jury and a human label listed in the summary (all are in the JSON report).
LABEL_DISAGREEMENTS_SHOWN = 10


def _human_label_lines(ledger: Ledger, show: Callable[[str], str]) -> list[str]:
    """How many checks a human label decided, and where the jury disagreed with it."""
    decided = [
        (r["test_id"], r["outcome_by_jury"], r["outcome"], r["decided_by"])
        for r in ledger.verdicts
        if "decided_by" in r
    ] + [
        (r["test_id"], r["winner_by_jury"], r["winner"], r["decided_by"])
        for r in ledger.comparisons
        if "decided_by" in r
    ]
    if not decided:
        return []
    disagreed = [entry for entry in decided if entry[1] != entry[2]]
    lines = [
        f"human labels: {_plural(len(decided), 'check')} decided by a label, "
        f"{len(disagreed)} where the jury disagreed"
    ]
    for test_id, jury, label, where in disagreed[:LABEL_DISAGREEMENTS_SHOWN]:
        lines.append(
            f"  {printable(show(test_id or ''), 120)}: the jury said {jury}, the label at "
            f"{printable(where, 160)} says {label}"
        )
    if len(disagreed) > LABEL_DISAGREEMENTS_SHOWN:
        lines.append(f"  ... and {len(disagreed) - LABEL_DISAGREEMENTS_SHOWN} more (see --jury-export)")
    return lines


# The outcomes a comparison and a baseline can have, in the order JUnit properties list them.
COMPARISON_OUTCOMES = ("a", "b", "tie", "hung", "inconclusive")
BASELINE_STATUSES = ("improved", "held", "regressed", "inconclusive", "recorded", "stale", "missing")


def junit_properties(
    record: dict[str, Any], baseline_results: list[dict[str, Any]] | None = None
) -> list[tuple[str, object]]:
    """The per-test figures that go to JUnit XML as properties: its verdicts, comparisons and
    baselines (`baseline_results`: what its llm_baseline checks found), calls, tokens and cost."""
    from collections import Counter

    from pytest_llmonpy.ledger import Ledger

    ledger = Ledger()
    ledger.add_test("", record)
    test = ledger.tests[""]
    outcomes = test.outcomes
    compared = ledger.comparison_outcomes()
    statuses = Counter(result["status"] for result in baseline_results or [])
    return [
        ("jury_verdicts", f"passed={outcomes['passed']} failed={outcomes['failed']} hung={outcomes['hung']}"),
        ("jury_contested", str(test.contested)),
        ("jury_comparisons", " ".join(f"{outcome}={compared[outcome]}" for outcome in COMPARISON_OUTCOMES)),
        ("jury_baselines", " ".join(f"{status}={statuses[status]}" for status in BASELINE_STATUSES)),
        ("jury_judge_calls", f"live={test.live_calls} cached={test.cached_calls}"),
        ("jury_tokens", f"in={test.tokens_in} out={test.tokens_out}"),
        # Numbers, for tools that read JUnit XML; unpriced calls are counted, not priced at 0.
        ("jury_cost_usd", f"{test.spent.usd:.9f}"),
        ("jury_unpriced_calls", str(test.spent.unpriced)),
    ]


def write_export(ledger: Ledger, path: Path, *, disagreements: bool = False) -> list[str]:
    """--jury-export: the run's verdicts and comparisons as JSON Lines; with `disagreements`
    (--jury-label-disagreements), the split and hung ones as cases to label. What could not be written."""
    from pytest_llmonpy.export import disagreements_text, export_text

    try:
        write_atomically(path, disagreements_text(ledger) if disagreements else export_text(ledger))
    except OSError as exc:
        what = "cases to label" if disagreements else "verdict export"
        return [f"could not write the {what} {path}: {exc}"]
    return []


def write_outputs(
    ledger: Ledger, budget: BudgetState | None, report_path: Path | None, baselines: BaselineRun | None = None
) -> list[str]:
    """Write the JSON report (when asked for) and the GitHub step summary (when GITHUB_STEP_SUMMARY is
    set); return what could not be written, for the terminal summary.

    Not warnings: at session end, under `filterwarnings = error`, a warning would become a traceback.
    """
    problems = []
    if report_path is not None:
        from pytest_llmonpy.report_schema import report_json  # pydantic: only when a report is asked for

        try:
            write_atomically(report_path, report_json(ledger, budget, baselines))
        except OSError as exc:
            problems.append(f"could not write the JSON report {report_path}: {exc}")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary and ledger.used:
        try:
            with open(step_summary, "a", encoding="utf-8") as stream:
                stream.write(markdown_summary(ledger, budget, baselines))
        except OSError as exc:
            problems.append(f"could not append to GITHUB_STEP_SUMMARY ({step_summary}): {exc}")
    return problems


def run_info(settings: JurySettings) -> RunInfo:
    """The run-wide jury as the HTML report's header shows it."""
    import time

    from pytest_llmonpy.html_report import RunInfo

    return RunInfo(
        judges=settings.judges,
        quorum=str(settings.quorum),
        strategy=settings.strategy,
        mode=settings.mode,
        escalation=settings.escalation,
        samples=settings.samples,
        generated_at=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    )


def write_html(
    ledger: Ledger, budget: BudgetState | None, baselines: BaselineRun | None, run: RunInfo, path: Path
) -> list[str]:
    """--jury-html: the run as one self-contained page (mode 0644). What could not be written."""
    from pytest_llmonpy.html_report import html_report

    try:
        write_atomically(path, html_report(ledger, budget, baselines, run))
    except OSError as exc:
        return [f"could not write the HTML report {path}: {exc}"]
    return []
