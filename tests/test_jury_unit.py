"""Unit tests of `Jury`'s async comparison, with scripted judges and no pytest run around it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from fake_judges import FakeJudgeCaller
from fake_llm_server import FakeLLMServer, running_server
from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.verdict import HungJuryError

JUDGES = ("judge-a", "judge-b", "judge-c")


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    # Its HTTP side goes unused: the fake caller hands requests to its script directly.
    with running_server() as server:
        yield server


def make_jury(server: FakeLLMServer, **settings: object) -> tuple[Jury, FakeJudgeCaller]:
    caller = FakeJudgeCaller(server)
    jury = Jury(JurySettings(judges=JUDGES, **settings), lambda: caller)  # type: ignore[arg-type]
    return jury, caller


def test_acompare_asks_each_judge_in_both_orders_and_records_the_comparison(server: FakeLLMServer) -> None:
    server.prefer("v2")
    jury, _ = make_jury(server)
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


def test_acompare_judges_off_the_callers_event_loop(server: FakeLLMServer) -> None:
    jury, caller = make_jury(server)
    judged_in: list[int] = []
    original = caller.judge_calls

    def spy(*args: object, **kwargs: object) -> object:
        judged_in.append(threading.get_ident())
        return original(*args, **kwargs)  # type: ignore[arg-type]

    caller.judge_calls = spy  # type: ignore[method-assign, assignment]

    async def main() -> int:
        await jury.acompare("one", "two", "Is better")
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert judged_in
    assert loop_thread not in judged_in


def test_acompare_rejects_a_bad_output_before_any_judge_is_asked(server: FakeLLMServer) -> None:
    jury, _ = make_jury(server)
    with pytest.raises(TypeError, match="bytes"):
        asyncio.run(jury.acompare(b"raw", "two", "Is better"))
    assert server.requests == []


def test_acompare_is_hung_when_abstentions_decide_it(server: FakeLLMServer) -> None:
    server.prefer("one", model="judge-a")
    server.judge("pass", content="not json at all")  # pairwise answers stay scripted by prefer()
    server.inject(model="judge-b", content="garbage", times=2)
    server.inject(model="judge-c", content="garbage", times=2)
    jury, _ = make_jury(server)
    with pytest.raises(HungJuryError):
        asyncio.run(jury.acompare("one", "two", "Is better"))
