"""A stopped member's data dir, read without changing a byte: the newest usable snapshot, the WAL
after it, and the store they rebuild. `inspect` reports it, `backup` copies it.

The WAL is replayed whole, as `--force-new-cluster` does (pyetcd.standalone): pyetcd records its
commit index lazily, so entries past the recorded commit may have been applied and served.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pyetcd.admin.v2client import AdminError
from pyetcd.applier import Applier
from pyetcd.membership import BadContext, store_command
from pyetcd.wait import Waiters
from raft.aio.fs import OsFS
from raft.aio.recovery import member_dirs
from raft.aio.snap import SnapError, SnapStore, StoredSnapshot
from raft.aio.wal import WAL, SnapshotMarker, WalCorrupt, WalError, WalReading, read_wal
from raft.codec import decode_conf_change
from raft.types import Entry, EntryKind
from store.errors import EtcdError
from store.snapshot import BadSnapshot
from store.store import Store


@dataclass(frozen=True, slots=True)
class SnapFile:
    """One snapshot file: its index and term, or why it cannot be read."""

    name: str
    index: int = 0
    term: int = 0
    voters: tuple[int, ...] = ()
    error: str = ""
    marked: bool = False


@dataclass(frozen=True, slots=True)
class DataDir:
    wal_dir: str
    snap_dir: str
    wal: WalReading
    snapshot: StoredSnapshot | None
    snap_files: tuple[SnapFile, ...]

    @property
    def entries(self) -> list[Entry]:
        """The log after the snapshot as raft entries."""
        return [Entry(e.term, e.index, EntryKind(e.kind), e.data) for e in self.wal.replay.entries]

    @property
    def last(self) -> tuple[int, int]:
        """Index and term of the last entry, or of the snapshot when the log is empty."""
        entries = self.wal.replay.entries
        if entries:
            return entries[-1].index, entries[-1].term
        meta = None if self.snapshot is None else self.snapshot.meta
        return (0, 0) if meta is None else (meta.index, meta.term)


def _snap_files(fs: OsFS, snap_dir: str, markers: set[tuple[int, int]]) -> list[SnapFile]:
    if not fs.exists(snap_dir):
        return []
    snaps = SnapStore(fs, snap_dir)
    found = []
    for name in snaps.names():
        try:
            meta = snaps.load(name).meta
        except SnapError as exc:
            found.append(SnapFile(name, error=str(exc)))
            continue
        marked = (meta.index, meta.term) in markers
        found.append(SnapFile(name, meta.index, meta.term, meta.voters, marked=marked))
    return found


def read_data_dir(data_dir: str, wal_dir: str = "") -> DataDir:
    """Raises AdminError naming the damaged file (and offset, for the WAL)."""
    fs = OsFS()
    wal_path, snap_dir = member_dirs(data_dir, wal_dir)
    try:
        if not WAL.exists(fs, wal_path):
            raise AdminError(f"{wal_path} holds no WAL: not a member's data dir")
        markers = {(m.index, m.term) for m in WAL.snapshot_markers(fs, wal_path)}
        files = _snap_files(fs, snap_dir, markers)
        usable = next((f for f in files if f.marked and not f.error), None)
        snapshot = None
        if usable is not None:
            snapshot = SnapStore(fs, snap_dir).load(usable.name)
        marker = None if snapshot is None else SnapshotMarker(usable.index, usable.term)
        reading = read_wal(fs, wal_path, marker)
    except WalCorrupt as exc:
        hint = " (an etcd data dir? see pyetcd-admin import-etcd)" if exc.offset == 0 else ""
        raise AdminError(f"{exc}{hint}") from None
    except (WalError, SnapError) as exc:
        raise AdminError(str(exc)) from None
    return DataDir(wal_path, snap_dir, reading, snapshot, tuple(files))


def replay_store(data: DataDir) -> tuple[Store, int]:
    """The store the member would serve after replaying its whole log, and the entries it
    skipped as undecodable (the daemon skips them too)."""
    try:
        store = Store.restore(data.snapshot.data) if data.snapshot is not None else Store()
    except BadSnapshot as exc:
        raise AdminError(f"{data.snap_dir}: {exc}") from None
    applier = Applier(store, Waiters(0, 0))
    skipped = 0
    for entry in data.wal.replay.entries:
        if entry.kind == EntryKind.CONF_CHANGE:
            try:
                store.apply(store_command(decode_conf_change(entry.data)))
            except (BadContext, EtcdError, ValueError):
                skipped += 1
        elif entry.data:
            applier.apply_entry(entry.index, entry.data)
    return store, skipped + applier.dropped_entries


def running_holder(paths: tuple[str, ...]) -> int | None:
    """The pid of a process holding a file under `paths` open (a member keeps its last WAL
    segment open for as long as it runs), found through /proc; None when there is none."""
    roots = tuple(os.path.realpath(p) + os.sep for p in paths if p)
    me = os.getpid()
    for pid in (int(d) for d in os.listdir("/proc") if d.isdigit()):
        if pid == me:
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            targets = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
        except OSError:
            continue
        if any(t.startswith(roots) for t in targets):
            return pid
    return None


def refuse_if_running(data_dir: str, paths: tuple[str, ...], advice: str) -> None:
    """AdminError when a process holds a file under `paths` (the member's WAL and snap dirs)."""
    pid = running_holder(paths)
    if pid is not None:
        raise AdminError(f"process {pid} has files in {data_dir} open: {advice}")
