"""redis_store.py against a real redis-server on loopback: verdicts, rate-limit state, budgets, and what
happens when Redis fails (a warning once, then every call fails at once, never a hang)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from pytest_llmonpy import ratelimit
from pytest_llmonpy.budget import RunBudget
from pytest_llmonpy.cache import VerdictCache, cache_key
from pytest_llmonpy.fleet_settings import SharedStoreSettings, has_password, mask_password, parse_cache_url
from pytest_llmonpy.money import Cost
from pytest_llmonpy.prompts import Case
from pytest_llmonpy.ratelimit import Rate, SharedRateLimiter
from pytest_llmonpy.redis_store import (
    BUDGET_TTL_S,
    RedisBudget,
    RedisLink,
    RedisRateState,
    RedisVerdicts,
    SharedStoreFailed,
    unreachable,
)
from pytest_llmonpy.verdict import Vote
from pytest_llmonpy.warning_types import CacheWarning
from redis_server import RedisServer

CASE = Case(output="Refunds within 30 days.", criteria="Mentions the refund window")


def _vote(model: str = "judge-a", vote: Literal["pass", "fail"] = "pass") -> Vote:
    return Vote(model=model, vote=vote, reason="says 30 days", tokens_in=10, tokens_out=2, cost_usd=0.001)


@pytest.fixture
def link(redis_server: RedisServer) -> Iterator[RedisLink]:
    shared = RedisLink(SharedStoreSettings(redis_server.url, "unit", 3600.0), instead="carries on locally")
    yield shared
    shared.close()


def test_a_verdict_stored_by_one_runner_is_found_by_another_and_kept_locally(
    link: RedisLink, redis_server: RedisServer, tmp_path: Path
) -> None:
    first = VerdictCache(tmp_path / "runner1", shared=RedisVerdicts(link))
    first.put(_vote(), CASE)
    first.close()
    key = cache_key("judge-a", CASE)
    client = redis_server.client()
    stored = json.loads(str(client.get(f"llmonpy:unit:verdict:{key}")))
    assert (stored["vote"], stored["case"]["output"]) == ("pass", CASE.output)
    assert 0 < client.ttl(f"llmonpy:unit:verdict:{key}") <= 3600  # jury_cache_ttl

    second = VerdictCache(tmp_path / "runner2", shared=RedisVerdicts(link))
    found = second.get_many(["judge-a", "judge-b"], CASE)
    assert list(found) == ["judge-a"]
    assert found["judge-a"].cached
    second.close()
    # The find was copied into runner 2's own cache: it answers with Redis gone.
    alone = VerdictCache(tmp_path / "runner2")
    assert alone.get("judge-a", CASE) is not None
    alone.close()


def test_an_entry_in_redis_that_is_not_the_keys_judge_is_refused(
    link: RedisLink, redis_server: RedisServer, tmp_path: Path
) -> None:
    writer = VerdictCache(tmp_path / "writer", shared=RedisVerdicts(link))
    writer.put(_vote("judge-b", "fail"), CASE)
    writer.close()
    client = redis_server.client()
    forged = client.get(f"llmonpy:unit:verdict:{cache_key('judge-b', CASE)}")
    client.set(
        f"llmonpy:unit:verdict:{cache_key('judge-a', CASE)}", str(forged)
    )  # judge-b's under judge-a's key
    reader = VerdictCache(tmp_path / "reader", shared=RedisVerdicts(link))
    with pytest.warns(CacheWarning, match=r"unreadable entry for judge 'judge-a' \(in Redis at redis://"):
        assert list(reader.get_many(["judge-a", "judge-b"], CASE)) == ["judge-b"]
    reader.close()


def test_after_the_first_failure_the_link_is_down_for_the_run_warned_once(
    link: RedisLink, redis_server: RedisServer, tmp_path: Path
) -> None:
    verdicts = RedisVerdicts(link)
    verdicts.put("v2:" + "0" * 64, "{}")
    redis_server.kill()
    with pytest.warns(CacheWarning) as warned, pytest.raises(SharedStoreFailed, match="ConnectionError"):
        verdicts.get_many(["v2:" + "0" * 64])
    assert len(warned) == 1
    message = str(warned[0].message)
    assert f"Redis at {redis_server.url} failed (ConnectionError" in message
    assert message.endswith("this process carries on locally.")
    # Redis is back on the same port: this run still does not use it (no reconnect per call).
    revived = RedisServer(redis_server.binary)
    revived.port = redis_server.port
    revived.start()
    try:
        with pytest.raises(SharedStoreFailed):
            verdicts.get_many(["v2:" + "0" * 64])
        assert revived.client().dbsize() == 0
    finally:
        revived.stop()


def test_a_redis_that_never_answers_fails_within_the_timeout_instead_of_hanging(tmp_path: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections, never replies
        port = silent.getsockname()[1]
        link = RedisLink(SharedStoreSettings(f"redis://127.0.0.1:{port}/0", "unit"))
        with pytest.warns(CacheWarning, match="Timeout"), pytest.raises(SharedStoreFailed, match="Timeout"):
            RedisVerdicts(link).get_many(["v2:" + "0" * 64])
        assert unreachable(SharedStoreSettings(f"redis://127.0.0.1:{port}/0", "unit")) is not None
        link.close()


def test_the_cache_carries_on_locally_when_redis_fails(
    link: RedisLink, redis_server: RedisServer, tmp_path: Path
) -> None:
    cache = VerdictCache(tmp_path / "runner", shared=RedisVerdicts(link))
    redis_server.kill()
    with pytest.warns(CacheWarning, match="Redis at"):
        assert cache.get_many(["judge-a"], CASE) == {}
    cache.put(_vote(), CASE)  # stored locally, no second warning, no wait
    assert cache.get("judge-a", CASE) is not None
    cache.close()


def test_the_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from redis_server import running_redis

    with running_redis(password="s3cret-redis-pass") as server:
        settings = SharedStoreSettings(server.url, "unit")
        monkeypatch.delenv("LLMONPY_REDIS_PASSWORD", raising=False)
        problem = unreachable(settings)
        assert problem is not None
        assert "put the password in $LLMONPY_REDIS_PASSWORD" in problem
        monkeypatch.setenv("LLMONPY_REDIS_PASSWORD", "s3cret-redis-pass")
        assert unreachable(settings) is None
        # A password in the URL wins over the environment, and is masked wherever the URL is shown.
        monkeypatch.setenv("LLMONPY_REDIS_PASSWORD", "wrong-password")
        in_url = SharedStoreSettings(f"redis://:s3cret-redis-pass@127.0.0.1:{server.port}/0", "unit")
        assert unreachable(in_url) is None
        assert in_url.shown == f"redis://:***@127.0.0.1:{server.port}/0"


def test_one_budget_counts_every_charge_of_every_runner(link: RedisLink, redis_server: RedisServer) -> None:
    runners = [RunBudget(Cost(10_000), f"run{n}", RedisBudget(link, "pipeline-7")) for n in range(4)]

    def spend(budget: RunBudget) -> None:
        for _ in range(50):
            budget.charge(Cost(7))

    threads = [threading.Thread(target=spend, args=(budget,)) for budget in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [budget.spent().nano for budget in runners] == [1400] * 4
    assert 0 < redis_server.client().ttl("llmonpy:unit:budget:pipeline-7") <= BUDGET_TTL_S
    for budget in runners:
        budget.close(remove=True)


def test_a_budget_whose_redis_fails_goes_on_from_the_fleets_spend_last_seen(
    link: RedisLink, redis_server: RedisServer
) -> None:
    budget = RunBudget(Cost(1000), "run-fallback", RedisBudget(link, "pipeline-8"))
    redis_server.client().set("llmonpy:unit:budget:pipeline-8", 600)  # other runners spent 600
    budget.charge(Cost(100))
    redis_server.kill()
    with pytest.warns(CacheWarning):
        budget.charge(Cost(250))
    assert budget.spent().nano == 950
    assert budget.exhausted_state() is None
    budget.charge(Cost(50))
    assert budget.exhausted_state() is not None
    budget.close(remove=True)


@pytest.fixture
def frozen_wrong_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's clock an hour off: the fleet's limits must go by Redis's clock, not runners'."""
    monkeypatch.setattr(ratelimit, "_now", lambda: time.time() + 3600)


