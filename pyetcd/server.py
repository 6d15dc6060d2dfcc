"""`EtcdServer`: one member of a raft cluster serving the v2 store (`http_api.KeysServer`).

A write is encoded with a request id, proposed to the raft node (a follower's core forwards it to
the leader) and answered when this member applies it; every member applies every entry, so the
request id is what finds the waiting client. A lone member runs the same path with one voter.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial

from http_api.figures import DiskFigures, PeerFigures
from http_api.protocol import (
    ExtraGauge,
    MembersError,
    PeerProgress,
    RaftStatus,
    ServerMetrics,
)
from pyetcd import gotime, logs
from pyetcd.admin.snapfile import HotSnapshot, encode_snapshot
from pyetcd.applier import Applier
from pyetcd.bootstrap import open_member, plan_start
from pyetcd.config import Config
from pyetcd.entry import encode_entry
from pyetcd.ids import format_id, member_id
from pyetcd.membership import (
    BadContext,
    ClusterInfo,
    encode_context,
    encode_info,
    founding_members,
    ready_to_add,
    ready_to_remove,
    store_command,
)
from pyetcd.rates import RateQueue
from pyetcd.splitbrain import SplitBrainMonitor, peer_urls_to_poll
from pyetcd.wait import Waiters
from raft.aio.node import AsyncRaftNode, NodeOptions, NodeStopped
from raft.aio.peer_frames import Status
from raft.aio.transport import AcceptCheck, ClientSSL, PeerTransport
from raft.aio.wal import SEGMENT_SIZE
from raft.errors import ConfigError, NotLeader, ProposalDropped, RaftError
from raft.messages import AppendEntries, Heartbeat, InstallSnapshot, Message
from raft.progress import ProgressState
from raft.types import ConfChange, ConfChangeKind, ConfState, Entry, Role
from store.commands import (
    AddMember,
    Command,
    PublishMember,
    SetClusterVersion,
    Sync,
    UpdateMember,
)
from store.errors import RAFT_INTERNAL, EtcdError
from store.event import Event
from store.members import Member
from store.store import Store

log = logging.getLogger("etcdserver")

CLUSTER_VERSION = "3.4.0"
MIN_CLUSTER_VERSION = "3.0.0"
SYNC_INTERVAL = 0.5
HEALTH_TIMEOUT = 1.0
# --strict-reconfig-check: how long every member must have been connected before a member change.
HEALTH_INTERVAL = 5.0
DEFAULT_SNAPSHOT_COUNT = 100_000
# Entries kept in the log behind a snapshot so a slow follower catches up without one (etcd's).
CATCHUP_ENTRIES = 5000
# etcd waits up to rafthttp's ConnReadTimeout (5 s) for peer connections before the tick advance.
TICK_ADVANCE_POLL = 0.05
TICK_ADVANCE_POLLS = 100
REMOVED_MESSAGE = "the member has been permanently removed from the cluster"

_STATES = {
    Role.LEADER: "StateLeader",
    Role.FOLLOWER: "StateFollower",
    Role.CANDIDATE: "StateCandidate",
    Role.PRE_CANDIDATE: "StatePreCandidate",
}
_PROGRESS_STATES = {
    ProgressState.PROBE: "StateProbe",
    ProgressState.REPLICATE: "StateReplicate",
    ProgressState.SNAPSHOT: "StateSnapshot",
}


def _timeout(cause: str) -> EtcdError:
    return EtcdError(RAFT_INTERNAL, f"etcdserver: {cause}")


def _count(counts: dict[int, int], peer: int) -> None:
    counts[peer] = counts.get(peer, 0) + 1


STOPPED = "server stopped"


def _log_member_change(cc: ConfChange, cmd: Command, cluster: int) -> None:
    mid, cid = format_id(cc.node_id), format_id(cluster)
    if isinstance(cmd, AddMember):
        log.info("added member %s [%s] to cluster %s", mid, " ".join(cmd.peer_urls), cid)
    elif isinstance(cmd, UpdateMember):
        log.info("updated member %s [%s] in cluster %s", mid, " ".join(cmd.peer_urls), cid)
    else:
        log.info("removed member %s from cluster %s", mid, cid)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Saving or rebuilding the store makes a container per node, and the cyclic collector's
    passes over a growing heap of a million of them about double the time (measured at 500k
    nodes: 3.3 s against 1.7 s for a restore); none of it is garbage."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class EtcdServer:
    """Create with a `Config`, `await start()`, serve, `await stop()`.

    `done` is set when the member stops, by `stop()` or on its own (removed from the cluster, a
    fatal WAL error); `stop_reason` then says why.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], int] = time.time_ns,
        sync_interval: float = SYNC_INTERVAL,
        wal_segment_size: int = SEGMENT_SIZE,
        catchup_entries: int = CATCHUP_ENTRIES,
        peer_server_ssl: ssl.SSLContext | None = None,
        peer_client_ssl: ClientSSL | None = None,
        peer_accept_check: AcceptCheck | None = None,
        rng: random.Random | None = None,
        health_interval: float = HEALTH_INTERVAL,
    ) -> None:
        self._config = config
        self._peer_server_ssl = peer_server_ssl
        self._peer_client_ssl = peer_client_ssl
        self._peer_accept_check = peer_accept_check
        self._clock = clock
        self._sync_interval = sync_interval
        self._segment_size = wal_segment_size
        self._rng = rng
        heartbeat = config.heartbeat_interval_ms / 1000
        election = config.election_timeout_ms / 1000
        self._options = NodeOptions(
            heartbeat_interval=heartbeat,
            election_timeout=election,
            snapshot_count=config.snapshot_count or DEFAULT_SNAPSHOT_COUNT,
            catchup_entries=catchup_entries,
            pre_vote=config.pre_vote,
        )
        self.request_timeout = 5.0 + 2 * election
        self.health_interval = health_interval
        self._member_id = 0
        self._cluster_id = 0
        self._node: AsyncRaftNode | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: PeerTransport | None = None
        self._applier = Applier(Store(), Waiters(0, 0))
        self._start_time = clock()
        self._leader = 0
        self._leader_since = self._start_time
        self._leader_elected_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._published = asyncio.Event()
        self.done = asyncio.Event()
        self.stop_reason = ""
        self._stopping = False
        self._applied_version: str | None = None
        self.recv_append = 0
        self.send_append = 0
        self._recv_rate = RateQueue()
        self._send_rate = RateQueue()
        self._active_since: dict[int, float] = {}  # peer -> loop time its stream came up
        self._leader_changes = 0
        self._proposals_failed = 0
        self._snapshots_received: dict[int, int] = {}
        self._snapshots_sent: dict[int, int] = {}
        self._snapshot_send_failures: dict[int, int] = {}
        self._split_brain = SplitBrainMonitor(
            self._status,
            self._split_brain_urls,
            peer_client_ssl,
            leader_grace=4 * election,
        )
        self.disk_figures = DiskFigures()
        self.peer_figures = PeerFigures()
        self._boot_members: tuple[Member, ...] = ()
        self._slow_read_indexes = 0
        self._read_indexes_failed = 0
        self._heartbeat_failures = 0
        self._last_heartbeat: dict[int, float] = {}  # peer -> monotonic time of the last one
        self._snapshot_started: dict[int, float] = {}  # peer -> monotonic time of the send

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open (or found, or join) the member; raises bootstrap.BootstrapError. Serving
        starts at once; `wait_published()` tells when this member is part of the cluster."""
        plan = await plan_start(
            self._config, segment_size=self._segment_size, client_ssl=self._peer_client_ssl
        )
        self._member_id, self._cluster_id = plan.member_id, plan.cluster_id
        known = founding_members(plan.founders) | plan.peers
        self._boot_members = tuple(Member(i, "", urls, ()) for i, urls in sorted(known.items()))
        self._loop = asyncio.get_running_loop()
        now_ms = self._clock() // 1_000_000
        self._applier = Applier(
            Store(), Waiters(plan.member_id, now_ms), self._config.warning_apply_duration
        )
        transport = PeerTransport(
            plan.member_id,
            plan.cluster_id,
            self._receive,
            self._unreachable,
            self._snapshot_status,
            server_ssl=self._peer_server_ssl,
            client_ssl=self._peer_client_ssl,
            info_handler=self._info,
            accept_check=self._peer_accept_check,
            status_handler=self._split_brain.answer,
            rng=self._rng,
        )
        try:
            await transport.start(self._config.listen_peer_urls)
        except OSError:  # the transport words a bind error as etcd does
            if plan.boot is not None:
                plan.boot.wal.close()
            raise
        try:
            boot = await open_member(plan)
        except BaseException:
            await transport.stop()
            raise
        self._transport = transport
        transport.observer = self.peer_figures
        boot.wal.observer = boot.snaps.observer = self.disk_figures
        self._node = AsyncRaftNode(boot, self, self._send, self._options, rng=self._rng)
        transport.set_peers(plan.peers)
        await self._node.start(plan.founders)
        if self._store_removed_self():
            log.critical("%s", REMOVED_MESSAGE)
            await self._halt(REMOVED_MESSAGE)
            return
        self._tasks = [
            asyncio.create_task(self._publish(), name="pyetcd-publish"),
            asyncio.create_task(self._monitor(), name="pyetcd-monitor"),
            asyncio.create_task(self._advance_election_ticks(), name="pyetcd-tick-advance"),
            asyncio.create_task(self._split_brain.run(), name="pyetcd-split-brain"),
        ]

    async def _advance_election_ticks(self) -> None:
        """etcd's adjustTicks: once more than one peer is connected (checked every 50 ms for
        5 s), a member of a multi-member cluster fast-forwards all but two ticks of its election
        clock, so the first election after boot comes sooner, yet a leader's heartbeat still
        has two ticks to arrive. With --initial-election-tick-advance=false it waits a whole
        election timeout. (A sole voter campaigns at once: see AsyncRaftNode.start.)"""
        node, transport = self._running_node(), self._transport
        if transport is None or len(node.status().voters) == 1:
            return
        if not self._config.initial_election_tick_advance:
            log.info("skipping initial election tick advance")
            return
        election_tick = self._options.election_tick
        for _ in range(TICK_ADVANCE_POLLS):
            await asyncio.sleep(TICK_ADVANCE_POLL)
            active = sum(1 for peer in transport.peer_ids() if transport.stats(peer).connected)
            if active > 1:
                ticks = election_tick - 2
                log.info(
                    "%s initialized peer connection; fast-forwarding %d ticks (election ticks "
                    "%d) with %d active peer(s)",
                    format_id(self._member_id),
                    ticks,
                    election_tick,
                    active,
                )
                node.advance_ticks(ticks)
                return

    async def wait_published(self) -> None:
        """Until this member's name and client URLs are committed (etcd's ReadyNotify)."""
        waiter = asyncio.ensure_future(self._published.wait())
        stopped = asyncio.ensure_future(self.done.wait())
        try:
            await asyncio.wait({waiter, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopped.cancel()

    async def stop(self) -> None:
        """Hand leadership to the most caught-up follower, then stop raft and the transport."""
        if self._stopping:
            await self.done.wait()
            return
        self._stopping = True
        await self._transfer_leadership()
        await self._halt(STOPPED)

    async def hand_off_leadership(self) -> None:
        """Leadership to the most caught-up follower while this member keeps serving (the BOSH
        drain asks for it with SIGUSR1 before the member is stopped or removed)."""
        if not self._stopping:
            await self._transfer_leadership()

    async def _halt(self, reason: str) -> None:
        self._stopping = True
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._node is not None:
            await self._node.stop()
        if self._transport is not None:
            await self._transport.stop()
        self._applier.waiters.fail_all(_timeout(STOPPED))
        self.stop_reason = self.stop_reason or reason
        self.done.set()

    async def _transfer_leadership(self) -> None:
        node, transport = self._node, self._transport
        if node is None or transport is None or not node.is_leader:
            return
        status = node.status()
        connected = [
            (pr.match, peer)
            for peer, pr in status.progress.items()
            if peer != self._member_id
            and peer in transport.peer_ids()
            and transport.stats(peer).connected
        ]
        if not connected:
            return
        _, to = max(connected)
        log.info("%s starts leadership transfer to %s", format_id(self._member_id), format_id(to))
        try:
            await node.transfer_leadership(to, timeout=self._options.election_timeout * 3)
        except (TimeoutError, NotLeader, ConfigError, NodeStopped) as exc:
            log.warning(
                "leadership transfer to %s failed: %s",
                format_id(to),
                str(exc) or type(exc).__name__,
            )
            return
        log.info("leadership transferred from %s to %s", format_id(self._member_id), format_id(to))

    async def _publish(self) -> None:
        """Propose this member's attributes until one proposal commits, as etcd does."""
        cfg = self._config
        while True:
            cmd = PublishMember(self._member_id, cfg.name, cfg.advertise_client_urls, self.now())
            try:
                await self.propose(cmd)
            except EtcdError as exc:
                if self._stopping:
                    return
                log.warning("failed to publish local member to cluster through raft: %s", exc)
                await asyncio.sleep(self._options.heartbeat_interval)
                continue
            log.info(
                "published {Name:%s ClientURLs:[%s]} to cluster %s",
                cfg.name,
                " ".join(cfg.advertise_client_urls),
                format_id(self._cluster_id),
            )
            self._published.set()
            return

    async def _monitor(self) -> None:
        """Leader changes, and what only the leader does: expire TTL keys and set the version."""
        node = self._running_node()
        interval = self._options.heartbeat_interval
        next_sync = asyncio.get_running_loop().time() + self._sync_interval
        while True:
            await asyncio.sleep(interval)
            if node.error is not None:
                await self._halt(f"raft stopped: {node.error}")
                return
            self._expire_requests()
            self._observe_leader(node)
            self._track_connections()
            if not node.is_leader:
                continue
            self._maybe_set_version()
            now = asyncio.get_running_loop().time()
            if now >= next_sync:
                next_sync = now + self._sync_interval
                if self.store.has_ttl_nodes() and not self._busy("sync"):
                    self._spawn("sync", Sync(self.now()))

    def _observe_leader(self, node: AsyncRaftNode) -> None:
        lead = node.leader_id
        if lead == self._leader:
            return
        self._leader = lead
        self._last_heartbeat.clear()  # a new term's heartbeats do not follow the old ones
        if lead:
            self._leader_changes += 1
            self._leader_since = self._clock()
            self._leader_elected_at = asyncio.get_running_loop().time()
            log.info(
                "raft.node: %s elected leader %s at term %d",
                format_id(self._member_id),
                format_id(lead),
                node.term,
            )
        else:
            log.info("raft.node: %s lost leader", format_id(self._member_id))

    def _maybe_set_version(self) -> None:
        """etcd's leader sets the cluster version as soon as it leads: its own version when it
        reaches every member, else the minimum (3.0.0), raised once every member answers. (etcd
        asks the members' listeners; here a member counts as unreachable when its stream is
        still down etcd's peer dial timeout, 1 s + the election timeout, into the term.)"""
        current = self.store.cluster_version()
        transport = self._transport
        if self._busy("version") or current == CLUSTER_VERSION or transport is None:
            return
        peers = set(transport.peer_ids())
        others = [m.id for m in self.store.members() if m.id != self._member_id]
        connected = {p for p in others if p in peers and transport.stats(p).connected}
        if len(connected) == len(others):
            self._spawn("version", SetClusterVersion(CLUSTER_VERSION, self.now()))
        elif current is None and self._leading_for() >= 1.0 + self._options.election_timeout:
            self._spawn("version", SetClusterVersion(MIN_CLUSTER_VERSION, self.now()))

    def _leading_for(self) -> float:
        """Seconds since this member saw itself elected (it is the leader when asked)."""
        return asyncio.get_running_loop().time() - self._leader_elected_at

    def _busy(self, name: str) -> bool:
        return any(task.get_name() == name for task in self._tasks)

    def _spawn(self, name: str, cmd: Command) -> None:
        """A leader's own proposal in the background; one per `name` at a time."""

        async def run() -> None:
            try:
                await self.submit(cmd)
            except EtcdError as exc:
                log.warning("%s proposal failed: %s", type(cmd).__name__, exc)

        task = asyncio.create_task(run(), name=name)
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    # -- raft Application callbacks ------------------------------------------------------------

    def apply(self, entries: Sequence[Entry]) -> None:
        applier = self._applier
        for entry in entries:
            applier.apply_entry(entry.index, entry.data)
        version = self.store.cluster_version()
        if version != self._applied_version and version is not None:
            major_minor = version.rsplit(".", 1)[0]
            if self._applied_version is None:
                log.info("set the initial cluster version to %s", major_minor)
            else:
                log.info("updated the cluster version to %s", major_minor)
            log.info("enabled capabilities for version %s", major_minor)
        self._applied_version = version

    def on_conf_change(self, cc: ConfChange, conf_state: ConfState, index: int) -> None:
        self._applier.applied_index = index
        try:
            cmd = store_command(cc)
            self.store.apply(cmd)
        except (BadContext, EtcdError) as exc:
            log.error("conf change at index %d not recorded in the store: %s", index, exc)
        else:
            _log_member_change(cc, cmd, self._cluster_id)
        if cc.kind is ConfChangeKind.REMOVE and cc.node_id != self._member_id:
            # A leader's last messages to the removed member, among them the commit that tells
            # it it is removed, may still be queued in the transport, which drops a peer's
            # queue with the peer: give them a heartbeat to go out.
            interval = self._options.heartbeat_interval
            self._running_loop().call_later(interval, self._refresh_peers)
        else:
            self._refresh_peers()

    def snapshot_data(self) -> bytes:
        with _gc_paused():
            return self.store.save()

    def restore(self, data: bytes) -> None:
        with _gc_paused():
            self._applier.restore(data)
        self._refresh_peers()
        log.info("recovered store from snapshot (store index %d)", self.store.index)

    def on_removed(self) -> None:
        log.critical("%s", REMOVED_MESSAGE)
        self.stop_reason = REMOVED_MESSAGE
        if not self._stopping:
            self._stopping = True
            asyncio.get_running_loop().create_task(self._halt(REMOVED_MESSAGE))

    def _refresh_peers(self) -> None:
        if self._transport is not None:
            self._transport.set_peers({m.id: m.peer_urls for m in self.store.members()})

    def _store_removed_self(self) -> bool:
        return self.store.is_removed(self._member_id)

    # -- transport glue ------------------------------------------------------------------------

    def _send(self, messages: Sequence[Message]) -> None:
        now = time.monotonic()
        for msg in messages:
            if type(msg) is AppendEntries:
                self.send_append += 1
                self._send_rate.add(now, sum(len(e.data) for e in msg.entries))
            elif type(msg) is Heartbeat:
                self._heartbeat_sent(msg.to, now)
            elif type(msg) is InstallSnapshot:
                self._snapshot_started[msg.to] = now
                self.peer_figures.snapshot_send_started(msg.to)
        if self._transport is not None:
            self._transport.send(messages)

    def _heartbeat_sent(self, peer: int, now: float) -> None:
        """etcd's late-heartbeat check: more than two intervals since the last one to `peer`
        (a blocked loop or a slow disk) counts as a heartbeat send failure."""
        last = self._last_heartbeat.get(peer)
        self._last_heartbeat[peer] = now
        if last is not None and now - last > 2 * self._options.heartbeat_interval:
            self._heartbeat_failures += 1

    def _receive(self, msg: Message) -> None:
        if type(msg) is AppendEntries:
            self.recv_append += 1
            self._recv_rate.add(time.monotonic(), sum(len(e.data) for e in msg.entries))
        elif type(msg) is InstallSnapshot:
            _count(self._snapshots_received, msg.frm)
        if self._node is not None:
            self._node.step(msg)

    def _unreachable(self, peer: int) -> None:
        if self._node is not None:
            self._node.report_unreachable(peer)

    def _snapshot_status(self, peer: int, ok: bool) -> None:
        _count(self._snapshots_sent if ok else self._snapshot_send_failures, peer)
        started = self._snapshot_started.pop(peer, None)
        if started is not None:
            self.peer_figures.snapshot_send_ended(peer, ok, time.monotonic() - started)
        if self._node is not None:
            self._node.report_snapshot(peer, ok)

    def _info(self) -> bytes:
        """Before its log is applied a founder or joiner answers the membership it started
        with, as etcd's bootstrap cluster does, never an empty list."""
        members = tuple(self.store.members()) or self._boot_members
        return encode_info(ClusterInfo(self._cluster_id, members))

    def _status(self) -> Status:
        node = self._node
        lead, term = (node.leader_id, node.term) if node is not None else (0, 0)
        return Status(self._cluster_id, self._member_id, lead, term)

    def _split_brain_urls(self) -> list[str]:
        """--initial-cluster's peers and the member list's: all the peers this member knows."""
        members = self.store.members()
        own = [u for m in members if m.id == self._member_id for u in m.peer_urls]
        return peer_urls_to_poll(
            self._config.initial_cluster,
            [m.peer_urls for m in members],
            [*self._config.initial_advertise_peer_urls, *own],
        )

    def split_brain(self) -> str:
        """The split-brain detector's finding, "" while it sees none."""
        return self._split_brain.reason

    # -- KeysServer ----------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        return self._applier.store

    @property
    def cluster_id(self) -> int:
        return self._cluster_id

    @property
    def member_id(self) -> int:
        return self._member_id

    @property
    def name(self) -> str:
        return self._config.name

    def now(self) -> int:
        return self._clock()

    def raft_index(self) -> int:
        return self._node.commit_index if self._node is not None else 0

    def raft_term(self) -> int:
        return self._node.term if self._node is not None else 0

    def _running_node(self) -> AsyncRaftNode:
        if self._node is None:
            raise RuntimeError("EtcdServer.start() was not called")
        return self._node

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The loop cached by start(): asking asyncio for it costs a getpid() call each time."""
        if self._loop is None:
            raise RuntimeError("EtcdServer.start() was not called")
        return self._loop

    async def propose(self, cmd: Command) -> Event:
        event = await self.submit(cmd)
        if event is None:
            raise TypeError(f"{type(cmd).__name__} yields no event; it is the leader's own entry")
        return event

    def submit(self, cmd: Command) -> asyncio.Future[Event | None]:
        """Propose `cmd`; the future resolves once it is applied here (None for a Sync) or
        fails with its store error, or with 300 after etcd's request timeout
        (`_expire_requests`) or when the member stops.

        The proposal goes to the raft task without a round trip back here: only a failure to
        propose calls back (`_proposed`). Cancelling the future abandons the wait, never the
        proposal."""
        loop = self._running_loop()
        done: asyncio.Future[Event | None] = loop.create_future()
        if self._stopping:
            done.set_exception(_timeout(STOPPED))
            return done
        request_id = self._applier.waiters.register(done, loop.time())
        self._propose(request_id, encode_entry(request_id, cmd))
        return done

    def _propose(self, request_id: int, data: bytes) -> None:
        if request_id not in self._applier.waiters:
            return  # timed out or abandoned while a dropped proposal waited for its retry
        try:
            self._running_node().propose_nowait(data, partial(self._proposed, request_id, data))
        except NodeStopped as exc:
            self._proposed(request_id, data, exc)

    def _proposed(self, request_id: int, data: bytes, exc: RaftError | None) -> None:
        """A dropped proposal (no leader yet, a transfer) is retried each heartbeat until the
        request times out; any other failure is NodeStopped and fails it at once."""
        if exc is None:
            return
        if isinstance(exc, ProposalDropped):
            interval = self._options.heartbeat_interval
            self._running_loop().call_later(interval, self._propose, request_id, data)
        elif request_id in self._applier.waiters:
            self._proposals_failed += 1
            self._applier.waiters.trigger(request_id, _timeout(STOPPED))

    def _expire_requests(self) -> None:
        """etcd's request timeout, swept every heartbeat: overdue writes get its 300."""
        now = self._running_loop().time()
        for done, start in self._applier.waiters.expire(now - self.request_timeout):
            if not done.done():
                self._proposals_failed += 1
                done.set_exception(self._timeout_error(start))

    def _timeout_error(self, start: float) -> EtcdError:
        """etcd's reasons: a leader elected during the request, or lost connections."""
        elected = self._leader_elected_at
        if start < elected and start > elected - 2 * self._options.election_timeout:
            return _timeout("request timed out, possibly due to previous leader failure")
        node, transport = self._running_node(), self._transport
        lead = node.leader_id
        if transport is not None and lead:
            peers = transport.peer_ids()
            if lead == self._member_id:
                connected = 1 + sum(transport.stats(p).connected for p in peers)
                if connected < (len(peers) + 1) // 2 + 1:
                    return _timeout("request timed out, possibly due to connection lost")
            elif lead in peers and not transport.stats(lead).connected:
                return _timeout("request timed out, possibly due to connection lost")
        return _timeout("request timed out")

    async def linearizable_read(self) -> None:
        await self._read_index(self.request_timeout)

    async def _read_index(self, timeout: float) -> None:
        """The node times the read out (no timer per request); without a leader, retry each
        heartbeat until `timeout`."""
        node = self._running_node()
        if self._stopping:
            raise _timeout(STOPPED)
        loop = self._running_loop()
        start = loop.time()
        deadline = start + timeout
        try:
            while True:
                try:
                    await node.read_index(deadline - loop.time())
                    return
                except NotLeader:
                    await asyncio.sleep(self._options.heartbeat_interval)
                    if loop.time() >= deadline:
                        raise TimeoutError from None
        except TimeoutError:
            self._slow_read_indexes += 1
            raise self._timeout_error(start) from None
        except NodeStopped:
            self._read_indexes_failed += 1
            raise _timeout(STOPPED) from None

    def members(self) -> list[Member]:
        return self.store.members()

    def leader(self) -> Member | None:
        lead = self._node.leader_id if self._node is not None else 0
        return next((m for m in self.store.members() if m.id == lead), None)

    def has_leader(self) -> bool:
        return self._node is not None and self._node.leader_id != 0

    async def health(self) -> bool:
        if self.split_brain():
            return False
        if not self.has_leader():
            return False
        try:
            await self._read_index(HEALTH_TIMEOUT)
        except EtcdError:
            return False
        return True

    def cluster_version(self) -> str | None:
        return self.store.cluster_version()

    # -- membership ------------------------------------------------------------------------------

    async def add_member(self, peer_urls: tuple[str, ...]) -> Member:
        urls = tuple(sorted(peer_urls))
        self._check_urls_free(urls, except_id=None)
        new_id = member_id(urls, "", self.now() // 1_000_000_000)
        if any(m.id == new_id for m in self.store.members()):
            raise MembersError(409, "membership: ID exists")
        if self.store.is_removed(new_id):
            log.warning("refused to add member %s: that id was removed", format_id(new_id))
            raise MembersError(500, "Internal Server Error")
        if self._config.strict_reconfig_check:
            members = self.store.members()
            if not ready_to_add(sum(1 for m in members if m.name), len(members)):
                self._refuse(
                    f"refused to add member {format_id(new_id)}: not enough started members"
                )
            if not all(self._active(m.id) for m in members):
                self._refuse(
                    f"not healthy for reconfigure, rejecting member add {format_id(new_id)} "
                    f"[{' '.join(urls)}]: a member has not been connected for "
                    f"{self.health_interval:g}s"
                )
        context = encode_context(urls, self.now())
        await self._conf_change(ConfChange(ConfChangeKind.ADD, new_id, context))
        return Member(id=new_id, name="", peer_urls=urls, client_urls=())

    async def remove_member(self, member_id: int) -> None:
        self._require_member(member_id)
        if self._config.strict_reconfig_check:
            others = [m for m in self.store.members() if m.id != member_id]
            if not ready_to_remove(sum(1 for m in others if m.name), len(others)):
                self._refuse(
                    f"refused to remove member {format_id(member_id)}: not enough started members"
                )
            if not self._quorum_stays_active(member_id, others):
                self._refuse(
                    "reconfigure breaks active quorum, rejecting remove member "
                    f"{format_id(member_id)}"
                )
        await self._conf_change(
            ConfChange(ConfChangeKind.REMOVE, member_id, encode_context((), self.now()))
        )

    async def update_member(self, member_id: int, peer_urls: tuple[str, ...]) -> None:
        urls = tuple(sorted(peer_urls))
        self._require_member(member_id)
        self._check_urls_free(urls, except_id=member_id)
        await self._conf_change(
            ConfChange(ConfChangeKind.UPDATE, member_id, encode_context(urls, self.now()))
        )

    def _refuse(self, message: str) -> None:
        """--strict-reconfig-check's refusals: etcd's bare 500, the reason only in the log."""
        log.warning("%s", message)
        raise MembersError(500, "Internal Server Error")

    def _track_connections(self) -> None:
        """Note when each peer's stream came up (etcd's ActiveSince); forget it when it drops."""
        transport = self._transport
        if transport is None:
            return
        now = asyncio.get_running_loop().time()
        peers = transport.peer_ids()
        for peer in peers:
            if transport.stats(peer).connected:
                self._active_since.setdefault(peer, now)
            else:
                self._active_since.pop(peer, None)
        for gone in self._active_since.keys() - set(peers):
            del self._active_since[gone]

    def _active(self, peer: int) -> bool:
        """Connected for at least `health_interval` (this member always is)."""
        if peer == self._member_id:
            return True
        self._track_connections()
        since = self._active_since.get(peer)
        now = asyncio.get_running_loop().time()
        return since is not None and now - since >= self.health_interval

    def _quorum_stays_active(self, removed: int, others: list[Member]) -> bool:
        """A member that is down may always go; otherwise the active rest must be a quorum."""
        self._track_connections()
        if removed != self._member_id and removed not in self._active_since:
            return True
        active = sum(1 for m in others if self._active(m.id))
        return active >= len(others) // 2 + 1

    async def _conf_change(self, cc: ConfChange) -> None:
        """Membership failures reach clients as etcd's bare 500, never as a v2 error body."""
        node = self._running_node()
        try:
            async with asyncio.timeout(self.request_timeout):
                while True:
                    try:
                        await node.propose_conf_change(cc)
                        return
                    except ProposalDropped:
                        await asyncio.sleep(self._options.heartbeat_interval)
        except (TimeoutError, ConfigError, NodeStopped) as exc:
            log.error(
                "membership change %s failed: %s", cc.kind.name, str(exc) or type(exc).__name__
            )
            raise MembersError(500, "Internal Server Error") from exc

    def _require_member(self, member_id: int) -> None:
        if any(m.id == member_id for m in self.store.members()):
            return
        if self.store.is_removed(member_id):
            raise MembersError(410, f"Member permanently removed: {format_id(member_id)}")
        raise MembersError(404, f"No such member: {format_id(member_id)}")

    def _check_urls_free(self, urls: tuple[str, ...], except_id: int | None) -> None:
        taken = {u for m in self.store.members() if m.id != except_id for u in m.peer_urls}
        if taken.intersection(urls):
            raise MembersError(409, "membership: peerURL exists")

    # -- stats -----------------------------------------------------------------------------------

    async def snapshot(self) -> bytes:
        await self.linearizable_read()
        # One synchronous step of the loop, so no entry is applied between the two reads.
        data, index = self.store.save(), self._applier.applied_index
        snap = HotSnapshot(index, self.raft_term(), self._cluster_id, self._member_id, data)
        return await asyncio.to_thread(encode_snapshot, snap)

    def self_stats(self) -> dict[str, object]:
        node = self._running_node()
        now = self.now()
        role = node.status().soft_state.role
        stats: dict[str, object] = {
            "name": self.name,
            "id": format_id(self._member_id),
            "state": _STATES[role],
            "startTime": gotime.rfc3339nano(self._start_time),
            "leaderInfo": {
                "leader": format_id(node.leader_id),
                "uptime": gotime.duration(now - self._leader_since),
                "startTime": gotime.rfc3339nano(self._leader_since),
            },
            "recvAppendRequestCnt": self.recv_append,
        }
        moment = time.monotonic()
        pkg, bandwidth = self._recv_rate.rates(moment)
        if pkg:
            stats["recvPkgRate"] = pkg
        if bandwidth:
            stats["recvBandwidthRate"] = bandwidth
        stats["sendAppendRequestCnt"] = self.send_append
        pkg, bandwidth = self._send_rate.rates(moment)
        if pkg:
            stats["sendPkgRate"] = pkg
        if bandwidth:
            stats["sendBandwidthRate"] = bandwidth
        return stats

    def server_metrics(self) -> ServerMetrics | None:
        node, transport = self._node, self._transport
        if node is None or transport is None:
            return None
        return ServerMetrics(
            is_leader=node.is_leader,
            leader_changes=self._leader_changes,
            proposals_committed=node.commit_index,
            proposals_applied=node.applied_index,
            proposals_pending=len(self._applier.waiters),
            proposals_failed=self._proposals_failed,
            snapshots_received=dict(self._snapshots_received),
            snapshots_sent=dict(self._snapshots_sent),
            snapshot_send_failures=dict(self._snapshot_send_failures),
            peer_send_failures={p: transport.stats(p).failed for p in transport.peer_ids()},
            heartbeat_send_failures=self._heartbeat_failures,
            slow_applies=self._applier.slow_applies,
            slow_read_indexes=self._slow_read_indexes,
            read_indexes_failed=self._read_indexes_failed,
            peers_connected={
                p: up
                for p in transport.peer_ids()
                if (up := transport.stats(p).connected) or p in self.peer_figures.disconnected
            },
            disk=self.disk_figures,
            peers=self.peer_figures,
            extra_gauges=(
                ExtraGauge(
                    "pyetcd_server_split_brain",
                    "1 while this member sees two clusters or two leaders among its peers, "
                    "0 otherwise.",
                    1.0 if self.split_brain() else 0.0,
                ),
            ),
        )

    def raft_status(self) -> RaftStatus | None:
        if self._node is None:
            return None
        status = self._node.status()
        hard, soft = status.hard_state, status.soft_state
        return RaftStatus(
            id=status.id,
            term=hard.term,
            vote=hard.vote,
            commit=hard.commit,
            lead=soft.lead,
            raft_state=_STATES[soft.role],
            applied=status.applied,
            progress=tuple(
                PeerProgress(peer, pr.match, pr.next, _PROGRESS_STATES[pr.state])
                for peer, pr in sorted(status.progress.items())
            ),
            lead_transferee=status.lead_transferee,
        )

    def set_log_level(self, level: str) -> str | None:
        return logs.set_global_level(level)

    def leader_stats(self) -> dict[str, object] | None:
        node, transport = self._running_node(), self._transport
        if not node.is_leader or transport is None:
            return None
        followers: dict[str, object] = {}
        for peer in transport.peer_ids():
            figures = transport.stats(peer)
            latency = figures.latency
            followers[format_id(peer)] = {
                "latency": {
                    "current": latency.current,
                    "average": latency.average,
                    "standardDeviation": latency.stddev,
                    "minimum": latency.minimum,
                    "maximum": latency.maximum,
                },
                "counts": {"fail": figures.failed, "success": figures.sent},
            }
        return {"leader": format_id(self._member_id), "followers": followers}
