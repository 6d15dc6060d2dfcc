"""One simulated member: a real RawNode whose Ready is executed exactly as the contract says."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from raft import (
    BadFrame,
    ConfChange,
    ConfChangeKind,
    Config,
    ConfState,
    EntryKind,
    FrameDecoder,
    InstallSnapshot,
    MemoryStorage,
    Message,
    RawNode,
    ReadState,
    Ready,
    Role,
    Snapshot,
    decode_conf_change,
    decode_message,
    encode_frame,
)
from tests.sim.disk import SimDisk
from tests.sim.kv import KV, Command


class CodecFailure(AssertionError):
    """A message did not cross the wire intact."""


if TYPE_CHECKING:
    from tests.sim.world import World

TICK_MS = 10
SNAPSHOT_KEEP = 5


@dataclass(slots=True)
class SimNode:
    """Lives across crashes: the disk survives, everything else is rebuilt by `boot`.

    Ready handling: write to disk, then (after the fsync latency when `must_sync`) mirror into
    MemoryStorage, send, apply, release read states, advance. Only one Ready is in flight, so
    inputs arriving during an fsync form the next batch, as in the asyncio driver.
    """

    id: int
    world: World
    rng: random.Random
    tick_ms: int
    fsync_ms: tuple[int, int] = (1, 3)
    disk: SimDisk = field(default_factory=SimDisk)
    alive: bool = False
    life: int = 0
    raw: RawNode | None = None
    storage: MemoryStorage = field(default_factory=MemoryStorage)
    kv: KV = field(default_factory=KV)
    conf: ConfState = field(default_factory=ConfState)
    busy: bool = False
    applied: int = 0
    reads: list[ReadState] = field(default_factory=list)
    decoders: dict[int, FrameDecoder] = field(default_factory=dict)
    snapshot_every: int = 0

    @property
    def node(self) -> RawNode:
        assert self.raw is not None, f"n{self.id} is down"
        return self.raw

    # -- lifecycle ---------------------------------------------------------------------------

    def boot(self, bootstrap: tuple[int, ...] = ()) -> None:
        """Start from the durable image only (or found the cluster on an empty disk)."""
        image = self.disk.durable
        storage = MemoryStorage()
        if image.hard_state is not None:
            storage.set_hard_state(image.hard_state)
        if image.snapshot is not None:
            storage.apply_snapshot(image.snapshot)
        storage.append(image.entries)
        self.storage = storage
        snapshot = image.snapshot
        self.kv = KV.decode(snapshot.data if snapshot is not None else b"")
        self.conf = snapshot.meta.conf_state if snapshot is not None else ConfState()
        profile = self.world.profile
        config = Config(
            id=self.id,
            rng=random.Random(self.rng.random()),
            election_tick=profile.election_tick,
            heartbeat_tick=profile.heartbeat_tick,
            pre_vote=profile.pre_vote,
            check_quorum=profile.check_quorum,
            max_uncommitted_bytes=profile.max_uncommitted_bytes,
            applied=image.snapshot_index,
            max_inflight=self.rng.choice((2, 8, 64)),
            max_size_per_msg=self.rng.choice((64, 1024, 1 << 20)),
        )
        self.raw = RawNode(config, storage)
        if bootstrap:
            self.raw.bootstrap([ConfChange(ConfChangeKind.ADD, i) for i in bootstrap])
        self.alive = True
        self.busy = False
        self.reads = []
        self.applied = image.snapshot_index
        self.decoders = {}
        self.life += 1
        self.world.invariants.start(self.id, self.raw, image)
        self.world.trace(f"n{self.id} boot (life {self.life}, durable last {image.last_index})")
        self._schedule_tick()
        self.kick()

    def crash(self, tear: bool) -> None:
        lost = self.disk.crash(self.rng, tear)
        self.alive = False
        self.raw = None
        self.world.invariants.stop(self.id)
        self.world.trace(f"n{self.id} crash (lost {lost} unsynced records, tear={tear})")

    def _guarded(self, action: Callable[[], None]) -> Callable[[], None]:
        """An event that silently expires if this life ended before it fires."""
        life = self.life

        def run() -> None:
            if self.alive and self.life == life:
                action()

        return run

    def _schedule_tick(self) -> None:
        self.world.events.after(self.tick_ms, self._guarded(self._tick))

    def _tick(self) -> None:
        self.node.tick()
        self.after_input()
        self._schedule_tick()

    # -- inputs ------------------------------------------------------------------------------

    def receive(self, frm: int, frame: bytes) -> None:
        if not self.alive:
            return
        decoder = self.decoders.setdefault(frm, FrameDecoder())
        decoder.receive_data(frame)
        for msg in decoder:
            if isinstance(msg, BadFrame):
                raise CodecFailure(f"n{frm}->n{self.id}: our own frame was rejected: {msg.reason}")
            self.world.trace_msg("recv", msg)
            self.node.step(msg)
        self.after_input()

    def after_input(self) -> None:
        self.world.invariants.after_event(self.id)
        self.kick()

    def kick(self) -> None:
        """Start handling the next Ready unless one is still being persisted."""
        if not self.alive or self.busy or not self.node.has_ready():
            return
        rd = self.node.ready()
        self.world.invariants.persisted(self.id, rd.entries)
        self.world.invariants.leader_appended(self.id, rd.entries)
        self.disk.write(rd.snapshot, list(rd.entries), rd.hard_state)
        # A snapshot file is always written atomically and fsynced, whatever must_sync says.
        if rd.must_sync or rd.snapshot is not None:
            self.busy = True
            delay = self.rng.randint(*self.fsync_ms)
            self.world.events.after(delay, self._guarded(lambda: self._finish(rd, synced=True)))
        else:
            self._finish(rd, synced=False)

    def _finish(self, rd: Ready, synced: bool) -> None:
        if synced:
            self.disk.sync()
            self.world.invariants.synced(self.id, self.disk.durable)
        if rd.snapshot is not None:
            self.storage.apply_snapshot(rd.snapshot)
        self.storage.append(rd.entries)
        if rd.hard_state is not None:
            self.storage.set_hard_state(rd.hard_state)
        for msg in rd.messages:
            self._send(msg)
        if rd.snapshot is not None:
            self._restore(rd.snapshot)
        for entry in rd.committed_entries:
            self.world.invariants.applying(self.id, entry)
            if entry.kind is EntryKind.CONF_CHANGE:
                cc = decode_conf_change(entry.data)
                self.conf = self.node.apply_conf_change(cc)
                self.world.conf_applied(self.id, entry.index, cc)
            elif entry.data:
                cmd = Command.decode(entry.data)
                first, result = self.kv.apply(cmd)
                if first:
                    self.world.clients.applied(self.id, cmd, result)
            self.applied = entry.index
        self.reads.extend(rd.read_states)
        self._release_reads()
        self.node.advance(rd)
        self._maybe_snapshot()
        self.busy = False
        if rd.soft_state is not None:
            self.world.trace(f"n{self.id} {rd.soft_state.role.value} lead={rd.soft_state.lead}")
        self.world.invariants.after_event(self.id)
        if self.alive:
            self.kick()

    def _send(self, msg: Message) -> None:
        """Transport feedback as etcd's: a cut link is reported unreachable, and a snapshot's
        fate is reported once its (separate) stream finishes."""
        self.world.invariants.sending(self.id, msg, self.disk.durable)
        self.world.trace_msg("send", msg)
        report = None
        if isinstance(msg, InstallSnapshot):
            to = msg.to
            report = self._guarded_report(lambda ok: self.node.report_snapshot(to, ok))
        frame = encode_frame(msg)
        if decode_message(frame[4:]) != msg:
            raise CodecFailure(f"{msg} does not survive an encode/decode round trip")
        sent = self.world.network.send(self.id, msg.to, frame, report)
        if not sent and self.world.profile.report_unreachable:
            self.node.report_unreachable(msg.to)

    def _guarded_report(self, action: Callable[[bool], None]) -> Callable[[bool], None]:
        life = self.life

        def run(ok: bool) -> None:
            if self.alive and self.life == life:
                action(ok)
                self.after_input()

        return run

    def _restore(self, snapshot: Snapshot) -> None:
        self.applied = snapshot.meta.index
        self.kv = KV.decode(snapshot.data)
        self.conf = snapshot.meta.conf_state
        self.world.invariants.restored(self.id, snapshot.meta.index, snapshot.meta.term)
        self.world.trace(f"n{self.id} installed snapshot {snapshot.meta.index}")

    def _release_reads(self) -> None:
        applied = self.applied
        ready = [rs for rs in self.reads if rs.index <= applied]
        if ready:
            self.reads = [rs for rs in self.reads if rs.index > applied]
            for rs in ready:
                self.world.clients.read_ready(self.id, rs.ctx, self.kv)

    def _maybe_snapshot(self) -> None:
        """Snapshot every `snapshot_every` applied entries, keeping a few for slow followers."""
        applied = self.applied
        since = applied - self.storage.snapshot().meta.index
        if not self.snapshot_every or since < self.snapshot_every:
            return
        snapshot = self.storage.create_snapshot(applied, self.conf, self.kv.encode())
        if applied - SNAPSHOT_KEEP >= self.storage.first_index():
            self.storage.compact(applied - SNAPSHOT_KEEP)
        self.disk.save_local_snapshot(snapshot)
        self.world.invariants.synced(self.id, self.disk.durable)
        self.world.trace(f"n{self.id} snapshot at {applied}")

    @property
    def is_leader(self) -> bool:
        return self.alive and self.node.raft.role is Role.LEADER
