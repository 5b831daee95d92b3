"""Unit tests of the shared per-model rate limiter (parsing, spacing, pauses, processes, broken stores)."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import diskcache
import pytest

from pytest_llmonpy import ratelimit
from pytest_llmonpy.ratelimit import (
    MAX_PAUSE_S,
    SAFETY,
    Rate,
    SharedRateLimiter,
    default_directory,
    parse_rate_limits,
)
from pytest_llmonpy.warning_types import LlmonpyWarning

MODEL = "openai/gpt-4o-mini"
EXPECTED_FORM = "use <model>=<requests>/<unit> such as openai/gpt-4o-mini=500/min (units: s, min, h)"


def max_in_window(times: Sequence[float], width: float = 1.0) -> int:
    """The largest number of `times` inside any half-open window [t, t + width)."""
    ordered = sorted(times)
    best = 0
    end = 0
    for start, first in enumerate(ordered):
        end = max(end, start)
        while end < len(ordered) and ordered[end] < first + width:
            end += 1
        best = max(best, end - start)
    return best


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "ratelimits"


@pytest.fixture
def make_limiter(store: Path) -> Iterator[Any]:
    made: list[SharedRateLimiter] = []

    def make(limits: dict[str, Rate] | None = None, directory: Path | None = None) -> SharedRateLimiter:
        # No first-call guard: these tests check the spacing itself (the guard has its own test).
        limiter = SharedRateLimiter(
            directory or store, {} if limits is None else limits, first_call_guard_s=0
        )
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()


class FrozenClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(time.time())
    monkeypatch.setattr(ratelimit, "_now", frozen)
    return frozen


# --- parsing -------------------------------------------------------------------------------------------


def test_max_in_window_helper() -> None:
    assert max_in_window([]) == 0
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_window([0.0, 1.0, 2.0]) == 1  # half-open: t + 1 is the next window
    assert max_in_window([5.0] * 4 + [9.0]) == 4


def test_parse_good_forms() -> None:
    text = (
        "openai/gpt-4o-mini=500/min, judge-a=10/s\n  ollama/llama3:8b=3/HOUR,,judge-b=2/Second\tc=7/m d=1/sec"
    )
    assert parse_rate_limits(text) == {
        "openai/gpt-4o-mini": Rate(500, 60.0),
        "judge-a": Rate(10, 1.0),
        "ollama/llama3:8b": Rate(3, 3600.0),
        "judge-b": Rate(2, 1.0),
        "c": Rate(7, 60.0),
        "d": Rate(1, 1.0),
    }


@pytest.mark.parametrize("text", [None, "", "   ", " ,\n, \t"])
def test_parse_blank_is_no_limits(text: str | None) -> None:
    assert parse_rate_limits(text) == {}


@pytest.mark.parametrize(
    ("text", "entry", "reason"),
    [
        ("gpt=fast", "gpt=fast", "'/<unit>' is missing"),
        ("gpt=5", "gpt=5", "'/<unit>' is missing"),
        ("a=1/s gpt=500/day", "gpt=500/day", "unknown unit 'day'"),
        ("gpt=500/", "gpt=500/", "unknown unit ''"),
        ("gpt=0/min", "gpt=0/min", "positive integer"),
        ("gpt=-5/s", "gpt=-5/s", "positive integer"),
        ("gpt=1.5/s", "gpt=1.5/s", "positive integer"),
        ("gpt=/s", "gpt=/s", "positive integer"),
        ("gpt500/min", "gpt500/min", "no '='"),
        ("gpt = 500/min", "gpt", "no '='"),
        ("=5/s", "=5/s", "model name is missing"),
        ("gpt=1/s, other=2/s\ngpt=2/min", "gpt=2/min", "'gpt' is already limited by 'gpt=1/s'"),
    ],
)
def test_parse_bad_forms_name_the_entry_and_the_expected_form(text: str, entry: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid rate limit ") as excinfo:
        parse_rate_limits(text)
    message = str(excinfo.value)
    assert message.startswith(f"invalid rate limit {entry!r}: ")
    assert reason in message
    assert message.endswith(EXPECTED_FORM)
    assert "\n" not in message


def test_rate_validates_and_prints() -> None:
    assert str(Rate(500, 60)) == "500/min"
    assert str(Rate(10, 1.0)) == "10/s"
    assert str(Rate(3, 3600)) == "3/h"
    assert str(Rate(4, 2.5)) == "4/2.5s"
    assert Rate(4, 2.0).interval == pytest.approx(2.0 * (1 + SAFETY) / 4)
    for requests, per_s in [(0, 1.0), (-1, 1.0), (True, 1.0), (1, 0.0), (1, -1.0), (1, math.inf)]:
        with pytest.raises(ValueError, match="must be a positive"):
            Rate(requests, per_s)


def test_default_directory_is_per_user_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    if hasattr(os, "getuid"):
        assert default_directory() == tmp_path / f"pytest-llmonpy-ratelimits-{os.getuid()}"
        monkeypatch.delattr(os, "getuid")
    assert default_directory() == tmp_path / "pytest-llmonpy-ratelimits-user"


# --- one process ---------------------------------------------------------------------------------------


def test_unlimited_model_is_free_and_touches_nothing(make_limiter: Any, store: Path) -> None:
    limiter = make_limiter({"other": Rate(1, 60.0)})
    assert [limiter.reserve(MODEL) for _ in range(100)] == [0.0] * 100
    assert limiter.paused_for(MODEL) == 0.0
    limiter.close()
    assert not store.exists()


def test_slots_are_evenly_spaced(make_limiter: Any, clock: FrozenClock) -> None:
    rate = Rate(5, 1.0)
    limiter = make_limiter({MODEL: rate})
    waits = [limiter.reserve(MODEL) for _ in range(11)]
    interval = 1.0 * (1 + SAFETY) / 5
    assert waits == pytest.approx([k * interval for k in range(11)])
    # The N+1th request waits a whole window (plus the margin) and never 6 slots fit in one window.
    assert waits[5] == pytest.approx(1.0 * (1 + SAFETY))
    assert max_in_window(waits, 1.0) == 5
    assert max_in_window(waits, 1.0 * (1 + SAFETY)) == 5
    # Once the backlog has passed and the model was idle, the next request goes at once.
    clock.now += 30.0
    assert limiter.reserve(MODEL) == 0.0
    clock.now += interval / 2
    assert limiter.reserve(MODEL) == pytest.approx(interval / 2, abs=1e-6)


def test_limits_are_per_model(make_limiter: Any, clock: FrozenClock) -> None:
    limiter = make_limiter({"a": Rate(1, 10.0), "b": Rate(1, 10.0)})
    assert limiter.reserve("a") == 0.0
    assert limiter.reserve("b") == 0.0
    assert limiter.reserve("a") == pytest.approx(10.0 * (1 + SAFETY))


def test_real_clock_window(make_limiter: Any) -> None:
    limiter = make_limiter({MODEL: Rate(5, 1.0)})
    start = time.time()
    sends = [time.time() + limiter.reserve(MODEL) for _ in range(6)]
    assert sends[0] == pytest.approx(start, abs=0.1)
    assert sends[5] - start == pytest.approx(1.0 * (1 + SAFETY), abs=0.1)
    assert max_in_window(sends) == 5


def test_pause_delays_the_next_reservation(make_limiter: Any) -> None:
    limiter = make_limiter({MODEL: Rate(100, 1.0)})
    assert limiter.reserve(MODEL) == 0.0
    limiter.pause(MODEL, 2)
    assert limiter.reserve(MODEL) == pytest.approx(2.0, abs=0.1)
    assert limiter.paused_for(MODEL) == pytest.approx(2.0, abs=0.1)
    # Reservations queue up behind the pause, still spaced.
    assert limiter.reserve(MODEL) == pytest.approx(2.0 + 1.0 * (1 + SAFETY) / 100, abs=0.1)


def test_pause_keeps_the_later_deadline_and_is_clamped(make_limiter: Any, clock: FrozenClock) -> None:
    limiter = make_limiter({MODEL: Rate(100, 1.0)})
    limiter.pause(MODEL, 3)
    limiter.pause(MODEL, 1)
    assert limiter.paused_for(MODEL) == pytest.approx(3.0)
    limiter.pause(MODEL, 5)
    assert limiter.paused_for(MODEL) == pytest.approx(5.0)
    clock.now += 1.0
    assert limiter.reserve(MODEL) == pytest.approx(4.0)
    for nonsense in (0.0, -3.0, math.nan, math.inf):
        limiter.pause(MODEL, nonsense)
    assert limiter.paused_for(MODEL) == pytest.approx(4.0)
    limiter.pause(MODEL, 1e9)
    assert limiter.paused_for(MODEL) == pytest.approx(MAX_PAUSE_S)
    clock.now += MAX_PAUSE_S + 1
    assert limiter.paused_for(MODEL) == 0.0


def test_pause_of_an_unlimited_model_is_shared(make_limiter: Any, store: Path) -> None:
    pauser = make_limiter({})
    pauser.pause(MODEL, 2)
    assert store.is_dir()
    assert pauser.reserve(MODEL) == pytest.approx(2.0, abs=0.1)  # its own pause, without I/O
    other = make_limiter({})
    assert other.paused_for(MODEL) == pytest.approx(2.0, abs=0.1)


def test_store_holds_json_text_only(make_limiter: Any, store: Path) -> None:
    limiter = make_limiter({MODEL: Rate(10, 1.0)})
    limiter.reserve(MODEL)
    limiter.pause(MODEL, 1)
    limiter.close()
    with diskcache.Cache(str(store)) as raw:
        keys = list(raw)
        assert keys == [f"ratelimit:v1:{MODEL}"]
        value = raw.get(keys[0])
    assert isinstance(value, str)
    data = json.loads(value)
    assert set(data) == {"last", "paused_until", "updated_at"}
    assert data["paused_until"] > data["updated_at"] >= data["last"]


class _Trap:
    """Unpickling this creates the marker file: the store must never unpickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (self.marker,))


