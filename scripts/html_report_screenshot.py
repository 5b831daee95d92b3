"""Regenerate docs/images/html-report.png: the HTML report of a small example run, in headless Chromium.

    python scripts/html_report_screenshot.py

It needs Chromium (scripts/install_chromium.sh) and the dev extra (Playwright).

The run's data is written here (the report is a pure function of it), so the picture does not depend
on any model; the numbers are what three priced judges would cost for these checks.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pytest_llmonpy.baselines import BaselineRun
from pytest_llmonpy.budget import BudgetState
from pytest_llmonpy.html_report import RunInfo, html_report
from pytest_llmonpy.ledger import Ledger, comparison_record, verdict_record
from pytest_llmonpy.money import Cost
from pytest_llmonpy.prompts import PairCase
from pytest_llmonpy.verdict import Comparison, PairVote, Verdict, Vote

JUDGES = ("openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "gemini/gemini-2.0-flash")
PRICES = {JUDGES[0]: 0.00004, JUDGES[1]: 0.00021, JUDGES[2]: 0.00003}
OUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "html-report.png"


def vote(model: str, value: str, reason: str, *, cached: bool = False) -> Vote:
    return Vote(model, value, reason, 240, 18, PRICES[model], 0.8, cached=cached)  # type: ignore[arg-type]


def example_ledger() -> tuple[Ledger, BaselineRun]:
    ledger = Ledger()
    refund = Verdict(
        "Says refunds are only possible within 30 days, politely",
        "passed",
        tuple(vote(m, "pass", "States the 30-day limit and stays polite.", cached=True) for m in JUDGES),
        "majority",
        2,
        test_id="tests/test_support.py::test_refund_policy",
    )
    shipping = Verdict(
        "States that shipping is free for orders over 50 euros",
        "failed",
        (
            vote(JUDGES[0], "fail", "Says free shipping starts at 40 euros."),
            vote(JUDGES[1], "fail", "The threshold given is wrong (40, not 50)."),
            vote(JUDGES[2], "pass", "Mentions free shipping."),
        ),
        "majority",
        2,
        test_id="tests/test_support.py::test_shipping_costs",
    )
    tone = Verdict(
        "Is polite and does not blame the customer",
        "passed",
        (
            vote(JUDGES[0], "pass", "Polite throughout."),
            vote(JUDGES[1], "fail", "'You should have read the policy' blames the customer."),
            vote(JUDGES[2], "pass", "Friendly and helpful."),
        ),
        "majority",
        2,
        test_id="tests/test_support.py::test_tone",
    )
    pair = PairCase(
        "Refunds are possible within 30 days of delivery.\nAfter that, we offer store credit.",
        "Refunds are possible within 30 days.\nAfter that, contact support.",
        "Answers the refund question completely",
    )
    agreed = [
        PairVote(model, (vote(model, "first", "More complete."), vote(model, "second", "More complete.")))
        for model in JUDGES[:2]
    ]
    followed = PairVote(
        JUDGES[2], (vote(JUDGES[2], "first", "Clearer."), vote(JUDGES[2], "first", "Clearer."))
    )
    comparison = Comparison(
        pair.criteria,
        "a",
        (*agreed, followed),
        "majority",
        2,
        test_id="tests/test_support.py::test_refund_answer_baseline",
        pair=pair,
    )
    ledger.add_test(refund.test_id or "", {"verdicts": [verdict_record(refund)]})
    ledger.add_test(shipping.test_id or "", {"verdicts": [verdict_record(shipping)]})
    ledger.add_test(tone.test_id or "", {"verdicts": [verdict_record(tone)]})
    ledger.add_test(comparison.test_id or "", {"comparisons": [comparison_record(comparison, texts=True)]})
    baselines = BaselineRun(update=False)
    baselines.results.append(
        {
            "file": "tests/__llm_baselines__/test_support.json",
            "key": "test_refund_answer_baseline",
            "status": "improved",
            "comparison": comparison_record(comparison, texts=True),
        }
    )
    return ledger, baselines


def main() -> None:
    from playwright.sync_api import sync_playwright

    ledger, baselines = example_ledger()
    run = RunInfo(JUDGES, "majority", "parallel", "record", generated_at="2026-12-03 23:00:00 UTC")
    page = html_report(ledger, BudgetState(Cost.of_usd(1.0), ledger.spent()), baselines, run)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        path = Path(scratch, "report.html")
        path.write_text(page, encoding="utf-8")
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        tab = browser.new_page(java_script_enabled=False, viewport={"width": 1100, "height": 1500})
        tab.goto(path.as_uri())
        OUT.parent.mkdir(exist_ok=True)
        tab.screenshot(path=str(OUT), full_page=True)
        browser.close()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
