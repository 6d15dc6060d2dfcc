"""`pyetcd-admin migrate`: copy a live v2 keyspace (etcd or pyetcd) into pyetcd, then, with
`--follow`, replay the source's changes through a watch until stopped, reporting the lag.

The copy reads the source tree in one recursive GET, which is atomic at its X-Etcd-Index I;
following resumes the watch at I+1, so every change made during or after the copy is replayed
in order and the destination converges however busy the source is. Replays are idempotent
(a set sets, a delete of a missing key is fine). When the source's event history no longer
reaches back (etcd keeps 1000 events), the copy is rebuilt from a fresh tree and keys that
vanished meanwhile are deleted.

Hidden nodes (names starting with `_`) are never listed by the v2 API, in a recursive GET or
a watch; they are copied only when named with `--hidden`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from pyetcd.admin.keyspace import (
    Node,
    Write,
    differences,
    entries,
    event_write,
    extra_keys,
    rebuild,
)
from pyetcd.admin.v2client import EVENT_INDEX_CLEARED, AdminError, V2Client

DEFAULT_CONCURRENCY = 32


@dataclass(frozen=True, slots=True)
class Options:
    prefix: str = "/"
    hidden: tuple[str, ...] = ()
    follow: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    report_interval: float = 5.0


@dataclass(slots=True)
class Progress:
    """What the copy did, for the report lines and the tests."""

    keys: int = 0
    dirs: int = 0
    source_index: int = 0
    applied_index: int = 0
    events: int = 0
    resyncs: int = 0
    pending: int = 0
    last_delay_ms: float = 0.0
    reports: list[str] = field(default_factory=list)


async def _apply_all(
    dest: V2Client, writes: Sequence[Write], concurrency: int, read_at: float
) -> None:
    """Apply independent writes with at most `concurrency` in flight; the first error wins.
    `read_at` (monotonic) is when the source was read, so TTLs lose the copy's duration."""
    queue: asyncio.Queue[Write] = asyncio.Queue()
    for write in writes:
        queue.put_nowait(write)

    async def worker() -> None:
        while not queue.empty():
            await dest.apply(queue.get_nowait(), time.monotonic() - read_at)

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, min(concurrency, len(writes)))):
            group.create_task(worker())


async def _read_source(source: V2Client, opts: Options) -> tuple[list[Node], int]:
    """The trees to copy (the prefix, then each named hidden node) and the index they reflect:
    the smallest, so following from it misses nothing."""
    trees: list[Node] = []
    indexes: list[int] = []
    for key in (opts.prefix, *opts.hidden):
        tree, index = await source.tree(key)
        if tree is None:
            if key != opts.prefix:
                raise AdminError(f"{source.base}: hidden node {key} does not exist")
            index = await source.index()
        else:
            trees.append(tree)
        indexes.append(index)
    return trees, min(indexes)


async def copy_trees(
    source: V2Client, dest: V2Client, opts: Options, progress: Progress, prune: bool = False
) -> list[Node]:
    """One full copy; with `prune`, keys the destination holds that the source no longer does
    are deleted (after a resync). Returns the trees copied."""
    read_at = time.monotonic()
    trees, index = await _read_source(source, opts)
    for tree in trees:
        dirs, keys = rebuild(tree)
        for put in dirs:  # parents first, one at a time: a child must not create them first
            await dest.apply(put, time.monotonic() - read_at)
        await _apply_all(dest, keys, opts.concurrency, read_at)
        progress.dirs += len(dirs)
        progress.keys += len(keys)
    if prune:
        dest_tree, _ = await dest.tree(opts.prefix)
        if dest_tree is not None:
            src = {k: v for t in trees for k, v in entries(t).items()}
            await _apply_all(dest, extra_keys(src, entries(dest_tree)), opts.concurrency, read_at)
    progress.source_index = progress.applied_index = index
    return trees


async def compare(source: V2Client, dest: V2Client, opts: Options) -> list[str]:
    """Keys whose content differs between the two clusters, over everything copied."""
    out: list[str] = []
    for key in (opts.prefix, *opts.hidden):
        (src, _), (dst, _) = await asyncio.gather(source.tree(key), dest.tree(key))
        out += differences(entries(src) if src else {}, entries(dst) if dst else {})
    return out


