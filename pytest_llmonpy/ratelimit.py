"""Per-model request rate limits (`jury_rate_limits`), shared by every process on the machine.

xdist workers and concurrent pytest runs of one user all reserve their request slots in one store (diskcache,
SQLite underneath), so "500/min" holds for everything this machine sends to that model, not per process.

Algorithm: virtual scheduling with even spacing (GCRA without a burst allowance). Each model's state is
the time of its last reserved slot and the deadline of a pause (a 429 with Retry-After). A reservation,
inside one SQLite write transaction, takes the slot

    t = max(now, last + interval, paused_until),    interval = per_s * (1 + SAFETY) / requests

stores it as the new `last` and returns `t - now`: how long the caller sleeps before sending.

Why even spacing and not a sliding window of the last N slots (which lets N requests go at once, then
nothing until the window has passed):
- Both keep any `per_s` window at or below the limit and both sustain 1 / (1 + SAFETY) ~ 91 % of it: with
  slots at least `interval` apart, any N + 1 consecutive slots span N * interval = per_s * (1 + SAFETY).
  So the sliding window adds nothing to the guarantee, only the burst (and an O(N) list per reservation).
- Providers enforce per-minute limits over shorter periods (OpenAI and Anthropic both document that
  e.g. 60/min may be enforced as 1/s), so a burst that is legal as "N per minute" still draws 429s.
  Evenly spaced requests stay under the limit at every granularity: any window of w seconds holds at
  most floor(w / interval) + 1 of them.
- The price is latency on a cold start: the first N requests of a burst are spread over one window
  instead of going at once, so a run of at most N requests can finish up to one window later. It only
  shows when the suite really sends faster than the limit; past the first window both send at the same rate.

SAFETY (10 % of the window, 100 ms for a per-second limit) absorbs the jitter between taking a slot and the
request reaching the server (sleep overshoot, scheduling, network): the server sees no more than the limit
in any `per_s` window as long as that jitter stays below SAFETY * per_s.

Wall-clock time (`time.time()`) is the only clock every process shares. Values are JSON text and the Disk
below refuses pickle, because the default store lives in the shared temporary directory. If the store
cannot be used at all, limits are not enforced (a wait of 0.0) and one LlmonpyWarning says why.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import diskcache

from pytest_llmonpy.jsondisk import JsonOnlyDisk, RefusedPickle
from pytest_llmonpy.shared_dirs import prepare_private_directory, user_temp_directory
from pytest_llmonpy.warning_types import LlmonpyWarning

if TYPE_CHECKING:
    from pytest_llmonpy.redis_store import RedisRateState

# Share of the window added to every interval: absorbs send jitter (see the module docstring).
SAFETY = 0.10
# How late a process's first request may leave after its slot (see SharedRateLimiter.reserve).
FIRST_CALL_GUARD_S = 0.25
# Seconds to wait for another process's SQLite lock before giving up on one reservation.
LOCK_TIMEOUT_S = 10
# The longest pause a 429 can impose (a larger Retry-After is clamped to it).
MAX_PAUSE_S = 600.0
# A state written more than this many seconds "in the future" means the wall clock stepped back: it is
# dropped, or every process would wait out the step. (A long backlog of slots ahead is legitimate.)
CLOCK_STEP_S = 2.0
# The furthest ahead a model's schedule of reserved slots can plausibly reach (a day of slots already
# taken); a state claiming more is dropped.
MAX_BACKLOG_S = 86400.0

_KEY_PREFIX = "ratelimit:v1:"
_UNITS: dict[str, float] = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_UNIT_NAMES = {1.0: "s", 60.0: "min", 3600.0: "h"}
_EXPECTED = "use <model>=<requests>/<unit> such as openai/gpt-4o-mini=500/min (units: s, min, h)"


def _now() -> float:
    """Wall-clock seconds, shared by all processes (tests replace this to freeze time)."""
    return time.time()


@dataclass(frozen=True)
class Rate:
    """At most `requests` requests per `per_s` seconds."""

    requests: int
    per_s: float

    def __post_init__(self) -> None:
        if isinstance(self.requests, bool) or not isinstance(self.requests, int) or self.requests <= 0:
            raise ValueError(f"requests must be a positive integer, got {self.requests!r}")
        if not (isinstance(self.per_s, (int, float)) and math.isfinite(self.per_s) and self.per_s > 0):
            raise ValueError(f"per_s must be a positive number of seconds, got {self.per_s!r}")

    @property
    def interval(self) -> float:
        """Seconds between two consecutive reserved slots, safety margin included."""
        return self.per_s * (1 + SAFETY) / self.requests

    def __str__(self) -> str:
        unit = _UNIT_NAMES.get(float(self.per_s))
        return f"{self.requests}/{unit}" if unit else f"{self.requests}/{self.per_s:g}s"


def _invalid(entry: str, reason: str | None = None) -> ValueError:
    why = f"{reason}; " if reason else ""
    return ValueError(f"invalid rate limit {entry!r}: {why}{_EXPECTED}")


def _parse_entry(entry: str) -> tuple[str, Rate]:
    model, eq, rate = entry.partition("=")
    if not eq:
        raise _invalid(entry, "no '=' (an entry has no spaces inside)")
    if not model:
        raise _invalid(entry, "the model name is missing")
    count, slash, unit = rate.partition("/")
    if not slash:
        raise _invalid(entry, "the '/<unit>' is missing")
    digits = count[1:] if count.startswith("-") else count
    if not (digits.isascii() and digits.isdigit()) or int(count) <= 0:
        raise _invalid(entry, "the number of requests must be a positive integer")
    seconds = _UNITS.get(unit.lower())
    if seconds is None:
        raise _invalid(entry, f"unknown unit {unit!r}")
    return model, Rate(int(count), seconds)


def parse_rate_limits(text: str | None) -> dict[str, Rate]:
    """Parse `jury_rate_limits`: `<model>=<N>/<unit>` entries separated by commas and/or whitespace.

    e.g. "openai/gpt-4o-mini=500/min, judge-a=10/s". None or blank gives {}. A bad entry or a model listed
    twice raises a ValueError that names the entry and shows the expected form.
    """
    limits: dict[str, Rate] = {}
    seen: dict[str, str] = {}
    for entry in (text or "").replace(",", " ").split():
        model, rate = _parse_entry(entry)
        if model in limits:
            raise _invalid(entry, f"{model!r} is already limited by {seen[model]!r}; list each model once")
        limits[model] = rate
        seen[model] = entry
    return limits


def default_directory() -> Path:
    """The store every pytest run of this user on this machine shares ($LLMONPY_RATELIMIT_DIR if set)."""
    explicit = os.environ.get("LLMONPY_RATELIMIT_DIR")
    if explicit:
        return Path(explicit)
    return user_temp_directory("ratelimits")


class _RateLimitDisk(JsonOnlyDisk):
    store_name = "rate limit store"


@dataclass(frozen=True)
class _State:
    last: float | None = None  # the latest reserved slot
    paused_until: float = 0.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _decode(raw: Any, now: float) -> _State:
    """A model's stored state; anything unreadable or implausible counts as no state (and is overwritten)."""
    if not isinstance(raw, str):
        return _State()
    try:
        data = json.loads(raw)
    except ValueError:
        return _State()
    if not isinstance(data, dict):
        return _State()
    updated_at = _number(data.get("updated_at"))
    if updated_at is None or updated_at > now + CLOCK_STEP_S:
        return _State()
    last = _number(data.get("last"))
    if last is not None and last > updated_at + MAX_BACKLOG_S:
        last = None  # not a schedule any run reserved: a forged or corrupt state would stop every call
    paused_until = _number(data.get("paused_until")) or 0.0
    if paused_until > updated_at + MAX_PAUSE_S:
        paused_until = 0.0
    return _State(last=last, paused_until=paused_until)


