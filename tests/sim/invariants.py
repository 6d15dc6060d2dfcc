"""Raft's safety properties, checked incrementally while the simulation runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from raft import (
    AppendResponse,
    Compacted,
    Entry,
    EntryKind,
    HardState,
    Message,
    RawNode,
    RequestVote,
    Role,
    Unavailable,
    VoteResponse,
)
from tests.sim.disk import DiskImage


class SafetyViolation(AssertionError):
    """A Raft safety property does not hold: a bug in the core (or in the simulator)."""


@dataclass(slots=True)
class Marks:
    """Per node, across restarts: high-water marks that must never go back."""

    durable_term: int = 0
    durable_commit: int = 0
    durable_snapshot: int = 0
    term: int = 0
    commit: int = 0
    applied: int = 0


@dataclass(slots=True)
class Invariants:
    """`nodes` is the live RawNode of every running node, kept current by the world."""

    nodes: dict[int, RawNode] = field(default_factory=dict)
    leaders: dict[int, int] = field(default_factory=dict)
    # (index, term) -> (kind, data, term of the previous entry): equal keys mean equal logs.
    entries: dict[tuple[int, int], tuple[EntryKind, bytes, int]] = field(default_factory=dict)
    # index -> the one applied entry; committed index -> lowest term it was seen committed in.
    applied: dict[int, Entry] = field(default_factory=dict)
    commit_term: dict[int, int] = field(default_factory=dict)
    marks: dict[int, Marks] = field(default_factory=dict)
    _checked_leaders: set[tuple[int, int]] = field(default_factory=set)
    checks: int = 0

    def start(self, node_id: int, node: RawNode, image: DiskImage) -> None:
        """A node (re)starts from its durable image only."""
        marks = self.marks.setdefault(node_id, Marks())
        hard = image.hard_state or HardState()
        commit = max(hard.commit, image.snapshot_index)
        if (
            hard.term < marks.durable_term
            or commit < marks.durable_commit
            or image.snapshot_index < marks.durable_snapshot
        ):
            raise SafetyViolation(
                f"n{node_id} restarted with term {hard.term} commit {commit} snapshot "
                f"{image.snapshot_index}, below durable term {marks.durable_term} commit "
                f"{marks.durable_commit} snapshot {marks.durable_snapshot}"
            )
        raft = node.raft
        marks.term, marks.commit, marks.applied = raft.term, raft.log.committed, raft.log.applied
        self.nodes[node_id] = node

    def stop(self, node_id: int) -> None:
        self.nodes.pop(node_id, None)

    def after_event(self, node_id: int) -> None:
        """Election safety and in-memory monotonicity, after anything a node did."""
        self.checks += 1
        raft = self.nodes[node_id].raft
        marks = self.marks[node_id]
        if raft.term < marks.term or raft.log.committed < marks.commit:
            raise SafetyViolation(
                f"n{node_id} went back: term {marks.term}->{raft.term}, "
                f"commit {marks.commit}->{raft.log.committed}"
            )
        marks.term, marks.commit = raft.term, raft.log.committed
        if raft.role is Role.LEADER and (node_id, raft.term) not in self._checked_leaders:
            other = self.leaders.setdefault(raft.term, node_id)
            if other != node_id:
                raise SafetyViolation(f"two leaders in term {raft.term}: n{other} and n{node_id}")
            self._checked_leaders.add((node_id, raft.term))
            for index in sorted(self.commit_term):
                self._leader_has(node_id, index)

    def synced(self, node_id: int, image: DiskImage) -> None:
        """Durable term, commit and snapshot (the restart's applied index) only grow."""
        hard = image.hard_state or HardState()
        marks = self.marks[node_id]
        commit = max(hard.commit, image.snapshot_index)
        snapshot = image.snapshot_index
        if (
            hard.term < marks.durable_term
            or commit < marks.durable_commit
            or snapshot < marks.durable_snapshot
        ):
            raise SafetyViolation(
                f"n{node_id} durable state went back: term {marks.durable_term}->{hard.term}, "
                f"commit {marks.durable_commit}->{commit}, "
                f"snapshot {marks.durable_snapshot}->{snapshot}"
            )
        marks.durable_term, marks.durable_commit = hard.term, commit
        marks.durable_snapshot = snapshot

    def persisted(self, node_id: int, entries: tuple[Entry, ...]) -> None:
        """Log matching: one (index, term) names one entry with one predecessor term."""
        log = self.nodes[node_id].raft.log
        for entry in entries:
            try:
                prev_term = log.term(entry.index - 1)
            except (Compacted, Unavailable):
                prev_term = -1
            key = (entry.index, entry.term)
            value = (entry.kind, entry.data, prev_term)
            known = self.entries.setdefault(key, value)
            if known != value and -1 not in (known[2], prev_term):
                raise SafetyViolation(
                    f"log matching: n{node_id} holds {key} = {value!r}, elsewhere {known!r}"
                )
            if known[:2] != value[:2]:
                raise SafetyViolation(f"log matching: two different entries at {key}")

    def sending(self, node_id: int, msg: Message, image: DiskImage) -> None:
        """Nothing leaves a node before the state it reflects is durable.

        A message built in an older term than the durable one is allowed: a later message of
        the same Ready moved the node on, and the durable higher term already forbids voting
        or accepting entries in the older term again.
        """
        hard = image.hard_state or HardState()
        if isinstance(msg, RequestVote | VoteResponse) and msg.pre_vote:
            return
        if msg.term > hard.term:
            raise SafetyViolation(f"n{node_id} sent {msg} before term {msg.term} was durable")
        if msg.term < hard.term:
            return
        if isinstance(msg, RequestVote) and hard.vote != node_id:
            raise SafetyViolation(f"n{node_id} sent {msg} before voting for itself durably")
        if isinstance(msg, VoteResponse) and not msg.reject and hard.vote != msg.to:
            raise SafetyViolation(f"n{node_id} granted {msg} before its vote was durable")
        if isinstance(msg, AppendResponse) and not msg.reject and msg.index > image.last_index:
            raise SafetyViolation(
                f"n{node_id} acknowledged index {msg.index} with only {image.last_index} durable"
            )

    def applying(self, node_id: int, entry: Entry) -> None:
        """State machine safety, in-order apply, and leader completeness for new commits."""
        marks = self.marks[node_id]
        if entry.index != marks.applied + 1:
            raise SafetyViolation(f"n{node_id} applied index {entry.index} after {marks.applied}")
        marks.applied = entry.index
        known = self.applied.setdefault(entry.index, entry)
        if known != entry:
            raise SafetyViolation(
                f"state machine safety: n{node_id} applied {entry} where another applied {known}"
            )
        term = self.nodes[node_id].raft.term
        if self.commit_term.get(entry.index, term + 1) > term:
            self.commit_term[entry.index] = term
            for leader_id, node in self.nodes.items():
                if node.raft.role is Role.LEADER and node.raft.term > term:
                    self._leader_has(leader_id, entry.index)

    def restored(self, node_id: int, index: int, term: int) -> None:
        """A snapshot stands for the committed prefix up to its index."""
        known = self.applied.get(index)
        if known is not None and known.term != term:
            raise SafetyViolation(
                f"n{node_id} installed a snapshot at {index}/{term}, committed was {known}"
            )
        self.marks[node_id].applied = index

    def leader_appended(self, node_id: int, entries: tuple[Entry, ...]) -> None:
        """A leader proposes a configuration change only once the previous one is applied."""
        raft = self.nodes[node_id].raft
        if raft.role is not Role.LEADER:
            return
        for entry in entries:
            if entry.kind is not EntryKind.CONF_CHANGE or entry.term != raft.term:
                continue
            lo = max(raft.log.applied + 1, raft.log.first_index())
            earlier = [
                e for e in raft.log.slice(lo, entry.index) if e.kind is EntryKind.CONF_CHANGE
            ]
            if earlier:
                raise SafetyViolation(
                    f"n{node_id} appended conf change {entry.index} while {earlier[0].index} "
                    f"was not applied (applied {raft.log.applied})"
                )

    def _leader_has(self, leader_id: int, index: int) -> None:
        raft = self.nodes[leader_id].raft
        if self.commit_term[index] >= raft.term:
            return
        want = self.applied[index].term
        try:
            have = raft.log.term(index)
        except Compacted:
            return
        except Unavailable:
            have = None
        if have != want:
            raise SafetyViolation(
                f"leader completeness: n{leader_id} leads term {raft.term} without committed "
                f"entry {index}/{want} (has term {have})"
            )
