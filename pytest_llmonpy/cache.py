"""The verdict cache: one JSON entry per judge vote, in diskcache, keyed by a hash of all it depends on.

Safe to share between xdist workers and pytest runs (SQLite underneath), and safe to copy between CI
runners: values are JSON text kept inline in SQLite, and the Disk (jsondisk.py) refuses pickles and
rows that point at files, so a tampered cache can neither run code nor read or delete a file. Any read
or write problem becomes a CacheWarning and a miss.

Faults a run survives: the cache deleted or replaced under it (it notices, recreates it and
stores the verdict again), a read-only cache (read without diskcache, which cannot open one), a corrupt
one. Each run records which entries it used, once, at close, so `llmonpy cache prune` can drop the rest.
"""

from __future__ import annotations

import datetime
import difflib
import hashlib
import json
import math
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import diskcache

from pytest_llmonpy.jsondisk import JsonOnlyDisk as BaseJsonOnlyDisk
from pytest_llmonpy.jsondisk import RefusedEntry
from pytest_llmonpy.judge_request import judge_identity, shared_identity
from pytest_llmonpy.prompts import (
    PAIR_PROMPT_VERSION,
    PROMPT_VERSION,
    SCORE_PROMPT_VERSION,
    Case,
    Example,
    PairCase,
)
from pytest_llmonpy.untrusted import printable, redact_secrets
from pytest_llmonpy.verdict import Vote
from pytest_llmonpy.warning_types import CacheWarning

if TYPE_CHECKING:
    from pytest_llmonpy.redis_store import RedisVerdicts

# Bump when the key recipe or the stored entry's shape changes: old entries then simply miss.
CACHE_SCHEMA = 2
VERDICTS_SUBDIR = "verdicts"
# Seconds to wait for a SQLite lock before giving up on one read or write (a miss, with a warning).
LOCK_TIMEOUT_S = 10
# Verdicts found in the shared cache (Redis) are copied into the local one this many at a time.
COPY_BATCH = 256
# The cache's own bookkeeping shares its table (verdict keys start with "v<schema>:", never with this):
# the run registry, and per verdict the number of the last run that used it (for `cache prune`).
META_PREFIX = "llmonpy:"
RUNS_KEY = META_PREFIX + "runs"
USED_PREFIX = META_PREFIX + "used:"

_README = """\
This directory holds pytest-llmonpy's cached judge verdicts (JSON in SQLite, never pickle).
Re-running an unchanged suite reuses them instead of calling the judges again.
Start over with `llmonpy cache clear` or pytest's --jury-cache-clear (both keep this directory, so a
run using it meanwhile keeps its new verdicts); drop what recent runs did not use with
`llmonpy cache prune --keep-runs N`.
"""
_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pytest-llmonpy.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)


class JsonOnlyDisk(BaseJsonOnlyDisk):
    """The verdict cache's Disk: str keys, JSON text values inline, never pickle, never a file."""

    store_name = "verdict cache"


def _now() -> float:
    """Wall-clock seconds (tests replace this to date the runs)."""
    return time.time()


Question = Case | PairCase


def prompt_version(case: Question) -> str:
    if isinstance(case, PairCase):
        return PAIR_PROMPT_VERSION
    return PROMPT_VERSION if case.scale is None else SCORE_PROMPT_VERSION


