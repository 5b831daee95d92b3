"""The `--jury-html` report: one self-contained HTML page built from the run's data. No pytest, no I/O.

Everything on the page is built here as text: inline CSS, inline SVG charts, no script, no link, no
image or font from anywhere. Every text that came from a model, a provider, a test or a user goes
through `_text` (control and bidi characters made visible, secrets redacted, HTML-escaped, quotes
included, so it is safe in an attribute too), and the page's Content-Security-Policy forbids scripts
and every load from anywhere: a report opened from a CI artifact cannot run or fetch anything.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_llmonpy.ledger import Ledger, ModelTotals, record_votes, vote_detail
from pytest_llmonpy.messages import budget_remedy
from pytest_llmonpy.money import Cost, format_cost
from pytest_llmonpy.untrusted import printable

if TYPE_CHECKING:
    from pytest_llmonpy.baselines import BaselineRun
    from pytest_llmonpy.budget import BudgetState

# Cut-offs that keep the page readable and its size bounded; the JSON report has everything.
REASON_SHOWN = 600
TEXT_SHOWN = 4000
DIFF_LINES_SHOWN = 200
DIFF_INPUT_LINES = 2000
COSTLIEST_SHOWN = 10
CHART_WIDTH = 420

_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;
background:#fff}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}.card{border:1px solid #d0d7de;border-radius:6px;
padding:8px 12px;min-width:140px}.card b{display:block;font-size:20px}
.v{font-weight:600;text-align:center;white-space:nowrap}.pass{background:#dafbe1}.fail{background:#ffebe9}
.abstain{background:#fff8c5}.not_needed{background:#f6f8fa;color:#656d76}.cached{font-style:italic}
.badge{border-radius:4px;padding:1px 6px;font-weight:600}.passed,.held,.improved,.recorded{background:#dafbe1}
.failed,.regressed{background:#ffebe9}.hung,.inconclusive,.stale,.missing,.unused{background:#fff8c5}
.contested{background:#fbefff}pre{background:#f6f8fa;padding:8px;overflow:auto;white-space:pre-wrap}
.add{background:#dafbe1}.del{background:#ffebe9}.note{color:#656d76}.problem{border-left:4px solid #cf222e;
padding:4px 12px;background:#fff5f5}details>summary{cursor:pointer}
"""


@dataclass(frozen=True)
class RunInfo:
    """The run-wide jury, for the page's header."""

    judges: tuple[str, ...]
    quorum: str
    strategy: str
    mode: str
    escalation: tuple[str, ...] = ()
    samples: int = 1
    generated_at: str = ""


def _text(value: object, limit: int | None = 300) -> str:
    """Untrusted text as safe HTML (element content or a quoted attribute), on one line."""
    return html.escape(printable(str(value), limit), quote=True)


def _block(value: object, limit: int = TEXT_SHOWN) -> str:
    """Untrusted multi-line text as safe HTML for a <pre>."""
    return html.escape(printable(str(value), limit, one_line=False), quote=True)


def html_report(
    ledger: Ledger, budget: BudgetState | None, baselines: BaselineRun | None, run: RunInfo
) -> str:
    """The whole page."""
    sections = [
        _header(ledger, budget, run),
        _problems(ledger, budget, run.mode),
        _costs(ledger),
        _matrix(ledger),
        _comparisons(ledger),
        _baselines(baselines),
    ]
    body = "\n".join(section for section in sections if section)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>LLM jury report</title>"
        f"<style>{_CSS}</style></head>\n<body><main>\n{body}\n</main></body></html>\n"
    )


def _cost(cost: Cost, calls: int = 0) -> str:
    return html.escape(format_cost(cost, calls))


