"""Snapshot files: atomic saves, fallback past damage, purge, concurrent savers."""

from __future__ import annotations

import contextlib
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from raft.aio.fs import FS, FaultyFS, OsFS
from raft.aio.snap import (
    SnapCorrupt,
    SnapError,
    SnapshotMeta,
    SnapStore,
    StoredSnapshot,
    snapshot_name,
)


def _snap(index: int, term: int = 1, size: int = 100) -> StoredSnapshot:
    return StoredSnapshot(SnapshotMeta(index, term, (1, 2, 3)), bytes([index % 256]) * size)


def test_round_trip(disk: tuple[FS, str]) -> None:
    fs, path = disk
    store = SnapStore(fs, path)
    assert store.load_newest() is None
    store.save(_snap(10, term=2, size=0))
    store.save(_snap(20, term=3, size=100_000))
    older = snapshot_name(_snap(10, 2).meta)
    assert store.names() == ["0000000000000003-0000000000000014.snap", older]
    assert store.load_newest() == _snap(20, term=3, size=100_000)
    assert store.load(snapshot_name(_snap(10, 2).meta)) == _snap(10, term=2, size=0)


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_load_newest_falls_back_past_a_damaged_one(
    damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    fs = FaultyFS()
    store = SnapStore(fs, "/snap")
    for index in (5, 10, 15):
        store.save(_snap(index))
    newest = "/snap/" + store.names()[0]
    size = fs.size(newest)
    if damage == "flip":
        fs.flip_bit(newest, random.Random(3).randrange(size * 8))
    elif damage == "truncate":
        fs.truncate(newest, size - 1)
    elif damage == "empty":
        fs.truncate(newest, 0)
    else:
        fs.truncate(newest, 0)
        fs.open_write(newest).write(0, b"not a snapshot at all, but long enough")
    with caplog.at_level(logging.WARNING, logger="raft.aio.snap"):
        assert store.load_newest() == _snap(10)
    assert "corrupt snapshot" in caplog.text and store.names()[0] in caplog.text
    with pytest.raises(SnapCorrupt):
        store.load(store.names()[0])


def test_accept_picks_the_newest_with_a_wal_marker() -> None:
    store = SnapStore(FaultyFS(), "/snap")
    for index in (5, 10, 15):
        store.save(_snap(index))
    assert store.load_newest(lambda m: m.index != 15) == _snap(10)
    assert store.load_newest(lambda m: False) is None


def test_contents_must_match_the_name() -> None:
    fs = FaultyFS()
    store = SnapStore(fs, "/snap")
    store.save(_snap(5))
    fs.rename("/snap/" + store.names()[0], "/snap/" + snapshot_name(SnapshotMeta(6, 1)))
    with pytest.raises(SnapCorrupt, match="do not match the file name"):
        store.load(store.names()[0])
    with pytest.raises(SnapError, match="not a snapshot file name"):
        store.load("x.snap")


def test_keeps_the_newest_max_snapshots_and_drops_stale_temps() -> None:
    fs = FaultyFS()
    store = SnapStore(fs, "/snap", max_snapshots=3)
    fs.open_write("/snap/" + snapshot_name(SnapshotMeta(1, 1)) + ".tmp").write(0, b"half")
    for index in range(1, 8):
        store.save(_snap(index))
    assert [int(name[17:33], 16) for name in fs.listdir("/snap")] == [5, 6, 7]


def test_power_cut_leaves_a_whole_snapshot_or_none() -> None:
    rng = random.Random(5)
    for _ in range(100):
        fs = FaultyFS()
        store = SnapStore(fs, "/snap")
        store.save(_snap(1))
        fs.fail(rng.choice(["write", "fsync", "rename", "fsync_dir"]), after=rng.randrange(2))
        with contextlib.suppress(OSError):
            store.save(_snap(2, size=5000))
        fs.power_cut(rng)
        assert SnapStore(fs, "/snap").load_newest() in (_snap(1), _snap(2, size=5000))


def test_failed_write_removes_the_temp_file() -> None:
    fs = FaultyFS(space=3000)
    store = SnapStore(fs, "/snap")
    with pytest.raises(OSError, match="No space"):
        store.save(_snap(1, size=10_000))
    assert fs.listdir("/snap") == []


def test_concurrent_saves_from_executor_threads(tmp_path: Path) -> None:
    store = SnapStore(OsFS(), str(tmp_path / "snap"), max_snapshots=4)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: store.save(_snap(i, size=20_000)), range(1, 25)))
    names = store.names()
    assert [int(n[17:33], 16) for n in names] == [24, 23, 22, 21]
    assert all(store.load(name) == _snap(int(name[17:33], 16), size=20_000) for name in names)
    assert not [n for n in (tmp_path / "snap").iterdir() if n.suffix == ".tmp"]


def test_failed_rename_removes_the_temp_file() -> None:
    fs = FaultyFS()
    store = SnapStore(fs, "/snap")
    fs.fail("rename")
    with pytest.raises(OSError):
        store.save(_snap(1))
    assert fs.listdir("/snap") == []
    store.save(_snap(1))
    assert store.load_newest() == _snap(1)
