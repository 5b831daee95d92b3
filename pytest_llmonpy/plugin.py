"""pytest wiring: options, ini keys, the `jury` marker and fixtures, reporting hooks.

Every hook is thin: the work happens in JurySession (per-run state), the Ledger and report.py. Only
this module and config.py are imported at start-up: the jury, the ledger, baselines and reports are
imported on first use, so a run that never asks a jury pays almost nothing for the plugin.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
import warnings
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmonpy.config import (
    MARKER_ARGUMENTS,
    OPTIONS,
    JurySettings,
    RunOptions,
    build_settings,
    describe,
    jury_config_problem,
    marker_problem,
    run_options,
    settings_problem,
)
from pytest_llmonpy.fleet_settings import SharedStoreSettings

if TYPE_CHECKING:
    from pytest_llmonpy.baselines import BaselineChecks
    from pytest_llmonpy.judges import JudgeCaller
    from pytest_llmonpy.jury import Jury
    from pytest_llmonpy.progress import StatusLine
    from pytest_llmonpy.session import JurySession

# Set before any conftest or app module imports litellm: without it litellm downloads a price list
# from the internet at import time, and a test run must never touch the network by surprise.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

RUN_KEY = pytest.StashKey["LlmonpyRun"]()
JURY_KEY = pytest.StashKey["Jury"]()
BASELINE_KEY = pytest.StashKey["BaselineChecks"]()
CALL_PASSED_KEY = pytest.StashKey[bool]()
REPLAY_MISSES_KEY = pytest.StashKey[int]()
GROUP_SAMPLE_KEY = pytest.StashKey[str]()  # "pass", "fail" or "uncounted": what a grouped test counts as
# A CollectReport attribute: an xdist worker's report of that problem, raised by the controller.
USAGE_ERROR_ATTRIBUTE = "llmonpy_usage_error"
BASELINE_ATTRIBUTE = "llmonpy_baselines"
# xdist: each worker sends the controller the tests it collected per baseline file (for unused ones).
COLLECTED_OUTPUT = "llmonpy_baseline_tests"
# xdist: each worker sends the controller the records of its jury_factory juries.
SHARED_OUTPUT = "llmonpy_shared_juries"
# Redis outages a worker could not warn about (filterwarnings = error), for the controller's summary.
OUTAGE_OUTPUT = "llmonpy_redis_outages"
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


class LlmonpyRun:
    """This process's run: the settings read at start-up, and the JurySession built on first use."""

    def __init__(
        self, config: pytest.Config, settings: JurySettings, options: RunOptions, configured: bool
    ) -> None:
        self.config = config
        self.settings = settings
        self.options = options
        self.configured = configured  # some jury_* flag or ini key is set: worth a header line
        # What makes the flag/ini jury unable to judge (a quorum its judges cannot reach...), reported at
        # collection unless a marker of a collected test overrides it.
        self.problem = settings_problem(settings)
        self.status = live_status(config)
        # Per baseline file, the tests this process collected in its module (see BaselineRun).
        self.baseline_tests: dict[str, list[str]] = {}
        # Handed to the session (see JurySession.caller_factory): the plugin's own tests set it.
        self.caller_factory: Callable[[], JudgeCaller] | None = None
        # xdist controller: some worker was given this run's id, so it may have left a spend journal.
        self.has_workers = False
        self._session: JurySession | None = None

    @property
    def started(self) -> bool:
        return self._session is not None

    def session(self) -> JurySession:
        """The JurySession, imported and built on first use."""
        if self._session is None:
            from pytest_llmonpy.session import JurySession

            self._session = JurySession(self.settings, self.options)
            self._session.status = self.status() if self.status is not None else None
            self._session.caller_factory = self.caller_factory
            quiet_litellm_warnings(self.config)
        return self._session

    def test_settings(self, node: pytest.Item, jury_config: object) -> JurySettings:
        """The settings of one test: the run's, then `jury_config`, then its markers from the module
        outwards in; a problem fails the test at setup, before any judge is paid."""
        problem = jury_config_problem(jury_config)
        if problem is not None:
            pytest.fail(f"pytest-llmonpy: {problem}", pytrace=False)
        assert isinstance(jury_config, dict)
        markers = [marker.kwargs for marker in reversed(list(node.iter_markers("jury")))]
        settings = self.settings.overridden([jury_config, *markers])
        problem = settings_problem(settings)
        if problem:
            pytest.fail(f"pytest-llmonpy: {problem}", pytrace=False)
        return settings

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def quiet_litellm_warnings(config: pytest.Config) -> None:
    """Keep ignoring the warnings litellm silences at import: under `filterwarnings = error` pytest's
    per-test filters would turn them back into errors inside judge calls (every judge abstaining).

    Added when a run first uses a jury, not at start-up: pytest applies every filter line again in each
    phase of each test, which a suite that never asks a jury should not pay for. The ini lines cover
    the phases after this one; the filters set here, this one.
    """
    added = f"ignore:{LITELLM_QUIET_WARNINGS[0]}" in config.getini("filterwarnings")
    for message in LITELLM_QUIET_WARNINGS:
        if not added:
            config.addinivalue_line("filterwarnings", f"ignore:{message}")
        warnings.filterwarnings("ignore", message)


