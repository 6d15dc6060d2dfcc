"""The node's disk thread: jobs run in order off the loop, outcomes reach the awaiting task."""

from __future__ import annotations

import asyncio
import threading

import pytest

from raft.aio.disk_thread import DiskThread


async def test_jobs_run_in_order_off_the_loop() -> None:
    disk = DiskThread("test-disk")
    seen: list[tuple[int, str]] = []

    def job(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        return n * 10

    try:
        results = await asyncio.gather(*(disk.run(job, n) for n in range(50)))
    finally:
        disk.shutdown()
    assert results == [n * 10 for n in range(50)]
    assert seen == [(n, "test-disk") for n in range(50)]


async def test_a_failing_job_raises_in_the_awaiting_task_and_the_next_runs() -> None:
    disk = DiskThread("test-disk")

    def fail() -> None:
        raise OSError(5, "Input/output error")

    try:
        with pytest.raises(OSError, match="Input/output error"):
            await disk.run(fail)
        assert await disk.run(lambda: "still working") == "still working"
    finally:
        disk.shutdown()


async def test_shutdown_finishes_queued_jobs_then_refuses_new_ones() -> None:
    disk = DiskThread("test-disk")
    gate = threading.Event()
    done: list[int] = []
    first = disk.run(gate.wait, 5.0)
    second = disk.run(done.append, 2)
    gate.set()
    await asyncio.to_thread(disk.shutdown)
    assert done == [2]
    assert await first is True
    assert await second is None
    with pytest.raises(RuntimeError, match="shut down"):
        disk.run(done.append, 3)
    assert not any(t.name == "test-disk" for t in threading.enumerate())


async def test_a_cancelled_waiter_does_not_stop_the_job_or_the_thread() -> None:
    disk = DiskThread("test-disk")
    gate = threading.Event()
    ran: list[str] = []

    def slow() -> None:
        gate.wait(5.0)
        ran.append("slow")

    try:
        waiter = asyncio.ensure_future(disk.run(slow))
        await asyncio.sleep(0)
        waiter.cancel()
        gate.set()
        assert await disk.run(lambda: "after") == "after"
    finally:
        disk.shutdown()
    assert ran == ["slow"]
    assert waiter.cancelled()


def test_a_job_finishing_after_its_loop_closed_is_dropped_quietly() -> None:
    disk = DiskThread("test-disk")
    gate = threading.Event()
    closed = asyncio.new_event_loop()

    async def submit() -> asyncio.Future[bool]:
        return disk.run(gate.wait, 5.0)

    closed.run_until_complete(submit())
    closed.close()
    gate.set()

    async def next_job() -> str:
        return await asyncio.wait_for(disk.run(lambda: "alive"), 5.0)

    try:
        assert asyncio.run(next_job()) == "alive"
    finally:
        disk.shutdown()


def test_shutdown_of_a_never_used_thread_starts_nothing() -> None:
    disk = DiskThread("never-used")
    disk.shutdown()
    disk.shutdown()
    assert not any(t.name == "never-used" for t in threading.enumerate())
