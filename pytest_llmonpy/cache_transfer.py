"""`llmonpy cache export` / `import`: cached verdicts as reviewable JSON Lines, and back.

One line per cached vote, `{"entry": {...}, "key": "v2:<sha256>"}`, sorted by key, so two exports
diff line by line. The entry is the stored JSON as it is (the judge's vote, reason, tokens, cost and
the case it judged); the key is kept because it also hashes what the entry does not store (the
endpoint). An import checks every line before it writes anything, and then merges: a key the cache
lacks is added, and where both have one, the more recently recorded vote is kept. JSON only, never
pickle, in both directions. The same lines go to and from a Redis namespace (jury_cache_url), whose
entries are the same JSON under the same keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmonpy.cache import (
    CACHE_SCHEMA,
    VERDICTS_SUBDIR,
    ReadOnlyStore,
    open_writer,
    prepare_directory,
    read_entry,
    verdict_keys,
)
from pytest_llmonpy.untrusted import redact_secrets

if TYPE_CHECKING:
    from pytest_llmonpy.redis_store import RedisVerdicts

_KEY = re.compile(rf"v{CACHE_SCHEMA}:[0-9a-f]{{64}}")
# Problems listed before an import gives up (the count says how many more there were).
PROBLEMS_SHOWN = 10


class TransferError(ValueError):
    """A file that cannot be imported (every problem, by line), or a cache that cannot be read."""


@dataclass(frozen=True)
class Imported:
    added: int
    replaced: int  # the file's vote was recorded later than the cache's
    kept: int  # the cache's vote was as recent or more


def export_lines(root: Path) -> tuple[list[str], int]:
    """The cache's verdicts as JSON lines, sorted by key; and how many unreadable entries were skipped.
    Read through the read-only store: exporting never writes to the cache (nor needs to be able to)."""
    directory = root / VERDICTS_SUBDIR
    if not directory.is_dir():
        raise TransferError(f"no verdict cache at {root}")
    store = ReadOnlyStore(directory)
    try:
        return _lines((key, store.get(key)) for key in sorted(verdict_keys(store)))
    finally:
        store.close()


def export_shared_lines(shared: RedisVerdicts) -> tuple[list[str], int]:
    """The verdicts of a Redis namespace as JSON lines, sorted by key (SharedStoreFailed if it fails)."""
    return _lines(shared.items(sorted(shared.keys())))


def _lines(items: Iterable[tuple[str, Any]]) -> tuple[list[str], int]:
    lines, skipped = [], 0
    for key, raw in items:
        try:
            # A pickle or a row naming a file is refused while `items` reads it (RefusedEntry).
            read_entry(raw)
            entry = json.loads(raw, parse_constant=_refuse_constant)
            entry["reason"] = redact_secrets(str(entry.get("reason", "")))
            line = json.dumps(
                {"key": key, "entry": entry}, sort_keys=True, ensure_ascii=False, allow_nan=False
            )
        except (ValueError, KeyError, TypeError):
            skipped += 1
            continue
        lines.append(line)
    return lines, skipped


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a verdict can hold")


def _unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    names = [name for name, _ in pairs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"the member(s) {', '.join(repeated)} appear twice")
    return dict(pairs)


def checked_lines(lines: Iterable[str], source: str) -> list[tuple[str, str, float]]:
    """Every line as (key, entry as stored, recorded at), one per key (the latest recorded where a key
    repeats); TransferError naming each bad line."""
    found: dict[str, tuple[str, str, float]] = {}
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            key, stored, recorded_at = _checked(line)
        except Exception as exc:  # each bad line is named, whatever the json or the entry raised
            problems.append(f"{source}:{number}: {exc}")
            continue
        if key not in found or found[key][2] < recorded_at:
            found[key] = (key, stored, recorded_at)
    if problems:
        shown = problems[:PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        raise TransferError(
            f"{len(problems)} line(s) are not cached verdicts, so nothing was imported:\n  "
            + "\n  ".join(shown)
            + (f"\n  ... and {more} more" if more > 0 else "")
        )
    return list(found.values())


def _checked(line: str) -> tuple[str, str, float]:
    try:
        record = json.loads(line, parse_constant=_refuse_constant, object_pairs_hook=_unique_members)
    except ValueError as exc:
        raise ValueError(f"not a JSON object ({exc})") from None
    if not isinstance(record, dict) or set(record) != {"key", "entry"}:
        raise ValueError('not {"key": ..., "entry": ...}')
    key, entry = record["key"], record["entry"]
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(
            f"the key is not a verdict cache key of schema {CACHE_SCHEMA} (v{CACHE_SCHEMA}:<sha256>)"
        )
    if not isinstance(entry, dict):
        raise ValueError("the entry is not a JSON object")
    # Secrets of this machine's environment never go into its cache, whoever wrote the file.
    entry["reason"] = redact_secrets(str(entry.get("reason", "")))
    stored = json.dumps(entry, ensure_ascii=False, sort_keys=True, allow_nan=False)
    stored.encode("utf-8")  # a lone surrogate cannot be stored
    try:
        recorded_at = read_entry(stored).recorded_at
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"the entry is not a cached verdict ({type(exc).__name__}: {exc})") from None
    return key, stored, recorded_at


def _newer(existing: Any, recorded_at: float) -> bool | None:
    """Whether an entry recorded at `recorded_at` should replace `existing` (None: there is none)."""
    if existing is None:
        return None
    try:
        return bool(read_entry(existing).recorded_at < recorded_at)
    except (ValueError, KeyError, TypeError):
        return True  # a broken entry is worth replacing


def _merge(
    entries: list[tuple[str, str, float]], existing: Callable[[str], Any], write: Callable[[str, str], None]
) -> Imported:
    """Write each entry that the store lacks, or holds an older vote for (the later recorded wins)."""
    added = replaced = kept = 0
    for key, stored, recorded_at in entries:
        newer = _newer(existing(key), recorded_at)
        if newer is False:
            kept += 1
            continue
        if newer is None:
            added += 1
        else:
            replaced += 1
        write(key, stored)
    return Imported(added, replaced, kept)


def import_shared_lines(shared: RedisVerdicts, entries: list[tuple[str, str, float]]) -> Imported:
    """Merge checked entries into a Redis namespace, the later recorded vote winning. Not one
    transaction, unlike a local import: a runner may record the same key meanwhile, and either entry is
    a verdict recorded for that very question."""
    existing = dict(shared.items(key for key, _, _ in entries))
    writes: list[tuple[str, str]] = []
    done = _merge(entries, existing.get, lambda key, stored: writes.append((key, stored)))
    shared.put_many(writes)
    return done


def import_lines(root: Path, entries: list[tuple[str, str, float]]) -> Imported:
    """Merge checked entries into the cache at `root` (created if needed), in one transaction."""
    prepare_directory(root)
    cache = open_writer(root / VERDICTS_SUBDIR)

    def write(key: str, stored: str) -> None:
        cache.set(key, stored)

    try:
        with cache.transact():
            return _merge(entries, cache.get, write)
    finally:
        cache.close()
