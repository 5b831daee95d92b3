"""End-to-end: cost accounting, the `llm jury summary`, JSON report, JUnit XML, step summary, budget.

Judges named after priced models (`openai/gpt-4o-mini`, `openai/gpt-4o`) are routed to the loopback
server through --jury-api-base; it answers with fixed usage counts, so every figure is exact.
Every test runs serially and with `-n 2` and expects the same numbers.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from conftest import FAKE_API_KEY, RunJury
from fake_judges import FakeJudges
from fake_llm_server import FakeLLMServer
from pytest_llmonpy.report_schema import JuryReport

MINI, FOUR_O, UNPRICED = "openai/gpt-4o-mini", "openai/gpt-4o", "judge-x"
JUDGES = f"--jury-judges={MINI},{FOUR_O},{UNPRICED}"
# Per call with 1,000 prompt and 100 completion tokens, at litellm's list prices.
MINI_COST = 1000 * 0.15e-6 + 100 * 0.6e-6  # $0.00021
FOUR_O_COST = 1000 * 2.5e-6 + 100 * 10e-6  # $0.0035

SUITE = """
import pytest

@pytest.mark.parametrize("n", range(4))
def test_answer(jury, n):
    jury.check(f"answer {n}", "Is a numbered answer")
"""


@pytest.fixture
def fake_judges(llm_server: FakeLLMServer) -> FakeJudges:
    """In-process runs price the two priced judges at the same list prices litellm uses."""
    return FakeJudges(llm_server, prices={MINI: (0.15e-6, 0.6e-6), FOUR_O: (2.5e-6, 10e-6)})


@pytest.fixture
def priced_server(llm_server: FakeLLMServer) -> FakeLLMServer:
    llm_server.judge("pass", "fine", usage=(1000, 100))
    llm_server.judge("fail", 'says "3" | not\nfour <b>bold</b>', model="judge-x", usage=(1000, 100))
    return llm_server


@pytest.mark.xdist_merge
def test_summary_shows_exact_costs_per_model_and_the_cache_savings(
    pytester: pytest.Pytester,
    priced_server: FakeLLMServer,
    run_jury: RunJury,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytester.makepyfile(SUITE)
    result = run_jury(JUDGES, *report_options(pytester, monkeypatch))
    result.assert_outcomes(passed=4)
    # Under -n 2 the workers' figures are merged by the controller: the reports carry the same ones.
    assert_reports_carry_the_summary_figures(pytester)
    spent = 4 * (MINI_COST + FOUR_O_COST)
    result.stdout.fnmatch_lines(
        [
            "*= llm jury summary =*",
            "verdicts: 4 passed, 0 failed, 0 hung in 4 tests; 4 contested (the judges split)",
            "  contested passed: *::test_answer[[]0[]]: Is a numbered answer - 2 pass (openai/gpt-4o-mini,"
            " openai/gpt-4o), 1 fail (judge-x)",
            "*::test_answer[[]1[]]*",
            "*::test_answer[[]2[]]*",
            "*::test_answer[[]3[]]*",
            "judge calls: 12 live, 0 cached (0% from cache)",
            "tokens (live): 12,000 in, 1,200 out",
            "  judge model          live  cached   tokens in  tokens out  cost",
            "  judge-x                 4       0       4,000         400  unpriced",
            "  openai/gpt-4o           4       0       4,000         400  $0.014000",
            "  openai/gpt-4o-mini      4       0       4,000         400  $0.000840",
            f"total spent: ${spent:.6f} + 4 unpriced calls",
            "costliest tests:",
            "  $0.003710 + 1 unpriced call  *::test_answer[[]0[]]  (3 live, 0 cached)",
            "*::test_answer[[]1[]]*",
            "*::test_answer[[]2[]]*",
        ]
    )
    assert "test_answer[3]" not in result.stdout.str().split("costliest tests:")[1]

    rerun = run_jury(JUDGES)
    rerun.assert_outcomes(passed=4)
    rerun.stdout.fnmatch_lines(
        [
            "judge calls: 0 live, 12 cached (100% from cache)",
            "tokens (live): 0 in, 0 out",
            "  openai/gpt-4o           0       4           0           0  $0.000000",
            "total spent: $0.000000",
            f"saved by the cache: ${spent:.6f} + 4 unpriced calls (12 calls not repeated)",
        ]
    )
    assert len(priced_server.calls()) == 12


def test_verbosity(pytester: pytest.Pytester, priced_server: FakeLLMServer, run_inprocess: RunJury) -> None:
    pytester.makepyfile(SUITE)
    quiet = run_inprocess(JUDGES, "-q")
    quiet.stdout.fnmatch_lines(["verdicts: 4 passed*", "judge calls: 12 live*", "total spent: *"])
    assert "judge model" not in quiet.stdout.str()
    assert "costliest" not in quiet.stdout.str()
    verbose = run_inprocess(JUDGES, "-v")
    verbose.stdout.fnmatch_lines(
        [
            "cost per test:",
            "*::test_answer[[]3[]]*",
            "verdicts in detail (contested first):",
            "  PASSED (CONTESTED)  *::test_answer[[]0[]]: Is a numbered answer",
            '          judge-x: fail (cached) - says "3" | not four <b>bold</b>',
        ]
    )


def test_no_summary_when_no_jury_was_used(pytester: pytest.Pytester, run_inprocess: RunJury) -> None:
    pytester.makepyfile("def test_plain(): pass")
    result = run_inprocess(JUDGES)
    result.assert_outcomes(passed=1)
    assert "llm jury summary" not in result.stdout.str()


def report_options(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    """Every report of a run asked for: JSON, JUnit XML and a GitHub step summary after an earlier step."""
    step_summary = pytester.path / "step-summary.md"
    step_summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    return ("--jury-report=reports/jury.json", "--junitxml=junit.xml")


def test_json_report_junit_and_step_summary_carry_the_same_figures(
    pytester: pytest.Pytester,
    priced_server: FakeLLMServer,
    run_jury: RunJury,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same under -n 2: test_summary_shows_exact_costs_per_model_and_the_cache_savings[xdist].
    pytester.makepyfile(SUITE)
    run_jury(JUDGES, *report_options(pytester, monkeypatch)).assert_outcomes(passed=4)
    assert_reports_carry_the_summary_figures(pytester)


def assert_reports_carry_the_summary_figures(pytester: pytest.Pytester) -> None:
    """The JSON report, JUnit properties and step summary of a SUITE run with report_options."""
    step_summary = pytester.path / "step-summary.md"
    report_file = pytester.path / "reports" / "jury.json"
    assert report_file.stat().st_mode & 0o777 == 0o644  # readable by a later CI step's user
    report = JuryReport.model_validate_json(report_file.read_text())
    spent = 4 * (MINI_COST + FOUR_O_COST)
    assert report.schema_version == 1
    assert (report.totals.live_calls, report.totals.cached_calls) == (12, 0)
    assert (report.totals.tokens_in, report.totals.tokens_out) == (12000, 1200)
    assert report.totals.spent.usd == pytest.approx(spent)
    assert report.totals.spent.unpriced_calls == 4
    assert report.totals.verdicts_passed == 4
    assert report.totals.verdicts_contested == 4  # judge-x fails what the other two pass
    assert [t.contested for t in report.tests] == [1, 1, 1, 1]
    assert all(verdict.contested for verdict in report.verdicts)
    assert report.budget is None
    models = {m.model: m for m in report.models}
    assert models[MINI].spent.usd == pytest.approx(4 * MINI_COST)
    assert models[UNPRICED].spent.unpriced_calls == 4
    assert models[UNPRICED].spent.usd == 0
    assert [t.test_id.rsplit("::", 1)[1] for t in report.tests] == [f"test_answer[{n}]" for n in range(4)]
    assert len(report.verdicts) == 4
    votes = report.verdicts[0].votes
    assert [v.model for v in votes] == [MINI, FOUR_O, UNPRICED]
    assert votes[2].reason == 'says "3" | not\nfour <b>bold</b>'  # untrusted text survives JSON intact
    assert votes[0].cost_usd == pytest.approx(MINI_COST)
    assert votes[2].cost_usd is None
    assert FAKE_API_KEY not in (pytester.path / "reports" / "jury.json").read_text()

    cases = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    for case in cases:
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert properties == {
            "jury_verdicts": "passed=1 failed=0 hung=0",
            "jury_contested": "1",  # judge-x failed what the other two passed
            "jury_comparisons": "a=0 b=0 tie=0 hung=0 inconclusive=0",
            "jury_baselines": "improved=0 held=0 regressed=0 inconclusive=0 recorded=0 stale=0 missing=0",
            "jury_judge_calls": "live=3 cached=0",
            "jury_tokens": "in=3000 out=300",
            "jury_cost_usd": f"{MINI_COST + FOUR_O_COST:.9f}",
            "jury_unpriced_calls": "1",
        }

    markdown = step_summary.read_text()
    assert markdown.startswith("# earlier step\n## LLM jury summary")
    assert f"**spent:** ${spent:.6f} + 4 unpriced calls" in markdown
    assert "**Verdicts:** 4 passed, 0 failed, 0 hung (4 contested)" in markdown
    assert "| passed, contested | Is a numbered answer | judge-x: says" in markdown
    assert "| openai/gpt-4o-mini | 4 | 0 | 4,000 | 400 | $0.000840 |" in markdown
    table_rows = [line for line in markdown.splitlines() if line.startswith("|")]
    assert table_rows
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 7 for row in table_rows[:5])


def test_step_summary_escapes_untrusted_reasons(
    pytester: pytest.Pytester,
    priced_server: FakeLLMServer,
    run_inprocess: RunJury,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    step_summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    priced_server.judge("fail", "a | b\n| injected | row |<script>x</script>", usage=(10, 1))
    pytester.makepyfile(
        """
        def test_x(jury):
            jury.check("x", "Has [a link](http://example.invalid)")
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    rows = [line for line in step_summary.read_text().splitlines() if line.startswith("| test\\_step")]
    assert len(rows) == 1
    (row,) = rows
    assert len(re.findall(r"(?<!\\)\|", row)) == 5  # 4 cells, nothing injected
    assert "<script>" not in row
    assert "&lt;script&gt;" in row
    assert "[a link](" not in row
    assert "\\[a link\\]" in row


