"""End-to-end fault suite: every HTTP fault a judge can hit, alone and with one of three judges broken
under each quorum rule, through litellm against the loopback server (never mocked).

What must hold for every fault:
- no false pass: a broken judge abstains, an outcome that depends on abstentions raises HungJuryError
  (never passes, never an AssertionError); a refused judge (401/403/404) raises JuryConfigError;
- the exit code says the run failed, and each failure names the judge and its error;
- the API key appears in no output and no written file;
- the JSON report counts every paid call: its tokens equal the tokens of the replies the server
  completed (retried attempts included, and the other judges' answers in a check a refused judge cut
  short), and its attempts equal the requests the server received.

The big matrix runs serially with parametrized inner tests: one inner pytest run (in this process,
through litellm) per family of faults, each kind of the family breaking a judge of its own
(`broken-<kind>`), every kind covering every cell. The two kinds that cost a deadline per cell (a hang,
a 429 that never clears) run in the `-n 2` run instead, where two workers wait out their deadlines at
once, in the cells where the outcome hinges on the abstention; that run also covers a subset of every
other non-refused kind, and the refused judges' accounting also runs under `-n 2`. No test asserts on
wall-clock time.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import pytest

from conftest import FAKE_API_KEY, RunJury, inprocess_run
from fake_llm_server import FakeLLMServer
from pytest_llmonpy.report_schema import JuryReport

HEALTHY = ("judge-a", "judge-b")
BROKEN = "judge-c"
QUORUMS = {"majority": 2, "unanimous": 3, "1": 1, "0.66": 2}  # pass votes required of 3 judges
OTHERS = {"pp": ("pass", "pass"), "ff": ("fail", "fail"), "pf": ("pass", "fail")}
# Small, so that a hang costs little; a warm-up call per inner process keeps litellm's first-call set-up
# out of it (see WARM_UP_CONFTEST).
HANG_TIMEOUT = "--jury-timeout=2"
# A refusal answered after the other judges' votes: those are paid for, and must be counted, whereas
# calls still in flight at the refusal are cancelled.
REFUSAL_DELAY = 0.2


@dataclass(frozen=True)
class Kind:
    """One fault: how to inject it, what a judge hitting it shows, and whether it is retried."""

    name: str
    inject: dict[str, Any]
    error: str  # regex the abstaining judge's error (or the JuryConfigError) must match
    transient: bool = False  # retried: a judge that hits it twice then answers still votes
    config: bool = False  # 401/403/404: the judge is misconfigured, JuryConfigError


KINDS = {
    kind.name: kind
    for kind in [
        Kind("500", {"status": 500}, r"InternalServerError \(HTTP 500\).*injected HTTP 500", transient=True),
        Kind("503", {"status": 503}, r"\(HTTP 503\).*injected HTTP 503", transient=True),
        Kind(
            "429",
            {"status": 429, "retry_after": "1"},
            # Which of the three ends a judge that keeps getting 429s depends on the machine's speed
            # (when the pause ends against the 2 s deadline); all three are true.
            r"RateLimitError \(HTTP 429\)|the rate limit \(jury_rate_limits, or a provider's Retry-After\) "
            r"leaves no time to call within jury_timeout=2s|timed out after 2s \(jury_timeout\)",
            transient=True,
        ),
        Kind(
            "hang",
            {"kind": "hang"},
            r"timed out after 2s \(jury_timeout\), 1 attempt\(s\)",
        ),
        # litellm reports a reset or a cut-off body as "InternalServerError (HTTP 500) ... Connection error."
        Kind("reset", {"kind": "reset"}, r"Connection error", transient=True),
        Kind("close_mid_body", {"kind": "close_mid_body"}, r"Connection error", transient=True),
        Kind(
            "non_json", {"kind": "non_json"}, r"Empty or invalid response from LLM endpoint", transient=True
        ),
        Kind("no_vote", {"content": '{"verdict": "looks fine to me"}'}, r"unparseable judge answer"),
        Kind("empty_choices", {"kind": "empty_choices"}, r"the judge answered with an empty message"),
        Kind(
            "401", {"status": 401, "delay_s": REFUSAL_DELAY}, r"AuthenticationError \(HTTP 401\)", config=True
        ),
        Kind(
            "403", {"status": 403, "delay_s": REFUSAL_DELAY}, r"\(HTTP 403\).*injected HTTP 403", config=True
        ),
        Kind("404", {"status": 404, "delay_s": REFUSAL_DELAY}, r"NotFoundError \(HTTP 404\)", config=True),
    ]
}

WARM_UP_CONFTEST = """
import os
import pytest

