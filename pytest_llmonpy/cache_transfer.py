"""`llmonpy cache export` / `import`: cached verdicts as reviewable JSON Lines, and back.

One line per cached vote, `{"entry": {...}, "key": "v2:<sha256>"}`, sorted by key, so two exports
diff line by line. The entry is the stored JSON as it is (the judge's vote, reason, tokens, cost and
the case it judged); the key is kept because it also hashes what the entry does not store (the
endpoint). An import checks every line before it writes anything, and then merges: a key the cache
lacks is added, and where both have one, the more recently recorded vote is kept. JSON only, never
pickle, in both directions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pytest_llmonpy.cache import (
    CACHE_SCHEMA,
    VERDICTS_SUBDIR,
    open_writer,
    prepare_directory,
    read_entry,
    verdict_keys,
)

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
    """The cache's verdicts as JSON lines, sorted by key; and how many unreadable entries were skipped."""
    directory = root / VERDICTS_SUBDIR
    if not directory.is_dir():
        return [], 0
    cache = open_writer(directory)
    lines, skipped = [], 0
    try:
        for key in sorted(verdict_keys(cache)):
            raw = cache.get(key)
            try:
                read_entry(raw)
            except (ValueError, KeyError, TypeError):
                skipped += 1
                continue
            line = json.dumps({"key": key, "entry": json.loads(raw)}, sort_keys=True, ensure_ascii=False)
            lines.append(line)
    finally:
        cache.close()
    return lines, skipped


def checked_lines(lines: Iterable[str], source: str) -> list[tuple[str, str, float]]:
    """Every line as (key, entry as stored, recorded at); TransferError naming each bad line."""
    found: list[tuple[str, str, float]] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            found.append(_checked(line))
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{source}:{number}: {exc}")
    if problems:
        shown = problems[:PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        raise TransferError(
            f"{len(problems)} line(s) are not cached verdicts, so nothing was imported:\n  "
            + "\n  ".join(shown)
            + (f"\n  ... and {more} more" if more > 0 else "")
        )
    return found


def _checked(line: str) -> tuple[str, str, float]:
    try:
        record = json.loads(line)
    except ValueError:
        raise ValueError("not a JSON object") from None
    if not isinstance(record, dict) or set(record) != {"key", "entry"}:
        raise ValueError('not {"key": ..., "entry": ...}')
    key, entry = record["key"], record["entry"]
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(
            f"the key is not a verdict cache key of schema {CACHE_SCHEMA} (v{CACHE_SCHEMA}:<sha256>)"
        )
    stored = json.dumps(entry, ensure_ascii=False, sort_keys=True)
    try:
        recorded_at = read_entry(stored).recorded_at
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the entry is not a cached verdict ({type(exc).__name__}: {exc})") from None
    return key, stored, recorded_at


def import_lines(root: Path, entries: list[tuple[str, str, float]]) -> Imported:
    """Merge checked entries into the cache at `root` (created if needed), in one transaction."""
    prepare_directory(root)
    cache = open_writer(root / VERDICTS_SUBDIR)
    added = replaced = kept = 0
    try:
        with cache.transact():
            for key, stored, recorded_at in entries:
                existing = cache.get(key)
                if existing is not None:
                    try:
                        newer = read_entry(existing).recorded_at < recorded_at
                    except (ValueError, KeyError, TypeError):
                        newer = True  # a broken entry is worth replacing
                    if not newer:
                        kept += 1
                        continue
                    replaced += 1
                else:
                    added += 1
                cache.set(key, stored)
    finally:
        cache.close()
    return Imported(added, replaced, kept)
