"""Redis as the store a CI fleet shares (`jury_cache_url`): verdicts, rate-limit state, named budgets.

Only this module imports redis, and only a run that sets `jury_cache_url` imports it. Everything is
kept as JSON text (a budget as an integer) under `llmonpy:<namespace>:<kind>:<name>`, so an operator can
read it with redis-cli and nothing in it is ever unpickled.

Failure is bounded and said once: every command has a connect and a reply timeout, and one retry
without back-off (a pooled connection Redis closed since). After the first failure this process's
link is down for the rest of its run: every later call fails at once, without waiting out another
timeout, and each user of the link (verdict cache, rate limiter, budget) carries on with its local
store. One CacheWarning per process says what failed and what the run does instead.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

from pytest_llmonpy.fleet_settings import REDIS_PASSWORD_ENV, SharedStoreSettings, has_password, url_password
from pytest_llmonpy.untrusted import printable, redact_secrets
from pytest_llmonpy.warning_types import CacheWarning

if TYPE_CHECKING:
    import redis

# A Redis that accepts no connection, or answers no command, within these many seconds counts as down.
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 2.0
# A shared budget outlives its runs for this long after its last charge (a re-run of the pipeline
# draws on what is left), then Redis forgets it.
BUDGET_TTL_S = 7 * 86400
# Rate-limit state is about the next few seconds (a pause is at most ratelimit.MAX_PAUSE_S long).
RATE_STATE_TTL_S = 3600
# Keys fetched or written per round trip when listing, exporting, importing or clearing.
BATCH = 500

T = TypeVar("T")
U = TypeVar("U")


class SharedStoreFailed(Exception):
    """Redis cannot be reached, or failed a command; the message says why (never the password)."""


def _describe(exc: BaseException, settings: SharedStoreSettings) -> str:
    import redis

    if isinstance(exc, redis.AuthenticationError) or "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
        return f"it refused the credentials ({type(exc).__name__}); put the password in ${REDIS_PASSWORD_ENV}"
    text = str(exc)
    password = url_password(settings.url)
    if password:
        text = text.replace(password, "***")  # an error that quotes the URL must not show it
    text = printable(redact_secrets(text), 200)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RedisLink:
    """This process's connection to the fleet's Redis, shared by the cache, the limiter and the budget.

    Thread-safe (redis-py's pool is). `instead` finishes the one warning: what the run does without
    Redis ("uses the local verdict cache at ...").
    """

    def __init__(self, settings: SharedStoreSettings, *, instead: str = "") -> None:
        self.settings = settings
        self._instead = instead
        self._client: redis.Redis | None = None
        self._down: str | None = None
        self._lock = threading.Lock()
        self.undelivered: str | None = None  # the warning `filterwarnings = error` turned into an error

    def key(self, kind: str, name: str) -> str:
        return f"llmonpy:{self.settings.namespace}:{kind}:{name}"

    def _connect(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                import redis
                from redis.backoff import NoBackoff
                from redis.retry import Retry

                url = self.settings.url
                password = None if has_password(url) else os.environ.get(REDIS_PASSWORD_ENV) or None
                self._client = redis.Redis.from_url(
                    url,
                    password=password,
                    socket_connect_timeout=CONNECT_TIMEOUT_S,
                    socket_timeout=COMMAND_TIMEOUT_S,
                    # One retry for a pooled connection Redis closed since (a restart); none after a
                    # timeout, which would double the wait and could apply a write twice.
                    retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                    decode_responses=True,
                    client_name="pytest-llmonpy",
                )
            return self._client

    def run(self, operation: Callable[[redis.Redis], T]) -> T:
        """`operation` on the client; SharedStoreFailed (and, the first time, the warning) if Redis fails."""
        if self._down is not None:
            raise SharedStoreFailed(self._down)
        import redis

        try:
            return operation(self._connect())
        except (redis.RedisError, OSError, ValueError, TypeError) as exc:
            # ValueError and TypeError: a URL redis-py cannot use, or a value in Redis that is not what
            # the plugin wrote (see RedisBudget): the store cannot be trusted for the rest of the run.
            reason = _describe(exc, self.settings)
            with self._lock:
                first, self._down = self._down is None, self._down or reason
            if first:
                self._warn(reason)
            raise SharedStoreFailed(reason) from None

    def _warn(self, reason: str) -> None:
        message = (
            f"pytest-llmonpy: Redis at {self.settings.shown} failed ({reason}). For the rest of this run, "
            f"this process {self._instead or 'uses its local stores'}."
        )
        try:
            warnings.warn(CacheWarning(message), stacklevel=4)
        except CacheWarning:
            # `filterwarnings = error`: a Redis outage must still not fail the test that met it, nor
            # end the run in a traceback. Kept for the run's summary (the pytest wiring says it there).
            self.undelivered = message

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def unreachable(settings: SharedStoreSettings) -> str | None:
    """Why Redis cannot be used right now (one PING, no warning), or None when it answers."""
    import redis

    link = RedisLink(settings)
    try:
        link._connect().ping()
    except (redis.RedisError, OSError) as exc:
        return _describe(exc, settings)
    finally:
        link.close()
    return None


class RedisVerdicts:
    """Verdict cache entries (the JSON text `cache.py` stores locally), under the same keys."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._prefix = link.key("verdict", "")

    def get_many(self, keys: list[str]) -> list[str | None]:
        names = [self._prefix + key for key in keys]

        def fetch(client: redis.Redis) -> list[str | None]:
            return [None if text is None else str(text) for text in client.mget(names)]

        return self.link.run(fetch)

    @property
    def _ttl(self) -> int | None:
        ttl = self.link.settings.verdict_ttl_s
        return int(ttl) if ttl else None

    def put(self, key: str, text: str) -> None:
        self.link.run(lambda client: client.set(self._prefix + key, text, ex=self._ttl))

    def keys(self) -> list[str]:
        """Every verdict key of the namespace (SCAN: Redis stays responsive while it lists)."""
        pattern = self._prefix + "*"  # the namespace has no glob characters (config.parse_name)

        def scan(client: redis.Redis) -> list[str]:
            return [str(name)[len(self._prefix) :] for name in client.scan_iter(match=pattern, count=BATCH)]

        return self.link.run(scan)

    def items(self, keys: Iterable[str]) -> Iterator[tuple[str, str | None]]:
        """(key, stored text or None) for each key, one MGET per batch."""
        for batch in _batches(keys):
            yield from zip(batch, self.get_many(batch), strict=True)

    def put_many(self, entries: Iterable[tuple[str, str]]) -> None:
        """Write (key, text) pairs, a pipeline per batch (one round trip each)."""
        for batch in _batches(entries):

            def write(client: redis.Redis, chunk: list[tuple[str, str]] = batch) -> None:
                with client.pipeline(transaction=False) as pipe:
                    for key, text in chunk:
                        pipe.set(self._prefix + key, text, ex=self._ttl)
                    pipe.execute()

            self.link.run(write)

    def clear(self) -> int:
        """Delete every verdict of the namespace; how many there were."""
        keys = self.keys()
        for batch in _batches(self._prefix + key for key in keys):

            def delete(client: redis.Redis, chunk: list[str] = batch) -> None:
                client.unlink(*chunk)

            self.link.run(delete)
        return len(keys)


def _batches(items: Iterable[U]) -> Iterator[list[U]]:
    """`items` in lists of at most BATCH (one round trip each)."""
    batch: list[U] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


# Changes a stored text at the server's time `now`: the new text (None: unchanged), and a result.
TextUpdate = Callable[[str | None, float], tuple[str | None, T]]


class RedisRateState:
    """Rate-limit state per model (ratelimit.py's JSON), changed atomically for the whole fleet.

    An optimistic transaction (WATCH, read, MULTI/EXEC; redis-py retries it when another client wrote
    the key meanwhile) runs ratelimit.py's own update on the stored text, so the local store and Redis
    share one algorithm, not one in Python and one in Lua. The clock is Redis's (TIME): runners whose
    clocks disagree still space their requests on one timeline.
    """

    def __init__(self, link: RedisLink) -> None:
        self.link = link

    def update(self, slot: str, change: TextUpdate[T]) -> T:
        key = self.link.key("ratelimit", slot)

        results: list[T] = []

        def transaction(pipe: redis.client.Pipeline) -> None:
            raw = pipe.get(key)
            seconds, micros = pipe.time()
            text, result = change(None if raw is None else str(raw), seconds + micros / 1_000_000)
            pipe.multi()
            if text is not None:
                pipe.set(key, text, ex=RATE_STATE_TTL_S)
            results.append(result)  # the last attempt's: an attempt another client raced is retried

        def run(client: redis.Redis) -> T:
            results.clear()
            client.transaction(transaction, key)
            return results[-1]

        return self.link.run(run)

    def read(self, slot: str, look: TextUpdate[T]) -> T:
        """`look` at a slot's stored text without changing it: one round trip, no transaction."""
        key = self.link.key("ratelimit", slot)

        def run(client: redis.Redis) -> T:
            with client.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.time()
                raw, (seconds, micros) = pipe.execute()
            return look(None if raw is None else str(raw), seconds + micros / 1_000_000)[1]

        return self.link.run(run)


def _count(value: object) -> int:
    """A budget's spend as Redis holds it: a whole, non-negative number of nano-dollars; ValueError for
    anything else (a key someone else wrote), which takes the link down rather than trusting it."""
    text = "0" if value is None else str(value)
    if not text.isdigit():
        raise ValueError(f"the budget's key holds {text[:40]!r}, not a spend in nano-dollars")
    return int(text)


class RedisBudget:
    """What every run given the same `jury_budget_key` has spent, in nano-dollars (INCRBY is atomic)."""

    def __init__(self, link: RedisLink, name: str) -> None:
        self.link = link
        self._key = link.key("budget", name)

    def spent_nano(self) -> int:
        return self.link.run(lambda client: _count(client.get(self._key)))

    def charge(self, nano: int) -> int:
        """Add `nano`; the fleet's total after it."""

        def add(client: redis.Redis) -> int:
            with client.pipeline(transaction=True) as pipe:
                pipe.incrby(self._key, nano)
                pipe.expire(self._key, BUDGET_TTL_S)
                total, _ = pipe.execute()
            return _count(total)

        return self.link.run(add)
