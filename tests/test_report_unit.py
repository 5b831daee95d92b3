"""Unit tests of the pure reporting pieces: the ledger's merge and the Markdown/terminal formatting."""

from __future__ import annotations

from dataclasses import replace

from pytest_llmonpy.budget import BudgetState
from pytest_llmonpy.ledger import Ledger, verdict_record
from pytest_llmonpy.money import Cost, format_cost
from pytest_llmonpy.report import markdown_summary, summary_lines
from pytest_llmonpy.report_schema import json_schema
from pytest_llmonpy.verdict import Verdict, Vote


def record(*verdicts: Verdict) -> dict[str, object]:
    return {"verdicts": [verdict_record(v) for v in verdicts], "blocked": 0}


PASS = Vote("m1", "pass", "ok", 100, 10, 0.001, 0.5)
FAIL = Vote("m2", "fail", "no", 100, 10, None, 0.5)
BROKEN = Vote("m3", "abstain", error="HTTP 503", attempts=5, cost_usd=0.0)


def test_money_labels() -> None:
    assert format_cost(Cost.of_usd(0.0012), 3) == "$0.001200"
    assert format_cost(Cost(0, 3), 3) == "unpriced"
    assert format_cost(Cost.of_usd(0.5) + Cost(unpriced=1), 3) == "$0.500000 + 1 unpriced call"
    assert format_cost(Cost(), 3, tokens=500) == "free"  # a zero-priced (local) model that did work
    assert format_cost(Cost(), 3, tokens=0) == "$0.000000"  # calls that never got an answer
    assert format_cost(Cost.of_usd(12.5), 1) == "$12.50"


def test_ledger_merges_records_in_any_order_to_the_same_totals() -> None:
    first = record(Verdict("c1", "passed", (PASS, FAIL, BROKEN), "majority", 2, test_id="t1"))
    second = record(Verdict("c2", "failed", (replace(PASS, cached=True), FAIL), "majority", 2, test_id="t2"))
    one, other = Ledger(), Ledger()
    one.add_test("t1", first)
    one.add_test("t2", second)
    other.add_test("t2", second)
    other.add_test("t1", first)
    for ledger in (one, other):
        assert ledger.live_calls() == 4
        assert ledger.cached_calls() == 1
        assert ledger.spent() == Cost.of_usd(0.001) + Cost(unpriced=2)
        assert ledger.saved() == Cost.of_usd(0.001)
        assert ledger.models["m3"].attempts == 5
        assert ledger.models["m3"].abstained == 1
    assert summary_lines(one, None, 1)[1:] == summary_lines(other, None, 1)[1:]


def test_markdown_explains_a_hung_verdict_by_its_abstention() -> None:
    ledger = Ledger()
    ledger.add_test("t", record(Verdict("c", "hung", (FAIL, BROKEN, PASS), "unanimous", 3, test_id="t")))
    text = markdown_summary(ledger, None)
    assert "| t | hung, contested | c | m3: HTTP 503 |" in text  # a pass and a fail: contested too
    assert "| m3 | 1 | 0 | 0 | 0 | $0.000000 |" in text


def test_a_free_run_lists_no_costliest_tests_but_verbose_still_lists_each_test() -> None:
    free = Vote("local/m", "pass", "ok", 120, 30, 0.0, 2.5)
    ledger = Ledger()
    ledger.add_test("t", record(Verdict("c", "passed", (free,), "majority", 1, test_id="t")))
    lines = summary_lines(ledger, None, 0)
    assert "total spent: free" in lines
    assert not any(line.startswith("costliest tests") for line in lines)
    assert any("local/m" in line and line.endswith("free") for line in lines)
    assert "cost per test:" in summary_lines(ledger, None, 1)


def test_a_free_judge_reads_free_from_the_cache_too_and_saves_nothing() -> None:
    cached = Vote("local/m", "pass", "ok", 120, 30, 0.0, 2.5, cached=True)
    ledger = Ledger()
    ledger.add_test("t", record(Verdict("c", "passed", (cached,), "majority", 1, test_id="t")))
    lines = summary_lines(ledger, None, 1, display_id=lambda test_id: f"shown-{test_id}")
    assert "total spent: free" in lines
    assert any("local/m" in line and line.endswith("free") for line in lines)
    assert not any(line.startswith("saved by the cache") for line in lines)
    assert "          free  shown-t  (0 live, 1 cached)" in lines
    assert "  PASSED  shown-t: c" in lines
    assert "saved by the cache" not in markdown_summary(ledger, None)


