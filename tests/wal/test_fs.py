"""The FaultyFS durability model and OsFS basics."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from raft.aio.fs import PAGE, FaultyFS, FsyncFailed, OsFS


def test_power_cut_drops_unsynced_writes_and_unsynced_names() -> None:
    fs = FaultyFS()
    fs.makedirs("/d")
    f = fs.open_write("/d/a")
    f.write(0, b"synced")
    f.fsync()
    f.write(6, b"+lost")
    fs.open_write("/d/b").write(0, b"never named durably")
    fs.fsync_dir("/d")
    fs.open_write("/d/c").fsync()
    fs.rename("/d/a", "/d/renamed")
    fs.power_cut()
    assert fs.listdir("/d") == ["a", "b"]
    assert fs.read("/d/a") == b"synced"
    assert fs.read("/d/b") == b""
    with pytest.raises(RuntimeError, match="before a power cut"):
        f.write(0, b"stale handle")


def test_torn_power_cut_keeps_a_prefix_of_the_pending_writes() -> None:
    seen = set()
    for seed in range(200):
        fs = FaultyFS()
        f = fs.open_write("/a")
        fs.fsync_dir("/")
        for chunk in (b"one.", b"two.", b"three."):
            f.write(f.size(), chunk)
        fs.power_cut(random.Random(seed))
        data = fs.read("/a")
        kept = data.rstrip(b"\0")
        assert b"one.two.three."[: len(kept)] == kept
        seen.add(len(data))
    assert len(seen) > 5


def test_flip_bit_reaches_the_durable_copy() -> None:
    fs = FaultyFS()
    f = fs.open_write("/a")
    f.write(0, b"\x00\x00")
    f.fsync()
    fs.fsync_dir("/")
    fs.flip_bit("/a", 9)
    fs.power_cut()
    assert fs.read("/a") == b"\x00\x02"


def test_enospc_writes_what_fits_then_fails() -> None:
    fs = FaultyFS(space=10)
    f = fs.open_write("/a")
    with pytest.raises(OSError) as caught:
        f.write(0, b"0123456789abc")
    assert caught.value.errno == errno.ENOSPC
    assert fs.read("/a") == b"0123456789"
    with pytest.raises(OSError):
        f.preallocate(100)


def test_injected_faults_fire_once_after_a_countdown() -> None:
    fs = FaultyFS()
    f = fs.open_write("/a")
    fs.fail("write", errno.EIO, after=1)
    f.write(0, b"a")
    with pytest.raises(OSError) as caught:
        f.write(1, b"b")
    assert caught.value.errno == errno.EIO
    f.write(1, b"b")
    fs.fail("fdatasync")
    with pytest.raises(FsyncFailed):
        f.fdatasync()
    fs.fail("rename", errno.EIO, path="/b")
    fs.rename("/a", "/c")
    with pytest.raises(OSError):
        fs.rename("/c", "/b")


def test_os_fs(tmp_path: Path) -> None:
    fs = OsFS()
    d = str(tmp_path / "x" / "y")
    fs.makedirs(d)
    f = fs.open_write(d + "/a")
    f.write(0, b"hello world")
    f.write(6, b"there")
    f.preallocate(4096)
    assert f.size() == 4096
    f.truncate(11)
    f.fdatasync()
    f.fsync()
    f.close()
    fs.fsync_dir(d)
    assert fs.read(d + "/a") == b"hello there"
    fs.rename(d + "/a", d + "/b")
    assert fs.listdir(d) == ["b"] and fs.exists(d + "/b") and fs.size(d + "/b") == 11
    fs.truncate(d + "/b", 5)
    assert fs.read(d + "/b") == b"hello"
    fs.remove(d + "/b")
    assert fs.listdir(d) == []


def test_os_fs_wraps_a_failed_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def eio(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    f = OsFS().open_write(str(tmp_path / "a"))
    monkeypatch.setattr(os, "fdatasync", eio)
    monkeypatch.setattr(os, "fsync", eio)
    with pytest.raises(FsyncFailed, match="fdatasync failed"):
        f.fdatasync()
    with pytest.raises(FsyncFailed, match="fsync failed"):
        f.fsync()
    with pytest.raises(FsyncFailed, match="directory"):
        OsFS().fsync_dir(str(tmp_path))
    f.close()


def test_page_power_cut_keeps_each_touched_page_old_or_new() -> None:
    kinds = set()
    for seed in range(50):
        fs = FaultyFS()
        f = fs.open_write("/a")
        fs.fsync_dir("/")
        f.write(0, b"o" * 3 * PAGE)
        f.fsync()
        f.write(PAGE - 10, b"n" * (PAGE + 20))
        fs.power_cut(random.Random(seed), pages=True)
        data = fs.read("/a")
        pages = [data[i * PAGE : (i + 1) * PAGE] for i in range(3)]
        assert pages[0] in (b"o" * PAGE, b"o" * (PAGE - 10) + b"n" * 10)
        assert pages[1] in (b"o" * PAGE, b"n" * PAGE)
        assert pages[2] in (b"o" * PAGE, b"n" * 10 + b"o" * (PAGE - 10))
        kinds.add(tuple(p.count(b"n") > 0 for p in pages))
    assert len(kinds) == 8
