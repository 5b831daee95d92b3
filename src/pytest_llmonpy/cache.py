"""The verdict cache: one JSON entry per judge vote, in diskcache, keyed by a hash of all it depends on.

Safe to share between xdist workers and pytest runs (SQLite underneath), and safe to copy between CI
runners: values are JSON text and the Disk below refuses to pickle or unpickle anything, so a
tampered cache cannot execute code. Any read or write problem becomes a CacheWarning and a miss.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import shutil
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import diskcache

from pytest_llmonpy.jsondisk import JsonOnlyDisk as BaseJsonOnlyDisk
from pytest_llmonpy.prompts import (
    MAX_TOKENS,
    PAIR_PROMPT_VERSION,
    PROMPT_VERSION,
    TEMPERATURE,
    Case,
    PairCase,
)
from pytest_llmonpy.untrusted import printable, redact_secrets
from pytest_llmonpy.verdict import Vote
from pytest_llmonpy.warning_types import CacheWarning

# Bump when the key recipe or the stored entry's shape changes: old entries then simply miss.
CACHE_SCHEMA = 1
VERDICTS_SUBDIR = "verdicts"
# Seconds to wait for a SQLite lock before giving up on one read or write (a miss, with a warning).
LOCK_TIMEOUT_S = 10

_README = """\
This directory holds pytest-llmonpy's cached judge verdicts (JSON in SQLite, never pickle).
Re-running an unchanged suite reuses them instead of calling the judges again.
Delete it, run pytest with --jury-cache-clear, or `python -m pytest_llmonpy cache clear` to start over.
"""
_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pytest-llmonpy.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)


class JsonOnlyDisk(BaseJsonOnlyDisk):
    """The verdict cache's Disk: str keys, JSON text values, never pickle."""

    store_name = "verdict cache"


Question = Case | PairCase


def prompt_version(case: Question) -> str:
    return PAIR_PROMPT_VERSION if isinstance(case, PairCase) else PROMPT_VERSION


def cache_keys(models: Iterable[str], case: Question) -> dict[str, str]:
    """Per judge model, the hash of everything that can change its vote on `case`.

    A pairwise call's key holds its two outputs in the order shown: each order is cached on its own.
    """
    material = {
        "schema": CACHE_SCHEMA,
        "prompt": prompt_version(case),
        "temperature": TEMPERATURE,
        "max_tokens": MAX_TOKENS,
        **asdict(case),
    }
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # The case is hashed once per check; each judge only adds its name (this is the cached hot path).
    shared = hashlib.sha256(blob.encode("utf-8"))
    keys = {}
    for model in models:
        digest = shared.copy()
        digest.update(b"\0model=" + model.encode("utf-8"))
        keys[model] = f"v{CACHE_SCHEMA}:{digest.hexdigest()}"
    return keys


def cache_key(model: str, case: Question) -> str:
    return cache_keys((model,), case)[model]


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
        "recorded_at": round(time.time(), 3),
        "prompt": prompt_version(case),
        "case": asdict(case),
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _decode(text: Any) -> Entry:
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("schema") != CACHE_SCHEMA:
        raise ValueError("unexpected entry shape")
    pairwise = "first" in data["case"]
    if data["vote"] not in (("first", "second", "tie") if pairwise else ("pass", "fail")):
        raise ValueError(f"unexpected vote {data['vote']!r}")
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
    )
    return Entry(
        vote=vote,
        case=PairCase(**data["case"]) if pairwise else Case(**data["case"]),
        recorded_at=float(data["recorded_at"]),
        prompt=str(data["prompt"]),
    )


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


def clear_directory(root: Path) -> int:
    """Delete every cached verdict under `root`; returns how many entries there were (-1 if unreadable)."""
    target = root / VERDICTS_SUBDIR
    if not target.exists():
        return 0
    try:
        with diskcache.Cache(str(target), disk=JsonOnlyDisk, timeout=LOCK_TIMEOUT_S) as cache:
            count = len(cache)
    except Exception:
        count = -1
    shutil.rmtree(target, ignore_errors=True)
    return count


def _main_text(case: Question) -> str:
    return (case.first if isinstance(case, PairCase) else case.output)[:500]


class VerdictCache:
    """Cached judge votes under `root/verdicts`. Opened lazily; every failure is a warning and a miss."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: diskcache.Cache | None = None
        self._broken = False

    def _open(self, *, create: bool = True) -> diskcache.Cache | None:
        if self._cache is None and not create and not (self.root / VERDICTS_SUBDIR).is_dir():
            return None  # reading never creates the cache: a replay run on a fresh checkout leaves no trace
        if self._cache is None and not self._broken:
            try:
                prepare_directory(self.root)
                self._cache = diskcache.Cache(
                    str(self.root / VERDICTS_SUBDIR),
                    disk=JsonOnlyDisk,
                    timeout=LOCK_TIMEOUT_S,
                    eviction_policy="none",  # paid verdicts are never evicted behind the user's back
                    size_limit=2**40,
                    statistics=0,
                )
            except Exception as exc:
                self._broken = True
                self._warn("cannot be opened", exc)
        return self._cache

    def _warn(self, what: str, exc: BaseException) -> None:
        warnings.warn(
            CacheWarning(
                f"pytest-llmonpy verdict cache at {self.root} {what} ({type(exc).__name__}: "
                f"{printable(str(exc), 160)}); judging live instead. If this persists, clear it with "
                "--jury-cache-clear."
            ),
            stacklevel=3,
        )

    def get_many(self, models: Iterable[str], case: Question) -> dict[str, Vote]:
        """The cached votes on `case` of those `models` that have one."""
        cache = self._open(create=False)
        if cache is None:
            return {}
        found: dict[str, Vote] = {}
        for model, key in cache_keys(models, case).items():
            try:
                raw = cache.get(key)
            except (sqlite3.Error, OSError, ValueError, diskcache.Timeout) as exc:
                self._warn("could not be read", exc)
                continue
            if raw is None:
                continue
            try:
                found[model] = _decode(raw).vote
            except (ValueError, KeyError, TypeError) as exc:
                self._warn(f"has an unreadable entry for judge {model!r}", exc)
        return found

    def get(self, model: str, case: Question) -> Vote | None:
        return self.get_many((model,), case).get(model)

    def put(self, vote: Vote, case: Question) -> None:
        if vote.vote == "abstain":
            return  # an error or unparseable answer is not a verdict worth keeping
        cache = self._open()
        if cache is None:
            return
        try:
            cache.set(cache_key(vote.model, case), _encode(vote, case))
        except (sqlite3.Error, OSError, TypeError, diskcache.Timeout) as exc:
            self._warn("could not be written", exc)

    def entries(self) -> list[Entry]:
        """Every readable entry (for the stats command and replay-miss hints); skips broken ones."""
        cache = self._open(create=False)
        if cache is None:
            return []
        found = []
        try:
            for key in cache.iterkeys():
                try:
                    found.append(_decode(cache.get(key)))
                except (ValueError, KeyError, TypeError):
                    continue
        except (sqlite3.Error, OSError, ValueError, diskcache.Timeout) as exc:
            self._warn("could not be listed", exc)
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

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
