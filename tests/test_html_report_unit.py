"""The HTML report as a pure function of the run's data: what it shows, in which order, and that no
untrusted text becomes markup (the browser test opens a real run's page in Chromium)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from conftest import RunJury
from pytest_llmonpy.baselines import BaselineRun
from pytest_llmonpy.budget import BudgetState
from pytest_llmonpy.html_report import RunInfo, html_report
from pytest_llmonpy.ledger import Ledger, comparison_record, verdict_record
from pytest_llmonpy.money import Cost
from pytest_llmonpy.prompts import PairCase
from pytest_llmonpy.verdict import Comparison, PairVote, Verdict, Vote

RUN = RunInfo(judges=("judge-a", "judge-b"), quorum="majority", strategy="parallel", mode="record")
HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)> " onmouseover=alert(3) x=" \u202e \x1b[31m'


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs


def _markup(page: str) -> _Markup:
    parsed = _Markup()
    parsed.feed(page)
    return parsed


def _vote(model: str, vote: str, reason: str = "ok", **extra: Any) -> Vote:
    fields: dict[str, Any] = {"tokens_in": 100, "tokens_out": 10, "cost_usd": 0.001, "latency_s": 1.0}
    return Vote(model, vote, reason, **{**fields, **extra})  # type: ignore[arg-type]


def _ledger(*verdicts: Verdict, comparisons: tuple[Comparison, ...] = (), **record: Any) -> Ledger:
    ledger = Ledger()
    ledger.add_test(
        "t.py::test",
        {
            "verdicts": [verdict_record(verdict) for verdict in verdicts],
            "comparisons": [comparison_record(comparison) for comparison in comparisons],
            **record,
        },
    )
    return ledger


def test_untrusted_text_never_becomes_markup() -> None:
    verdict = Verdict(
        HOSTILE, "failed", (_vote("judge-a", "fail", HOSTILE), _vote(HOSTILE, "abstain", error=HOSTILE)),
        "majority", 2, test_id=HOSTILE,
    )  # fmt: skip
    run = RunInfo(judges=(HOSTILE,), quorum=HOSTILE, strategy="parallel", mode="record", generated_at=HOSTILE)
    page = html_report(_ledger(verdict), None, None, run)
    markup = _markup(page)
    assert {"script", "img", "a", "iframe", "object", "embed", "form"}.isdisjoint(markup.tags)
    names = [name for name, _ in markup.attributes]
    assert not [name for name in names if name.startswith("on") or name in ("href", "src")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\u202e" not in page
    assert "\x1b" not in page
    assert "\\u202e" in page


def test_the_page_forbids_scripts_and_loads_nothing() -> None:
    page = html_report(Ledger(), None, None, RUN)
    assert "default-src 'none'" in page  # its Content-Security-Policy
    assert "http" not in page.replace("http-equiv", "").replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_hung_then_contested_then_escalated_verdicts_come_first() -> None:
    plain = Verdict("plain", "passed", (_vote("judge-a", "pass"),), "majority", 1)
    contested = Verdict(
        "contested", "passed", (_vote("judge-a", "pass"), _vote("judge-b", "fail")), "majority", 1
    )
    hung = Verdict("hung", "hung", (_vote("judge-a", "abstain", error="timeout"),), "majority", 1)
    escalated = Verdict(
        "escalated", "passed", (_vote("judge-a", "pass"),), "majority", 1,
        escalation=(_vote("judge-c", "pass"),), escalated="split",
    )  # fmt: skip
    page = html_report(_ledger(plain, escalated, contested, hung), None, None, RUN)
    order = [page.index(f"<summary>{name}</summary>") for name in ("hung", "contested", "escalated", "plain")]
    assert order == sorted(order)
    assert 'title="live: timeout"' in page  # an abstention's error on hover
    assert ">judge-c</th>" in page  # the escalation judge has its column


def test_the_costs_chart_and_the_costliest_tests() -> None:
    verdict = Verdict(
        "c", "passed", (_vote("judge-a", "pass"), _vote("judge-b", "pass", cost_usd=None)), "majority", 1
    )
    page = html_report(_ledger(verdict), None, None, RUN)
    assert "<svg" in page
    assert "Cost per judge model" in page
    assert "$0.001" in page
    assert "unpriced" in page
    assert "Costliest tests" in page
    assert "t.py::test" in page


def test_stopped_checks_say_what_to_do() -> None:
    state = BudgetState(limit=Cost.of_usd(0.5), spent=Cost.of_usd(0.6))
    page = html_report(_ledger(blocked=2, replay_misses=1), state, None, RUN)
    assert "1 check(s) found no recorded verdict in replay mode: record them" in page
    assert "2 check(s) stopped by the budget: no judge was called. Raise the budget, or re-run" in page
    assert "EXHAUSTED" in page


def test_a_baseline_shows_its_diff_status_and_both_orders() -> None:
    pair = PairCase("New line\nsame", "Old line\nsame", "Is helpful")
    calls = (_vote("judge-a", "first", "a is better"), _vote("judge-a", "second", "a again"))
    comparison = Comparison("Is helpful", "a", (PairVote("judge-a", calls),), "majority", 1, pair=pair)
    baselines = BaselineRun(update=False)
    baselines.results.append(
        {"file": "__llm_baselines__/t.json", "key": "test", "status": "improved",
         "comparison": comparison_record(comparison, texts=True)}
    )  # fmt: skip
    baselines.unused.append(("__llm_baselines__/t.json", "gone"))
    page = html_report(_ledger(comparisons=(comparison,)), None, baselines, RUN)
    assert '<span class="del">-Old line</span>' in page
    assert '<span class="add">+New line</span>' in page
    assert "improved" in page
    assert "unused" in page
    assert "gone" in page
    assert "<b>a</b> - a is better" in page
    assert "<b>a</b> - a again" in page


def test_an_html_path_that_is_a_directory_is_a_usage_error(
    pytester: pytest.Pytester, run_inprocess: RunJury
) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    (pytester.path / "out").mkdir()
    result = run_inprocess(f"--jury-html={pytester.path / 'out'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: pytest-llmonpy: jury_html: * is a directory; give a file path*"])


def test_a_run_that_judged_nothing_still_writes_a_page(
    pytester: pytest.Pytester, run_inprocess: RunJury
) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    run_inprocess("--jury-html=report.html").assert_outcomes(passed=1)
    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert "<h1>LLM jury report</h1>" in page
    assert "Verdicts by judge" not in page  # nothing to show
