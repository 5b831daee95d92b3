"""pytest wiring: options, ini keys, the `jury` marker and fixture, reporting hooks.

Every hook is thin: the work happens in JurySession (per-run state), the Ledger and report.py.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_llmonpy.baselines import BaselineChecks, baseline_file
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.progress import StatusLine, take_notices
from pytest_llmonpy.session import (
    OPTIONS,
    JurySession,
    RunOptions,
    build_settings,
    check_report_path,
    parse_budget,
    resolve_cache_dir,
)
from pytest_llmonpy.settings import MARKER_ARGUMENTS, JurySettings, marker_problem, settings_problem
from pytest_llmonpy.untrusted import printable
from pytest_llmonpy.verdict import ReplayMissError, Verdict

# Set before any conftest or app module imports litellm: without it litellm downloads a price list
# from the internet at import time, and a test run must never touch the network by surprise.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

SESSION_KEY = pytest.StashKey[JurySession]()
JURY_KEY = pytest.StashKey[Jury]()
BASELINE_KEY = pytest.StashKey[BaselineChecks]()
CALL_PASSED_KEY = pytest.StashKey[bool]()
REPLAY_MISSES_KEY = pytest.StashKey[int]()
# What makes the flag/ini jury unable to judge (a quorum its judges cannot reach...), reported at
# collection unless a marker of a collected test overrides it.
SETTINGS_PROBLEM_KEY = pytest.StashKey[str]()
# A CollectReport attribute: an xdist worker's report of that problem, raised by the controller.
USAGE_ERROR_ATTRIBUTE = "llmonpy_usage_error"
BASELINE_ATTRIBUTE = "llmonpy_baselines"
# xdist: each worker sends the controller the tests it collected per baseline file (for unused ones).
COLLECTED_OUTPUT = "llmonpy_baseline_tests"
# Name of the TestReport attribute that carries a test's verdicts to the controller. pytest serialises
# a report's attributes for xdist, so the same data arrives with and without `-n N`.
REPORT_ATTRIBUTE = "llmonpy_jury"
WORKER_RUN_ID = "llmonpy_run_id"
# TestReport attribute carrying one-time notices (the local judge loading) to the controller's terminal.
NOTICES_ATTRIBUTE = "llmonpy_notices"
# Without -v, a check shows the live status line once it has waited this long.
STATUS_AFTER_S = 3.0
# The messages litellm's __init__ itself filters with warnings.filterwarnings("ignore", ...).
LITELLM_QUIET_WARNINGS = (
    r".*conflict with protected namespace.*",
    r".*Accessing the.*attribute on the instance is deprecated.*",
    r".*`ReadOnly` qualifier.*",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmonpy", "LLM jury assertions (pytest-llmonpy)")
    for name, help_text in OPTIONS:
        group.addoption(f"--{name.replace('_', '-')}", dest=name, default=None, help=help_text)
        if name == "jury_mode":
            group.addoption(
                "--jury-cache-clear",
                action="store_true",
                default=False,
                help="delete every cached verdict before the run",
            )
            group.addoption(
                "--jury-baseline-update",
                action="store_true",
                default=False,
                help="record llm_baseline outputs as the new baselines, and remove baselines no test uses",
            )
        if name in ("jury_judges", "jury_escalation", "jury_rate_limits"):
            # A TOML list in pyproject.toml, or one name per line in an ini file.
            parser.addini(name, help_text, type="linelist", default=None)
        else:
            parser.addini(name, help_text, type="string", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"jury({', '.join(f'{name}=...' for name in MARKER_ARGUMENTS)}): "
        "override the jury settings for one test",
    )

    def value(name: str) -> str | None:
        flag: str | None = config.getoption(name)
        if flag is not None and flag.strip():
            return flag
        ini: str | list[str] | None = config.getini(name)
        return "\n".join(ini) if isinstance(ini, list) else ini

    # litellm silences these warnings of its own at import; under `filterwarnings = error` pytest's
    # per-test filters would turn them back into errors inside judge calls (every judge abstaining).
    for message in LITELLM_QUIET_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{message}")
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    try:
        settings = build_settings(value, check=False)
        report = value("jury_report")
        report_path = (
            Path(config.invocation_params.dir, report.strip()) if report and report.strip() else None
        )
        if report_path is not None and workerinput is None:
            check_report_path(report_path)
        options = RunOptions(
            cache_root=resolve_cache_dir(config.rootpath, value("jury_cache_dir")),
            forced_mode=settings.mode if (config.getoption("jury_mode") or "").strip() else None,
            max_cost=parse_budget(value("jury_max_cost")),
            report_path=report_path,
            run_id=str(workerinput.get(WORKER_RUN_ID, "")) if workerinput else uuid.uuid4().hex,
            is_worker=workerinput is not None,
            baseline_update=bool(config.getoption("jury_baseline_update")),
            rate_limits=rate_limits(value("jury_rate_limits")),
        )
    except ValueError as exc:
        raise pytest.UsageError(f"pytest-llmonpy: {exc}") from None
    session = JurySession(settings, options)
    config.stash[SESSION_KEY] = session
    session.status = live_status(config)
    problem = settings_problem(settings)
    if problem:
        config.stash[SETTINGS_PROBLEM_KEY] = problem
    if workerinput is None:
        # Workers only judge; the controller (or a serial run) merges, reports and gates.
        config.pluginmanager.register(JuryReporting(config, session), "llmonpy-reporting")
    if config.getoption("jury_cache_clear") and workerinput is None:
        # Only the controller clears: xdist workers start after it and must not wipe each other's work.
        from pytest_llmonpy.cache import clear_directory

        try:
            clear_directory(options.cache_root)  # empties it in place: another run using it keeps going
        except OSError as exc:  # a read-only cache: say so rather than run on stale verdicts
            raise pytest.UsageError(f"pytest-llmonpy: --jury-cache-clear: {exc}") from None


def live_status(config: pytest.Config) -> StatusLine | None:
    """The live "waiting for judges" line: for a run that judges in this process and prints to a
    terminal; none under -q, in an xdist worker (its output is not a terminal) or when piped."""
    stream = sys.stdout  # pytest's terminal: capture is suspended while plugins configure
    if config.get_verbosity() < 0 or getattr(config, "workerinput", None) is not None:
        return None
    if not stream.isatty():
        return None
    # Anything else writing to the terminal mid-test (live logs, uncaptured output under -s) would land
    # after the status, and erasing it would then wipe the wrong characters.
    if (
        config.getoption("capture", "fd") == "no"
        or config.getini("log_cli")
        or config.getoption("log_cli_level", None)
    ):
        return None
    capture = config.pluginmanager.getplugin("capturemanager")

    def write(text: str) -> None:
        # The waiting check runs inside a test, whose output pytest captures: step around it.
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            stream.write(text)
            stream.flush()

    def room() -> int:
        if config.pluginmanager.get_plugin("terminalreporter") is None:
            return 0
        writer = config.get_terminal_writer()
        return writer.fullwidth - writer.width_of_current_line

    # Under -v at once; otherwise only for a check that has waited a few seconds.
    return StatusLine(write, room, show_after_s=0.0 if config.get_verbosity() > 0 else STATUS_AFTER_S)


def rate_limits(text: str | None) -> dict[str, Any]:
    if not text or not text.strip():
        return {}  # no import of the rate limiter (and diskcache) for a run that sets none
    from pytest_llmonpy.ratelimit import parse_rate_limits

    try:
        return dict(parse_rate_limits(text))
    except ValueError as exc:
        raise ValueError(f"jury_rate_limits: {exc}") from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: give every worker this run's id, so they share one budget counter."""
    node.workerinput[WORKER_RUN_ID] = node.config.stash[SESSION_KEY].options.run_id


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Checked at setup rather than collection: a UsageError raised on an xdist worker crashes the run.
    for marker in item.iter_markers("jury"):
        problem = marker_problem(marker.args, marker.kwargs)
        if problem:
            pytest.fail(f"pytest-llmonpy: {problem}", pytrace=False)


