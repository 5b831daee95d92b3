"""diskcache Disks that keep every value inline in SQLite and never touch pickle or a file.

Every store can be written by someone else: the verdict cache travels between CI runners, the
rate-limit, budget and lock stores live in the shared temporary directory. diskcache's default Disk
unpickles values (running code) and trusts each row's `filename`: it opens that file on a lookup (a
forged `/dev/zero` never ends) and deletes it, with its empty parent folders, when the key is
written again. These Disks store everything inline, so a row that names a file, or holds a pickle,
was forged: it is refused on read and its file is never opened nor deleted.
"""

from __future__ import annotations

from typing import Any

import diskcache


class RefusedEntry(ValueError):
    """A row these Disks never write (a pickle, or a pointer to a file) was found; it was not loaded."""


# The name the rate limiter catches; one class covers both refusals.
RefusedPickle = RefusedEntry


class JsonOnlyDisk(diskcache.Disk):
    """Stores only str keys and str (JSON text) values, inline; refuses pickles and files."""

    store_name = "store"  # named in the errors

    def put(self, key: Any) -> tuple[Any, bool]:  # type: ignore[override]
        if type(key) is not str:
            raise TypeError(f"{self.store_name} keys are str")
        return super().put(key)

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise RefusedEntry(f"a pickled key was found in the {self.store_name}; refusing to load it")
        return super().get(key, raw)

    def _accepts(self, value: Any) -> bool:
        return type(value) is str

    def store(self, value: Any, read: bool, key: Any = diskcache.UNKNOWN) -> Any:
        if read or not self._accepts(value):
            raise TypeError(f"{self.store_name} values are JSON text")
        # Inline whatever the size (diskcache would move a value past disk_min_file_size, a setting
        # read from the database itself, to a file): then no legitimate row ever names a file.
        return 0, diskcache.core.MODE_RAW, None, value

    def fetch(self, mode: Any, filename: Any, value: Any, read: bool) -> Any:
        if mode == diskcache.core.MODE_PICKLE:
            raise RefusedEntry(f"a pickled value was found in the {self.store_name}; refusing to load it")
        if mode != diskcache.core.MODE_RAW or filename is not None or read:
            raise RefusedEntry(
                f"an entry of the {self.store_name} points at a file ({str(filename)[:80]!r}); "
                "refusing to open it"
            )
        # Refused with ValueError, not OSError: diskcache's get() would turn that into a silent miss.
        return bytes(value) if isinstance(value, memoryview) else value  # what Disk.fetch does for MODE_RAW

    def filename(self, key: Any = diskcache.UNKNOWN, value: Any = diskcache.UNKNOWN) -> Any:
        raise TypeError(f"the {self.store_name} never stores a value in a file")

    def remove(self, file_path: Any) -> None:
        # diskcache calls this with the old row's `filename` whenever a row is replaced, deleted,
        # culled, expired, evicted or cleared. Nothing here is ever written to a file, so any name is
        # forged: never delete it (it may be `../../something` or an absolute path).
        return None


class CounterDisk(JsonOnlyDisk):
    """Also stores ints (diskcache's `incr`) and None (what `diskcache.Lock` writes), inline."""

    def _accepts(self, value: Any) -> bool:
        return value is None or type(value) in (str, int)