async def follow(
    source: V2Client,
    dest: V2Client,
    opts: Options,
    progress: Progress,
    stop: asyncio.Event,
    say: Callable[[str], None],
) -> None:
    """Replay the source's events from `progress.applied_index + 1` until `stop` is set."""
    queue: asyncio.Queue[tuple[Node, float]] = asyncio.Queue()

    async def read() -> None:
        while True:
            try:
                async for event, _ in source.watch(opts.prefix, progress.applied_index + 1):
                    queue.put_nowait((event, time.monotonic()))
            except AdminError as exc:
                if exc.code != EVENT_INDEX_CLEARED:
                    raise
                await queue.join()
                say("source history no longer reaches the last applied event: resyncing")
                progress.resyncs += 1
                await copy_trees(source, dest, opts, progress, prune=True)
            await queue.join()  # a stream the server ended resumes after the last applied event

    async def apply() -> None:
        while True:
            event, received = await queue.get()
            write = event_write(event)
            if write is not None:
                await dest.apply(write, time.monotonic() - received)
            node = event.get("node") or {}
            progress.applied_index = max(progress.applied_index, int(node.get("modifiedIndex", 0)))
            progress.events += 1
            progress.last_delay_ms = (time.monotonic() - received) * 1000
            queue.task_done()

    async def report() -> None:
        while True:
            await asyncio.sleep(opts.report_interval)
            progress.source_index = await source.index()
            progress.pending = queue.qsize()
            say(lag_line(progress))

    tasks = [asyncio.create_task(c) for c in (read(), apply(), report())]
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter:
                task.result()  # a failed task's error ends the follow
        await asyncio.wait_for(queue.join(), timeout=opts.report_interval)
    finally:
        for task in (*tasks, waiter):
            task.cancel()
        await asyncio.gather(*tasks, waiter, return_exceptions=True)


def index_note(source: int, dest: int) -> str:
    """Clients that resume watches by index must know whether the numbers carried over."""
    if source == dest:
        return f"source and destination are both at etcd index {source}"
    return (
        f"indexes differ: source at etcd index {source}, destination at {dest} (the "
        "destination numbers its own writes; clients must not reuse source indexes there)"
    )


def lag_line(progress: Progress) -> str:
    behind = max(0, progress.source_index - progress.applied_index)
    return (
        f"following: applied through index {progress.applied_index}, source at "
        f"{progress.source_index} ({behind} behind, counting writes outside the prefix), "
        f"{progress.pending} events pending, last apply {progress.last_delay_ms:.1f} ms after "
        f"receipt, {progress.events} events replayed, {progress.resyncs} resyncs"
    )


async def migrate(
    source: V2Client,
    dest: V2Client,
    opts: Options,
    stop: asyncio.Event | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """The whole command; the exit status: 0 when the copy matches, 1 when keys differ."""
    progress = Progress()

    def say(line: str) -> None:
        progress.reports.append(line)
        print(line, file=out, flush=True)

    started = time.monotonic()
    await copy_trees(source, dest, opts, progress)
    dest_index = await dest.index()
    say(
        f"copied {progress.keys} keys and {progress.dirs} directories under {opts.prefix} in "
        f"{time.monotonic() - started:.1f}s; {index_note(progress.source_index, dest_index)}"
    )
    if not opts.hidden:
        say(
            "note: the v2 API lists no hidden nodes (names starting with _): name them with "
            "--hidden KEY to copy them"
        )
    if opts.follow:
        await follow(source, dest, opts, progress, stop or asyncio.Event(), say)
        say(lag_line(progress))
    differ = await compare(source, dest, opts)
    if differ:
        shown = ", ".join(differ[:10]) + (" ..." if len(differ) > 10 else "")
        say(f"{len(differ)} keys differ from the source (changed during the copy?): {shown}")
        return 1
    say("destination matches the source")
    return 0