def run_of(config: pytest.Config) -> LlmonpyRun:
    return config.stash[RUN_KEY]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register every `--jury-*` flag and `jury_*` ini key of config.OPTIONS."""
    group = parser.getgroup("llmonpy", "LLM jury assertions (pytest-llmonpy)")
    for option in OPTIONS:
        if option.ini is None:
            group.addoption(
                option.flag, action="store_true", default=False, dest=option.name, help=option.help
            )
            continue
        group.addoption(option.flag, dest=option.name, default=None, help=option.help)
        parser.addini(option.name, option.help, type=option.ini, default=None)


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker, read and check the settings, and set up this process's run."""
    config.addinivalue_line(
        "markers",
        f"jury({', '.join(f'{name}=...' for name in MARKER_ARGUMENTS)}): "
        "override the jury settings for one test",
    )
    run = start_run(config)
    config.stash[RUN_KEY] = run
    if "litellm" in sys.modules:
        # An app that imported litellm in a conftest may call it before any jury does.
        quiet_litellm_warnings(config)
    if run.options.is_worker:
        return  # workers only judge; the controller (or a serial run) merges, reports and gates
    config.pluginmanager.register(JuryReporting(config, run), "llmonpy-reporting")
    if run.options.cache_clear:
        clear_cache(run.options.cache_root)
    if run.options.shared is not None and (run.settings.mode == "replay" or run.options.budget_key):
        check_shared_store(run.options.shared, run.options.budget_key, run.settings.mode)
    if run.options.calibrate:
        if getattr(config.option, "dist", "no") != "no":
            config.option.dist = "no"  # before xdist's own configure: its cases run concurrently here
        config.pluginmanager.register(Calibrating(config, run), "llmonpy-calibrating")


def option_value(config: pytest.Config, name: str) -> str | None:
    """A setting as typed: the flag, else the ini key (a list joined by lines), else None."""
    flag: str | None = config.getoption(name)
    if flag is not None and flag.strip():
        return flag
    ini: str | list[str] | None = config.getini(name)
    return "\n".join(ini) if isinstance(ini, list) else ini