def _header(ledger: Ledger, budget: BudgetState | None, run: RunInfo) -> str:
    outcomes = ledger.outcomes()
    live, cached = ledger.live_calls(), ledger.cached_calls()
    not_needed, estimate = ledger.not_needed()
    rows = [
        ("judges", ", ".join(run.judges) or "(none)"),
        ("quorum", run.quorum),
        ("strategy", run.strategy),
        ("mode", run.mode),
    ]
    if run.escalation:
        rows.append(("escalation", ", ".join(run.escalation)))
    if run.samples > 1:
        rows.append(("answers per judge (--jury-samples)", str(run.samples)))
    cards = [
        ("verdicts passed", str(outcomes["passed"])),
        ("failed", str(outcomes["failed"])),
        ("hung", str(outcomes["hung"])),
        ("contested", str(ledger.contested())),
        ("judge calls", f"{live} live, {cached} cached"),
        ("spent", format_cost(ledger.spent(), live)),
        ("saved by the cache", format_cost(ledger.saved(), cached)),
    ]
    if ledger.comparisons:
        cards.append(("comparisons", str(len(ledger.comparisons))))
    if not_needed:
        cards.append(("saved by frugal judging", f"about {format_cost(estimate, not_needed)}"))
    if ledger.escalations():
        cards.append(("escalated", str(ledger.escalations())))
    if budget is not None:
        state = "EXHAUSTED" if budget.exhausted else "ok"
        cards.append(("budget", f"{format_cost(budget.spent)} of {format_cost(budget.limit)}, {state}"))
    return (
        "<header><h1>LLM jury report</h1>"
        f'<div class="note">generated {_text(run.generated_at)}</div></header>'
        '<section id="run"><h2>The run</h2><table>'
        + "".join(f"<tr><th>{_text(name)}</th><td>{_text(value)}</td></tr>" for name, value in rows)
        + '</table><div class="cards">'
        + "".join(f'<div class="card">{_text(name)}<b>{_text(value)}</b></div>' for name, value in cards)
        + "</div></section>"
    )


def _problems(ledger: Ledger, budget: BudgetState | None, mode: str) -> str:
    items = []
    if ledger.replay_misses():
        items.append(
            f"{ledger.replay_misses()} check(s) found no recorded verdict in replay mode: record them by "
            "running with --jury-mode=record (the default) and the judges' API keys set, then keep the "
            "cache directory between runs."
        )
    if ledger.blocked():
        remedy = budget_remedy(budget.limit, mode) if budget is not None else "Raise --jury-max-cost."
        items.append(f"{ledger.blocked()} check(s) stopped by the budget: no judge was called. {remedy}")
    if not items:
        return ""
    return (
        '<section id="problems"><h2>What stopped checks</h2>'
        + "".join(f'<p class="problem">{_text(item, None)}</p>' for item in items)
        + "</section>"
    )


def _bars(rows: Sequence[tuple[str, float, str]], title: str) -> str:
    """A horizontal bar chart as inline SVG: (label, value, value as text) per bar."""
    top = max((value for _, value, _ in rows), default=0.0) or 1.0
    height = 24 * len(rows) + 8
    label_width = 260
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_width + CHART_WIDTH + 160}" '
        f'height="{height}"><title>{_text(title)}</title>'
    ]
    for index, (label, value, shown) in enumerate(rows):
        y = 4 + 24 * index
        width = max(1.0, CHART_WIDTH * value / top) if value > 0 else 0.0
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" font-size="12">'
            f"{_text(label, 40)}</text>"
            f'<rect x="{label_width}" y="{y}" width="{width:.1f}" height="18" fill="#54aeff"></rect>'
            f'<text x="{label_width + width + 6:.1f}" y="{y + 15}" font-size="12">{_text(shown, 60)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _costs(ledger: Ledger) -> str:
    if not ledger.models:
        return ""
    models: list[tuple[str, ModelTotals]] = sorted(ledger.models.items())
    cost_rows = [(name, m.spent.usd, format_cost(m.spent, m.live_calls)) for name, m in models]
    call_rows = [
        (name, float(m.live_calls + m.cached_calls), f"{m.live_calls} live, {m.cached_calls} cached")
        for name, m in models
    ]
    table = "".join(
        f'<tr><td>{_text(name)}</td><td class="n">{m.live_calls}</td><td class="n">{m.cached_calls}</td>'
        f'<td class="n">{m.tokens_in:,}</td><td class="n">{m.tokens_out:,}</td>'
        f'<td class="n">{_cost(m.spent, m.live_calls)}</td><td class="n">{m.abstained}</td></tr>'
        for name, m in models
    )
    costliest = ledger.costliest_tests(COSTLIEST_SHOWN)
    tests = "".join(
        f'<tr><td>{_text(test.test_id, 200)}</td><td class="n">{_cost(test.spent, test.live_calls)}</td>'
        f'<td class="n">{test.live_calls}</td><td class="n">{test.cached_calls}</td></tr>'
        for test in costliest
    )
    return (
        '<section id="costs"><h2>Where the money went</h2>'
        f"<h3>Cost per judge model</h3>{_bars(cost_rows, 'cost per judge model, in USD')}"
        f"<h3>Calls per judge model</h3>{_bars(call_rows, 'judge calls per model')}"
        "<table><tr><th>judge model</th><th>live</th><th>cached</th><th>tokens in</th><th>tokens out</th>"
        f"<th>cost</th><th>abstained</th></tr>{table}</table>"
        + (
            "<h3>Costliest tests</h3><table><tr><th>test</th><th>cost</th><th>live</th><th>cached</th></tr>"
            f"{tests}</table>"
            if tests
            else ""
        )
        + "</section>"
    )