def test_rate_limit_slots_are_shared_and_spaced_by_the_servers_clock(
    link: RedisLink, redis_server: RedisServer, tmp_path: Path, frozen_wrong_clock: None
) -> None:
    rate = Rate(1, 60.0)  # slots 66 s apart: no reservation here can see its slot come due
    limiters = [
        SharedRateLimiter(tmp_path / f"runner{n}", {"judge-a": rate}, shared=RedisRateState(link))
        for n in range(4)
    ]
    waits: list[float] = []
    lock = threading.Lock()

    def reserve(limiter: SharedRateLimiter) -> None:
        for _ in range(3):
            wait = limiter.reserve("judge-a")
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=reserve, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Twelve distinct slots, one interval apart from 0: no two runners got the same one.
    slots = sorted(round(wait / rate.interval) for wait in waits)
    assert slots == list(range(12))
    assert all(abs(wait - round(wait / rate.interval) * rate.interval) < 5 for wait in waits)
    # A 429 pause one runner hits holds the others, also for a model with no limit.
    limiters[0].pause("judge-b", 30)
    assert 0 < limiters[3].paused_for("judge-b") <= 30
    assert not any(path.exists() for path in tmp_path.iterdir())  # nothing went to the local stores
    for limiter in limiters:
        limiter.close()