def start_run(config: pytest.Config) -> LlmonpyRun:
    """Settings and run options from flags and ini keys; a bad value is a usage error."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)

    def value(name: str) -> str | None:
        return option_value(config, name)

    try:
        settings = build_settings(value, check=False)
        options = run_options(
            value,
            rootdir=config.rootpath,
            invocation_dir=config.invocation_params.dir,
            run_id=str(workerinput.get(WORKER_RUN_ID, "")) if workerinput else uuid.uuid4().hex,
            is_worker=workerinput is not None,
            switches={o.name: bool(config.getoption(o.name)) for o in OPTIONS if o.ini is None},
        )
    except ValueError as exc:
        raise pytest.UsageError(f"pytest-llmonpy: {exc}") from None
    configured = any((value(o.name) or "").strip() for o in OPTIONS if o.ini is not None)
    return LlmonpyRun(config, settings, options, configured)


def clear_cache(root: Path) -> None:
    """--jury-cache-clear, on the controller only: xdist workers start after it and must not wipe each
    other's work."""
    from pytest_llmonpy.cache import clear_directory

    try:
        clear_directory(root)  # empties it in place: another run using it keeps going
    except OSError as exc:  # a read-only cache: say so rather than run on stale verdicts
        raise pytest.UsageError(f"pytest-llmonpy: --jury-cache-clear: {exc}") from None


def check_shared_store(shared: SharedStoreSettings, budget_key: str | None, mode: str) -> None:
    """What cannot fall back to this machine must find Redis before any test: a replay run reads the
    fleet's verdicts there (each check would fail as a miss), and a budget key's budget is the fleet's
    spend (this runner alone would spend a whole budget again)."""
    from pytest_llmonpy.redis_store import unreachable

    problem = unreachable(shared)
    if problem is None:
        return
    if mode == "replay":
        raise pytest.UsageError(
            f"pytest-llmonpy: jury_mode is replay and the verdicts are in Redis at {shared.shown}, which "
            f"cannot be used ({problem}). Start Redis or fix jury_cache_url; to replay from this machine's "
            "cache only, run without jury_cache_url."
        )
    raise pytest.UsageError(
        f"pytest-llmonpy: jury_budget_key {budget_key!r} is a budget kept in Redis at {shared.shown}, which "
        f"cannot be used ({problem}). Start Redis or fix jury_cache_url; for a budget of this run alone, "
        "run without jury_budget_key."
    )


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """The effective jury (as the flags that reproduce it), the cache, the budget and the judge
    prompts, so a CI log says how verdicts were made; only when some jury setting is configured."""
    run = run_of(config)
    if not run.configured:
        return None
    from pytest_llmonpy.judge_request import is_local
    from pytest_llmonpy.prompts import fingerprint

    local = any(is_local(name) for name in run.settings.judges)
    return describe(run.settings, run.options, config.rootpath, fingerprint(local=local))


def live_status(config: pytest.Config) -> Callable[[], StatusLine] | None:
    """How to build the live "waiting for judges" line: for a run that judges in this process and prints
    to a terminal; none under -q, in an xdist worker (its output is not a terminal) or when piped.
    Decided at start-up, while pytest's capture is suspended; built on the first jury call."""
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

    def build() -> StatusLine:
        from pytest_llmonpy.progress import StatusLine

        # Under -v at once; otherwise only for a check that has waited a few seconds.
        return StatusLine(write, room, show_after_s=0.0 if config.get_verbosity() > 0 else STATUS_AFTER_S)

    return build


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: give every worker this run's id, so they share one budget counter."""
    run = run_of(node.config)
    run.has_workers = True
    node.workerinput[WORKER_RUN_ID] = run.options.run_id


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the cache, the judge caller and the budget counter, if this process opened them."""
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A bad `@pytest.mark.jury` fails its test here: a UsageError raised at collection on an xdist
    worker would crash the run."""
    for marker in item.iter_markers("jury"):
        problem = marker_problem(marker.args, marker.kwargs)
        if problem:
            pytest.fail(f"pytest-llmonpy: {problem}", pytrace=False)


@pytest.fixture
def jury_config() -> dict[str, Any]:
    """Jury settings for the tests of a directory: override it in a conftest.py to return a dict with
    the `@pytest.mark.jury` arguments (judges, quorum, mode, strategy, escalate_to, inconclusive,
    examples, group, min_pass_rate).

    It beats the command line and the ini file, and a marker beats it. The default returns {}."""
    return {}


