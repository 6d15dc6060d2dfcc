"""WAL round trips, raft overwrite semantics, snapshot markers, segment cutting and release."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import msgpack
import pytest

from raft.aio.fs import FS, FaultyFS, OsFS
from raft.aio.wal import (
    WAL,
    HardState,
    Metadata,
    RecordType,
    SnapshotMarker,
    WalCorrupt,
    WalEntry,
    WalError,
    WalNotFound,
    WalSnapshotNotFound,
)
from tests.wal.helpers import batch

META = Metadata(cluster_id=0xDEADBEEF, member_id=0x8E9E05C52164694D)


def test_round_trip(disk: tuple[FS, str]) -> None:
    fs, path = disk
    wal = WAL.create(fs, path, META)
    wal.save(HardState(1, 5, 0), batch(1, 3), must_sync=True)
    wal.save(HardState(1, 5, 3), [], must_sync=False)
    wal.save(None, batch(4, 2, size=0), must_sync=True)
    wal.close()
    wal, replay = WAL.open(fs, path)
    wal.close()
    assert replay.metadata == META
    assert replay.hard_state == HardState(1, 5, 3)
    assert replay.entries == batch(1, 3) + batch(4, 2, size=0)
    assert replay.snapshot == SnapshotMarker()


def test_later_entries_overwrite_like_raft_truncation(disk: tuple[FS, str]) -> None:
    fs, path = disk
    wal = WAL.create(fs, path, META)
    wal.save(HardState(1, 1, 0), batch(1, 10), must_sync=True)
    wal.save(HardState(2, 2, 5), batch(6, 3, term=2), must_sync=True)
    wal.close()
    wal, replay = WAL.open(fs, path)
    assert wal.last_index == 8
    assert replay.entries == batch(1, 5) + batch(6, 3, term=2)
    wal.save(None, batch(9, 1, term=2), must_sync=True)
    wal.close()
    assert WAL.open(fs, path)[1].entries[-1] == batch(9, 1, term=2)[0]


def test_accepts_any_entry_and_hard_state_shape() -> None:
    class Kind(IntEnum):
        CONF_CHANGE = 1

    @dataclass(frozen=True)
    class Entry:
        term: int
        index: int
        kind: Kind
        data: bytes

    @dataclass(frozen=True)
    class State:
        term: int
        vote: int
        commit: int

    fs = FaultyFS()
    wal = WAL.create(fs, "/w", META)
    wal.save(State(3, 2, 1), [Entry(3, 1, Kind.CONF_CHANGE, b"cc")], must_sync=True)
    wal.close()
    replay = WAL.open(fs, "/w")[1]
    assert replay.entries == [WalEntry(3, 1, 1, b"cc")]
    assert replay.hard_state == HardState(3, 2, 1)


def test_unchanged_hard_state_is_not_rewritten() -> None:
    fs = FaultyFS()
    wal = WAL.create(fs, "/w", META, preallocate=False)
    wal.save(HardState(1, 1, 1), [], must_sync=True)
    size = fs.size("/w/" + wal.segment_names[-1])
    wal.save(HardState(1, 1, 1), [], must_sync=True)
    wal.save(None, [], must_sync=True)
    assert fs.size("/w/" + wal.segment_names[-1]) == size


def test_create_refuses_an_existing_wal_and_open_needs_one(disk: tuple[FS, str]) -> None:
    fs, path = disk
    assert not WAL.exists(fs, path)
    fs.makedirs(path)
    with pytest.raises(WalNotFound):
        WAL.open(fs, path)
    WAL.create(fs, path, META).close()
    assert WAL.exists(fs, path)
    with pytest.raises(WalError, match="already holds a WAL"):
        WAL.create(fs, path, META)


def test_closed_wal_refuses_writes() -> None:
    wal = WAL.create(FaultyFS(), "/w", META)
    wal.close()
    wal.close()
    with pytest.raises(WalError, match="closed"):
        wal.save(None, batch(1, 1), must_sync=True)


def test_open_from_snapshot_marker(disk: tuple[FS, str]) -> None:
    fs, path = disk
    wal = WAL.create(fs, path, META)
    wal.save(HardState(1, 1, 10), batch(1, 10), must_sync=True)
    wal.save_snapshot_marker(7, 1)
    wal.save(HardState(1, 1, 12), batch(11, 2), must_sync=True)
    wal.close()
    wal, replay = WAL.open(fs, path, SnapshotMarker(7, 1))
    wal.close()
    assert [e.index for e in replay.entries] == [8, 9, 10, 11, 12]
    assert replay.hard_state.commit == 12
    assert WAL.snapshot_markers(fs, path) == [SnapshotMarker(7, 1)]
    with pytest.raises(WalSnapshotNotFound):
        WAL.open(fs, path, SnapshotMarker(8, 1))
    with pytest.raises(WalCorrupt, match="does not match"):
        WAL.open(fs, path, SnapshotMarker(7, 2))


def test_installed_snapshot_jumps_the_log() -> None:
    """A follower given a snapshot far ahead continues after it; older snapshots cannot replay."""
    fs = FaultyFS()
    wal = WAL.create(fs, "/w", META)
    wal.save(HardState(1, 1, 3), batch(1, 5), must_sync=True)
    wal.save_snapshot_marker(3, 1)
    wal.save_snapshot_marker(50, 2)
    wal.save(HardState(2, 1, 50), [], must_sync=True)
    assert wal.last_index == 50
    wal.save(None, batch(51, 2, term=2), must_sync=True)
    wal.close()
    assert [e.index for e in WAL.open(fs, "/w", SnapshotMarker(50, 2))[1].entries] == [51, 52]
    with pytest.raises(WalSnapshotNotFound, match="replay from that snapshot"):
        WAL.open(fs, "/w", SnapshotMarker(3, 1))


def _fill(fs: FS, path: str, batches: int, **kwargs: int) -> WAL:
    wal = WAL.create(fs, path, META, **kwargs)
    for b in range(batches):
        wal.save(HardState(1, 1, b * 10), batch(b * 10 + 1, 10), must_sync=True)
    return wal


def test_segments_are_cut_at_the_size_limit(disk: tuple[FS, str]) -> None:
    fs, path = disk
    wal = _fill(fs, path, 30, segment_size=1024)
    names = wal.segment_names
    assert len(names) > 5
    assert fs.listdir(path) == names
    firsts = [int(name[17:33], 16) for name in names]
    assert [int(name[:16], 16) for name in names] == list(range(len(names)))
    assert firsts[0] == 0 and firsts == sorted(firsts)
    assert all((first - 1) % 10 == 0 for first in firsts[1:])
    for name in names[:-1]:
        assert fs.size(os.path.join(path, name)) < 1024 + 500
    wal.close()
    wal, replay = WAL.open(fs, path, segment_size=1024)
    assert replay.entries == batch(1, 300)
    assert replay.hard_state == HardState(1, 1, 290)
    wal.close()


def test_release_keeps_the_segment_holding_the_snapshot_and_max_wals() -> None:
    fs = FaultyFS()
    wal = _fill(fs, "/w", 30, segment_size=1024, max_wals=2)
    names = wal.segment_names
    firsts = [int(name[17:33], 16) for name in names]
    wal.save_snapshot_marker(firsts[3] + 1, 1)
    wal.release_to(firsts[3] + 1)
    assert wal.segment_names == names[3:] == fs.listdir("/w")
    wal.save_snapshot_marker(300, 1)
    wal.release_to(300)
    assert wal.segment_names == names[-2:]
    wal.close()
    wal, replay = WAL.open(fs, "/w", SnapshotMarker(300, 1), segment_size=1024)
    assert replay.entries == [] and wal.last_index == 300
    wal.save(None, batch(301, 1), must_sync=True)
    wal.close()
    with pytest.raises(WalError, match="starts after snapshot"):
        WAL.open(fs, "/w")


def test_release_never_goes_below_max_wals() -> None:
    wal = _fill(FaultyFS(), "/w", 30, segment_size=1024)
    count = len(wal.segment_names)
    wal.release_to(10_000)
    assert len(wal.segment_names) == 5 < count


def test_preallocation_reserves_the_segment(tmp_path: Path) -> None:
    fs, path = OsFS(), os.path.join(str(tmp_path), "wal")
    wal = WAL.create(fs, path, META, segment_size=1 << 20)
    wal.save(HardState(1, 1, 1), batch(1, 5), must_sync=True)
    segment = os.path.join(path, wal.segment_names[0])
    assert fs.size(segment) == 1 << 20
    wal.close()
    wal, replay = WAL.open(fs, path, segment_size=1 << 20)
    assert replay.entries == batch(1, 5)
    wal.close()
    plain = os.path.join(str(tmp_path), "plain")
    wal = WAL.create(fs, plain, META, segment_size=1 << 20, preallocate=False)
    wal.save(HardState(1, 1, 1), batch(1, 5), must_sync=True)
    assert fs.size(os.path.join(plain, wal.segment_names[0])) < 1000
    wal.close()


def test_leftover_temp_segment_is_removed_on_open() -> None:
    fs = FaultyFS()
    _fill(fs, "/w", 1).close()
    stray = fs.open_write("/w/0000000000000001-000000000000000b.wal.tmp")
    stray.write(0, b"half a segment")
    assert WAL.open(fs, "/w")[1].entries == batch(1, 10)
    assert fs.listdir("/w") == ["0000000000000000-0000000000000000.wal"]


def test_missing_middle_segment_refuses() -> None:
    fs = FaultyFS()
    wal = _fill(fs, "/w", 20, segment_size=1024)
    names = wal.segment_names
    wal.close()
    fs.remove("/w/" + names[2])
    with pytest.raises(WalError, match="out of sequence"):
        WAL.open(fs, "/w")


def test_save_refuses_entries_that_would_leave_a_gap() -> None:
    wal = WAL.create(FaultyFS(), "/w", META)
    wal.save(None, batch(1, 3), must_sync=True)
    for bad in (batch(5, 1), batch(0, 1), [*batch(4, 1), *batch(6, 1)]):
        with pytest.raises(ValueError, match="gap"):
            wal.save(None, bad, must_sync=True)
    wal.save(None, batch(2, 3, term=2), must_sync=True)
    assert wal.last_index == 4


@pytest.mark.parametrize(
    ("batch_", "reason"),
    [([(1, 4, 0, b""), (1, 6, 0, b"")], "not consecutive"), ([(1, 5, 0, b"")], "gap after 3")],
)
def test_replay_refuses_a_checksummed_but_impossible_batch(
    batch_: list[tuple[int, int, int, bytes]], reason: str
) -> None:
    """Records the writer never produces (it checks), written behind its back."""
    fs = FaultyFS()
    wal = WAL.create(fs, "/w", META)
    wal.save(None, batch(1, 3), must_sync=True)
    wal._append([(RecordType.ENTRIES, msgpack.packb(batch_))])
    wal.save(None, batch(4, 1), must_sync=True)
    wal.close()
    with pytest.raises(WalCorrupt, match=reason):
        WAL.open(fs, "/w")
