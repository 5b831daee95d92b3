"""One long-lived asyncio event loop in a daemon thread, where every judge call runs.

litellm caches its async HTTP clients per event loop; a fresh `asyncio.run` per check would hand it
clients bound to closed loops. Running every call on one loop also gives one process-wide bound on the
calls in flight, for sync and async tests alike.

Sync callers block on `run`; async callers await `run_async` from their own event loop, which stays free
while the judge loop works, and whose cancellation cancels the judge-loop task and waits for its clean-up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# Every LoopThread of this process: a forked child forgets their loops (see _forget_after_fork).
_INSTANCES: weakref.WeakSet[LoopThread] = weakref.WeakSet()


def start_deaf_to_ctrl_c(thread: threading.Thread) -> None:
    """Start `thread` with SIGINT blocked in it (and in the threads it starts, which inherit the mask).

    The kernel hands a Ctrl-C to any thread that doesn't block it. Caught by a judge thread, it only
    wakes the main thread, waiting for the judges, once they have all answered (seconds or minutes
    later); blocked here, it reaches the main thread, and the wait ends at once.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: signals go to the main thread anyway
        thread.start()
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
                start_deaf_to_ctrl_c(thread)
                self._loop, self._thread = loop, thread
            return self._loop

    def owns_running_loop(self) -> bool:
        """Whether the calling code runs on this judge loop."""
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def start(self, coro: Coroutine[Any, Any, T]) -> Job[T]:
        """Run `coro` as a task on the judge loop; see `Job`."""
        return Job(self._ensure_loop(), coro)

    async def run_async(
        self, coro: Coroutine[Any, Any, T], tick: Callable[[], None] | None = None, every_s: float = 0.25
    ) -> T:
        """Run `coro` on the judge loop and await it from the caller's own event loop, which only waits
        on a future meanwhile (calling `tick` every `every_s` seconds, when given).

        Cancelling the caller's await (a timeout, a failed gather, an interrupt) cancels the task on the
        judge loop and waits for it to unwind, so when the cancellation reaches the caller the calls in
        flight are cancelled and what the task keeps on the way out is kept.
        """
        job = self.start(coro)
        outcome = asyncio.wrap_future(job.result)
        try:
            while not (await asyncio.wait({outcome}, timeout=every_s if tick else None))[0]:
                tick()  # type: ignore[misc]  # only reached with a tick
        except BaseException as exc:
            job.cancel()
            if not isinstance(exc, GeneratorExit):  # closed unfinished (its loop went away): no await
                await asyncio.wait({outcome})  # cancelled again meanwhile: stop waiting, it is cancelled
            raise
        return outcome.result()

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


class Job(Generic[T]):
    """A coroutine running as a task on a judge loop, seen from another thread.

    Unlike `asyncio.run_coroutine_threadsafe`'s future, which is done the moment it is cancelled,
    `result` completes only once the task has ended, also after `cancel()`: whoever cancels can wait
    for the task's clean-up.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> None:
        self.result: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._loop = loop
        self._task: asyncio.Task[T] | None = None
        loop.call_soon_threadsafe(self._start, coro)

    def cancel(self) -> None:
        """Cancel the task (from any thread); `result` completes once it has unwound."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: its tasks were cancelled then
            # Callbacks run in the order they were scheduled: the task exists by then.
            self._loop.call_soon_threadsafe(self._cancel)

    def _start(self, coro: Coroutine[Any, Any, T]) -> None:
        self._task = self._loop.create_task(coro)
        self._task.add_done_callback(self._finished)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _finished(self, task: asyncio.Task[T]) -> None:
        # A waiter's own cancellation may have cancelled `result` already: then nobody reads it.
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            if task.cancelled():
                self.result.cancel()
            elif task.exception() is not None:
                self.result.set_exception(task.exception())
            else:
                self.result.set_result(task.result())


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
