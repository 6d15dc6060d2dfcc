"""The synchronous API of the core: inputs as method calls, outputs as a Ready batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .config import Config
from .core import Raft
from .messages import Message
from .status import ProgressStatus, Status
from .storage import Storage
from .types import (
    ConfChange,
    ConfState,
    Entry,
    HardState,
    ReadState,
    Role,
    Snapshot,
    SoftState,
)


@dataclass(frozen=True, slots=True)
class Ready:
    """One batch of work. Persist `hard_state`, `entries` and `snapshot` (fsync if
    `must_sync`), then send `messages`, then apply `committed_entries`, then advance().
    `soft_state` and `hard_state` are None when unchanged since the previous Ready."""

    soft_state: SoftState | None
    hard_state: HardState | None
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None
    committed_entries: tuple[Entry, ...]
    messages: tuple[Message, ...]
    read_states: tuple[ReadState, ...]
    must_sync: bool


class RawNode:
    """Not thread-safe; one owner calls everything. Each ready() must be followed by
    advance() with that Ready before the next ready(). Inputs (step, propose, tick, ...) may
    be fed between the two, e.g. while the Ready is being fsynced: whatever they produce goes
    into the next Ready."""

    def __init__(self, config: Config, storage: Storage) -> None:
        self.raft = Raft(config, storage)
        self._prev_soft = self.raft.soft_state()
        self._prev_hard = self.raft.hard_state()

    def bootstrap(self, peers: Sequence[ConfChange]) -> None:
        """Found a new cluster with `peers` (ADD changes) on empty storage; see Raft.bootstrap."""
        self.raft.bootstrap(list(peers))

    def tick(self) -> None:
        self.raft.tick()

    def campaign(self) -> None:
        """Start an election now (with pre-vote if configured)."""
        self.raft.hup()

    def propose(self, data: bytes) -> None:
        """Raises ProposalDropped if it cannot be appended or forwarded now."""
        if type(data) is not bytes:
            raise TypeError(f"proposal data must be bytes, got {type(data).__name__}")
        self.raft.propose(data)

    def propose_conf_change(self, cc: ConfChange) -> None:
        """Raises ConfigError for an invalid change, ProposalDropped as propose()."""
        self.raft.propose_conf_change(cc)

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Call when a committed conf change entry is applied; returns the new ConfState."""
        return self.raft.apply_conf_change(cc)

    def step(self, msg: Message) -> None:
        """Feed a message from a peer. Malformed or stale messages are counted, never raised."""
        if not isinstance(msg, Message):
            raise TypeError(f"step() takes a raft message, got {type(msg).__name__}")
        self.raft.step(msg)

    def read_index(self, ctx: bytes) -> None:
        """Request a ReadState(index, ctx) in a later Ready; `ctx` must be unique among pending
        reads. Raises NotLeader when no leader is known. The ReadState never comes if
        leadership changes meanwhile, so callers need a timeout."""
        if type(ctx) is not bytes or not ctx:
            raise ValueError("read_index ctx must be non-empty bytes")
        self.raft.read_index(ctx)

    def transfer_leader(self, transferee: int) -> None:
        self.raft.transfer_leader(transferee)

    def report_unreachable(self, node: int) -> None:
        self.raft.report_unreachable(node)

    def report_snapshot(self, node: int, ok: bool) -> None:
        self.raft.report_snapshot(node, ok)

    def has_ready(self) -> bool:
        raft = self.raft
        raft.flush()
        log = raft.log
        unstable = log.unstable
        if raft.msgs or unstable.entries or unstable.snapshot is not None or raft.read_states:
            return True
        if log.committed > log.applied and log.has_next_committed():
            return True
        soft = self._prev_soft
        hard = self._prev_hard
        return (
            raft.lead != soft.lead
            or raft.role is not soft.role
            or raft.term != hard.term
            or raft.vote != hard.vote
            or log.committed != hard.commit
        )

    def ready(self) -> Ready:
        raft = self.raft
        raft.flush()
        log = raft.log
        soft = raft.soft_state()
        hard = raft.hard_state()
        prev_hard = self._prev_hard
        entries = tuple(log.unstable.entries)
        messages = tuple(raft.msgs)
        raft.msgs = []
        read_states = tuple(raft.read_states)
        raft.read_states = []
        return Ready(
            soft_state=soft if soft != self._prev_soft else None,
            hard_state=hard if hard != prev_hard else None,
            entries=entries,
            snapshot=log.unstable.snapshot,
            committed_entries=tuple(log.next_committed()),
            messages=messages,
            read_states=read_states,
            must_sync=bool(entries) or hard.term != prev_hard.term or hard.vote != prev_hard.vote,
        )

    def advance(self, rd: Ready) -> None:
        raft = self.raft
        log = raft.log
        if rd.soft_state is not None:
            self._prev_soft = rd.soft_state
        if rd.hard_state is not None:
            self._prev_hard = rd.hard_state
        if rd.snapshot is not None:
            log.stable_snap_to(rd.snapshot.meta.index)
            log.applied_to(rd.snapshot.meta.index)
        if rd.committed_entries:
            log.applied_to(rd.committed_entries[-1].index)
            raft.reduce_uncommitted_size(rd.committed_entries)
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.term)

    def status(self) -> Status:
        raft = self.raft
        progress: dict[int, ProgressStatus] = {}
        if raft.role is Role.LEADER:
            progress = {
                node: ProgressStatus(
                    match=pr.match,
                    next=pr.next,
                    state=pr.state,
                    recent_active=pr.recent_active,
                    paused=pr.is_paused(),
                    pending_snapshot=pr.pending_snapshot,
                    inflight=len(pr.inflights),
                )
                for node, pr in sorted(raft.tracker.progress.items())
            }
        return Status(
            id=raft.id,
            hard_state=raft.hard_state(),
            soft_state=raft.soft_state(),
            applied=raft.log.applied,
            voters=raft.tracker.voters,
            progress=progress,
            lead_transferee=raft.lead_transferee,
            counters=replace(raft.counters),
        )
