"""A WAL writer for the kill tests: boots like a member, then saves until it is killed.

`python -m tests.wal.appender DIR SEED SEGMENT_SIZE` prints `ready <last index>` once open, then
the last index after each `save` returned (flushed), so the parent knows what must be durable.
"""

from __future__ import annotations

import os
import random
import sys

from raft.aio.fs import OsFS
from raft.aio.snap import SnapshotMeta, SnapStore, StoredSnapshot
from raft.aio.wal import WAL, HardState, Metadata, SnapshotMarker, WalEntry

TERM = 1


def payload(index: int, size: int) -> bytes:
    return (f"{index}." * size).encode()[:size]


def usable_snapshot(fs: OsFS, root: str) -> SnapshotMarker | None:
    """The newest snapshot that has a WAL marker (a crash may fall between the two writes)."""
    markers = {(m.index, m.term) for m in WAL.snapshot_markers(fs, os.path.join(root, "wal"))}
    snap = SnapStore(fs, os.path.join(root, "snap")).load_newest(
        lambda m: (m.index, m.term) in markers
    )
    return SnapshotMarker(snap.meta.index, snap.meta.term) if snap else None


def boot(fs: OsFS, root: str, segment_size: int) -> tuple[WAL, SnapStore]:
    """The member's restart path: newest usable snapshot, then the WAL after it."""
    wal_dir = os.path.join(root, "wal")
    snaps = SnapStore(fs, os.path.join(root, "snap"))
    if not WAL.exists(fs, wal_dir):
        return WAL.create(fs, wal_dir, Metadata(7, 1), segment_size=segment_size), snaps
    wal, _ = WAL.open(fs, wal_dir, usable_snapshot(fs, root), segment_size=segment_size)
    return wal, snaps


def main(root: str, seed: int, segment_size: int) -> None:
    rng = random.Random(seed)
    fs = OsFS()
    wal, snaps = boot(fs, root, segment_size)
    last = wal.last_index
    print("ready", last, flush=True)
    while True:
        count, size = rng.choice((1, 1, 3, 10, 100)), rng.choice((10, 100, 1000))
        if rng.random() < 0.03:
            count, size = 3, 300_000  # large writes, which a kill can tear
        indexes = range(last + 1, last + count + 1)
        entries = [WalEntry(TERM, i, 0, payload(i, size)) for i in indexes]
        wal.save(HardState(TERM, 1, last + count), entries, must_sync=True)
        last += count
        print(last, flush=True)
        if rng.random() < 0.05:
            snaps.save(StoredSnapshot(SnapshotMeta(last, TERM, (1,)), payload(last, 64)))
            wal.save_snapshot_marker(last, TERM)
            wal.release_to(last)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
