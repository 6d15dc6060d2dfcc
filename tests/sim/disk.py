"""A node's disk: what an fsync has made durable versus what a crash may still lose or tear."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from raft import Entry, HardState, Snapshot


@dataclass(slots=True)
class DiskImage:
    """What survives a crash: the latest snapshot, hard state and the log after the snapshot."""

    snapshot: Snapshot | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)

    @property
    def snapshot_index(self) -> int:
        return self.snapshot.meta.index if self.snapshot is not None else 0

    @property
    def last_index(self) -> int:
        return self.entries[-1].index if self.entries else self.snapshot_index

    def append(self, entry: Entry) -> None:
        """Append as a WAL replay does: a later entry at an index overwrites it and its suffix."""
        if entry.index <= self.snapshot_index:
            return
        offset = entry.index - self.snapshot_index - 1
        if offset > len(self.entries):
            raise AssertionError(f"gap in the durable log before index {entry.index}")
        del self.entries[offset:]
        self.entries.append(entry)

    def install(self, snapshot: Snapshot) -> None:
        """A snapshot received from the leader replaces the whole log."""
        self.snapshot = snapshot
        self.entries = []

    def compact(self, snapshot: Snapshot) -> None:
        """A local snapshot keeps the log after its index."""
        index = snapshot.meta.index
        if index <= self.snapshot_index:
            return
        self.entries = [e for e in self.entries if e.index > index]
        self.snapshot = snapshot

    def copy(self) -> DiskImage:
        return DiskImage(self.snapshot, self.hard_state, list(self.entries))


Record = Snapshot | HardState | Entry


@dataclass(slots=True)
class SimDisk:
    """Records written per Ready become durable only at the next completed fsync.

    A crash keeps the durable image and, when it tears, a prefix of the unsynced record stream,
    as a WAL whose torn tail is repaired on open: snapshot, then entries, then hard state.
    """

    durable: DiskImage = field(default_factory=DiskImage)
    pending: list[Record] = field(default_factory=list)
    writes: int = 0
    syncs: int = 0

    def write(
        self, snapshot: Snapshot | None, entries: list[Entry], hard_state: HardState | None
    ) -> None:
        self.writes += 1
        if snapshot is not None:
            self.pending.append(snapshot)
        self.pending.extend(entries)
        if hard_state is not None:
            self.pending.append(hard_state)

    def sync(self) -> None:
        self.syncs += 1
        for record in self.pending:
            _apply(self.durable, record)
        self.pending.clear()

    def save_local_snapshot(self, snapshot: Snapshot) -> None:
        """Snapshot files are written atomically (temp, fsync, rename) before the log is cut."""
        self.durable.compact(snapshot)

    def crash(self, rng: random.Random, tear: bool) -> int:
        """Lose what was not synced, keeping a random prefix of it when the write tears."""
        kept = rng.randint(0, len(self.pending)) if tear and self.pending else 0
        for record in self.pending[:kept]:
            _apply(self.durable, record)
        lost = len(self.pending) - kept
        self.pending.clear()
        return lost


def _apply(image: DiskImage, record: Record) -> None:
    match record:
        case Entry():
            image.append(record)
        case HardState():
            image.hard_state = record
        case Snapshot():
            image.install(record)
