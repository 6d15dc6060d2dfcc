"""The asyncio runtime around the sans-IO core: one task owns the RawNode and runs its Readys.

Inputs (ticks, peer messages, proposals, reads, conf changes, transfers, reports) are queued and
drained in batches. Each Ready is persisted on the node's one disk thread, so the event loop never
blocks and whatever arrives during an fsync forms the next batch (group commit); only then are
its messages sent and its committed entries applied, in order, on the loop. A Ready whose only
durable change is the commit index skips the disk thread: raft needs term, vote and entries
durable, never the commit index (a restarted member learns it again), so that hard state is
written with the next persisted Ready, or on close. Any failure to persist (a failed fsync, a
WAL write error) is fatal: durability is unknown, the node stops and every pending request
fails with NodeStopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Protocol, TypeVar

from raft.aio import snap
from raft.aio.disk_thread import DiskThread
from raft.aio.recovery import Boot
from raft.codec import decode_conf_change, encode_conf_change
from raft.config import Config
from raft.errors import RaftError
from raft.messages import Message
from raft.rawnode import RawNode, Ready
from raft.status import Status
from raft.types import (
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    ReadState,
    Role,
    Snapshot,
    SoftState,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class NodeStopped(RaftError):
    """The node is stopped (or stopping, or failed); the request did not take effect here."""


class Application(Protocol):
    """The state machine the runtime drives; every method is called on the event loop, in log
    order, and must not block."""

    def apply(self, entries: Sequence[Entry]) -> None:
        """Committed normal entries with data (the core's empty entries are skipped)."""

    def on_conf_change(self, cc: ConfChange, conf_state: ConfState, index: int) -> None:
        """A committed membership change at log `index` took effect (update members, peers)."""

    def snapshot_data(self) -> bytes:
        """The whole state as of the last applied entry."""
        ...

    def restore(self, data: bytes) -> None:
        """Replace the whole state with a snapshot's data."""

    def on_removed(self) -> None:
        """This member was removed from the cluster; the server should stop itself."""


@dataclass(frozen=True, slots=True)
class NodeOptions:
    """Timing is in seconds; `election_timeout / heartbeat_interval` ticks make an election."""

    heartbeat_interval: float = 0.1
    election_timeout: float = 1.0
    snapshot_count: int = 100_000
    catchup_entries: int = 5000
    pre_vote: bool = True
    check_quorum: bool = True
    max_size_per_msg: int = 1 << 20
    max_inflight: int = 256
    max_uncommitted_bytes: int = 0

    def __post_init__(self) -> None:
        if self.heartbeat_interval <= 0 or self.election_timeout <= self.heartbeat_interval:
            raise ValueError("need 0 < heartbeat_interval < election_timeout")
        if self.snapshot_count < 1 or self.catchup_entries < 0:
            raise ValueError("snapshot_count must be positive, catchup_entries not negative")

    @property
    def election_tick(self) -> int:
        return max(2, round(self.election_timeout / self.heartbeat_interval))


class _State(Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    FAILED = "failed"
    STOPPED = "stopped"


Send = Callable[[Sequence[Message]], None]
# Told the outcome of an input when the raft task ran it: None, or the RaftError it raised.
Report = Callable[[RaftError | None], None]
_Input = tuple[Callable[[], None], Report | None]
# A linearizable read waiting for its read point, and the loop time it gives up at.
_Reader = tuple["asyncio.Future[int]", float]


class AsyncRaftNode:
    """Create from a `Boot` (see `raft.aio.recovery`), then `await start()`."""

    def __init__(
        self,
        boot: Boot,
        app: Application,
        send: Send,
        options: NodeOptions | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options or NodeOptions()
        self._boot = boot
        self._app = app
        self._send = send
        self.id = boot.metadata.member_id
        opts = self.options
        self._raw = RawNode(
            Config(
                id=self.id,
                rng=rng or random.Random(),
                election_tick=opts.election_tick,
                heartbeat_tick=1,
                pre_vote=opts.pre_vote,
                check_quorum=opts.check_quorum,
                max_size_per_msg=opts.max_size_per_msg,
                max_inflight=opts.max_inflight,
                max_uncommitted_bytes=opts.max_uncommitted_bytes,
                applied=boot.applied,
            ),
            boot.storage,
        )
        self._storage = boot.storage
        self._soft = SoftState()
        self._applied = boot.applied
        self._snapshot_index = boot.applied
        self._snapshot_task: asyncio.Task[None] | None = None
        self._inbox: list[_Input] = []
        self._ticks = 0
        self._solo_check = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._disk = DiskThread(f"raft-{self.id:x}-disk")
        self._tasks: list[asyncio.Task[None]] = []
        self._state = _State.NEW
        self._closing: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._removed: set[int] = set()
        self._ctx_seq = itertools.count(1)
        # Read contexts must stay unique at the leader across this member's restarts too.
        salt = (rng or random.SystemRandom()).getrandbits(64)
        self._ctx_prefix = struct.pack(">QQ", self.id, salt)
        self._read_batch: list[_Reader] | None = None
        self._reads: dict[bytes, list[_Reader]] = {}
        self._ready_reads: list[ReadState] = []
        self._unsaved_hard: HardState | None = None
        self._conf_waiters: dict[bytes, list[asyncio.Future[ConfState]]] = {}
        self._leader_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._persist_count = 0
        self.dropped_messages = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, bootstrap: Sequence[ConfChange] = ()) -> None:
        """Start the loop; `bootstrap` founds a new cluster (empty storage only). A member
        joining an existing cluster starts with no bootstrap and learns the log from the leader.
        Restores the application from the boot snapshot first, if there is one."""
        if self._state is not _State.NEW:
            raise RuntimeError("start() may be called once")
        self._loop = asyncio.get_running_loop()
        if bootstrap:
            self._raw.bootstrap(bootstrap)
        if self._boot.snapshot is not None:
            self._app.restore(self._boot.snapshot.data)
        # A sole voter has nobody to wait for or disturb: it campaigns as soon as its
        # committed entries are applied (unapplied conf changes, such as the bootstrap's, block
        # a campaign, and a restart without a snapshot knows its voters only once its log's are
        # applied again). etcd fast-forwards all but one tick of its election clock.
        self._solo_check = True
        self._state = _State.RUNNING
        self._tasks = [
            asyncio.create_task(self._run(), name=f"raft-{self.id:x}"),
            asyncio.create_task(self._tick_loop(), name=f"raft-tick-{self.id:x}"),
        ]

    def advance_ticks(self, ticks: int) -> None:
        """Run `ticks` extra ticks in the next batch: etcd's initial election tick advance
        (the caller decides when; see `pyetcd.server`)."""
        if self._state is _State.RUNNING and ticks > 0:
            self._ticks += ticks
            self._wake()

    async def stop(self) -> None:
        """Stop after the Ready in progress, close the WAL; pending requests fail."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def wait_stopped(self) -> BaseException | None:
        """Wait until the node stops; returns the fatal error, if that is why."""
        if self._tasks:
            await asyncio.shield(self._tasks[0])
        return self._error

    @property
    def error(self) -> BaseException | None:
        """The fatal error that stopped the node, if any."""
        return self._error

    # -- inputs ---------------------------------------------------------------------------------

    def step(self, msg: Message) -> None:
        """A message from a peer (called by the transport); junk and removed peers are dropped."""
        if (
            not isinstance(msg, Message)
            or self._state is not _State.RUNNING
            or msg.frm in self._removed
            or self.id in self._removed
        ):
            self.dropped_messages += 1
            return
        self._submit(lambda: self._raw.step(msg), None)

    def report_unreachable(self, node: int) -> None:
        if self._state is _State.RUNNING:
            self._submit(lambda: self._raw.report_unreachable(node), None)

    def report_snapshot(self, node: int, ok: bool) -> None:
        if self._state is _State.RUNNING:
            self._submit(lambda: self._raw.report_snapshot(node, ok), None)

    async def propose(self, data: bytes) -> None:
        """Returns once the leader appended it or this follower forwarded it; the server learns
        the outcome on apply. Raises ProposalDropped (retry later) or NodeStopped."""
        if type(data) is not bytes:
            raise TypeError(f"proposal data must be bytes, got {type(data).__name__}")
        await self._call(lambda: self._raw.propose(data))

    def propose_nowait(self, data: bytes, report: Report) -> None:
        """`propose` for callers that need no await: the raft task's next batch calls `report`
        with None (appended or forwarded) or ProposalDropped, or NodeStopped if the node stops
        first. Raises NodeStopped at once if the node is not running."""
        if type(data) is not bytes:
            raise TypeError(f"proposal data must be bytes, got {type(data).__name__}")
        if self._state is not _State.RUNNING:
            raise self._stopped_error()
        self._submit(partial(self._raw.propose, data), report)

    async def propose_conf_change(self, cc: ConfChange, timeout: float | None = None) -> ConfState:
        """Returns the ConfState once the change is applied here. Raises ConfigError for an
        invalid change, ProposalDropped, TimeoutError, NodeStopped."""
        key = encode_conf_change(cc)
        waiter: asyncio.Future[ConfState] = self._running_loop().create_future()
        self._conf_waiters.setdefault(key, []).append(waiter)
        try:
            await self._call(lambda: self._raw.propose_conf_change(cc))
            async with asyncio.timeout(timeout):
                return await waiter
        finally:
            waiters = self._conf_waiters.get(key, [])
            if waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._conf_waiters[key]

    async def read_index(self, timeout: float) -> int:
        """A linearizable read point: returns once this node has applied at least the index the
        leader confirmed, so the caller may read its local state at once. Raises NotLeader
        (none known), TimeoutError (after `timeout`, checked every tick; e.g. leadership
        changed meanwhile), NodeStopped.

        Concurrent reads share one request to the core: a read joins the request that has not
        been issued yet, never one already issued, whose read point may predate the read."""
        if self._state is not _State.RUNNING:
            raise self._stopped_error()
        loop = self._running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        batch = self._read_batch
        if batch is None:
            batch = self._read_batch = []
            self._submit(self._issue_read, None)
        batch.append((waiter, loop.time() + timeout))
        return await waiter

    async def transfer_leadership(self, to: int, timeout: float) -> None:
        """Returns once `to` leads (as seen here). Raises ConfigError (not a voter), NotLeader,
        TimeoutError, NodeStopped."""
        waiter: asyncio.Future[None] = self._running_loop().create_future()
        entry = (to, waiter)
        self._leader_waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await self._call(lambda: self._raw.transfer_leader(to))
                if self._soft.lead != to:
                    await waiter
        finally:
            self._leader_waiters.remove(entry)

    # -- observers ------------------------------------------------------------------------------

    def status(self) -> Status:
        return self._raw.status()

    @property
    def leader_id(self) -> int:
        return self._soft.lead

    @property
    def is_leader(self) -> bool:
        return self._soft.role is Role.LEADER

    @property
    def term(self) -> int:
        return self._raw.raft.term

    @property
    def commit_index(self) -> int:
        return self._raw.raft.log.committed

    @property
    def applied_index(self) -> int:
        return self._applied

    @property
    def persist_count(self) -> int:
        """Readys persisted so far (each at most one fdatasync): the group-commit batches."""
        return self._persist_count

    # -- the raft task --------------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The loop cached by start(): asking asyncio for it costs a getpid() call each time."""
        loop = self._loop
        if loop is None:
            raise self._stopped_error()
        return loop

    def _submit(self, fn: Callable[[], None], report: Report | None) -> None:
        self._inbox.append((fn, report))
        self._wake()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _call(self, fn: Callable[[], None]) -> None:
        """Run `fn` in the raft task's next batch and re-raise the RaftError it raised."""
        if self._state is not _State.RUNNING:
            raise self._stopped_error()
        done: asyncio.Future[None] = self._running_loop().create_future()
        self._submit(fn, partial(_settle, done))
        await done

    async def _tick_loop(self) -> None:
        interval = self.options.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            self._ticks += 1
            self._wake()

    async def _run(self) -> None:
        raw = self._raw
        loop = self._running_loop()
        try:
            while self._state is _State.RUNNING:
                self._drain()
                if raw.has_ready():
                    await self._handle_ready(raw.ready())
                    continue
                if self._solo_check:
                    self._solo_check = False
                    if raw.status().voters == (self.id,):
                        raw.campaign()
                        continue
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
        except Exception as exc:
            self._fatal(exc)

    def _fatal(self, exc: BaseException) -> None:
        """Durability (or the state machine) is in doubt: stop at once, fail every request."""
        if self._state in (_State.FAILED, _State.STOPPED):
            return
        log.critical("raft node %x stopping on a fatal error: %s", self.id, exc)
        self._error = exc
        self._state = _State.FAILED
        self._wake()
        self._tasks[1].cancel()
        self._fail_pending(self._stopped_error())

    def _drain(self) -> None:
        raw = self._raw
        ticks, self._ticks = self._ticks, 0
        if ticks:
            for _ in range(ticks):
                raw.tick()
            self._expire_reads()
        inbox, self._inbox = self._inbox, []
        for fn, report in inbox:
            if report is None:
                fn()
                continue
            try:
                fn()
            except RaftError as exc:
                report(exc)
            else:
                report(None)

    async def _handle_ready(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            self._soft = rd.soft_state
            self._notify_leader()
        # A leader sends before its own fsync (as etcd does): the replies can only be stepped
        # after this Ready is durable, so nothing commits on a leader's non-durable entries.
        early = self._soft.role is Role.LEADER
        if early:
            self._send_messages(rd.messages)
        if rd.snapshot is not None or rd.entries or rd.must_sync:
            hard = rd.hard_state if rd.hard_state is not None else self._unsaved_hard
            self._unsaved_hard = None
            await self._disk.run(self._persist, rd, hard)
            self._persist_count += 1
            if self._state not in (_State.RUNNING, _State.STOPPING):
                return
        elif rd.hard_state is not None:
            self._unsaved_hard = rd.hard_state
        storage = self._storage
        if rd.snapshot is not None:
            storage.apply_snapshot(rd.snapshot)
        if rd.hard_state is not None:
            storage.set_hard_state(rd.hard_state)
        storage.append(rd.entries)
        if not early:
            self._send_messages(rd.messages)
        if rd.snapshot is not None:
            self._app.restore(rd.snapshot.data)
            self._applied = self._snapshot_index = rd.snapshot.meta.index
        if rd.committed_entries:
            self._apply(rd.committed_entries)
        if rd.read_states or self._ready_reads:
            self._release_reads(rd.read_states)
        self._raw.advance(rd)
        if self._applied - self._snapshot_index >= self.options.snapshot_count:
            self._start_snapshot()

    def _send_messages(self, messages: Sequence[Message]) -> None:
        if messages:
            removed = self._removed
            self._send([m for m in messages if m.to not in removed] if removed else messages)

    def _persist(self, rd: Ready, hard: HardState | None) -> None:
        """On the disk thread: snapshot file and marker first, then entries and hard state (the
        Ready's, or a commit-only one deferred since)."""
        if rd.snapshot is not None:
            self._save_snapshot_file(rd.snapshot)
        self._boot.wal.save(hard, rd.entries, rd.must_sync)

    def _save_snapshot_file(self, snapshot: Snapshot) -> None:
        """On the disk thread: the file (synced) first, then its WAL marker makes it usable."""
        meta = snapshot.meta
        self._boot.snaps.save(
            snap.StoredSnapshot(
                snap.SnapshotMeta(meta.index, meta.term, meta.conf_state.voters), snapshot.data
            )
        )
        self._boot.wal.save_snapshot_marker(meta.index, meta.term)

    def _apply(self, entries: Sequence[Entry]) -> None:
        app = self._app
        run: list[Entry] = []
        removed_self = False
        for entry in entries:
            if entry.kind is EntryKind.CONF_CHANGE:
                if run:
                    app.apply(run)
                    run = []
                self._applied = entry.index
                removed_self |= self._apply_conf_change(entry)
            elif entry.data:
                run.append(entry)
        if run:
            app.apply(run)
        self._applied = entries[-1].index
        if removed_self:
            app.on_removed()

    def _apply_conf_change(self, entry: Entry) -> bool:
        cc = decode_conf_change(entry.data)
        conf_state = self._raw.apply_conf_change(cc)
        if cc.kind is ConfChangeKind.REMOVE and cc.node_id not in conf_state.voters:
            self._removed.add(cc.node_id)
        elif cc.kind is ConfChangeKind.ADD:
            self._removed.discard(cc.node_id)
        self._app.on_conf_change(cc, conf_state, entry.index)
        waiters = self._conf_waiters.get(entry.data)
        if waiters:
            _resolve(waiters.pop(0), conf_state)
        return cc.node_id == self.id and self.id in self._removed

    def _issue_read(self) -> None:
        """In the raft task: hand the reads gathered so far to the core as one request."""
        batch, self._read_batch = self._read_batch, None
        if not batch:
            return
        ctx = self._ctx_prefix + struct.pack(">Q", next(self._ctx_seq))
        try:
            self._raw.read_index(ctx)
        except RaftError as exc:
            for waiter, _ in batch:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        self._reads[ctx] = batch

    def _release_reads(self, read_states: Sequence[ReadState]) -> None:
        applied = self._applied
        waiting = []
        for rs in (*self._ready_reads, *read_states):
            if rs.ctx not in self._reads:
                continue
            if rs.index <= applied:
                for waiter, _ in self._reads.pop(rs.ctx):
                    _resolve(waiter, rs.index)
            else:
                waiting.append(rs)
        self._ready_reads = waiting

    def _expire_reads(self) -> None:
        """On each tick: fail the reads past their deadline, forget requests nobody awaits (the
        core never answers one whose leader changed)."""
        now = self._running_loop().time()
        for ctx, batch in list(self._reads.items()):
            live = [reader for reader in batch if not reader[0].done()]
            for waiter, deadline in live:
                if deadline <= now:
                    waiter.set_exception(TimeoutError())
            if all(waiter.done() for waiter, _ in live):
                del self._reads[ctx]

    def _notify_leader(self) -> None:
        for to, waiter in self._leader_waiters:
            if to == self._soft.lead:
                _resolve(waiter, None)

    # -- snapshots ------------------------------------------------------------------------------

    def _start_snapshot(self) -> None:
        """Take the state now (consistent with `applied`); the disk work goes to the disk
        thread, after which the log is compacted and the WAL segments the snapshot covers
        released."""
        if self._snapshot_task is not None and not self._snapshot_task.done():
            return
        index = self._applied
        snapshot = self._storage.create_snapshot(
            index, ConfState(self._raw.status().voters), self._app.snapshot_data()
        )
        self._snapshot_index = index
        self._snapshot_task = asyncio.create_task(self._save_snapshot(snapshot))

    async def _save_snapshot(self, snapshot: Snapshot) -> None:
        try:
            await self._disk.run(self._write_snapshot, snapshot)
        except Exception as exc:
            self._fatal(exc)
            return
        compact_to = snapshot.meta.index - self.options.catchup_entries
        if compact_to >= self._storage.first_index():
            self._storage.compact(compact_to)

    def _write_snapshot(self, snapshot: Snapshot) -> None:
        self._save_snapshot_file(snapshot)
        self._boot.wal.release_to(snapshot.meta.index)

    # -- shutdown -------------------------------------------------------------------------------

    def _stopped_error(self) -> NodeStopped:
        if self._error is not None:
            return NodeStopped(f"raft node stopped after a fatal error: {self._error}")
        return NodeStopped("raft node is not running")

    def _fail_pending(self, exc: NodeStopped) -> None:
        inbox, self._inbox = self._inbox, []
        for _, report in inbox:
            if report is not None:
                report(exc)
        batch, self._read_batch = self._read_batch or [], None
        reads, self._reads = self._reads, {}
        for waiter in (
            *(w for w, _ in itertools.chain(batch, *reads.values())),
            *itertools.chain.from_iterable(self._conf_waiters.values()),
            *(w for _, w in self._leader_waiters),
        ):
            if not waiter.done():
                waiter.set_exception(exc)

    async def _close(self) -> None:
        if self._state is _State.RUNNING:
            self._state = _State.STOPPING
            self._wake()
        if self._tasks:
            self._tasks[1].cancel()
        for task in (*self._tasks, self._snapshot_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._state = _State.STOPPED
        self._fail_pending(self._stopped_error())
        hard, self._unsaved_hard = self._unsaved_hard, None
        try:
            await self._disk.run(self._close_wal, hard)
        except Exception as exc:
            log.error("raft node %x: closing the WAL failed: %s", self.id, exc)
            self._error = self._error or exc
        self._disk.shutdown()

    def _close_wal(self, hard: HardState | None) -> None:
        """On the disk thread: the deferred commit-only hard state (unless the WAL failed), then
        close, which syncs."""
        wal = self._boot.wal
        try:
            if hard is not None and self._error is None:
                wal.save(hard, (), False)
        finally:
            wal.close()


def _settle(done: asyncio.Future[None], exc: RaftError | None) -> None:
    if done.done():
        return
    if exc is None:
        done.set_result(None)
    else:
        done.set_exception(exc)


def _resolve(waiter: asyncio.Future[T], value: T) -> None:
    if not waiter.done():
        waiter.set_result(value)
