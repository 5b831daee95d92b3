"""End-to-end: `jury_cache_url` with a real redis-server on loopback. A fresh runner replays what another
recorded; the password stays out of every artefact; bad settings are usage errors; a replay run that
cannot reach Redis says so before any test; `llmonpy cache export/import --url` moves verdicts between
a local cache and Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer
from pytest_llmonpy.cli import main
from redis_server import RedisServer, running_redis
from test_cache_e2e import litellm_imported, litellm_probe
from test_cache_transfer_e2e import _llmonpy

JUDGES = "--jury-judges=judge-a,judge-b"
SUITE = """
import pytest

@pytest.mark.parametrize("n", range(4))
def test_answer(jury, n):
    jury.assert_passes(f"answer {n}", "Is a numbered answer")
"""


@pytest.mark.xdist_merge
@pytest.mark.fresh_process
def test_a_fresh_runner_replays_what_another_recorded_without_importing_litellm(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_jury: RunJury,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    probe = tmp_path_factory.mktemp("probe")
    litellm_probe(pytester, probe)
    pytester.makepyfile(SUITE)
    url = f"--jury-cache-url={redis_server.url}"
    run_jury(JUDGES, url, "--jury-cache-dir=runner1", in_this_process=True).assert_outcomes(passed=4)
    assert len(llm_server.calls()) == 8
    litellm_imported(probe)

    # Another runner: its own, empty, local cache; Redis has every verdict.
    result = run_jury(JUDGES, url, "--jury-cache-dir=runner2", "--jury-mode=replay")
    result.assert_outcomes(passed=4)
    assert len(llm_server.calls()) == 8
    assert litellm_imported(probe) == {"False"}
    assert not (pytester.path / "runner2").exists()  # replay reads; it leaves no local cache behind
    result.stdout.fnmatch_lines(["judge calls: 0 live, 8 cached (100% from cache)"])

    # A recording runner keeps local copies of what Redis answered.
    run_jury(JUDGES, url, "--jury-cache-dir=runner3").assert_outcomes(passed=4)
    assert len(llm_server.calls()) == 8
    assert litellm_imported(probe) == {"False"}
    assert len(list((pytester.path / "runner3" / "verdicts").iterdir())) > 0


@pytest.mark.xdist_merge
def test_a_replay_run_that_cannot_reach_redis_is_a_usage_error_before_any_test(
    pytester: pytest.Pytester, run_jury: RunJury, redis_server: RedisServer
) -> None:
    pytester.makepyfile(SUITE)
    redis_server.kill()
    result = run_jury(JUDGES, f"--jury-cache-url={redis_server.url}", "--jury-mode=replay")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pytest-llmonpy: jury_mode is replay and the verdicts are in Redis at "
            f"{redis_server.url}, which cannot be used (ConnectionError: *Connection refused*). Start "
            "Redis or fix jury_cache_url; to replay from this machine's cache only, run without "
            "jury_cache_url."
        ]
    )


@pytest.mark.xdist_merge
def test_a_record_run_without_redis_warns_and_judges_with_the_local_cache(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury, redis_server: RedisServer
) -> None:
    pytester.makepyfile(SUITE)
    llm_server.judge("fail", "no number", output_contains="answer 2")
    redis_server.kill()
    url = f"--jury-cache-url={redis_server.url}"
    result = run_jury(JUDGES, url)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [f"*CacheWarning: pytest-llmonpy: Redis at {redis_server.url} failed (ConnectionError*"]
    )
    assert len(llm_server.calls()) == 8
    # What it judged is in the local cache.
    run_jury(JUDGES, "--jury-mode=replay").assert_outcomes(passed=3, failed=1)
    assert len(llm_server.calls()) == 8


def test_the_password_from_the_environment_is_written_nowhere(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_inprocess: RunJury,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = "redis-pa55word-NEVER-SHOWN"
    pytester.makepyfile(SUITE)
    outputs = [
        "--jury-report=out/report.json",
        "--jury-html=out/report.html",
        "--jury-export=out/votes.jsonl",
    ]
    outputs.append("--junitxml=out/junit.xml")
    try:
        with running_redis(password=password) as server:
            url = f"--jury-cache-url={server.url}"
            monkeypatch.setenv("LLMONPY_REDIS_PASSWORD", "wrong-password")
            result = run_inprocess(JUDGES, url, "--jury-cache-dir=first", *outputs)
            result.assert_outcomes(passed=4)
            refused = (
                "*Redis at * failed (it refused the credentials (*); put the password in $LLMONPY_REDIS*"
            )
            result.stdout.fnmatch_lines([refused])
            monkeypatch.setenv("LLMONPY_REDIS_PASSWORD", password)
            run_inprocess(JUDGES, url, "--jury-cache-dir=second", *outputs).assert_outcomes(passed=4)
            assert len(llm_server.calls()) == 16
            run_inprocess(JUDGES, url, "--jury-cache-dir=third", "-v", *outputs).assert_outcomes(passed=4)
            assert len(llm_server.calls()) == 16  # the right password: Redis answered
            with_url = f"--jury-cache-url=redis://:{password}@127.0.0.1:{server.port}/0"
            result = run_inprocess(JUDGES, with_url, "--jury-cache-dir=fourth", "-v", *outputs)
            result.assert_outcomes(passed=4)
            result.stdout.fnmatch_lines(
                [f"llmonpy: cache fourth + Redis redis://:***@127.0.0.1:{server.port}/0*"]
            )
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    # Every file the runs wrote (reports, local caches, bytecode), and what they printed.
    written = [path.read_bytes() for path in pytester.path.rglob("*") if path.is_file()]
    written.append((result.stdout.str() + result.stderr.str()).encode())
    assert len(written) > 5
    assert not [data for data in written if password.encode() in data]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--jury-cache-url=http://cache:6379"],
            "*jury_cache_url 'http://cache:6379' is not a Redis URL; give a*",
        ),
        (
            ["--jury-cache-url=redis://:topsecret@cache:6379/x"],
            "*jury_cache_url 'redis://:***@cache:6379/x': the database after the host must be a number*",
        ),
        (
            ["--jury-cache-url=redis://h", "--jury-cache-ttl=soon"],
            "*jury_cache_ttl must be a duration of at least*",
        ),
        (
            ["--jury-cache-url=redis://h", "--jury-cache-namespace=a b"],
            "*jury_cache_namespace 'a b' must be 1 to*",
        ),
        (["--jury-budget-key=ci-1"], "*jury_budget_key 'ci-1' names a shared budget, but no jury_max_cost*"),
        (
            ["--jury-budget-key=ci-1", "--jury-max-cost=1"],
            "*jury_budget_key 'ci-1' shares the budget through Redis:*",
        ),
    ],
)
def test_bad_shared_store_settings_are_usage_errors(
    pytester: pytest.Pytester, run_inprocess: RunJury, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = run_inprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-llmonpy: {message}"])
    assert "topsecret" not in result.stderr.str()


def test_verdicts_move_between_a_local_cache_and_redis_as_json_lines(
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    run_inprocess: RunJury,
    redis_server: RedisServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES, "--jury-cache-dir=local").assert_outcomes(passed=4)  # a local cache only
    assert len(llm_server.calls()) == 8
    exported = tmp_path / "local.jsonl"
    assert (
        _llmonpy("cache", "export", str(exported), "--dir", str(pytester.path / "local"), capsys=capsys)[0]
        == 0
    )

    # Into Redis (namespace "fleet"); a fresh runner then replays from there.
    code, out, _ = _llmonpy(
        "cache", "import", str(exported), "--url", redis_server.url, "--namespace", "fleet", capsys=capsys
    )
    assert (code, out.strip()) == (
        0,
        f"imported 8 of 8 cached verdicts into Redis {redis_server.url} (namespace fleet) "
        "(8 added, 0 replaced, 0 already there)",
    )
    url = [f"--jury-cache-url={redis_server.url}", "--jury-cache-namespace=fleet"]
    run_inprocess(JUDGES, *url, "--jury-cache-dir=fresh", "--jury-mode=replay").assert_outcomes(passed=4)
    assert len(llm_server.calls()) == 8
    code, out, _ = _llmonpy(
        "cache", "stats", "--url", redis_server.url, "--namespace", "fleet", capsys=capsys
    )
    assert out.splitlines()[1] == "entries: 8"

    # And back out of Redis: the same lines, byte for byte.
    back = tmp_path / "redis.jsonl"
    code, out, _ = _llmonpy(
        "cache", "export", str(back), "--url", redis_server.url, "--namespace", "fleet", capsys=capsys
    )
    assert code == 0
    assert back.read_text() == exported.read_text()
    assert [json.loads(line)["key"][:3] for line in back.read_text().splitlines()] == ["v2:"] * 8

    code, out, _ = _llmonpy(
        "cache", "clear", "--url", redis_server.url, "--namespace", "fleet", capsys=capsys
    )
    assert out.strip() == f"cleared 8 cached verdicts from Redis {redis_server.url} (namespace fleet)"
    assert redis_server.client().dbsize() == 0

    # Redis gone: one line that says so, exit 1, no traceback.
    redis_server.kill()
    code, _, err = _llmonpy(
        "cache", "export", str(back), "--url", redis_server.url, "--namespace", "x", capsys=capsys
    )
    assert code == 1
    assert err.startswith(
        f"llmonpy: cache export: Redis {redis_server.url} (namespace x) failed: ConnectionError"
    )
    assert "Traceback" not in err
    with pytest.raises(SystemExit) as exited:
        main(["cache", "prune", "--keep-runs", "1", "--url", redis_server.url])
    assert exited.value.code == 2
    assert "--url acts on Redis: prune and --dir are for a local cache" in capsys.readouterr().err


def test_a_budget_key_whose_redis_cannot_be_reached_is_a_usage_error(
    pytester: pytest.Pytester, run_inprocess: RunJury, redis_server: RedisServer
) -> None:
    pytester.makepyfile(SUITE)
    redis_server.kill()
    result = run_inprocess(
        JUDGES, f"--jury-cache-url={redis_server.url}", "--jury-max-cost=1", "--jury-budget-key=ci-7"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pytest-llmonpy: jury_budget_key 'ci-7' is a budget kept in Redis at "
            f"{redis_server.url}, which cannot be used (ConnectionError: *). Start Redis or fix "
            "jury_cache_url; for a budget of this run alone, run without jury_budget_key."
        ]
    )


@pytest.mark.xdist_merge
def test_with_warnings_as_errors_a_redis_outage_still_fails_no_test(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury, redis_server: RedisServer
) -> None:
    pytester.makepyfile(SUITE)
    redis_server.kill()
    result = run_jury(
        JUDGES, f"--jury-cache-url={redis_server.url}", "-W", "error::pytest_llmonpy.CacheWarning"
    )
    result.assert_outcomes(passed=4)
    assert len(llm_server.calls()) == 8
    # The run fails, as warnings-as-errors asks, with the warning in its summary, not a traceback.
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    said = f"pytest-llmonpy: CacheWarning (an error by filterwarnings): Redis at {redis_server.url} failed"
    result.stdout.fnmatch_lines([said + " (ConnectionError*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_the_cache_command_takes_the_projects_namespace_and_ttl(
    pytester: pytest.Pytester,
    run_inprocess: RunJury,
    redis_server: RedisServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    pytester.makeini("[pytest]\njury_cache_namespace = shop\njury_cache_ttl = 2h\n")
    pytester.makepyfile(SUITE)
    run_inprocess(JUDGES).assert_outcomes(passed=4)
    exported = tmp_path / "local.jsonl"
    assert _llmonpy("cache", "export", str(exported), capsys=capsys)[0] == 0
    code, out, _ = _llmonpy("cache", "import", str(exported), "--url", redis_server.url, capsys=capsys)
    assert code == 0
    assert out.startswith(f"imported 8 of 8 cached verdicts into Redis {redis_server.url} (namespace shop)")
    client = redis_server.client()
    keys = [str(key) for key in client.keys("*")]
    assert len(keys) == 8
    assert all(key.startswith("llmonpy:shop:verdict:v2:") for key in keys)
    assert all(0 < client.ttl(key) <= 7200 for key in keys)