_warmed = []

@pytest.fixture(autouse=True)
def _warm_up(jury):
    # litellm's first call in a process sets up its HTTP client; on a loaded machine that can take
    # a good part of a 2 s jury_timeout and make a healthy judge time out.
    if not _warmed:
        _warmed.append(True)
        jury.check(f"warm-up {os.getpid()}", "warm-up")
"""

CELLS_FILE = """
import pytest

CELLS = {cells!r}

@pytest.mark.parametrize(
    "cell",
    [
        pytest.param(c, id=c["id"], marks=pytest.mark.jury(judges=c["judges"], quorum=c["quorum"]))
        for c in CELLS
    ],
)
def test_cell(jury, cell):
    jury.assert_passes(cell["output"], cell["criteria"])
"""


def decide(required: int, passes: int, fails: int, abstains: int) -> str:
    """The outcome the contract asks for (written out here, not imported from the plugin)."""
    if passes >= required:
        return "passed"
    if passes + abstains < required:
        return "failed"
    return "hung"


@dataclass
class Cell:
    id: str
    judges: list[str]
    quorum: str
    output: str
    criteria: str
    expected: str  # passed, failed, hung or config
    broken: str | None = None
    attempts: dict[str, int] = field(default_factory=dict)  # model -> attempts expected in its vote

    def as_param(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("id", "judges", "quorum", "output", "criteria")}


def script_others(server: FakeLLMServer) -> None:
    """The healthy judges pass by default and fail an output carrying their fail marker."""
    for model in HEALTHY:
        server.judge("fail", f"{model} scripted fail", model=model, output_contains=f"[{model}:fail]")


def matrix_cells(kind: Kind, broken: str = BROKEN, prefix: str = "") -> list[Cell]:
    """The broken judge alone, then one of three broken under each quorum with each pair of other votes."""
    cells = [
        Cell(
            f"{prefix}alone",
            [broken],
            "majority",
            f"{prefix}output alone",
            f"{prefix}[broken] alone",
            "config" if kind.config else "hung",
            broken,
        )
    ]
    for quorum, required in QUORUMS.items():
        for others, votes in OTHERS.items():
            markers = "".join(f" [{m}:fail]" for m, v in zip(HEALTHY, votes, strict=True) if v == "fail")
            outcome = decide(required, votes.count("pass"), votes.count("fail"), 1)
            cells.append(
                Cell(
                    f"{prefix}{quorum}-{others}",
                    [*HEALTHY, broken],
                    quorum,
                    f"{prefix}output {quorum} {others}{markers}",
                    f"{prefix}[broken] {quorum} {others}",
                    "config" if kind.config else outcome,
                    broken,
                )
            )
    return cells


def inject_broken(server: FakeLLMServer, kind: Kind, broken: str = BROKEN, prefix: str = "") -> None:
    server.inject(model=broken, times=100_000, criteria_contains=f"{prefix}[broken]", **kind.inject)


def recovery_cells(server: FakeLLMServer, kind: Kind, broken: str = BROKEN, prefix: str = "") -> list[Cell]:
    """A transient fault that clears: the judge votes after its retries, every attempt counted."""
    judges = [*HEALTHY, broken]
    if kind.name == "429":
        # A storm: every judge of a jury is told to wait once, then answers. Judges of their own: a
        # 429's pause is shared by every call to that judge, and the broken one is paused all along.
        storm = [f"{prefix}storm-{n}" for n in range(3)]
        server.inject(times=3, criteria_contains=f"{prefix}[storm]", **kind.inject)
        return [
            Cell(
                f"{prefix}storm",
                storm,
                "unanimous",
                f"{prefix}output storm",
                f"{prefix}[storm] every judge",
                "passed",
                attempts=dict.fromkeys(storm, 2),
            )
        ]
    if kind.transient:
        server.inject(model=broken, times=2, criteria_contains=f"{prefix}[flaky]", **kind.inject)
        return [
            Cell(
                f"{prefix}recovers",
                judges,
                "unanimous",
                f"{prefix}output recovers",
                f"{prefix}[flaky] recovers",
                "passed",
                attempts={broken: 3},
            )
        ]
    return []


def run_inner(
    pytester: pytest.Pytester, server: FakeLLMServer, cells: list[Cell], *args: str, xdist: bool = False
) -> pytest.RunResult:
    pytester.makeconftest(WARM_UP_CONFTEST)
    pytester.makepyfile(test_cells=CELLS_FILE.format(cells=[cell.as_param() for cell in cells]))
    base = ["-p", "no:cacheprovider", "-p", "no:randomly", f"--jury-api-base={server.url}"]
    base += ["--jury-report=jury.json", "--junitxml=junit.xml"]
    if not xdist:  # in this process, through litellm's real HTTP path (imported once per worker)
        return inprocess_run(pytester, base, args)
    return pytester.runpytest_subprocess(*base, "-n", "2", *args, timeout=300)


def junit_results(pytester: pytest.Pytester) -> dict[str, tuple[str, str]]:
    """Per inner test id: ("passed", "") or ("failed", message + text of the failure)."""
    results = {}
    for case in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase"):
        name = case.get("name", "")
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            results[name] = ("passed", "")
        else:
            results[name] = ("failed", f"{problem.get('message', '')}\n{problem.text or ''}")
    return results


def assert_no_key_anywhere(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    assert FAKE_API_KEY not in result.stdout.str() + result.stderr.str()
    secret = FAKE_API_KEY.encode()
    leaked = [p for p in pytester.path.rglob("*") if p.is_file() and secret in p.read_bytes()]
    assert not leaked, f"the API key was written to {leaked}"


def assert_cells(pytester: pytest.Pytester, cells: list[Cell], kind_of: dict[str, Kind]) -> None:
    """Each inner test ended as the contract says, and its failure names the broken judge and error."""
    results = junit_results(pytester)
    for cell in cells:
        kind = kind_of[cell.id]
        status, text = results[f"test_cell[{cell.id}]"]
        where = f"cell {cell.id} ({kind.name}): {text[:2000]}"
        if cell.expected == "passed":
            assert status == "passed", where
            continue
        assert status == "failed", f"FALSE PASS: {where}"
        if cell.expected == "failed":
            assert text.startswith("AssertionError: jury FAILED"), where
        elif cell.expected == "hung":
            assert "HungJuryError: the jury is hung" in text, where
            assert "AssertionError" not in text, where
            match = re.search(rf"- {re.escape(cell.broken or '')}: ABSTAIN - (.*)", text)
            assert match, where
            assert re.search(kind.error, match.group(1)), where
        else:
            assert f"JuryConfigError: judge '{cell.broken}' was refused by its provider" in text, where
            assert re.search(kind.error, text), where


def load_report(pytester: pytest.Pytester) -> JuryReport:
    return JuryReport.model_validate_json((pytester.path / "jury.json").read_text())


def assert_report(report: JuryReport, cells: list[Cell], kind_of: dict[str, Kind]) -> None:
    """Each verdict in the report has the expected outcome; broken judges abstained with their error."""
    by_criteria = {v.criteria: v for v in report.verdicts}
    for cell in cells:
        kind = kind_of[cell.id]
        if cell.expected == "config":
            assert cell.criteria not in by_criteria, f"cell {cell.id}: a refused jury gave a verdict"
            continue
        verdict = by_criteria[cell.criteria]
        assert verdict.outcome == cell.expected, f"cell {cell.id} ({kind.name})"
        for vote in verdict.votes:
            assert not vote.cached, cell.id
            if vote.model in cell.attempts:  # recovered after its retries
                assert (vote.vote, vote.attempts, vote.error) == ("pass", cell.attempts[vote.model], None), (
                    cell.id
                )
            elif vote.model == cell.broken:  # never a pass, never a fail: an abstention with its error
                assert vote.vote == "abstain", cell.id
                assert re.search(kind.error, vote.error or ""), cell.id
            else:
                assert vote.vote in ("pass", "fail"), cell.id
                assert (vote.attempts, vote.error) == (1, None), cell.id


def assert_accounting(
    report: JuryReport,
    server: FakeLLMServer,
    *,
    at_least: tuple[str, ...] = (),
    at_most: tuple[str, ...] = (),
) -> None:
    """The report counts every paid call: tokens of completed replies, and every request as an attempt.

    `at_least`: judges whose attempts may exceed their requests: an attempt the deadline cuts off as
    it starts is counted as sent, but may never reach the server (a 429 pause ending at the deadline).
    `at_most`: refused judges: a refused request (401/403/404, no vote) is not in the report.
    """
    paid_in, paid_out = server.paid_tokens()
    assert paid_in > 0
    assert (report.totals.tokens_in, report.totals.tokens_out) == (paid_in, paid_out)
    for model in report.models:
        requests = len(server.calls(model.model, status=None))
        counted = f"{model.model}: {model.attempts} attempts in the report, {requests} requests received"
        if model.model in at_least:
            assert model.attempts >= requests, counted
        elif model.model in at_most:
            assert model.attempts <= requests, counted
        else:
            assert model.attempts == requests, counted
        assert (model.tokens_in, model.tokens_out) == server.paid_tokens(model.model), model.model


def fault_cells(
    server: FakeLLMServer, kinds: tuple[str, ...], only: tuple[str, ...] = ()
) -> tuple[list[Cell], dict[str, Kind]]:
    """Cells for several fault kinds in one run: each kind breaks its own judge, `broken-<kind>`."""
    script_others(server)
    cells: list[Cell] = []
    kind_of: dict[str, Kind] = {}
    for name in kinds:
        kind, broken, prefix = KINDS[name], f"broken-{name}", f"{name}:"
        inject_broken(server, kind, broken, prefix)
        mine = matrix_cells(kind, broken, prefix) + recovery_cells(server, kind, broken, prefix)
        wanted = DEADLINE_CELLS if name in DEADLINE_KINDS else only
        mine = [cell for cell in mine if not wanted or cell.id.split(":", 1)[1] in wanted]
        cells += mine
        kind_of.update((cell.id, kind) for cell in mine)
    return cells, kind_of


# Kinds whose broken judge is only given up on at the deadline (jury_timeout): each of their cells costs
# seconds of waiting, so they run under -n 2 (two deadlines at a time), in the cells where the outcome
# hinges on the abstention, one where it does not, and their recovery.
DEADLINE_KINDS = ("hang", "429")
DEADLINE_CELLS = ("alone", "majority-pf", "unanimous-pp", "1-ff", "0.66-pf", "recovers", "storm")

# The serial matrix, one inner run per family of faults (each run covers every kind of its family, the
# broken judge alone and one of three broken under each quorum, plus a recovery where retried).
FAMILIES = {
    "http-status": ("500", "503"),
    "transport": ("reset", "close_mid_body", "non_json"),
    "content": ("no_vote", "empty_choices"),
    "refused": ("401", "403", "404"),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_fault_matrix_serial(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    judge_env: None,
    litellm_in_this_process: None,
    family: str,
) -> None:
    kinds = FAMILIES[family]
    cells, kind_of = fault_cells(llm_server, kinds)
    result = run_inner(pytester, llm_server, cells)

    expected_failures = sum(cell.expected != "passed" for cell in cells)
    result.assert_outcomes(passed=len(cells) - expected_failures, failed=expected_failures)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert_cells(pytester, cells, kind_of)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "litellm/" not in result.stdout.str()  # no traceback from inside litellm
    assert_no_key_anywhere(pytester, result)
    report = load_report(pytester)
    assert_report(report, cells, kind_of)
    refused = family == "refused"
    assert_accounting(report, llm_server, at_most=tuple(f"broken-{name}" for name in kinds if refused))
    if refused:  # not retried: one request per check
        for name in kinds:
            assert len(llm_server.calls(f"broken-{name}", status=int(name))) == len(
                [cell for cell in cells if kind_of[cell.id].name == name]
            )
    else:
        assert report.totals.verdicts_hung == sum(cell.expected == "hung" for cell in cells)
        assert (
            report.totals.verdicts_passed == sum(cell.expected == "passed" for cell in cells) + 1
        )  # warm-up


# Under -n 2: every non-refused fault kind in one run, each with its own broken judge, in the cells
# where the outcome hinges on the abstention (and one where it does not); the deadline kinds in theirs.
XDIST_CELLS = ("alone", "majority-pf", "unanimous-pp", "1-ff")
XDIST_KINDS = tuple(name for name, kind in KINDS.items() if not kind.config)


def test_fault_subset_under_xdist(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None
) -> None:
    cells, kind_of = fault_cells(llm_server, XDIST_KINDS, only=XDIST_CELLS)
    result = run_inner(pytester, llm_server, cells, HANG_TIMEOUT, xdist=True)

    expected_failures = sum(cell.expected != "passed" for cell in cells)
    result.assert_outcomes(passed=len(cells) - expected_failures, failed=expected_failures)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert_cells(pytester, cells, kind_of)
    assert_no_key_anywhere(pytester, result)
    report = load_report(pytester)
    assert_report(report, cells, kind_of)
    # As in the serial matrix: a 429 pause that ends at the deadline counts an attempt never sent.
    assert_accounting(report, llm_server, at_least=("broken-429",))


def test_an_all_clear_run_after_recovered_faults_exits_zero(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None
) -> None:
    """Faults that clear within the retries leave no trace but their attempts: exit code 0."""
    cells = []
    kind_of = {}
    for name in ("500", "503", "reset", "close_mid_body"):
        kind = KINDS[name]
        llm_server.inject(model=BROKEN, times=2, criteria_contains=f"[{name} flaky]", **kind.inject)
        cell = Cell(name, [*HEALTHY, BROKEN], "unanimous", f"output {name}", f"[{name} flaky]", "passed",
                    attempts={BROKEN: 3})  # fmt: skip
        cells.append(cell)
        kind_of[cell.id] = kind
    result = run_inner(pytester, llm_server, cells)
    result.assert_outcomes(passed=len(cells))
    assert result.ret == pytest.ExitCode.OK
    report = load_report(pytester)
    assert_report(report, cells, kind_of)
    assert_accounting(report, llm_server)
    assert_no_key_anywhere(pytester, result)


def test_a_refused_judge_does_not_lose_the_other_judges_paid_votes_under_xdist(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None, litellm_in_this_process: None
) -> None:
    # The refusal comes after the others have answered: their votes are paid for, and must be counted.
    # Only under -n 2: the serial run of the same refusals is the matrix's "refused" family.
    for status in (401, 403, 404):
        llm_server.inject(model=f"refused-{status}", status=status, times=100, delay_s=0.3)
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmonpy import JuryConfigError

        @pytest.mark.parametrize(
            "status",
            [
                pytest.param(s, marks=pytest.mark.jury(judges=["judge-a", "judge-b", f"refused-{s}"]))
                for s in (401, 403, 404)
            ],
        )
        def test_refused(jury, status):
            with pytest.raises(JuryConfigError, match=f"judge 'refused-{status}' was refused by its"):
                jury.check(f"answer {status}", "anything")
        """
    )
    args = ["-p", "no:randomly", f"--jury-api-base={llm_server.url}", "--jury-report=jury.json"]
    result = pytester.runpytest_subprocess(*args, "-n", "2", timeout=120)
    result.assert_outcomes(passed=3)
    assert_no_key_anywhere(pytester, result)
    assert {c.model for c in llm_server.calls()} == set(HEALTHY)
    report = load_report(pytester)
    assert (report.totals.tokens_in, report.totals.tokens_out) == llm_server.paid_tokens()
    assert report.totals.live_calls == 6
    # ... and cached: a re-run (in this process, through litellm) asks only the refused judges again.
    llm_server.requests.clear()
    inprocess_run(pytester, args, ()).assert_outcomes(passed=3)
    assert {c.model for c in llm_server.calls(status=None)} == {f"refused-{s}" for s in (401, 403, 404)}