def test_the_limiter_keeps_limits_on_this_machine_when_redis_fails(
    link: RedisLink, redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = SharedRateLimiter(tmp_path / "local", {"judge-a": Rate(1, 60.0)}, shared=RedisRateState(link))
    assert limiter.reserve("judge-a") == 0.0
    redis_server.kill()
    monkeypatch.setattr(ratelimit, "_now", lambda: 1_000_000.0)  # this machine's clock, frozen
    with pytest.warns(CacheWarning, match="Redis at"):
        first_local = limiter.reserve("judge-a")
    assert first_local == 0.0  # the local store starts afresh
    assert limiter.reserve("judge-a") == pytest.approx(66.0)  # and spaces this machine's requests
    limiter.close()


def test_a_forged_schedule_in_redis_is_dropped_not_obeyed(
    link: RedisLink, redis_server: RedisServer, tmp_path: Path
) -> None:
    server_now = float(redis_server.client().time()[0])
    forged = json.dumps({"last": server_now + 1e9, "paused_until": 0.0, "updated_at": server_now})
    redis_server.client().set("llmonpy:unit:ratelimit:judge-a", forged)
    limiter = SharedRateLimiter(tmp_path / "local", {"judge-a": Rate(1, 60.0)}, shared=RedisRateState(link))
    assert limiter.reserve("judge-a") < 5  # not a billion seconds
    limiter.close()


def test_a_budget_key_redis_holds_something_else_in_is_not_trusted(
    link: RedisLink, redis_server: RedisServer
) -> None:
    redis_server.client().set("llmonpy:unit:budget:pipeline-9", "-500")  # not a spend the plugin wrote
    budget = RunBudget(Cost(1000), "run-forged", RedisBudget(link, "pipeline-9"))
    with pytest.warns(CacheWarning, match="not a spend in nano-dollars"):
        assert budget.spent().nano == 0
    budget.charge(Cost(400))  # counted locally from here
    assert budget.spent().nano == 400
    budget.close(remove=True)


@pytest.mark.parametrize(
    ("url", "shown", "has"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0", True),
        ("redis://ci:p@ss:w/rd@host:6379/0", "redis://ci:***@host:6379/0", True),  # unescaped @ : /
        ("redis://ci@host:6379/0", "redis://ci@host:6379/0", False),  # an ACL user; password from env
        ("rediss://host:6380/0", "rediss://host:6380/0", False),
        ("unix:///run/redis.sock", "unix:///run/redis.sock", False),
    ],
)
def test_a_password_in_the_url_is_never_shown(url: str, shown: str, has: bool) -> None:
    assert (mask_password(url), has_password(url)) == (shown, has)
    assert SharedStoreSettings(url, "x").shown == shown


@pytest.mark.parametrize(
    "url",
    [
        "redis://host:6379/0?password=hunter2",
        "redis://:hunt?er2@host:99999/0",
        "redis://:hunter2@host:port/0",
        "http://:hunter2@host/0",
    ],
)
def test_a_bad_url_is_refused_without_quoting_its_password(url: str) -> None:
    with pytest.raises(ValueError, match="jury_cache_url") as refused:
        parse_cache_url(url)
    assert "hunter2" not in str(refused.value)
    assert "hunt" not in str(refused.value)


def test_an_error_that_quotes_the_url_does_not_show_its_password() -> None:
    import redis

    url = "redis://ci:pa55-word@127.0.0.1:1/0"
    link = RedisLink(SharedStoreSettings(url, "unit"))

    def failing(client: redis.Redis) -> None:
        raise redis.ConnectionError(f"cannot use {url}")

    with pytest.warns(CacheWarning) as warned, pytest.raises(SharedStoreFailed) as failed:
        link.run(failing)
    assert "pa55-word" not in str(failed.value) + str(warned[0].message)
    assert "cannot use redis://ci:***@127.0.0.1:1/0" in str(failed.value)
    link.close()