@pytest.fixture
def jury_presets() -> dict[str, Any]:
    """Criteria presets of your own for the tests of a directory: override it in a conftest.py to
    return {name: criteria text, or {"criteria": ..., "version": N, "needs": ["context"]}}. They add
    to (or replace by name) the built-in presets and those of the jury_presets file. Default: {}."""
    return {}


@pytest.fixture
def jury(request: pytest.FixtureRequest, jury_config: dict[str, Any], jury_presets: dict[str, Any]) -> Jury:
    """A jury of LLM judges for this test: `jury.assert_passes(output, criteria)` / `jury.check(...)`.

    Judges, quorum, mode and endpoint come from `@pytest.mark.jury(...)` on the test, class or module,
    then the `jury_config` fixture, then --jury-* flags, then jury_* ini keys: the most specific wins.
    """
    run = run_of(request.config)
    settings = run.test_settings(request.node, jury_config)
    try:
        jury = run.session().new_jury(
            settings, request.node.nodeid, Path(request.node.path).parent, presets=jury_presets
        )
    except ValueError as exc:  # a jury_presets fixture that returned something unusable
        pytest.fail(f"pytest-llmonpy: {exc}", pytrace=False)
    request.node.stash[JURY_KEY] = jury
    return jury


@pytest.fixture(scope="session")
def jury_factory(request: pytest.FixtureRequest) -> Callable[..., Jury]:
    """Make a jury for a module- or session-scoped fixture: `jury_factory(name="...", quorum=...)`.

    Keyword arguments are those of `@pytest.mark.jury`, over the run's flags and ini keys (markers and
    `jury_config` don't apply: no single test owns such a jury). `name` labels its verdicts in the
    summary and the JSON report."""
    run = run_of(request.config)

    def make(name: str | None = None, **overrides: Any) -> Jury:
        problem = jury_config_problem(overrides)
        settings = run.settings.overridden([overrides]) if problem is None else run.settings
        problem = problem or settings_problem(settings)
        if problem is not None:
            raise pytest.UsageError(f"pytest-llmonpy: {problem.replace('jury_config', 'jury_factory', 1)}")
        try:
            return run.session().shared_jury(settings, name)
        except ValueError as exc:
            raise pytest.UsageError(f"pytest-llmonpy: {exc}") from None

    return make


@pytest.fixture
def llm_baseline(request: pytest.FixtureRequest, jury: Jury) -> BaselineChecks:
    """Compare this test's outputs with accepted baselines: `llm_baseline.assert_not_worse(output, criteria)`.

    Baselines live in `__llm_baselines__/<module>.json` next to the test module; record or accept them
    with --jury-baseline-update.
    """
    from pytest_llmonpy.baselines import BaselineChecks

    run = run_of(request.config)
    checks = BaselineChecks(
        jury,
        module=Path(request.node.path),
        test_name=request.node.nodeid.split("::", 1)[-1],
        update=run.options.baseline_update,
        texts=run.options.html_path is not None,  # the HTML report shows each baseline's diff
    )
    request.node.stash[BASELINE_KEY] = checks
    return checks


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Report a run-wide jury that cannot judge, and note the collected tests of each baseline file.

    Before -k/-m/--deselect: a deselected test still exists, so its baselines are not unused. A run that
    reruns failures (--lf, --sw) collects only part of the suite: it leaves the search for unused
    baselines out."""
    report_settings_problem(config, items)
    if config.getoption("lf", False) or config.getoption("stepwise", False):
        return
    from pytest_llmonpy.baseline_files import collected_baseline_tests, narrowed_modules

    narrowed = narrowed_modules(config.args, config.invocation_params.dir)
    run = run_of(config)
    run.baseline_tests.update(collected_baseline_tests(((Path(i.path), i.nodeid) for i in items), narrowed))


def report_settings_problem(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A jury the flags and ini keys configure but that cannot judge is a usage error, reported once,
    unless a `@pytest.mark.jury` of a collected test overrides it (then the other tests fail at setup)."""
    run = run_of(config)
    if run.problem is None or any(_markers_fix(run.settings, item) for item in items):
        return
    message = f"pytest-llmonpy: {run.problem}"
    if getattr(config, "workerinput", None) is None:
        raise pytest.UsageError(message)
    # A UsageError raised on an xdist worker crashes the run: the worker reports a collection error,
    # which the controller raises as this same UsageError (see JuryReporting.pytest_collectreport).
    report = pytest.CollectReport("", "failed", message, [])
    setattr(report, USAGE_ERROR_ATTRIBUTE, message)
    config.hook.pytest_collectreport(report=report)