def _rank(verdict: dict[str, Any]) -> int:
    """Hung first, then contested, then escalated, then the rest."""
    if verdict["outcome"] == "hung":
        return 0
    if verdict.get("contested"):
        return 1
    return 2 if verdict.get("escalated") else 3


def _judges(verdicts: Iterable[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for verdict in verdicts:
        for vote in record_votes(verdict):
            seen.setdefault(vote["model"], None)
    return list(seen)


def _cell(vote: dict[str, Any] | None) -> str:
    if vote is None:
        return '<td class="note">-</td>'
    value = vote["vote"]
    said = {"not_needed": "not needed", "abstain": "abstain"}.get(value, value)
    if vote.get("score") is not None:
        said += f" {vote['score']:g}"
    if vote.get("samples"):
        said += f" ({len(vote['samples'])}x)"
    detail = vote_detail(vote)
    if value == "not_needed":
        detail = "not asked: the outcome was already settled"
    source = "estimated" if vote.get("estimated") else "cached" if vote.get("cached") else "live"
    classes = f"v {_text(value, 20)}" + (" cached" if vote.get("cached") else "")
    return f'<td class="{classes}" title="{_text(f"{source}: {detail}", REASON_SHOWN)}">{_text(said)}</td>'


def _matrix(ledger: Ledger) -> str:
    verdicts = sorted(ledger.verdicts_in_order(), key=_rank)  # stable: each group keeps the run's order
    if not verdicts:
        return ""
    judges = _judges(verdicts)
    head = "".join(f"<th>{_text(judge, 60)}</th>" for judge in judges)
    rows = []
    for verdict in verdicts:
        votes = {vote["model"]: vote for vote in record_votes(verdict)}
        outcome = verdict["outcome"]
        badges = f'<span class="badge {_text(outcome, 20)}">{_text(outcome)}</span>'
        if verdict.get("contested"):
            badges += ' <span class="badge contested">contested</span>'
        if verdict.get("escalated"):
            badges += f' <span class="badge inconclusive">escalated ({_text(verdict["escalated"])})</span>'
        score = verdict.get("score")
        if score and score.get("median") is not None:
            low, high = score["scale"]
            badges += (
                f' <span class="note">median {score["median"]:g} on {low}-{high}, '
                f"needs {score['threshold']:g}</span>"
            )
        reasons = "".join(
            f"<li><b>{_text(vote['model'], 80)}</b>: {_text(vote['vote'])} - "
            f"{_text(vote_detail(vote), REASON_SHOWN)}</li>"
            for vote in record_votes(verdict)
            if vote["vote"] != "not_needed"
        )
        rows.append(
            f"<tr><td>{badges}<div>{_text(verdict.get('test_id') or '', 200)}</div>"
            f"<details><summary>{_text(verdict['criteria'], 160)}</summary><ul>{reasons}</ul></details></td>"
            + "".join(_cell(votes.get(judge)) for judge in judges)
            + "</tr>"
        )
    return (
        '<section id="verdicts"><h2>Verdicts by judge</h2>'
        '<p class="note">Hung, contested and escalated verdicts first. Hover a vote for its reason, or '
        "open a verdict's criteria for every reason. Italic: from the cache.</p>"
        f"<table><tr><th>verdict</th>{head}</tr>{''.join(rows)}</table></section>"
    )


def _call(call: dict[str, Any], first: str, second: str) -> str:
    if call["vote"] == "abstain":
        return f"abstained: {_text(call.get('error') or '', REASON_SHOWN)}"
    picked = {"first": first, "second": second}.get(call["vote"], "tie")
    return f"<b>{picked}</b> - {_text(call.get('reason') or '', REASON_SHOWN)}"


def _comparison_table(comparison: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td>{_text(vote["model"], 80)}</td><td class="v">{_text(vote["vote"])}</td>'
        f"<td>{_call(vote['calls'][0], 'a', 'b')}</td><td>{_call(vote['calls'][1], 'b', 'a')}</td></tr>"
        for vote in comparison["votes"]
    )
    return (
        "<table><tr><th>judge</th><th>vote</th><th>a shown first</th><th>b shown first</th></tr>"
        f"{rows}</table>"
    )


def _comparison_status(comparison: dict[str, Any]) -> str:
    if comparison["hung"]:
        return "hung"
    if comparison.get("inconclusive"):
        return "inconclusive"
    return "tie" if comparison["winner"] == "tie" else f"won by {comparison['winner']}"


def _comparisons(ledger: Ledger) -> str:
    comparisons = ledger.comparisons_in_order()
    if not comparisons:
        return ""
    items = "".join(
        f'<article><h3><span class="badge {"hung" if c["hung"] or c.get("inconclusive") else "held"}">'
        f"{_text(_comparison_status(c))}</span> {_text(c.get('test_id') or '', 200)}</h3>"
        f"<p>{_text(c['criteria'], 300)}</p>{_comparison_table(c)}</article>"
        for c in comparisons
    )
    return f'<section id="comparisons"><h2>Comparisons</h2>{items}</section>'


def _diff(accepted: str, new: str) -> str:
    # Cut before diffing: difflib is quadratic, and the page shows DIFF_LINES_SHOWN lines at most.
    old, fresh = accepted.splitlines()[:DIFF_INPUT_LINES], new.splitlines()[:DIFF_INPUT_LINES]
    lines = list(difflib.unified_diff(old, fresh, "accepted", "new", lineterm="", n=2))
    if not lines:
        return '<p class="note">the same text</p>'
    shown = []
    for line in lines[:DIFF_LINES_SHOWN]:
        kind = "add" if line.startswith("+") and not line.startswith("+++") else ""
        kind = kind or ("del" if line.startswith("-") and not line.startswith("---") else "")
        escaped = _block(line, 2000)
        shown.append(f'<span class="{kind}">{escaped}</span>' if kind else escaped)
    more = len(lines) - DIFF_LINES_SHOWN
    tail = f"\n... {more} more lines" if more > 0 else ""
    return "<pre>" + "\n".join(shown) + tail + "</pre>"


def _baselines(baselines: BaselineRun | None) -> str:
    if baselines is None or not baselines.active:
        return ""
    items = []
    for result in baselines.results:
        comparison = result.get("comparison")
        texts = (comparison or {}).get("texts") or {}
        detail = ""
        if "a" in texts and "b" in texts:
            detail = _diff(str(texts["b"]), str(texts["a"]))
        elif comparison is None:
            detail = '<p class="note">no judge was asked</p>'
        if comparison is not None:
            detail += _comparison_table(comparison)
        items.append(
            f'<article><h3><span class="badge {html.escape(result["status"])}">{_text(result["status"])}'
            f"</span> {_text(result['file'], 200)} {_text(result['key'], 200)}</h3>{detail}</article>"
        )
    items += [
        f'<article><h3><span class="badge unused">unused</span> {_text(path, 200)} {_text(key, 200)}</h3>'
        '<p class="note">no test uses it; --jury-baseline-update removes it</p></article>'
        for path, key in baselines.unused
    ]
    return f'<section id="baselines"><h2>Baselines</h2>{"".join(items)}</section>'