@pytest.fixture
def jury(request: pytest.FixtureRequest) -> Jury:
    """A jury of LLM judges for this test: `jury.assert_passes(output, criteria)` / `jury.check(...)`.

    Judges, quorum, mode and endpoint come from --jury-* flags, jury_* ini keys, and
    `@pytest.mark.jury(judges=[...], quorum=..., mode=...)` on the test, class or module.
    """
    session = request.config.stash[SESSION_KEY]
    settings = session.settings
    # Markers merge from the outermost (module, class) to the test's own, the closest winning.
    for marker in reversed(list(request.node.iter_markers("jury"))):
        settings = settings.with_marker(marker.kwargs)
    problem = settings_problem(settings)
    if problem:
        # At setup, before any judge is paid: the markers and the run's settings do not fit together.
        pytest.fail(f"pytest-llmonpy: {problem}", pytrace=False)
    jury = session.new_jury(settings, request.node.nodeid)
    request.node.stash[JURY_KEY] = jury
    return jury


@pytest.fixture
def llm_baseline(request: pytest.FixtureRequest, jury: Jury) -> BaselineChecks:
    """Compare this test's outputs with accepted baselines: `llm_baseline.assert_not_worse(output, criteria)`.

    Baselines live in `__llm_baselines__/<module>.json` next to the test module; record or accept them
    with --jury-baseline-update.
    """
    session = request.config.stash[SESSION_KEY]
    checks = BaselineChecks(
        jury,
        module=Path(request.node.path),
        test_name=request.node.nodeid.split("::", 1)[-1],
        update=session.options.baseline_update,
    )
    request.node.stash[BASELINE_KEY] = checks
    return checks


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    report_settings_problem(config, items)
    # Before -k/-m/--deselect: a deselected test still exists, so its baselines are not unused. A run
    # that selects tests by node id or reruns failures (--lf, --sw) collects only part of a module:
    # those modules (or the whole run) are left out of the search for unused baselines.
    if config.getoption("lf", False) or config.getoption("stepwise", False):
        return
    narrowed = {
        Path(config.invocation_params.dir, arg.split("::", 1)[0]) for arg in config.args if "::" in arg
    }
    collected: dict[str, list[str]] = {}
    exists: dict[Path, bool] = {}
    for item in items:
        module = Path(item.path)
        path = baseline_file(module)
        if module not in narrowed and exists.setdefault(path, path.is_file()):
            collected.setdefault(str(path), []).append(item.nodeid.split("::", 1)[-1])
    config.stash[SESSION_KEY].baseline_tests = collected


