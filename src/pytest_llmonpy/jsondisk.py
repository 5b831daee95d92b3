"""A diskcache Disk that stores only str keys and JSON text values, and never touches pickle.

Both shared stores (the verdict cache and the rate-limit store) can be written by others: the verdict
cache travels between CI runners, the rate-limit store lives in the shared temporary directory. A
pickle in either would run code when loaded, so anything pickled is refused.
"""

from __future__ import annotations

from typing import Any

import diskcache


class RefusedPickle(ValueError):
    """A pickled key or value was found in a store; it was not loaded."""


class JsonOnlyDisk(diskcache.Disk):
    """Stores only str keys and str values; refuses to pickle or unpickle anything."""

    store_name = "store"  # named in the errors

    def put(self, key: Any) -> tuple[Any, bool]:  # type: ignore[override]
        if type(key) is not str:
            raise TypeError(f"{self.store_name} keys are str")
        return super().put(key)

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise RefusedPickle(f"a pickled key was found in the {self.store_name}; refusing to load it")
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = diskcache.UNKNOWN) -> Any:
        if type(value) is not str:
            raise TypeError(f"{self.store_name} values are JSON text")
        return super().store(value, read, key=key)

    def fetch(self, mode: Any, filename: Any, value: Any, read: bool) -> Any:
        if mode == diskcache.core.MODE_PICKLE:
            raise RefusedPickle(f"a pickled value was found in the {self.store_name}; refusing to load it")
        return super().fetch(mode, filename, value, read)
