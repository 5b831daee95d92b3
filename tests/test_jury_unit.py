"""Unit tests of `Jury`'s async comparison, with scripted judges and no pytest run around it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from fake_judges import FakeJudgeCaller
from fake_llm_server import FakeLLMServer, running_server
from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.recall import CacheOpener
from pytest_llmonpy.verdict import HungJuryError, Vote

JUDGES = ("judge-a", "judge-b", "judge-c")


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    # Its HTTP side goes unused: the fake caller hands requests to its script directly.
    with running_server() as server:
        yield server


@pytest.fixture
def made() -> Iterator[list[FakeJudgeCaller]]:
    callers: list[FakeJudgeCaller] = []
    yield callers
    for caller in callers:
        caller.close()  # its judge loop, when an async check started one


def make_jury(
    server: FakeLLMServer, made: list[FakeJudgeCaller], cache: CacheOpener = lambda: None, **settings: object
) -> tuple[Jury, FakeJudgeCaller]:
    caller = FakeJudgeCaller(server)
    made.append(caller)
    jury = Jury(JurySettings(judges=JUDGES, **settings), lambda: caller, cache=cache)  # type: ignore[arg-type]
    return jury, caller


def test_acompare_asks_each_judge_in_both_orders_and_records_the_comparison(
    server: FakeLLMServer, made: list[FakeJudgeCaller]
) -> None:
    server.prefer("v2")
    jury, _ = make_jury(server, made)
    comparison = asyncio.run(jury.acompare("summary v2", "summary v1", "Covers the main finding"))
    assert comparison.winner == "a"
    assert [vote.vote for vote in comparison.votes] == ["a", "a", "a"]
    assert jury.comparisons == [comparison]
    # Every judge saw the pair once in each order.
    shown = sorted((call.model, call.pair) for call in server.pair_calls())
    assert shown == sorted(
        (model, pair)
        for model in JUDGES
        for pair in [("summary v2", "summary v1"), ("summary v1", "summary v2")]
    )
    reversed_comparison = asyncio.run(jury.acompare("summary v1", "summary v2", "Covers the main finding"))
    assert reversed_comparison.winner == "b"


def test_acompare_drives_the_plan_on_the_judge_loop_never_on_the_callers(
    server: FakeLLMServer, made: list[FakeJudgeCaller]
) -> None:
    cache_used_in: list[str] = []

    def cache() -> None:  # the cache opener: called for every lookup and every store
        cache_used_in.append(threading.current_thread().name)

    jury, caller = make_jury(server, made, cache)
    asked_in: list[str] = []
    original = caller.ajudge_calls

    async def spy(*args: Any, **kwargs: Any) -> list[Vote]:
        asked_in.append(threading.current_thread().name)
        return await original(*args, **kwargs)

    caller.ajudge_calls = spy  # type: ignore[method-assign]

    async def main() -> str:
        await jury.acompare("one", "two", "Is better")
        return threading.current_thread().name

    callers_thread = asyncio.run(main())
    assert asked_in == ["llmonpy-judges"]  # one live batch: every judge in both orders
    assert len(cache_used_in) == 2 + 2 * len(JUDGES)  # a lookup per order, then each live vote stored
    assert set(cache_used_in) == {"llmonpy-judges"} != {callers_thread}


def test_the_callers_event_loop_runs_while_a_judge_is_held(
    server: FakeLLMServer, made: list[FakeJudgeCaller]
) -> None:
    jury, caller = make_jury(server, made)
    gate = server.hold_replies("judge-b")
    held = threading.Event()
    answer = caller._answer

    def arriving(model: str, question: Any, api_base: str | None) -> Vote:
        if model == "judge-b":
            held.set()  # judge-b's reply now waits for the gate
        return answer(model, question, api_base)

    caller._answer = arriving  # type: ignore[method-assign]

    async def main() -> bool:
        check = asyncio.create_task(jury.acheck("Paris", "Names the capital"))
        assert await asyncio.to_thread(held.wait, 60)
        # The check waits on judge-b, and this loop is free: it is the one that lets the judge answer.
        assert not check.done()
        gate.set()
        return bool(await check)

    assert asyncio.run(main())
    assert [call.model for call in server.calls()] == list(JUDGES)


def test_acompare_rejects_a_bad_output_before_any_judge_is_asked(
    server: FakeLLMServer, made: list[FakeJudgeCaller]
) -> None:
    jury, _ = make_jury(server, made)
    with pytest.raises(TypeError, match="bytes"):
        asyncio.run(jury.acompare(b"raw", "two", "Is better"))
    assert server.requests == []


def test_acompare_is_hung_when_abstentions_decide_it(
    server: FakeLLMServer, made: list[FakeJudgeCaller]
) -> None:
    server.prefer("one", model="judge-a")
    server.judge("pass", content="not json at all")  # pairwise answers stay scripted by prefer()
    server.inject(model="judge-b", content="garbage", times=2)
    server.inject(model="judge-c", content="garbage", times=2)
    jury, _ = make_jury(server, made)
    with pytest.raises(HungJuryError):
        asyncio.run(jury.acompare("one", "two", "Is better"))
