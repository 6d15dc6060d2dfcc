"""Boot a member's raft state from its data dir: newest usable snapshot, then WAL replay.

The layout follows etcd: `<data-dir>/member/wal` (or a dedicated WAL dir, etcd's `--wal-dir`)
and `<data-dir>/member/snap`. A new member's WAL is created before its snapshot dir, so a snapshot
dir without a WAL beside it means the WAL is elsewhere or lost, never an interrupted creation. A
snapshot is
usable only if the WAL holds its marker (the marker is written after the file is durable). Any
WAL damage that a crash cannot explain propagates as the WAL's own error, which names the file
and offset: the member refuses to start rather than serve a log with holes.

Booting reads the whole WAL synchronously: call it before the event loop serves anything, or
through `asyncio.to_thread`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from raft.aio.fs import FS, OsFS
from raft.aio.snap import SnapStore
from raft.aio.wal import MAX_WALS, SEGMENT_SIZE, WAL, Metadata, SnapshotMarker, WalError
from raft.storage import MemoryStorage
from raft.types import ConfState, Entry, EntryKind, HardState, Snapshot, SnapshotMeta


class DataDirError(WalError):
    """The data dir is inconsistent in a way the WAL alone does not report."""


@dataclass(frozen=True, slots=True)
class Boot:
    """Everything a member needs to start: the open WAL and snapshot store, the rebuilt
    MemoryStorage, and the snapshot (if any) the application must restore its state from."""

    fs: FS
    wal: WAL
    snaps: SnapStore
    storage: MemoryStorage
    metadata: Metadata
    snapshot: Snapshot | None
    hard_state: HardState
    is_new: bool

    @property
    def applied(self) -> int:
        """The index the application's state is at once it restored `snapshot`."""
        return 0 if self.snapshot is None else self.snapshot.meta.index


@dataclass(frozen=True, slots=True)
class _WalOptions:
    segment_size: int
    max_wals: int
    preallocate: bool


def member_dirs(data_dir: str, wal_dir: str = "") -> tuple[str, str]:
    """The WAL directory (`wal_dir` if given, else inside `data_dir`) and the snapshot one."""
    member = os.path.join(data_dir, "member")
    return wal_dir or os.path.join(member, "wal"), os.path.join(member, "snap")


def member_initialized(data_dir: str, wal_dir: str = "", fs: FS | None = None) -> bool:
    """Whether the member has a WAL, which is what makes etcd restart rather than bootstrap."""
    return WAL.exists(fs or OsFS(), member_dirs(data_dir, wal_dir)[0])


def open_data_dir(
    data_dir: str,
    metadata: Metadata | None = None,
    *,
    wal_dir: str = "",
    fs: FS | None = None,
    segment_size: int = SEGMENT_SIZE,
    max_wals: int = MAX_WALS,
    max_snapshots: int = 5,
    preallocate: bool = True,
) -> Boot:
    """Open an existing data dir, or create one with `metadata` (cluster and member id).

    An existing WAL's metadata wins over `metadata`; the caller compares if it cares.
    Raises WalError (or a subclass) for damage, DataDirError for a new dir without metadata.
    """
    fs = fs or OsFS()
    wal_dir, snap_dir = member_dirs(data_dir, wal_dir)
    wal_opts = _WalOptions(segment_size, max_wals, preallocate)
    if not WAL.exists(fs, wal_dir):
        return _create(fs, wal_dir, snap_dir, metadata, max_snapshots, wal_opts)
    markers = {(m.index, m.term) for m in WAL.snapshot_markers(fs, wal_dir)}
    snaps = SnapStore(fs, snap_dir, max_snapshots)
    stored = snaps.load_newest(lambda meta: (meta.index, meta.term) in markers)
    marker = None if stored is None else SnapshotMarker(stored.meta.index, stored.meta.term)
    wal, replay = WAL.open(
        fs,
        wal_dir,
        marker,
        segment_size=wal_opts.segment_size,
        max_wals=wal_opts.max_wals,
        preallocate=wal_opts.preallocate,
    )
    storage = MemoryStorage()
    snapshot = None
    commit = replay.hard_state.commit
    if stored is not None:
        meta = SnapshotMeta(stored.meta.index, stored.meta.term, ConfState(stored.meta.voters))
        snapshot = Snapshot(meta, stored.data)
        storage.apply_snapshot(snapshot)
        commit = max(commit, meta.index)
    storage.append(Entry(e.term, e.index, EntryKind(e.kind), e.data) for e in replay.entries)
    if commit > storage.last_index():
        wal.close()
        raise DataDirError(
            f"{wal_dir}: hard state commit {commit} is past the last entry {storage.last_index()}"
        )
    hard_state = HardState(replay.hard_state.term, replay.hard_state.vote, commit)
    storage.set_hard_state(hard_state)
    return Boot(fs, wal, snaps, storage, replay.metadata, snapshot, hard_state, is_new=False)


def _create(
    fs: FS,
    wal_dir: str,
    snap_dir: str,
    metadata: Metadata | None,
    max_snapshots: int,
    wal_opts: _WalOptions,
) -> Boot:
    if metadata is None:
        raise DataDirError(f"{wal_dir} holds no WAL and no cluster/member id was given")
    if fs.exists(snap_dir) and any(n.endswith(".snap") for n in fs.listdir(snap_dir)):
        raise DataDirError(f"{snap_dir} holds snapshots but {wal_dir} holds no WAL")
    new_dirs = missing_dirs(fs, (wal_dir, snap_dir))
    wal = WAL.create(
        fs,
        wal_dir,
        metadata,
        segment_size=wal_opts.segment_size,
        max_wals=wal_opts.max_wals,
        preallocate=wal_opts.preallocate,
    )
    try:
        snaps = SnapStore(fs, snap_dir, max_snapshots)
        sync_parents(fs, new_dirs)
    except BaseException:
        wal.close()
        raise
    return Boot(fs, wal, snaps, MemoryStorage(), metadata, None, HardState(), is_new=True)


def missing_dirs(fs: FS, paths: tuple[str, ...]) -> list[str]:
    """The directories creating `paths` makes, deepest first: each one's entry in its parent
    must be synced too, or a power loss could take a whole new member dir with it."""
    missing: set[str] = set()
    for path in paths:
        path = os.path.normpath(os.path.abspath(path))
        while not fs.exists(path) and path != os.path.dirname(path):
            missing.add(path)
            path = os.path.dirname(path)
    return sorted(missing, key=lambda p: p.count(os.sep), reverse=True)


def sync_parents(fs: FS, made: list[str]) -> None:
    """Make the directories `missing_dirs` listed (and has since seen made) durable."""
    for path in made:
        fs.fsync_dir(os.path.dirname(path))