def test_attempts_in_the_report_are_requests_sent_even_when_a_429_pause_outlasts_the_timeout(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None
) -> None:
    # Only the cells' checks (their criteria start with "[broken]"), not the inner run's warm-up check.
    llm_server.inject(model=BROKEN, status=429, retry_after="1", times=100, criteria_contains="[broken]")
    cells = [
        Cell(f"storm-{n}", [BROKEN], "majority", f"output {n}", f"[broken] {n}", "hung", BROKEN)
        for n in range(3)
    ]
    result = run_inner(pytester, llm_server, cells, HANG_TIMEOUT)
    result.assert_outcomes(passed=0, failed=3)
    (model,) = [m for m in load_report(pytester).models if m.model == BROKEN]
    seen = len(llm_server.calls(BROKEN, status=None))
    # A pause that leaves no time ends the call without an attempt. When it leaves a little, the
    # attempt is counted as it starts, and on a busy machine jury_timeout can cut it off before the
    # request reaches the server: at most one such attempt per call that timed out.
    timed_out = result.stdout.str().count(f"{BROKEN}: ABSTAIN - timed out after")
    assert seen <= model.attempts <= seen + timed_out


# A litellm proxy's key, team and user budgets need its database; their refusals are worded like these
# (litellm/proxy/auth/auth_checks.py), as a 400 or a 429. The deployment budget a proxy without a
# database enforces is tested against a real proxy (test_litellm_proxy_e2e.py).
@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (
            400,
            "BadRequestError",
            "Budget has been exceeded! Key=sk-...Ab12 Current cost: 1.02, Max budget: 1.0",
        ),
        (
            429,
            "RateLimitError",
            "Budget has been exceeded! Team=ml-evals Current cost: 50.1, Max budget: 50.0",
        ),
    ],
)
def test_a_budget_refusal_fails_the_check_at_once_and_says_retrying_cannot_help(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_jury: RunJury,
    status: int,
    error: str,
    words: str,
) -> None:
    llm_server.inject(model="judge-b", status=status, content=words, times=100)
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmonpy import JuryConfigError

        def test_refused(jury):
            with pytest.raises(JuryConfigError) as refused:
                jury.check("an answer", "anything")
            print("MESSAGE:", refused.value)
        """
    )
    result = run_jury("--jury-judges=judge-a,judge-b", "-s")
    result.assert_outcomes(passed=1)
    assert len(llm_server.calls("judge-b", status=status)) == 1  # not retried
    result.stdout.fnmatch_lines(
        [
            "*MESSAGE: judge 'judge-b' was refused because a budget at its endpoint is spent. Retrying "
            f"cannot help until that budget is raised or resets (*); this run's own budget is jury_max_cost. "
            f"({error} (HTTP {status}): {words})"
        ]
    )