def test_budget_hints_fit_the_cache_mode() -> None:
    ledger = Ledger()
    ledger.add_test("t", {"blocked": 1})
    zero, spent = BudgetState(Cost(), Cost()), BudgetState(Cost.of_usd(0.01), Cost.of_usd(0.02))
    assert "re-run" not in summary_lines(ledger, zero, 0, cache_mode="off")[-1]
    assert "allows only cached verdicts" in summary_lines(ledger, zero, 0, cache_mode="record")[-1]
    assert "nothing is cached" in summary_lines(ledger, spent, 0, cache_mode="off")[-1]
    paid = Vote("openai/gpt-4o-mini", "pass", "ok", 120, 30, 0.02, 2.5)
    ledger.add_test("u", record(Verdict("c", "passed", (paid,), "majority", 1, test_id="u")))
    assert "re-run: the verdicts this run paid for are cached" in summary_lines(ledger, spent, 0)[-1]
    assert "without --jury-mode=refresh" in summary_lines(ledger, spent, 0, cache_mode="refresh")[-1]


def test_the_published_json_schema_requires_the_fields_a_report_always_has() -> None:
    schema = json_schema()
    assert schema["title"] == "JuryReport"
    assert set(schema["required"]) == {"generated_at", "totals", "budget", "models", "tests", "verdicts"}
    assert schema["properties"]["schema_version"] == {
        "const": 1,
        "default": 1,
        "title": "Schema Version",
        "type": "integer",
    }


def test_a_verdict_is_contested_when_its_judges_split_whatever_the_outcome() -> None:
    second_pass = replace(PASS, model="m4")
    assert Verdict("c", "failed", (PASS, FAIL, replace(FAIL, model="m5")), "majority", 2).contested
    assert Verdict("c", "passed", (PASS, second_pass, FAIL), "majority", 2).contested
    assert not Verdict("c", "passed", (PASS, second_pass), "unanimous", 2).contested
    assert not Verdict("c", "hung", (FAIL, BROKEN), "unanimous", 2).contested  # an outage, not a split
    not_needed = Vote("m4", "not_needed")
    assert not Verdict("c", "passed", (PASS, replace(PASS, model="m5"), not_needed), "2", 2).contested
    # A split the escalation jury settled is still a split.
    escalated = Verdict("c", "passed", (PASS, FAIL), "majority", 2, escalation=(PASS,), escalated="split")
    assert escalated.contested


def test_contested_verdicts_are_counted_listed_first_and_shown_without_v() -> None:
    ledger = Ledger()
    ledger.add_test("a_clear", record(Verdict("clear", "passed", (PASS,), "majority", 1, test_id="a_clear")))
    split = Verdict(
        "split", "failed", (PASS, FAIL, replace(FAIL, model="m5")), "majority", 2, test_id="b_split"
    )
    ledger.add_test("b_split", record(split))
    assert ledger.contested() == 1
    assert ledger.tests["b_split"].contested == 1
    assert ledger.tests["a_clear"].contested == 0

    quiet = summary_lines(ledger, None, 0)
    assert quiet[:2] == [
        "verdicts: 1 passed, 1 failed, 0 hung in 2 tests; 1 contested (the judges split)",
        "  contested failed: b_split: split - 1 pass (m1), 2 fail (m2, m5)",
    ]
    verbose = summary_lines(ledger, None, 1)
    details = verbose[verbose.index("verdicts in detail (contested first):") :]
    assert details[1].startswith("  FAILED (CONTESTED)  b_split: split")
    assert [line.split()[0] for line in details if line.startswith("  ") and not line.startswith("   ")] == [
        "FAILED",
        "PASSED",
    ]
    assert not [line for line in verbose if line.startswith("  contested ")]  # -v lists them in detail


def test_more_contested_verdicts_than_the_summary_shows_point_at_v() -> None:
    ledger = Ledger()
    for n in range(7):
        ledger.add_test(
            f"t{n}", record(Verdict("c", "passed", (PASS, FAIL, PASS), "majority", 2, test_id=f"t{n}"))
        )
    lines = summary_lines(ledger, None, 0)
    assert sum(line.startswith("  contested passed: t") for line in lines) == 5
    assert "  ... and 2 more (run -v to list them)" in lines