def report_settings_problem(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A jury the flags and ini keys configure but that cannot judge is a usage error, reported once,
    unless a `@pytest.mark.jury` of a collected test overrides it (then the other tests fail at setup)."""
    problem = config.stash.get(SETTINGS_PROBLEM_KEY, None)
    if problem is None or any(_markers_fix(config.stash[SESSION_KEY].settings, item) for item in items):
        return
    message = f"pytest-llmonpy: {problem}"
    if getattr(config, "workerinput", None) is None:
        raise pytest.UsageError(message)
    # A UsageError raised on an xdist worker crashes the run: the worker reports a collection error,
    # which the controller raises as this same UsageError (see JuryReporting.pytest_collectreport).
    report = pytest.CollectReport("", "failed", message, [])
    setattr(report, USAGE_ERROR_ATTRIBUTE, message)
    config.hook.pytest_collectreport(report=report)


def _markers_fix(settings: JurySettings, item: pytest.Item) -> bool:
    markers = list(item.iter_markers("jury"))
    if not markers:
        return False
    try:
        for marker in reversed(markers):
            settings = settings.with_marker(marker.kwargs)
    except ValueError:
        return False  # a bad marker is reported at setup
    return settings_problem(settings) is None


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    jury_session = session.config.stash.get(SESSION_KEY, None)
    if workeroutput is not None and jury_session is not None:
        workeroutput[COLLECTED_OUTPUT] = jury_session.baseline_tests


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    status = item.config.stash[SESSION_KEY].status
    if status is None:
        return (yield)
    status.activate()
    try:
        return (yield)
    finally:
        status.deactivate()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    jury = item.stash.get(JURY_KEY, None)
    if call.excinfo is not None and isinstance(call.excinfo.value, ReplayMissError):
        item.stash[REPLAY_MISSES_KEY] = item.stash.get(REPLAY_MISSES_KEY, 0) + 1  # for the summary
    # Taken at teardown, so checks made by fixtures during teardown are counted too.
    record = (
        JurySession.test_record(jury, item.stash.get(REPLAY_MISSES_KEY, 0))
        if jury is not None and call.when == "teardown"
        else None
    )
    if jury is not None and call.when == "teardown":
        item.config.stash[SESSION_KEY].reported(item.nodeid)
    if record is not None:
        # Properties added before the report exists land in it (and in JUnit XML), like record_property.
        from pytest_llmonpy.report import junit_properties

        item.user_properties.extend(junit_properties(record))
    report = yield
    if record is not None:
        setattr(report, REPORT_ATTRIBUTE, record)
    notices = take_notices() if call.when == "teardown" else []
    if notices:
        setattr(report, NOTICES_ATTRIBUTE, notices)
    checks = item.stash.get(BASELINE_KEY, None)
    if checks is not None and call.when == "call":
        item.stash[CALL_PASSED_KEY] = report.passed
    if checks is not None and call.when == "teardown":
        setattr(
            report, BASELINE_ATTRIBUTE, {**checks.record(), "passed": item.stash.get(CALL_PASSED_KEY, False)}
        )
    if jury is not None and report.when == "call" and report.failed:
        failures = jury.unexplained_failures()
        if failures:
            report.sections.append(("llm jury verdicts", "\n\n".join(v.explain() for v in failures)))
    return report


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    verdict = left if isinstance(left, Verdict) else right if isinstance(right, Verdict) else None
    if verdict is None:
        return None
    other = right if verdict is left else left
    return [f"{printable(repr(verdict), 120)} {op} {other!r}", *verdict.explain().splitlines()]


class JuryReporting:
    """Run-level reporting hooks, bound to one session: ledger, budget gate, summary, report files."""

    def __init__(self, config: pytest.Config, session: JurySession) -> None:
        self.config = config
        self.session = session
        self.problems: list[str] = []
        # Test ids as pytest's own lines show them (relative to the invocation directory), for the
        # terminal only: the ledger, the JSON report and the cache keep the rootdir-relative node ids.
        self.display_ids: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        notices = getattr(report, NOTICES_ATTRIBUTE, None)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if isinstance(notices, list) and reporter is not None:
            for notice in notices:
                reporter.write_line(f"llmonpy: {printable(str(notice))}")
        record = getattr(report, REPORT_ATTRIBUTE, None)
        if isinstance(record, dict):
            self.session.ledger.add_test(report.nodeid, record)
            # pytest 9 takes the report's structured id, pytest 8 the node id string.
            node_id: Any = getattr(report, "id", report.nodeid)
            shown = self.config.cwd_relative_nodeid(node_id)
            self.display_ids[report.nodeid] = str(shown)
        if report.when == "call" and report.passed and "::" in report.nodeid:
            module, test = report.nodeid.split("::", 1)
            self.session.baselines.add_passed(str(baseline_file(self.config.rootpath / module)), test)
        baselines = getattr(report, BASELINE_ATTRIBUTE, None)
        if isinstance(baselines, dict):
            self.session.baselines.add_test(baselines, passed=bool(baselines.get("passed")))

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        message = getattr(report, USAGE_ERROR_ATTRIBUTE, None)
        if isinstance(message, str):  # from an xdist worker: see report_settings_problem
            raise pytest.UsageError(message)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", None) or {}
        self.session.baselines.add_collected(output.get(COLLECTED_OUTPUT, {}))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        result = yield
        # A check stopped by the budget fails the run even if the test swallowed the exception.
        if self.session.ledger.blocked() and not session.testsfailed:
            session.testsfailed += 1
        return result

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from pytest_llmonpy.report import write_outputs

        for test_id, record in self.session.lost_records().items():
            self.session.ledger.add_test(test_id, record)  # interrupted, or its worker killed, mid-test
        baselines = self.session.baselines
        baselines.add_collected(self.session.baseline_tests)  # a serial run collected them itself
        baselines.find_unused()
        baselines.write(self.session.lock_directory())
        self.problems = [*baselines.problems]
        if baselines.problems and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # asked to record, and could not
        self.problems += write_outputs(
            self.session.ledger, self.session.budget_state(), self.session.options.report_path, baselines
        )
        self.warn_position_bias(session)

    def warn_position_bias(self, session: pytest.Session) -> None:
        """PositionBiasWarning naming the judges that followed the position (the run's merged ledger)."""
        from pytest_llmonpy.report import position_bias_message
        from pytest_llmonpy.warning_types import PositionBiasWarning

        message = position_bias_message(self.session.ledger)
        if message is None:
            return
        try:
            # About the run, not a line of code: no plugin source path in the warnings summary.
            warnings.warn_explicit(PositionBiasWarning(message), None, "pytest-llmonpy", 0, "pytest_llmonpy")
        except PositionBiasWarning:
            # `filterwarnings = error` made it an error: say so in the summary and fail the run, rather
            # than a traceback at session end.
            self.problems.append(f"PositionBiasWarning (an error by filterwarnings): {message}")
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for problem in self.problems:
            terminalreporter.write_line(f"pytest-llmonpy: {problem}", red=True, bold=True)
        if not self.session.ledger.used and not self.session.baselines.active:
            return
        from pytest_llmonpy.report import summary_lines

        terminalreporter.write_sep("=", "llm jury summary")
        for line in summary_lines(
            self.session.ledger,
            self.session.budget_state(),
            self.config.get_verbosity(),
            self.session.baselines,
            cache_mode=self.session.cache_mode(),
            display_id=lambda test_id: self.display_ids.get(test_id, test_id),
        ):
            terminalreporter.write_line(line)
