"""pytest wiring: options, ini keys, the `jury` marker and fixture. Hooks delegate to JurySession."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from pytest_llmonpy.jury import Jury
from pytest_llmonpy.session import OPTIONS, JurySession, build_settings, resolve_cache_dir
from pytest_llmonpy.settings import MARKER_ARGUMENTS, marker_problem
from pytest_llmonpy.untrusted import printable
from pytest_llmonpy.verdict import Verdict

SESSION_KEY = pytest.StashKey[JurySession]()
JURY_KEY = pytest.StashKey[Jury]()


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
        if name == "jury_judges":
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

    try:
        settings = build_settings(value)
    except ValueError as exc:
        raise pytest.UsageError(f"pytest-llmonpy: {exc}") from None
    cache_root = resolve_cache_dir(config.rootpath, value("jury_cache_dir"))
    forced_mode = settings.mode if config.getoption("jury_mode") else None
    config.stash[SESSION_KEY] = JurySession(settings, cache_root, forced_mode)
    if config.getoption("jury_cache_clear") and not hasattr(config, "workerinput"):
        # Only the controller clears: xdist workers start after it and must not wipe each other's work.
        from pytest_llmonpy.cache import clear_directory

        clear_directory(cache_root)


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

    Judges, quorum and endpoint come from --jury-* flags, jury_* ini keys, and
    `@pytest.mark.jury(judges=[...], quorum=...)` on the test.
    """
    session = request.config.stash[SESSION_KEY]
    settings = session.settings
    # Markers merge from the outermost (module, class) to the test's own, the closest winning.
    for marker in reversed(list(request.node.iter_markers("jury"))):
        settings = settings.with_marker(marker.kwargs)
    jury = session.new_jury(settings, request.node.nodeid)
    request.node.stash[JURY_KEY] = jury
    return jury


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    jury = item.stash.get(JURY_KEY, None)
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
