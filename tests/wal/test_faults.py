"""ENOSPC, EIO, failed fsyncs, power cuts: errors surface, files stay clean, synced data stays."""

from __future__ import annotations

import errno
import logging
import random

import pytest

from raft.aio.fs import FaultyFS, FsyncFailed
from raft.aio.wal import (
    WAL,
    HardState,
    Metadata,
    WalEntry,
    WalError,
    WalNoSpace,
    WalWriteFailed,
)
from tests.wal.helpers import batch

META = Metadata(1, 2)


def _reopen(fs: FaultyFS, **kwargs: int) -> list[WalEntry]:
    wal, replay = WAL.open(fs, "/w", **kwargs)
    wal.close()
    return replay.entries


@pytest.mark.parametrize("preallocate", [False, True])
def test_enospc_during_save_leaves_no_partial_record(
    preallocate: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fs = FaultyFS(space=6000)
    wal = WAL.create(fs, "/w", META, segment_size=1 << 20, preallocate=preallocate)
    saved: list[WalEntry] = []
    with pytest.raises(WalNoSpace):
        for first in range(1, 1000, 10):
            wal.save(HardState(1, 1, first), batch(first, 10, size=30), must_sync=True)
            saved += batch(first, 10, size=30)
    fs.space = None
    wal.save(HardState(1, 1, 2), batch(len(saved) + 1, 1), must_sync=True)
    wal.close()
    with caplog.at_level(logging.WARNING, logger="raft.aio.wal"):
        assert _reopen(fs) == saved + batch(len(saved) + 1, 1)
    assert "damaged" not in caplog.text


def test_enospc_then_power_cut_reopens_clean() -> None:
    fs = FaultyFS(space=3000)
    wal = WAL.create(fs, "/w", META, preallocate=False)
    saved: list[WalEntry] = []
    with pytest.raises(WalNoSpace):
        for first in range(1, 1000, 10):
            wal.save(None, batch(first, 10, size=30), must_sync=True)
            saved += batch(first, 10, size=30)
    fs.power_cut(random.Random(1))
    fs.space = None
    assert _reopen(fs) == saved


def test_enospc_while_cutting_a_segment_keeps_the_old_one() -> None:
    fs = FaultyFS()
    wal = WAL.create(fs, "/w", META, segment_size=400, preallocate=False)
    saved: list[WalEntry] = []
    while len(wal.segment_names) == 1 or fs.size("/w/" + wal.segment_names[-1]) < 400:
        saved += batch(len(saved) + 1, 5)
        wal.save(None, saved[-5:], must_sync=True)
    before = fs.listdir("/w")
    fs.space = fs.used()
    for _ in range(3):
        with pytest.raises(WalNoSpace, match="cannot create WAL segment"):
            wal.save(None, batch(len(saved) + 1, 5), must_sync=True)
        assert fs.listdir("/w") == before
    fs.space = None
    saved += batch(len(saved) + 1, 5)
    wal.save(None, saved[-5:], must_sync=True)
    assert len(wal.segment_names) == len(before) + 1
    wal.close()
    assert _reopen(fs, segment_size=400) == saved


def test_eio_on_write_is_an_error_and_the_file_stays_clean() -> None:
    fs = FaultyFS()
    wal = WAL.create(fs, "/w", META)
    wal.save(None, batch(1, 3), must_sync=True)
    fs.fail("write", errno.EIO)
    with pytest.raises(WalWriteFailed) as caught:
        wal.save(None, batch(4, 3), must_sync=True)
    assert not isinstance(caught.value, WalNoSpace)
    wal.save(None, batch(4, 3, term=2), must_sync=True)
    wal.close()
    assert _reopen(fs) == batch(1, 3) + batch(4, 3, term=2)


def test_a_partial_record_that_cannot_be_removed_makes_the_wal_unusable() -> None:
    fs = FaultyFS()
    wal = WAL.create(fs, "/w", META)
    fs.fail("write", errno.EIO)
    fs.fail("truncate", errno.EIO)
    with pytest.raises(WalWriteFailed, match="partial record stayed"):
        wal.save(None, batch(1, 3), must_sync=True)
    with pytest.raises(WalError, match="unusable"):
        wal.save(None, batch(1, 3), must_sync=True)


@pytest.mark.parametrize("op", ["fdatasync", "fsync_dir"])
def test_failed_fsync_is_fatal(op: str) -> None:
    fs = FaultyFS()
    wal = WAL.create(fs, "/w", META, segment_size=300)
    wal.save(HardState(1, 1, 0), batch(1, 3), must_sync=True)
    fs.fail(op, errno.EIO)
    with pytest.raises(FsyncFailed):
        for first in range(4, 400, 3):
            wal.save(None, batch(first, 3), must_sync=True)
    with pytest.raises(WalError, match=r"unusable.*fsync failed"):
        wal.save(None, batch(1000, 1), must_sync=True)
    wal.close()
    fs.power_cut()
    assert _reopen(fs)[:3] == batch(1, 3)


@pytest.mark.parametrize("pages", [False, True])
def test_power_cuts_keep_every_synced_save(pages: bool, caplog: pytest.LogCaptureFixture) -> None:
    """Append-only load with unsynced saves and cuts; power cuts tear writes or lose pages."""
    rng = random.Random(11)
    for round_ in range(200):
        fs = FaultyFS()
        size = rng.choice((300, 5000, 40_000))
        wal = WAL.create(fs, "/w", META, segment_size=size)
        written: list[WalEntry] = []
        synced = 0
        for _ in range(rng.randrange(1, 40)):
            new = batch(len(written) + 1, rng.randrange(1, 8), size=rng.randrange(1, 700))
            written += new
            sync = rng.random() < 0.4
            wal.save(HardState(1, 1, len(written)), new, sync)
            if sync:
                synced = len(written)
        fs.power_cut(rng, pages=pages)
        with caplog.at_level(logging.WARNING, logger="raft.aio.wal"):
            got = _reopen(fs, segment_size=size)
        assert len(got) >= synced, f"round {round_}: lost synced entries"
        assert got == written[: len(got)]
    assert caplog.text.count("dropping damaged tail") > 20