@pytest.mark.xdist_merge
def test_budget_stops_new_calls_and_fails_the_run(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury
) -> None:
    llm_server.judge("pass", "fine", usage=(1000, 100))
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmonpy import BudgetExceededError

        @pytest.mark.parametrize("n", range(10))
        def test_answer(jury, n):
            jury.check(f"answer {n}", "Is a numbered answer")

        def test_swallows(jury):
            with pytest.raises(BudgetExceededError):
                for n in range(100):
                    jury.check(f"more {n}", "Is a numbered answer")
        """
    )
    result = run_jury(f"--jury-judges={MINI}", "--jury-max-cost=0.0005", "-p", "no:randomly")
    calls = len(llm_server.calls())
    # 3 calls reach $0.00063 >= $0.0005; under -n 2 two workers may both start a call at $0.00042.
    assert 3 <= calls <= 4
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 10 - calls
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*BudgetExceededError: the run's judging budget is spent: $0.000*"
            " of --jury-max-cost=0.0005 USD; no judge was called for this check.*",
            f"budget: ${calls * MINI_COST:.6f} of $0.000500 spent (*%), EXHAUSTED",
            "next: * got no verdict because the budget ran out; raise --jury-max-cost, or re-run*",
        ]
    )


def test_a_swallowed_budget_stop_still_fails_the_run(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    llm_server.judge("pass", "fine", usage=(1000, 100))
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmonpy import BudgetExceededError

        def test_swallows(jury):
            jury.check("first", "c")
            with pytest.raises(BudgetExceededError):
                jury.check("second", "c")
        """
    )
    result = run_inprocess(f"--jury-judges={MINI}", "--jury-max-cost=0.0001")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["verdicts: 1 passed, 0 failed, 0 hung in 1 test; 1 check stopped by the budget"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jury-max-cost=-1"], "*jury_max_cost must be an amount in USD of at least 0, got '-1'"),
        (["--jury-max-cost=lots"], "*jury_max_cost must be an amount in USD such as 0.50, got 'lots'"),
        (["--jury-report=."], "*jury_report: * is a directory; give a file path such as jury-report.json"),
        (["--jury-report=/proc/no/report.json"], "*jury_report: cannot write /proc/no/report.json: *"),
    ],
)
def test_bad_budget_or_report_path_is_a_usage_error(
    pytester: pytest.Pytester, run_inprocess: RunJury, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = run_inprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-llmonpy: {message[1:]}"])


def test_budget_counter_is_removed_after_the_run(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_inprocess: RunJury,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    private_tmp = tmp_path_factory.mktemp("tmpdir")
    monkeypatch.setenv("TMPDIR", str(private_tmp))  # the inner run's tempfile.gettempdir()
    pytester.makepyfile(SUITE)
    run_inprocess(f"--jury-judges={MINI}", "--jury-max-cost=1").assert_outcomes(passed=4)
    assert len(llm_server.calls()) == 4
    assert list(private_tmp.iterdir()) == []


def test_checks_in_fixture_teardown_are_counted(
    pytester: pytest.Pytester, priced_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def judged_after(jury):
            yield
            jury.check("checked in teardown", "Is checked")

        def test_x(jury, judged_after):
            jury.check("checked in the test", "Is checked")
        """
    )
    result = run_inprocess(f"--jury-judges={MINI}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["verdicts: 2 passed, 0 failed, 0 hung in 1 test", "judge calls: 2 live, 0 cached*"]
    )


def test_an_unwritable_step_summary_is_reported_not_a_traceback(
    pytester: pytest.Pytester,
    priced_server: FakeLLMServer,
    run_inprocess: RunJury,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path))  # a directory: cannot be appended to
    pytester.makeini(
        """
        [pytest]
        filterwarnings = error
        """
    )
    pytester.makepyfile(SUITE)
    result = run_inprocess(JUDGES, "-p", "no:asyncio")  # pytest-asyncio's own config warning would be fatal
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["pytest-llmonpy: could not append to GITHUB_STEP_SUMMARY (*): *"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_an_alias_a_litellm_proxy_serves_is_priced_by_the_cost_it_reports(
    pytester: pytest.Pytester, run_jury: RunJury, llm_server: FakeLLMServer
) -> None:
    # A proxy answers with its alias as the model, which litellm has no price for, and reports the
    # cost of the model behind the alias in `x-litellm-response-cost`: that is the call's cost.
    llm_server.reported_cost = 0.000123
    pytester.makepyfile(
        """
        def test_answer(jury):
            jury.assert_passes("Refunds within 30 days.", "Mentions the 30-day limit")
        """
    )
    result = run_jury("--jury-judges=team-judge-fast,team-judge-strong", "--jury-report=jury.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["total spent: $0.000246"])
    report = json.loads((pytester.path / "jury.json").read_text())
    assert [vote["cost_usd"] for vote in report["verdicts"][0]["votes"]] == [0.000123, 0.000123]