def cache_keys(models: Iterable[str], case: Question, api_base: str | None = None) -> dict[str, str]:
    """Per judge model, the hash of the request it is sent about `case` (judge_request), which is all
    that can change its vote: messages as rendered, response schema and format, sampling, route.

    A pairwise call's key holds its two outputs in the order shown: each order is cached on its own.
    """
    blob = json.dumps(
        {"schema": CACHE_SCHEMA, **shared_identity(case)},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    # The shared part is hashed once per check; each judge adds only its own part (the cached hot path).
    shared = hashlib.sha256(blob.encode("utf-8"))
    keys = {}
    for model in models:
        digest = shared.copy()
        mine = json.dumps(judge_identity(model, api_base, case), sort_keys=True, ensure_ascii=False)
        digest.update(b"\0judge=" + mine.encode("utf-8"))
        keys[model] = f"v{CACHE_SCHEMA}:{digest.hexdigest()}"
    return keys


def cache_key(model: str, case: Question, api_base: str | None = None) -> str:
    return cache_keys((model,), case, api_base)[model]


@dataclass(frozen=True)
class Entry:
    """A stored vote plus the case it judged (kept so a replay miss can name the closest entry)."""

    vote: Vote
    case: Question
    recorded_at: float
    prompt: str


def _encode(vote: Vote, case: Question) -> str:
    data = {
        "schema": CACHE_SCHEMA,
        "model": vote.model,
        "vote": vote.vote,
        "reason": redact_secrets(vote.reason),
        "tokens_in": vote.tokens_in,
        "tokens_out": vote.tokens_out,
        "cost_usd": vote.cost_usd,
        "latency_s": round(vote.latency_s, 4),
        "attempts": vote.attempts,
        "score": vote.score,
        "recorded_at": round(_now(), 3),
        "prompt": prompt_version(case),
        "case": _case_fields(case),
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _case_fields(case: Question) -> dict[str, Any]:
    """The case as stored: a score's scale and a sample's seed only when set, so an entry of a plain
    check reads the same as before they existed (and an older release still reads it)."""
    fields = asdict(case)
    for name in ("scale", "seed"):
        if fields.get(name, 0) is None:
            del fields[name]
    return fields


def read_entry(text: Any) -> Entry:
    """A stored entry read back and checked (ValueError, KeyError or TypeError when it is not one)."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("schema") != CACHE_SCHEMA:
        raise ValueError("unexpected entry shape")
    pairwise = "first" in data["case"]
    scored = data["case"].get("scale") is not None
    expected = ("first", "second", "tie") if pairwise else ("score",) if scored else ("pass", "fail")
    if data["vote"] not in expected:
        raise ValueError(f"unexpected vote {data['vote']!r}")
    score = data.get("score")
    if scored != isinstance(score, (int, float)) or isinstance(score, bool):
        raise ValueError(f"unexpected score {score!r}")
    cost = data["cost_usd"]
    vote = Vote(
        model=str(data["model"]),
        vote=data["vote"],
        reason=str(data["reason"]),
        tokens_in=int(data["tokens_in"]),
        tokens_out=int(data["tokens_out"]),
        cost_usd=None if cost is None else float(cost),
        latency_s=float(data["latency_s"]),
        cached=True,
        attempts=int(data["attempts"]),
        score=score,
        seed=data["case"].get("seed"),
    )
    fields = dict(data["case"])
    fields["examples"] = tuple(Example(**example) for example in fields.get("examples", ()))
    if fields.get("scale") is not None:
        fields["scale"] = tuple(fields["scale"])  # a JSON list; a Case's scale is a tuple
    _check_types(fields, pairwise, vote, float(data["recorded_at"]))
    return Entry(
        vote=vote,
        case=PairCase(**fields) if pairwise else Case(**fields),
        recorded_at=float(data["recorded_at"]),
        prompt=str(data["prompt"]),
    )


def _check_types(fields: dict[str, Any], pairwise: bool, vote: Vote, recorded_at: float) -> None:
    """What an entry holds has the types and ranges a recorded vote has (an imported or edited entry
    might not): ValueError otherwise."""
    texts = ("first", "second", "criteria") if pairwise else ("output", "criteria")
    for name in texts:
        if not isinstance(fields.get(name), str):
            raise ValueError(f"the case's {name} is not a text")
    for name in ("input", "reference", "context", "preset"):
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise ValueError(f"the case's {name} is not a text")
    scale = fields.get("scale")
    if scale is not None:
        if len(scale) != 2 or not all(type(end) is int for end in scale):
            raise ValueError("the case's scale is not two integers")
        if vote.score is None or not scale[0] <= vote.score <= scale[1]:
            raise ValueError(f"the score {vote.score!r} is off the scale {scale[0]}-{scale[1]}")
    numbers = (
        vote.tokens_in,
        vote.tokens_out,
        vote.latency_s,
        vote.attempts,
        recorded_at,
        vote.cost_usd or 0,
    )
    if not all(math.isfinite(number) and number >= 0 for number in numbers):
        raise ValueError("a count, a cost or a time is negative or not a finite number")


def prepare_directory(root: Path) -> None:
    """Create the cache directory with a README, a .gitignore and a CACHEDIR.TAG (atomically)."""
    if root.is_dir():
        return
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; CI containers may read it as another user
    (staging / "README.md").write_text(_README, encoding="utf-8")
    (staging / ".gitignore").write_text("# created by pytest-llmonpy\n*\n", encoding="utf-8")
    (staging / "CACHEDIR.TAG").write_text(_CACHEDIR_TAG, encoding="utf-8")
    try:
        staging.rename(root)
    except OSError:
        # Another process (an xdist worker) created it first: theirs is as good as ours.
        shutil.rmtree(staging, ignore_errors=True)


def open_writer(directory: Path) -> diskcache.Cache:
    return diskcache.Cache(
        str(directory),
        disk=JsonOnlyDisk,
        timeout=LOCK_TIMEOUT_S,
        eviction_policy="none",  # paid verdicts are never evicted behind the user's back
        size_limit=2**40,
        statistics=0,  # on, every lookup would be a write transaction
    )


def verdict_keys(store: diskcache.Cache | ReadOnlyStore) -> Iterator[str]:
    for key in store.iterkeys():
        if not key.startswith(META_PREFIX):
            yield key


def clear_directory(root: Path) -> int:
    """Delete every cached verdict under `root`, in one transaction; returns how many there were.

    The database file stays: a run using it right now goes on storing its verdicts there (had the
    file been deleted, they would go into an unlinked file and be lost). A cache that cannot be opened
    (corrupt) is deleted instead: -1. OSError when it can be neither cleared nor deleted (read-only).
    """
    target = root / VERDICTS_SUBDIR
    if not target.exists():
        return 0
    try:
        cache = open_writer(target)
    except Exception as exc:
        shutil.rmtree(target, ignore_errors=True)
        if target.exists():
            raise OSError(f"cannot clear the verdict cache at {root}: {type(exc).__name__}: {exc}") from None
        return -1
    try:
        with cache.transact():
            try:
                count = sum(1 for _ in verdict_keys(cache))
            except RefusedEntry:
                count = len(cache)  # a forged (pickled) key: cleared all the same
            cache.clear()
    except (sqlite3.Error, diskcache.Timeout) as exc:
        raise OSError(f"cannot clear the verdict cache at {root}: {type(exc).__name__}: {exc}") from None
    finally:
        cache.close()
    return count


class ReadOnlyStore:
    """The reading half of a diskcache.Cache, for a cache that cannot be opened for writing.

    Hand-written because diskcache writes its settings whenever it opens a cache, so it cannot open
    one on a read-only mount or a restored CI cache at all. It reads diskcache's own `Cache` table
    and hands each row to the same Disk, so pickles and rows that point at files are refused alike.
    """

    def __init__(self, directory: Path) -> None:
        database = directory / diskcache.core.DBNAME
        if not database.is_file():
            raise FileNotFoundError(f"no {diskcache.core.DBNAME} in {directory}")
        self._disk = JsonOnlyDisk(str(directory))
        self._lock = threading.Lock()
        uri = database.resolve().as_uri()
        failure: sqlite3.Error | None = None
        # mode=ro reads a WAL database if its -shm file exists or can be created. Where neither is
        # possible (a read-only directory), immutable=1 reads it without locks or WAL: nothing can
        # write to it there either. diskcache checkpoints and drops the WAL when it closes a cache.
        for parameters in ("mode=ro", "immutable=1"):
            # Sync checks look verdicts up from their threads, async ones from the judge loop's: one
            # connection, used under a lock.
            connection = sqlite3.connect(
                f"{uri}?{parameters}", uri=True, timeout=LOCK_TIMEOUT_S, check_same_thread=False
            )
            try:
                connection.execute("SELECT key, raw, mode, filename, value FROM Cache LIMIT 1").fetchall()
            except sqlite3.Error as exc:
                connection.close()
                failure = exc
                continue
            self._connection = connection
            return
        assert failure is not None
        raise failure

    def get(self, key: str) -> Any:
        with self._lock:
            rows = self._connection.execute(
                "SELECT mode, filename, value FROM Cache WHERE key = ? AND raw = 1"
                " AND (expire_time IS NULL OR expire_time > ?)",
                (key, time.time()),
            ).fetchall()
        if not rows:
            return None
        ((mode, filename, value),) = rows
        return self._disk.fetch(mode, filename, value, False)

    def iterkeys(self) -> Iterator[str]:
        # raw = 0 keys are pickles: never loaded, so never listed.
        with self._lock:
            keys = self._connection.execute("SELECT key FROM Cache WHERE raw = 1 ORDER BY key").fetchall()
        for (key,) in keys:
            yield str(key)

    def volume(self) -> int:
        ((pages,),) = self._connection.execute("PRAGMA page_count").fetchall()
        ((size,),) = self._connection.execute("PRAGMA page_size").fetchall()
        return int(pages) * int(size)

    def close(self) -> None:
        self._connection.close()


@dataclass
class Runs:
    """The run registry: run numbers in order, each with its run id and when it started."""

    last: int = 0
    started: dict[int, tuple[str, float]] = field(default_factory=dict)

    @classmethod
    def load(cls, store: diskcache.Cache | ReadOnlyStore) -> Runs:
        try:
            data = json.loads(store.get(RUNS_KEY) or "{}")
            runs = cls(int(data.get("last", 0)))
            for number, run_id, started in data.get("runs", []):
                runs.started[int(number)] = (str(run_id), float(started))
        except (ValueError, TypeError, AttributeError):
            return cls()  # a damaged registry: runs are counted again from here
        return runs

    def save(self, cache: diskcache.Cache) -> None:
        runs = [[number, run_id, started] for number, (run_id, started) in sorted(self.started.items())]
        cache.set(RUNS_KEY, json.dumps({"last": self.last, "runs": runs}, separators=(",", ":")))

    def number(self, run_id: str, started: float) -> int:
        """The number of the run `run_id` (xdist workers of one run share it), new if it has none."""
        for number, (known, at) in self.started.items():
            if known == run_id:
                self.started[number] = (known, min(at, started))
                return number
        self.last += 1
        self.started[self.last] = (run_id, started)
        return self.last


def _last_uses(store: diskcache.Cache | ReadOnlyStore) -> tuple[Runs, list[str], dict[str, int]]:
    """The registry, the verdict keys, and per verdict key the last run that used it (when known)."""
    runs = Runs.load(store)
    keys: list[str] = []
    used: dict[str, int] = {}
    for key in store.iterkeys():
        if key.startswith(USED_PREFIX):
            try:
                used[key[len(USED_PREFIX) :]] = int(json.loads(store.get(key)))
            except (ValueError, TypeError):
                continue  # unknown: judged by its recording date
        elif not key.startswith(META_PREFIX):
            keys.append(key)
    return runs, keys, used


@dataclass(frozen=True)
class Usage:
    """How the last run that recorded its use of the cache used it (`cache stats`)."""

    entries: int
    last_run: int | None = None
    last_run_started: float | None = None
    unused_by_last_run: int = 0


@dataclass(frozen=True)
class PruneResult:
    removed: int
    kept: int


def _recorded_at(raw: Any) -> float | None:
    try:
        return read_entry(raw).recorded_at
    except (ValueError, KeyError, TypeError):
        return None


def prune(
    root: Path, *, keep_runs: int | None = None, before: datetime.date | None = None, dry_run: bool = False
) -> PruneResult:
    """Remove the verdicts not used by the last `keep_runs` runs and/or last used before `before`.

    With both, a verdict goes only if both say so. A verdict no run has recorded using (recorded by
    a version without usage tracking, or by a run that crashed) counts as used when it was recorded.
    Unreadable entries always go. One transaction: a run storing verdicts meanwhile waits for it.
    """
    if keep_runs is None and before is None:
        raise ValueError("give --keep-runs N and/or --before YYYY-MM-DD")
    if keep_runs is not None and keep_runs < 1:
        raise ValueError(f"--keep-runs must be at least 1, got {keep_runs}")
    directory = root / VERDICTS_SUBDIR
    if not directory.is_dir():
        return PruneResult(0, 0)
    cutoff = datetime.datetime.combine(before, datetime.time()).timestamp() if before else None
    with open_writer(directory) as cache, cache.transact():
        runs, keys, used = _last_uses(cache)
        kept_runs = set(range(runs.last - keep_runs + 1, runs.last + 1)) if keep_runs else set()
        kept_starts = [runs.started[n][1] for n in kept_runs if n in runs.started]
        oldest_kept = min(kept_starts) if kept_starts else None
        doomed: list[str] = []
        for key in keys:
            run = used.get(key)
            last_used = runs.started[run][1] if run in runs.started else _recorded_at(cache.get(key))
            if run is None and last_used is None:
                doomed.append(key)  # unreadable, and no run could use it
                continue
            if keep_runs is None:
                old_by_runs = True
            elif run is not None:
                old_by_runs = run not in kept_runs and run <= runs.last
            else:
                old_by_runs = oldest_kept is not None and last_used is not None and last_used < oldest_kept
            old_by_date = cutoff is None or (last_used is not None and last_used < cutoff)
            if old_by_runs and old_by_date:
                doomed.append(key)
        if not dry_run:
            gone = set(doomed)
            for key in doomed:
                cache.delete(key)
            alive = set(keys) - gone
            for key in used:
                if key not in alive:
                    cache.delete(USED_PREFIX + key)
            # Keep the registry small: the runs still named by a verdict, and those --keep-runs keeps.
            referenced = {run for key, run in used.items() if key in alive} | kept_runs | {runs.last}
            runs.started = {n: run for n, run in runs.started.items() if n in referenced}
            runs.save(cache)
    return PruneResult(removed=len(doomed), kept=len(keys) - len(doomed))


def _main_text(case: Question) -> str:
    return (case.first if isinstance(case, PairCase) else case.output)[:500]


class VerdictCache:
    """Cached judge votes under `root/verdicts`. Opened lazily; every failure is a warning and a miss.

    `run_id` is shared by the processes (xdist workers) of one pytest run; with it, close() records
    which entries the run used. `mode` is the run's jury mode: it decides what the warnings promise.
    """

    def __init__(
        self,
        root: Path,
        api_base: str | None = None,
        *,
        run_id: str | None = None,
        mode: str = "record",
        shared: RedisVerdicts | None = None,
    ) -> None:
        self.root = root
        # jury_cache_url: the fleet's Redis, asked for what the local cache lacks and given every new
        # verdict. The local cache is still written: it keeps what Redis loses, and serves when it fails.
        self.shared = shared
        self._copies: list[tuple[str, str]] = []  # Redis finds not yet copied into the local cache
        self.api_base = api_base  # part of every key: one model behind two endpoints is two judges
        self.run_id = run_id
        self.mode = mode
        self._cache: diskcache.Cache | ReadOnlyStore | None = None
        self._database = root / VERDICTS_SUBDIR / diskcache.core.DBNAME
        self._identity: tuple[int, int] | None = None  # (device, inode) of the database we opened
        self._broken = False
        self._warned: set[str] = set()
        # Keys this process found or stored: kept in memory (the hot path stays a read), written once
        # at close. A set of short strings: tens of thousands of verdicts cost a few MB at most.
        self._used: set[str] = set()
        self._started = _now()

    @property
    def read_only(self) -> bool:
        return isinstance(self._cache, ReadOnlyStore)

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self._database)
        except OSError:
            return None
        return (info.st_dev, info.st_ino)

    def _open(self, *, create: bool = True) -> diskcache.Cache | ReadOnlyStore | None:
        if self._cache is not None or self._broken:
            return self._cache
        if not create and not self._database.parent.is_dir():
            return None  # reading never creates the cache: a replay run on a fresh checkout leaves no trace
        try:
            prepare_directory(self.root)
            self._cache = open_writer(self._database.parent)
            self._identity = self._stat()
        except Exception as exc:
            try:
                self._cache = ReadOnlyStore(self._database.parent)
            except Exception:
                self._broken = True
                self._warn("cannot be opened", exc, self._unusable())
                return None
            if self.mode != "replay":  # replay only reads: nothing is lost, nothing to say
                self._warn_once(
                    "read-only",
                    f"pytest-llmonpy verdict cache at {self.root} cannot be written "
                    f"({type(exc).__name__}: {printable(str(exc), 160)}); it is used read-only: cached "
                    "verdicts are used, new verdicts are not stored.",
                )
        return self._cache

    def _current(self, *, create: bool) -> diskcache.Cache | ReadOnlyStore | None:
        """The open store, reopened when its database was deleted or replaced since we opened it.

        `rm -rf .llmonpy`, or an older version's `cache clear`, unlinks the file under a live run:
        SQLite would go on reading stale verdicts from it and writing new ones into it, all lost at
        close. One stat per lookup or write (microseconds) notices it.
        """
        cache = self._open(create=create)
        if cache is None or isinstance(cache, ReadOnlyStore) or self._stat() == self._identity:
            return cache
        self._close_store()
        self._warn_once(
            "vanished",
            f"pytest-llmonpy verdict cache at {self.root} was deleted or replaced during the run; "
            "reopened it (recreated if gone). Verdicts stored before that are gone; this run's later "
            "verdicts are stored in it.",
        )
        return self._open(create=create)

    def _unusable(self) -> str:
        if self.mode == "replay":
            return "no cached verdict can be used, so every replayed check fails"
        return "judging live, and new verdicts are not stored"

    def _missed(self) -> str:
        return (
            "treated as a miss (replay fails the check)" if self.mode == "replay" else "judging live instead"
        )

    def _warn(self, what: str, exc: BaseException, consequence: str) -> None:
        advice = "clear it with --jury-cache-clear"
        if self.mode == "replay":
            advice += " and record the verdicts again"
        warnings.warn(
            CacheWarning(
                f"pytest-llmonpy verdict cache at {self.root} {what} ({type(exc).__name__}: "
                f"{printable(str(exc), 160)}); {consequence}. If this persists, {advice}."
            ),
            stacklevel=3,
        )

    def _warn_once(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(CacheWarning(message), stacklevel=4)

    def get_many(self, models: Iterable[str], case: Question) -> dict[str, Vote]:
        """The cached votes on `case` of those `models` that have one: the local cache first, then the
        shared one (Redis) for the rest, whose finds are kept locally too."""
        keys = cache_keys(models, case, self.api_base)
        found = self._recall_local(keys, case)
        missing = [model for model in keys if model not in found]
        shared = self.shared  # read once: another thread may drop it when Redis fails
        if shared is not None and missing:
            self._recall_shared(shared, missing, keys, case, found)
        return found

    def _recall_local(self, keys: dict[str, str], case: Question) -> dict[str, Vote]:
        cache = self._current(create=False)
        if cache is None:
            return {}
        found: dict[str, Vote] = {}
        for model, key in keys.items():
            try:
                raw = cache.get(key)
            except RefusedEntry as exc:
                self._warn(f"has a forged entry for judge {model!r}", exc, self._missed())
                continue
            except (sqlite3.Error, OSError, ValueError, diskcache.Timeout) as exc:
                self._warn("could not be read", exc, self._missed())
                continue
            vote = self._vote(model, case, raw)
            if vote is not None:
                found[model] = vote
                self._used.add(key)
        return found

    def _recall_shared(
        self,
        shared: RedisVerdicts,
        missing: list[str],
        keys: dict[str, str],
        case: Question,
        found: dict[str, Vote],
    ) -> None:
        from pytest_llmonpy.redis_store import SharedStoreFailed

        try:
            texts = shared.get_many([keys[model] for model in missing])
        except SharedStoreFailed:
            self.shared = None  # the link warned once; the local cache carries the run from here
            return
        copies: list[tuple[str, str]] = []
        for model, raw in zip(missing, texts, strict=True):
            vote = self._vote(model, case, raw, where=f"Redis at {shared.link.settings.shown}")
            if vote is None:
                continue
            found[model] = vote
            copies.append((keys[model], str(raw)))
        if copies and self.mode != "replay":  # replay reads only; a record run keeps a local copy
            # Written in batches (one transaction each, the rest at close): a write per check would
            # cost more than the Redis read it saves. A copy lost in a crash is still in Redis.
            self._copies.extend(copies)
            if len(self._copies) >= COPY_BATCH:
                self._flush_copies()

    def _flush_copies(self) -> None:
        copies, self._copies = self._copies, []
        if copies:
            self._write_local(copies)

    def _vote(self, model: str, case: Question, raw: Any, where: str = "") -> Vote | None:
        """The vote a stored text holds, when it is `model`'s on `case`; a warning when unreadable."""
        if raw is None:
            return None
        try:
            entry = read_entry(raw)
            if entry.vote.model != model or entry.case != case:
                # The key says which judge and question; an entry that says otherwise was put
                # there by hand (an edited cache, an imported file), not recorded for this call.
                raise ValueError(
                    f"the entry under this key is judge {entry.vote.model!r}'s on another question"
                )
        except (ValueError, KeyError, TypeError) as exc:
            what = f"has an unreadable entry for judge {model!r}" + (f" (in {where})" if where else "")
            self._warn(what, exc, self._missed())
            return None
        return entry.vote

    def get(self, model: str, case: Question) -> Vote | None:
        return self.get_many((model,), case).get(model)

    def put(self, vote: Vote, case: Question) -> None:
        if vote.vote == "abstain":
            return  # an error or unparseable answer is not a verdict worth keeping
        key, text = cache_key(vote.model, case, self.api_base), _encode(vote, case)
        self._write_local([(key, text)])
        shared = self.shared  # read once: another thread may drop it when Redis fails
        if shared is not None:
            from pytest_llmonpy.redis_store import SharedStoreFailed

            try:
                shared.put(key, text)
            except SharedStoreFailed:
                self.shared = None  # the link warned once; the local cache has this verdict

    def _write_local(self, entries: list[tuple[str, str]]) -> None:
        """Store (key, text) pairs in the local cache, in one transaction."""
        cache = self._current(create=True)
        if cache is None or isinstance(cache, ReadOnlyStore):
            return  # unusable or read-only: said once when it was opened
        try:
            self._set_all(cache, entries)
            if self._stat() != self._identity:
                # Deleted between the check and the write: the write went into the unlinked file.
                cache = self._current(create=True)
                if cache is None or isinstance(cache, ReadOnlyStore):
                    return
                self._set_all(cache, entries)
        except (sqlite3.Error, OSError, TypeError, diskcache.Timeout) as exc:
            self._warn("could not be written", exc, "this verdict is not stored")
            return
        self._used.update(key for key, _ in entries)

    @staticmethod
    def _set_all(cache: diskcache.Cache, entries: list[tuple[str, str]]) -> None:
        if len(entries) == 1:  # a `set` is its own transaction: a recorded vote's write stays one
            cache.set(*entries[0])
            return
        with cache.transact():
            for key, text in entries:
                cache.set(key, text)

    def entries(self) -> list[Entry]:
        """Every readable entry (for the stats command and replay-miss hints); skips broken ones."""
        cache = self._current(create=False)
        if cache is None:
            return []
        found = []
        try:
            for key in verdict_keys(cache):
                try:
                    found.append(read_entry(cache.get(key)))
                except (ValueError, KeyError, TypeError):
                    continue
        except (sqlite3.Error, OSError, ValueError, diskcache.Timeout) as exc:
            self._warn("could not be listed", exc, "the list is incomplete")
        return found

    def closest(self, model: str, case: Question) -> tuple[Entry, list[str]] | None:
        """The recorded entry most like (model, case), and the names of the fields that differ."""
        best: tuple[float, Entry, list[str]] | None = None
        mine = asdict(case)
        for entry in self.entries():
            if type(entry.case) is not type(case):
                continue  # a pairwise entry is never "close" to a verdict, nor the other way round
            theirs = asdict(entry.case)
            differ = [name for name in mine if mine[name] != theirs[name]]
            if entry.vote.model != model:
                differ.insert(0, "judge")
            if entry.prompt != prompt_version(case):
                differ.append("judge prompt version")
            similarity = difflib.SequenceMatcher(None, _main_text(case), _main_text(entry.case)).ratio()
            score = -len(differ) + similarity / 2
            if best is None or score > best[0]:
                best = (score, entry, differ)
        return None if best is None else (best[1], best[2])

    def volume(self) -> int:
        cache = self._open(create=False)
        return int(cache.volume()) if cache is not None else 0

    def usage(self) -> Usage:
        """How many entries there are, and how many of them the last recorded run did not use."""
        cache = self._open(create=False)
        if cache is None:
            return Usage(entries=0)
        runs, keys, used = _last_uses(cache)
        if runs.last == 0:
            return Usage(entries=len(keys))
        started = runs.started.get(runs.last, ("", None))[1]
        unused = sum(1 for key in keys if used.get(key) != runs.last)
        return Usage(len(keys), runs.last, started, unused)

    def _record_usage(self) -> None:
        """Mark every entry this process used with the run's number, in one transaction."""
        if not self._used or self.run_id is None:
            return
        cache = self._current(create=False)
        if cache is None or isinstance(cache, ReadOnlyStore):
            return  # read-only or gone: prune will judge these entries by their recording date
        try:
            with cache.transact():
                runs = Runs.load(cache)
                number = runs.number(self.run_id, self._started)
                runs.save(cache)
                text = json.dumps(number)
                for key in self._used:
                    cache.set(USED_PREFIX + key, text)
        except (sqlite3.Error, OSError, TypeError, diskcache.Timeout) as exc:
            self._warn(
                "could not record which verdicts this run used",
                exc,
                "`llmonpy cache prune --keep-runs` will judge them by the date they were recorded",
            )
        self._used.clear()

    def _close_store(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
            self._identity = None

    def close(self) -> None:
        self._flush_copies()
        self._record_usage()
        self._close_store()
