"""The verdict cache as jury_mode allows it: read in record and replay, written in every mode but off.

The mode is the test's (a marker may change it), so it is passed per call rather than kept by the
run's cache, and the cache is opened only in a mode that uses it. Only types are imported from
cache.py: diskcache loads when the run opens the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from pytest_llmonpy.prompts import Case, PairCase
from pytest_llmonpy.verdict import Vote

if TYPE_CHECKING:
    from pytest_llmonpy.cache import VerdictCache

# refresh asks again and overwrites; off neither reads nor writes.
READING_MODES = ("record", "replay")

CacheOpener = Callable[[], "VerdictCache | None"]


def cached_votes(
    open_cache: CacheOpener, mode: str, models: Iterable[str], question: Case | PairCase
) -> dict[str, Vote]:
    """The cached votes of those `models` on `question` that have one, when `mode` reads the cache."""
    cache = open_cache() if mode in READING_MODES else None
    return cache.get_many(models, question) if cache is not None else {}


def store_vote(open_cache: CacheOpener, mode: str, vote: Vote, question: Case | PairCase) -> None:
    """Cache a live vote unless `mode` is off (the cache itself skips abstentions)."""
    cache = open_cache() if mode != "off" else None
    if cache is not None:
        cache.put(vote, question)
