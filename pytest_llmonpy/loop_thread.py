"""One long-lived asyncio event loop in a daemon thread, where every judge call runs.

litellm caches its async HTTP clients per event loop; a fresh `asyncio.run` per check would hand it
clients bound to closed loops. Running every call on one loop also gives one process-wide bound on the
calls in flight, for sync and async tests alike.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# Every LoopThread of this process: a forked child forgets their loops (see _forget_after_fork).
_INSTANCES: weakref.WeakSet[LoopThread] = weakref.WeakSet()


class LoopThread:
    def __init__(self, name: str = "llmonpy-judges") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        _INSTANCES.add(self)

    @property
    def started(self) -> bool:
        return self._loop is not None

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the judge loop; cancelling the returned future cancels its task."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the judge loop and block until it finishes (for sync callers)."""
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # interrupted while waiting: do not leave the task running unowned
            raise

    def close(self, final: Coroutine[Any, Any, Any] | None = None) -> None:
        """Cancel what is still running, run an optional clean-up coroutine, stop the loop and thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or not thread.is_alive():
            if final is not None:
                final.close()
            return
        with contextlib.suppress(Exception):
            # Tasks left by an interrupted check are cancelled and awaited, so none is destroyed pending.
            asyncio.run_coroutine_threadsafe(_cancel_pending(), loop).result(timeout=10)
        if final is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(final, loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()

    def _forget(self) -> None:
        # In a forked child the loop's thread does not exist and its lock may be held forever: start
        # afresh (the next call builds a new loop) instead of waiting on a loop nobody runs.
        self._lock = threading.Lock()
        self._loop = self._thread = None


async def _cancel_pending() -> None:
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _forget_after_fork() -> None:
    for instance in list(_INSTANCES):
        instance._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
