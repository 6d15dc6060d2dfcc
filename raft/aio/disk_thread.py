"""The one thread that runs a node's disk work (WAL appends and fsyncs, snapshot files), in order.

A `ThreadPoolExecutor` behind `run_in_executor` does the same job at about three times the
event-loop CPU per call (a concurrent future, a work item, a semaphore, a condition and a
chained asyncio future each time) and adds about 45 µs to every fsync's round trip on a busy
2-core host; on a follower that round trip is on every write's critical path. Here a job is a
tuple on a `SimpleQueue` and its outcome comes back with one `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]]


class DiskThread:
    """Jobs run one at a time in submission order; `shutdown` runs those already queued first."""

    def __init__(self, name: str) -> None:
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._started = False
        self._closed = False

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`fn(*args)` on the thread; the future (of the running loop) gets its outcome."""
        if self._closed:
            raise RuntimeError("disk thread is shut down")
        if not self._started:
            self._started = True
            self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return future

    def shutdown(self) -> None:
        """Refuse new jobs, finish the queued ones, and wait for the thread to end."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            self._jobs.put(None)
            self._thread.join()

    def _work(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            loop, future, fn, args = job
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the awaiting task, like an executor does
                outcome: tuple[Any, BaseException | None] = (None, exc)
            else:
                outcome = (result, None)
            # RuntimeError: the loop is closed, so nobody awaits this job any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, *outcome)


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled meanwhile
        return
    if exc is None:
        future.set_result(result)
    else:
        future.set_exception(exc)