def _encode(state: _State, now: float) -> str:
    data = {"last": state.last, "paused_until": state.paused_until, "updated_at": now}
    return json.dumps(data, sort_keys=True)


class _StoreUnusable(Exception):
    pass


# Updates a model's state at `now`: the new state (None: unchanged) and the value to return.
_Update = Callable[[_State, float], tuple[_State | None, float]]


class SharedRateLimiter:
    """Per-model request limits shared by every process using the same directory (diskcache, SQLite).

    Thread-safe. Nothing is created on disk before the first reservation for a limited model or pause.
    Store failures never raise: limits then go unenforced (a wait of 0.0, or what is left of a pause
    this process set itself) and one LlmonpyWarning per limiter says why.
    """

    def __init__(
        self,
        directory: Path,
        limits: Mapping[str, Rate],
        *,
        first_call_guard_s: float = FIRST_CALL_GUARD_S,
        shared: RedisRateState | None = None,
    ) -> None:
        self._directory = Path(directory)
        # jury_cache_url: the state lives in Redis, for every runner of the fleet; this directory's
        # store takes over if Redis fails.
        self._shared = shared
        self._first_call_guard_s = first_call_guard_s
        self._limits: dict[str, Rate] = dict(limits)
        self._lock = threading.Lock()
        self._cache: diskcache.Cache | None = None
        self._unusable: str | None = None  # why the store could not be opened (not retried)
        self._warned = False
        # Pauses set through this limiter: honoured without I/O for unlimited models and when the store fails.
        self._local_pauses: dict[str, float] = {}
        self._reserved: set[str] = set()  # models this limiter has reserved for before

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def limits(self) -> Mapping[str, Rate]:
        return MappingProxyType(self._limits)

    def reserve(self, model: str, route: str = "") -> float:
        """Reserve the model's next request slot across all processes; seconds to wait before sending.

        Models without a limit return at once without I/O: 0.0, or what is left of a pause set through
        this limiter (pauses other processes set for them show in `paused_for`, not here).
        """
        rate = self._limits.get(model)
        slot = _slot_name(model, route)
        if rate is None:
            return self._local_pause_left(slot)
        interval = rate.interval
        # A process's first request to a model leaves late: litellm builds its HTTP client on first use
        # (tens of ms, more on a busy machine). It holds FIRST_CALL_GUARD_S of slots, so the requests
        # after it cannot reach the server right behind it.
        guard = self._first_call_guard_s
        # Slots wider than the guard already absorb the lag: no extra slot at low rates (10/h, 60/min).
        slots = 1 if slot in self._reserved or interval >= guard else 1 + math.ceil(guard / interval)
        self._reserved.add(slot)

        def take_slot(state: _State, now: float) -> tuple[_State | None, float]:
            slot = max(now, state.paused_until)
            if state.last is not None:
                slot = max(slot, state.last + interval)
            return _State(last=slot + (slots - 1) * interval, paused_until=state.paused_until), slot - now

        wait = self._update(slot, take_slot, create=True)
        return self._local_pause_left(slot) if wait is None else max(0.0, wait)

    def pause(self, model: str, seconds: float, route: str = "") -> None:
        """A 429 with Retry-After: no process sends to `model` until now + seconds.

        Keeps the later of an existing pause and this one; clamped to MAX_PAUSE_S; non-positive or
        non-finite seconds do nothing. Works for models without a configured limit too.
        """
        if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
            return
        seconds = min(float(seconds), MAX_PAUSE_S)
        with self._lock:
            until = _now() + seconds
            slot = _slot_name(model, route)
            self._local_pauses[slot] = max(self._local_pauses.get(slot, 0.0), until)

        def extend(state: _State, now: float) -> tuple[_State | None, float]:
            until = now + seconds
            if until <= state.paused_until:
                return None, 0.0
            return _State(last=state.last, paused_until=until), 0.0

        self._update(slot, extend, create=True)

    def paused_for(self, model: str, route: str = "") -> float:
        """Seconds left in a pause of `model` set by any process (0.0 if none)."""

        def left(state: _State, now: float) -> tuple[_State | None, float]:
            return None, max(0.0, state.paused_until - now)

        slot = _slot_name(model, route)
        shared = self._update(slot, left, create=False)
        return max(shared or 0.0, self._local_pause_left(slot))

    def close(self) -> None:
        """Close the store (a later call opens it again)."""
        with self._lock:
            cache, self._cache = self._cache, None
        if cache is not None:
            cache.close()

    def _local_pause_left(self, slot: str) -> float:
        until = self._local_pauses.get(slot)
        return 0.0 if until is None else max(0.0, until - _now())

    def _open(self, create: bool) -> diskcache.Cache | None:
        if self._cache is not None:
            return self._cache
        if self._unusable is not None:
            raise _StoreUnusable(self._unusable)
        if not create and not self._directory.is_dir():
            return None
        try:
            prepare_private_directory(self._directory)
            self._cache = diskcache.Cache(str(self._directory), timeout=LOCK_TIMEOUT_S, disk=_RateLimitDisk)
        except Exception as exc:  # any failure to open means: not enforced, and no retry per request
            self._unusable = _describe(exc)
            raise
        return self._cache

    def _update(self, slot: str, update: _Update, create: bool) -> float | None:
        """Run `update` on a slot's state in one cross-process transaction; None if the store failed."""
        shared = self._shared  # read once: another thread may drop it when Redis fails
        if shared is not None:
            from pytest_llmonpy.redis_store import SharedStoreFailed

            def change(raw: str | None, now: float) -> tuple[str | None, float]:
                new_state, result = update(_decode(raw, now), now)
                return (None if new_state is None else _encode(new_state, now)), result

            try:
                # Reading (a pause left, for a model without a limit) is on every call: no transaction.
                return shared.update(slot, change) if create else shared.read(slot, change)
            except SharedStoreFailed:
                self._shared = None  # the link warned once; this machine's store keeps the limits
        key = _KEY_PREFIX + slot
        try:
            with self._lock:
                cache = self._open(create)
                if cache is None:
                    return 0.0
                with cache.transact():
                    now = _now()  # read under the lock: waiting for it must not make `now` stale
                    try:
                        raw = cache.get(key)
                    except RefusedPickle:
                        raw = None
                    state = _decode(raw, now)
                    new_state, result = update(state, now)
                    if new_state is not None:
                        cache.set(key, _encode(new_state, now))
                return result
        except Exception as exc:  # a store problem must never fail a test: limits go unenforced
            self._warn(exc)
            return None

    def _warn(self, exc: Exception) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        reason = self._unusable or _describe(exc)
        warnings.warn(
            LlmonpyWarning(
                f"rate limits (jury_rate_limits) are not enforced: the shared store at {self._directory} "
                f"failed ({reason}); requests are sent without waiting for each other"
            ),
            stacklevel=4,
        )


def _slot_name(model: str, route: str) -> str:
    """Limits and pauses belong to a model at an endpoint: one model name served by two endpoints (a
    proxy and the provider, two proxies) is two separate budgets of requests."""
    return f"{model} @ {route}" if route else model


def _describe(exc: BaseException) -> str:
    if isinstance(exc, diskcache.Timeout):
        return f"no SQLite lock within {LOCK_TIMEOUT_S:g} s"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