def _markers_fix(settings: JurySettings, item: pytest.Item) -> bool:
    markers = [marker.kwargs for marker in reversed(list(item.iter_markers("jury")))]
    if not markers:
        return False
    try:
        return settings_problem(settings.overridden(markers)) is None
    except ValueError:
        return False  # a bad marker is reported at setup


def pytest_sessionfinish(session: pytest.Session) -> None:
    """xdist worker: hand the controller the baseline files' tests and the shared juries' records."""
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    run = session.config.stash.get(RUN_KEY, None)
    if workeroutput is None or run is None:
        return
    workeroutput[COLLECTED_OUTPUT] = run.baseline_tests
    if run.started:
        workeroutput[SHARED_OUTPUT] = run.session().shared_records()
        workeroutput[OUTAGE_OUTPUT] = run.session().undelivered_warnings()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Show the live status line only while the test itself runs."""
    run = run_of(item.config)
    status = run.session().status if run.started else None
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
    """Attach to the test's report what the controller needs: its jury record (also as JUnit
    properties), one-time notices, its baseline record, and the verdicts that explain a failure."""
    jury = item.stash.get(JURY_KEY, None)
    if jury is None and call.excinfo is None and (call.when != "teardown" or not run_of(item.config).started):
        # A test that asked no jury: nothing to attach (baselines need its jury; notices, attached at
        # teardown, need a session). Most tests of most runs end here.
        return (yield)
    count_replay_miss(item, call)
    record = jury_record(item, jury) if jury is not None and call.when == "teardown" else None
    report = yield
    if jury is not None and call.when == "call" and jury.settings.group is not None:
        count_in_group(item, jury, call, report)
    if jury is not None and report.when == "call" and report.failed and jury.estimated:
        # An estimate judged nothing: the checks it answered passed without a judge, so a failure
        # says nothing about the output. Shown, not failed.
        report.outcome = "skipped"
        report.wasxfail = "--jury-estimate: no judge was called, so this test's outcome says nothing"
    if record is not None:
        setattr(report, REPORT_ATTRIBUTE, record)
    if call.when == "teardown":
        attach_notices(item, report)
    attach_baselines(item, report)
    if jury is not None and report.when == "call" and report.failed:
        explain_failure(jury, report)
    return report


def count_in_group(
    item: pytest.Item, jury: Jury, call: pytest.CallInfo[None], report: pytest.TestReport
) -> None:
    """A test in a jury_group is one sample of the group's pass rate. Failed by its jury, it is
    reported as xfailed (the group's gate decides, at the end of the run); failed otherwise (an error,
    a hung jury, its own assert), it fails as usual and is not counted."""
    failed_by_jury = call.excinfo is not None and any(
        call.excinfo.value is error for error in jury.failures_raised
    )
    if item.get_closest_marker("xfail") is not None or hasattr(report, "wasxfail"):
        item.stash[GROUP_SAMPLE_KEY] = "uncounted"  # pytest's own xfail decides this test
    elif report.passed:
        item.stash[GROUP_SAMPLE_KEY] = "pass"
    elif report.failed and failed_by_jury:
        item.stash[GROUP_SAMPLE_KEY] = "fail"
        report.outcome = "skipped"
        report.wasxfail = f"counted against jury group {jury.settings.group!r}, whose pass rate is gated"
    else:
        item.stash[GROUP_SAMPLE_KEY] = "uncounted"  # skipped, or failed another way


def part_of_the_suite(config: pytest.Config) -> str | None:
    """How the run selected part of the suite (then a group's gate would judge a subset), or None."""
    option = config.option
    chosen = [
        name
        for name, used in (
            ("-k", getattr(option, "keyword", "")),
            ("-m", getattr(option, "markexpr", "")),
            ("--deselect", getattr(option, "deselect", None)),
            ("--lf", getattr(option, "lf", False)),
            ("--sw", getattr(option, "stepwise", False)),
            ("test ids", any("::" in arg for arg in config.args)),
        )
        if used
    ]
    return ", ".join(chosen) or None


def count_replay_miss(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    if call.excinfo is not None and type(call.excinfo.value).__name__ == "ReplayMissError":
        item.stash[REPLAY_MISSES_KEY] = item.stash.get(REPLAY_MISSES_KEY, 0) + 1  # for the summary


def jury_record(item: pytest.Item, jury: Jury) -> dict[str, object] | None:
    """At teardown, so checks made by fixtures during teardown are counted too. Properties added before
    the report exists land in it (and in JUnit XML), like record_property."""
    session = run_of(item.config).session()
    record = session.test_record(
        jury, item.stash.get(REPLAY_MISSES_KEY, 0), item.stash.get(GROUP_SAMPLE_KEY, None)
    )
    session.reported(item.nodeid)
    if record is not None:
        from pytest_llmonpy.report import junit_properties

        checks = item.stash.get(BASELINE_KEY, None)
        item.user_properties.extend(junit_properties(record, checks.results if checks is not None else None))
    return record


def attach_notices(item: pytest.Item, report: pytest.TestReport) -> None:
    run = run_of(item.config)
    notices = run.session().take_notices() if run.started else []
    if notices:
        setattr(report, NOTICES_ATTRIBUTE, notices)


def attach_baselines(item: pytest.Item, report: pytest.TestReport) -> None:
    checks = item.stash.get(BASELINE_KEY, None)
    if checks is None:
        return
    if report.when == "call":
        item.stash[CALL_PASSED_KEY] = report.passed
    elif report.when == "teardown":
        passed = item.stash.get(CALL_PASSED_KEY, False)
        setattr(report, BASELINE_ATTRIBUTE, {**checks.record(), "passed": passed})


def explain_failure(jury: Jury, report: pytest.TestReport) -> None:
    failures = jury.unexplained_failures()
    if failures:
        report.sections.append(("llm jury verdicts", "\n\n".join(v.explain() for v in failures)))


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    """`assert verdict == ...` explains every judge's vote."""
    module = sys.modules.get("pytest_llmonpy.verdict")
    if module is None:
        return None  # no Verdict exists before the jury module is imported
    from pytest_llmonpy.untrusted import printable

    verdict_type = module.Verdict
    verdict = left if isinstance(left, verdict_type) else right if isinstance(right, verdict_type) else None
    if verdict is None:
        return None
    other = right if verdict is left else left
    return [f"{printable(repr(verdict), 120)} {op} {other!r}", *verdict.explain().splitlines()]


class Calibrating:
    """--jury-calibrate: instead of collecting and running tests, measure the run's jury against the
    human labels found under the command line's paths (see calibration.py)."""

    def __init__(self, config: pytest.Config, run: LlmonpyRun) -> None:
        self.config = config
        self.run = run
        self.lines: list[str] = []
        self.problems: list[str] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> bool:
        """The paths name label files, not tests: nothing is collected."""
        session.items = []
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        """Ask the judges and the jury about every labelled case, through the verdict cache."""
        from pytest_llmonpy.calibration import CalibrationError, calibrate_paths, render, to_json

        jury_session = self.run.session()
        paths = [Path(self.config.invocation_params.dir, arg) for arg in self.config.args]
        try:
            result = calibrate_paths(paths, self.run.settings, jury_session.shared_jury)
        except CalibrationError as exc:
            raise pytest.UsageError(f"pytest-llmonpy: {exc}") from None
        self.lines = render(result)
        if self.run.options.min_kappa is not None:
            self.problems = result.below(self.run.options.min_kappa)
        report = self.run.options.calibration_report
        if report is not None:
            import json

            from pytest_llmonpy.report import write_atomically

            try:
                write_atomically(report, json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n")
            except OSError as exc:
                self.problems.append(f"could not write the calibration report {report}: {exc}")
        return True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Exit 1 when the jury's kappa is below --jury-min-kappa (or its report could not be written)."""
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if self.problems else pytest.ExitCode.OK

    @pytest.hookimpl(tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """The `llm jury calibration` section, before the jury summary (which says what it cost)."""
        if not self.lines:
            return
        terminalreporter.write_sep("=", "llm jury calibration")
        for line in self.lines:
            terminalreporter.write_line(line, yellow=line.startswith("warning:"))
        for problem in self.problems:
            terminalreporter.write_line(f"pytest-llmonpy: {problem}", red=True, bold=True)


class JuryReporting:
    """Run-level reporting hooks on the controller (or a serial run): ledger, budget gate, summary,
    report files. The JurySession is built only once there is something to merge or report."""

    def __init__(self, config: pytest.Config, run: LlmonpyRun) -> None:
        self.config = config
        self.run = run
        self.problems: list[str] = []
        # Test ids as pytest's own lines show them (relative to the invocation directory), for the
        # terminal only: the ledger, the JSON report and the cache keep the rootdir-relative node ids.
        self.display_ids: dict[str, str] = {}
        self.passed: list[str] = []  # tests whose call passed, for the search for unused baselines
        self.collected: dict[str, list[str]] = {}  # xdist workers' baseline files and their tests
        self.outages: list[str] = []  # xdist workers' Redis warnings that filterwarnings made errors

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Merge what a test's report carries: notices, its jury record, its baseline record."""
        notices = getattr(report, NOTICES_ATTRIBUTE, None)
        if isinstance(notices, list):
            self.print_notices(notices)
        record = getattr(report, REPORT_ATTRIBUTE, None)
        if isinstance(record, dict):
            self.run.session().ledger.add_test(report.nodeid, record)
            # pytest 9 takes the report's structured id, pytest 8 the node id string.
            node_id: Any = getattr(report, "id", report.nodeid)
            self.display_ids[report.nodeid] = str(self.config.cwd_relative_nodeid(node_id))
        if report.when == "call" and report.passed and "::" in report.nodeid:
            self.passed.append(report.nodeid)
        baselines = getattr(report, BASELINE_ATTRIBUTE, None)
        if isinstance(baselines, dict):
            self.run.session().baselines.add_test(baselines, passed=bool(baselines.get("passed")))

    def print_notices(self, notices: list[object]) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        from pytest_llmonpy.untrusted import printable

        for notice in notices:
            reporter.write_line(f"llmonpy: {printable(str(notice))}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Raise a worker's usage error on the controller (see report_settings_problem)."""
        message = getattr(report, USAGE_ERROR_ATTRIBUTE, None)
        if isinstance(message, str):
            raise pytest.UsageError(message)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """Merge an xdist worker's baseline files and shared juries' records."""
        output = getattr(node, "workeroutput", None) or {}
        for path, tests in output.get(COLLECTED_OUTPUT, {}).items():
            self.collected.setdefault(path, []).extend(tests)
        for label, record in output.get(SHARED_OUTPUT, {}).items():
            self.run.session().ledger.add_test(label, record)
        self.outages += output.get(OUTAGE_OUTPUT, [])

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """A check stopped by the budget fails the run even if the test swallowed the exception."""
        result = yield
        if self.run.started and self.run.session().ledger.blocked() and not session.testsfailed:
            session.testsfailed += 1
        return result

    def needs_session(self) -> bool:
        """Is there anything to merge, write or clean up at the end of the run?"""
        if self.run.started or self.run.options.report_path is not None or self.outages:
            return True
        options = self.run.options
        if any(
            path is not None for path in (options.export_path, options.disagreements_path, options.html_path)
        ):
            return True
        if self.run.options.max_cost is not None or self.run.baseline_tests or self.collected:
            return True
        if not self.run.has_workers:
            # Only this process's session (not started) or a worker writes a journal: nothing to find,
            # and naming the directory would probe the system temporary directory with a scratch file.
            return False
        from pytest_llmonpy.spend_journal import journal_directory

        return journal_directory(self.run.options.run_id).exists()  # workers judged, none reported

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Merge the lost and shared records, write baselines and report files, warn about bias."""
        if not self.needs_session():
            return
        from pytest_llmonpy.baseline_files import baseline_file
        from pytest_llmonpy.report import run_info, write_export, write_html, write_outputs

        jury_session = self.run.session()
        for label, record in jury_session.shared_records().items():
            jury_session.ledger.add_test(label, record)
        for test_id, record in jury_session.lost_records().items():
            jury_session.ledger.add_test(test_id, record)  # interrupted, or its worker killed, mid-test
        baselines = jury_session.baselines
        for node_id in self.passed:
            module, test = node_id.split("::", 1)
            baselines.add_passed(str(baseline_file(self.config.rootpath / module)), test)
        baselines.add_collected(self.collected)
        baselines.add_collected(self.run.baseline_tests)  # a serial run collected them itself
        baselines.find_unused()
        baselines.write(jury_session.lock_directory())
        self.problems = [*baselines.problems]
        if baselines.problems and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # asked to record, and could not
        estimating = "--jury-estimate (no judge was called)" if self.run.options.estimate else None
        jury_session.ledger.groups_not_gated = part_of_the_suite(self.config) or estimating
        failed_groups = [group for group in jury_session.ledger.group_gates() if not group.passed]
        gated = jury_session.ledger.groups_not_gated is None
        if failed_groups and gated and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # the tests xfailed; their group fails
        self.problems += write_outputs(
            jury_session.ledger, jury_session.budget_state(), self.run.options.report_path, baselines
        )
        if self.run.options.export_path is not None:
            self.problems += write_export(jury_session.ledger, self.run.options.export_path)
        if self.run.options.disagreements_path is not None:
            self.problems += write_export(
                jury_session.ledger, self.run.options.disagreements_path, disagreements=True
            )
        if self.run.options.html_path is not None:
            self.problems += write_html(
                jury_session.ledger,
                jury_session.budget_state(),
                baselines,
                run_info(self.run.settings),
                self.run.options.html_path,
            )
        self.warn_position_bias(session, jury_session)
        for message in dict.fromkeys([*self.outages, *jury_session.undelivered_warnings()]):
            # `filterwarnings = error` made Redis's warning an error, which must not fail the test that
            # met the outage: the summary says it, and the run fails, as warnings-as-errors asks.
            said = message.removeprefix("pytest-llmonpy: ")
            self.problems.append(f"CacheWarning (an error by filterwarnings): {said}")
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def warn_position_bias(self, session: pytest.Session, jury_session: JurySession) -> None:
        """PositionBiasWarning naming the judges that followed the position (the run's merged ledger)."""
        from pytest_llmonpy.report import position_bias_message
        from pytest_llmonpy.warning_types import PositionBiasWarning

        message = position_bias_message(jury_session.ledger)
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
        """The `llm jury summary` section, when a jury or a baseline was used."""
        for problem in self.problems:
            terminalreporter.write_line(f"pytest-llmonpy: {problem}", red=True, bold=True)
        if not self.run.started:
            return
        jury_session = self.run.session()
        if not jury_session.ledger.used and not jury_session.baselines.active:
            return
        from pytest_llmonpy.report import summary_lines

        terminalreporter.write_sep("=", "llm jury summary")
        for line in summary_lines(
            jury_session.ledger,
            jury_session.budget_state(),
            self.config.get_verbosity(),
            jury_session.baselines,
            cache_mode=jury_session.cache_mode(),
            display_id=lambda test_id: self.display_ids.get(test_id, test_id),
        ):
            terminalreporter.write_line(line)