def test_pickled_and_garbled_entries_are_never_loaded(make_limiter: Any, store: Path, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    with diskcache.Cache(str(store)) as raw:
        raw.set(f"ratelimit:v1:{MODEL}", _Trap(marker))
        raw.set("ratelimit:v1:garbled", "{not json")
        now = time.time()
        # Written "10 days from now": the wall clock has stepped back since.
        stepped = {"last": now + 10 * 86400, "paused_until": now + 10 * 86400, "updated_at": now + 10 * 86400}
        raw.set("ratelimit:v1:stepped", json.dumps(stepped))
        # A backlog of slots ahead written just now is legitimate (a low limit with a queue of requests).
        raw.set(
            "ratelimit:v1:backlog", json.dumps({"last": now + 7200, "paused_until": 0, "updated_at": now})
        )
    limits = {name: Rate(1, 60.0) for name in (MODEL, "garbled", "stepped", "backlog")}
    limiter = make_limiter(limits)
    assert limiter.reserve(MODEL) == 0.0
    assert not marker.exists()
    assert limiter.reserve(MODEL) == pytest.approx(60 * (1 + SAFETY), abs=0.1)  # replaced by JSON
    assert limiter.reserve("garbled") == 0.0
    assert limiter.paused_for("stepped") == 0.0
    assert limiter.reserve("stepped") == 0.0
    assert limiter.reserve("backlog") == pytest.approx(7200 + 60 * (1 + SAFETY), abs=0.5)


# --- broken stores -------------------------------------------------------------------------------------


def test_corrupt_store_warns_once_and_does_not_wait(make_limiter: Any, store: Path) -> None:
    store.mkdir()
    (store / "cache.db").write_bytes(b"this is not a SQLite database\x00" * 100)
    limiter = make_limiter({MODEL: Rate(1, 60.0)})

    def use() -> list[float]:
        waits = [limiter.reserve(MODEL) for _ in range(3)]
        limiter.pause(MODEL, 1)
        return [*waits, limiter.paused_for("unlimited")]

    with pytest.warns(LlmonpyWarning, match="rate limits .* are not enforced") as record:
        waits = use()
    assert waits == [0.0, 0.0, 0.0, 0.0]
    assert len(record) == 1
    assert str(store) in str(record[0].message)
    assert "DatabaseError" in str(record[0].message)
    assert limiter.reserve(MODEL) == pytest.approx(1.0, abs=0.1)  # its own pause still holds


def test_symlinked_store_is_refused(make_limiter: Any, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    limiter = make_limiter({MODEL: Rate(1, 60.0)}, directory=link)
    with pytest.warns(LlmonpyWarning, match="not a plain directory") as record:
        waits = [limiter.reserve(MODEL) for _ in range(2)]
    assert waits == [0.0, 0.0]
    assert len(record) == 1
    assert list(target.iterdir()) == []


# --- across processes ----------------------------------------------------------------------------------


def _reserve_and_send(directory: str, count: int, barrier: Any, results: Any) -> None:
    warnings.simplefilter("error")  # a store warning in a worker fails the test through its exit code
    limiter = SharedRateLimiter(Path(directory), {MODEL: Rate(10, 1.0)}, first_call_guard_s=0)
    barrier.wait(60)
    sends = []
    for _ in range(count):
        time.sleep(limiter.reserve(MODEL))
        sends.append(time.time())
    limiter.close()
    results.put(sends)


def _reserve_burst(directory: str, count: int, barrier: Any, results: Any) -> None:
    warnings.simplefilter("error")
    limiter = SharedRateLimiter(Path(directory), {MODEL: Rate(1, 60.0)}, first_call_guard_s=0)
    barrier.wait(60)
    slots = []
    for _ in range(count):
        before = time.time()
        slots.append(before + limiter.reserve(MODEL))
    limiter.close()
    results.put(slots)


def _pause(directory: str, model: str, seconds: float, results: Any) -> None:
    warnings.simplefilter("error")
    limiter = SharedRateLimiter(Path(directory), {})
    limiter.pause(model, seconds)
    results.put(time.time())
    limiter.close()


def test_processes_share_the_limit(store: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_reserve_and_send, args=(str(store), 10, barrier, results)) for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    sends: list[float] = []
    for _ in workers:
        sends += results.get(timeout=60)
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert len(sends) == 30
    span = max(sends) - min(sends)
    busiest = max_in_window(sends, 1.0)
    print(f"30 sends over {span:.3f} s; at most {busiest} in any 1 s window")
    # Bounds a busy machine cannot break: it can only spread the sends further apart.
    assert busiest <= 10
    assert span >= 2.0


def test_concurrent_reservations_never_share_a_slot(store: Path) -> None:
    """Processes reserving at once (no sleeping) each get a slot of their own (no lost update)."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    results = ctx.Queue()
    workers = [ctx.Process(target=_reserve_burst, args=(str(store), 40, barrier, results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    slots: list[float] = []
    for _ in workers:
        slots += results.get(timeout=60)
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    interval = Rate(1, 60.0).interval
    first = min(slots)
    positions = [round((slot - first) / interval) for slot in slots]
    assert sorted(positions) == list(range(120))  # a lost update would book one slot twice
    for slot, position in zip(slots, positions, strict=True):
        assert slot - first == pytest.approx(position * interval, abs=0.5)


def test_pause_is_seen_by_other_processes(make_limiter: Any, store: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    paused_at: dict[str, float] = {}
    started: dict[str, float] = {}
    for model in (MODEL, "unlimited"):
        pauser = ctx.Process(target=_pause, args=(str(store), model, 3.0, results))
        started[model] = time.time()
        pauser.start()
        paused_at[model] = results.get(timeout=60)
        pauser.join(timeout=30)
        assert pauser.exitcode == 0
    limiter = make_limiter({MODEL: Rate(100, 1.0)})
    # Bracketed by clock readings around each event: true whatever the machine's speed.
    before = time.time()
    wait = limiter.reserve(MODEL)
    after = time.time()
    # The pause began between the child's start and its report (`paused_at`).
    assert started[MODEL] + 3.0 - after <= wait <= paused_at[MODEL] + 3.0 - before
    before = time.time()
    unlimited = limiter.paused_for("unlimited")
    after = time.time()
    assert started["unlimited"] + 3.0 - after <= unlimited <= paused_at["unlimited"] + 3.0 - before


def test_a_processs_first_request_holds_a_guard_of_slots(store: Path) -> None:
    limiter = SharedRateLimiter(store, {MODEL: Rate(10, 1.0)}, first_call_guard_s=0.5)
    other = SharedRateLimiter(store, {MODEL: Rate(10, 1.0)}, first_call_guard_s=0.5)
    interval = Rate(10, 1.0).interval
    assert limiter.reserve(MODEL) == 0.0
    # Its first call leaves late; the next request (another process's first) waits out the guard.
    assert other.reserve(MODEL) == pytest.approx(6 * interval, abs=0.05)
    assert limiter.reserve(MODEL) == pytest.approx(12 * interval, abs=0.05)
    limiter.close()
    other.close()
