"""Booting from a data dir: new, reopened, with a snapshot, damaged."""

from __future__ import annotations

import pytest

from raft.aio.fs import FaultyFS, OsFS
from raft.aio.recovery import DataDirError, member_dirs, open_data_dir
from raft.aio.snap import SnapshotMeta, SnapStore, StoredSnapshot
from raft.aio.wal import Metadata, WalCorrupt
from raft.types import Entry, HardState

META = Metadata(cluster_id=5, member_id=9)


def test_new_data_dir_is_created_with_metadata() -> None:
    fs = FaultyFS()
    boot = open_data_dir("/d", META, fs=fs, segment_size=1 << 16, preallocate=False)
    assert boot.is_new and boot.metadata == META and boot.applied == 0
    assert boot.storage.last_index() == 0
    wal_dir, snap_dir = member_dirs("/d")
    assert fs.listdir(wal_dir) and fs.exists(snap_dir)
    boot.wal.close()


def test_new_data_dir_needs_metadata() -> None:
    with pytest.raises(DataDirError, match="no cluster/member id"):
        open_data_dir("/d", fs=FaultyFS())


def test_reopen_rebuilds_storage_and_keeps_the_wal_metadata() -> None:
    fs = FaultyFS()
    boot = open_data_dir("/d", META, fs=fs, segment_size=1 << 16, preallocate=False)
    entries = [Entry(1, i, data=b"e%d" % i) for i in range(1, 6)]
    boot.wal.save(HardState(2, 9, 4), entries, must_sync=True)
    boot.wal.close()
    boot = open_data_dir("/d", Metadata(1, 1), fs=fs, segment_size=1 << 16, preallocate=False)
    assert not boot.is_new and boot.metadata == META
    assert boot.hard_state == HardState(2, 9, 4)
    assert boot.storage.entries(1, 6) == entries
    boot.wal.close()


def test_reopen_from_snapshot_uses_only_snapshots_with_a_marker() -> None:
    fs = FaultyFS()
    boot = open_data_dir("/d", META, fs=fs, segment_size=1 << 16, preallocate=False)
    boot.wal.save(HardState(1, 9, 6), [Entry(1, i, data=b"x") for i in range(1, 9)], True)
    boot.snaps.save(StoredSnapshot(SnapshotMeta(6, 1, (9,)), b"state@6"))
    boot.wal.save_snapshot_marker(6, 1)
    boot.snaps.save(StoredSnapshot(SnapshotMeta(8, 1, (9,)), b"no marker"))
    boot.wal.close()
    boot = open_data_dir("/d", fs=fs, segment_size=1 << 16, preallocate=False)
    assert boot.snapshot is not None and boot.snapshot.data == b"state@6"
    assert boot.applied == 6 and boot.snapshot.meta.conf_state.voters == (9,)
    assert boot.storage.first_index() == 7 and boot.storage.last_index() == 8
    boot.wal.close()


def test_damaged_wal_refuses_to_start_naming_file_and_offset() -> None:
    fs = FaultyFS()
    boot = open_data_dir("/d", META, fs=fs, segment_size=1 << 16, preallocate=False)
    boot.wal.save(HardState(1, 9, 1), [Entry(1, i, data=b"y" * 50) for i in range(1, 4)], True)
    boot.wal.save(HardState(1, 9, 3), [Entry(1, 4, data=b"z" * 50)], True)
    boot.wal.close()
    wal_dir = member_dirs("/d")[0]
    segment = f"{wal_dir}/{fs.listdir(wal_dir)[0]}"
    fs.flip_bit(segment, 8 * 80)
    with pytest.raises(WalCorrupt, match=r"\.wal: corrupt WAL record at offset \d+"):
        open_data_dir("/d", fs=fs, segment_size=1 << 16, preallocate=False)


def test_snapshots_without_a_wal_refuse_to_start() -> None:
    fs = FaultyFS()
    SnapStore(fs, member_dirs("/d")[1]).save(StoredSnapshot(SnapshotMeta(3, 1), b"s"))
    with pytest.raises(DataDirError, match="holds no WAL"):
        open_data_dir("/d", META, fs=fs)


class _DirSyncs(OsFS):
    def __init__(self) -> None:
        self.synced: list[str] = []

    def fsync_dir(self, path: str) -> None:
        self.synced.append(path)
        super().fsync_dir(path)


def test_a_new_member_dir_is_synced_into_every_parent_it_was_made_in(tmp_path) -> None:
    """Syncing member/ alone would not make member/ itself durable in the data dir."""
    fs = _DirSyncs()
    data_dir, wal_dir = tmp_path / "data", tmp_path / "disks" / "wal"
    boot = open_data_dir(str(data_dir), META, wal_dir=str(wal_dir), fs=fs, preallocate=False)
    boot.wal.close()
    for made in (data_dir / "member", data_dir, wal_dir, wal_dir.parent):
        assert str(made.parent) in fs.synced, made
