"""Torn tails are repaired; damage to records that were durable is always refused."""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest

from raft.aio.fs import FS, FaultyFS, OsFS
from raft.aio.wal import HEADER_SIZE, WAL, HardState, Metadata, Replay, WalCorrupt, WalEntry
from tests.wal.helpers import batch

META = Metadata(1, 2)
SEGMENT = 512


@dataclass
class Image:
    """A WAL's files plus where its last record (the final entry batch) lies."""

    files: dict[str, bytes]
    last_start: int
    last_end: int
    entries: list[WalEntry]
    hard_state: HardState

    @property
    def last_name(self) -> str:
        return max(self.files)

    def load(self, fs: FS, path: str) -> None:
        fs.makedirs(path)
        for name, data in self.files.items():
            file = fs.open_write(os.path.join(path, name))
            file.truncate(0)
            file.write(0, data)
            file.fsync()
            file.close()
        fs.fsync_dir(path)


def _image(batches: int, preallocate: bool, last_size: int = 20) -> Image:
    fs = FaultyFS()
    wal = WAL.create(fs, "/w", META, segment_size=SEGMENT, preallocate=preallocate)
    entries = []
    for b in range(batches):
        entries += batch(b * 5 + 1, 5)
        wal.save(HardState(1, 1, b * 5 + 5), entries[-5:], must_sync=True)
    tail = batch(batches * 5 + 1, 1, size=last_size)
    wal.save(None, tail, must_sync=True)
    last = "/w/" + wal.segment_names[-1]
    end = len(fs.read(last).rstrip(b"\0")) if preallocate else fs.size(last)
    payload = msgpack.packb([(e.term, e.index, e.kind, e.data) for e in tail])
    start = end - HEADER_SIZE - len(payload)
    wal.close()
    files = {name: fs.read(f"/w/{name}") for name in fs.listdir("/w")}
    return Image(files, start, end, entries + tail, HardState(1, 1, batches * 5))


def _open(fs: FS, path: str) -> Replay:
    wal, replay = WAL.open(fs, path, segment_size=SEGMENT, preallocate=False)
    wal.save(None, batch(len(replay.entries) + 1, 1, term=9), must_sync=True)
    wal.close()
    again = WAL.open(fs, path, segment_size=SEGMENT)[1]
    assert again.entries == replay.entries + batch(len(replay.entries) + 1, 1, term=9)
    return replay


@pytest.mark.parametrize("kind", ["os", "faulty"])
def test_truncation_at_every_offset_of_the_last_record(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image = _image(12, preallocate=False)
    assert image.last_end - image.last_start > 30
    for cut in range(image.last_start, image.last_end + 1):
        fs: FS = OsFS() if kind == "os" else FaultyFS()
        path = str(tmp_path / f"cut{cut}") if kind == "os" else "/w"
        image.load(fs, path)
        fs.truncate(os.path.join(path, image.last_name), cut)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="raft.aio.wal"):
            replay = _open(fs, path)
        whole = cut == image.last_end
        assert replay.entries == (image.entries if whole else image.entries[:-1])
        assert replay.hard_state == image.hard_state
        damaged = image.last_start < cut < image.last_end
        assert bool(caplog.records) == damaged
        if damaged:
            assert f"offset {image.last_start}" in caplog.text


def test_zero_filled_tail_is_free_space() -> None:
    image = _image(3, preallocate=False)
    data = bytearray(image.files[image.last_name])
    data[image.last_start :] = bytes(len(data) - image.last_start)
    image.files[image.last_name] = bytes(data)
    fs = FaultyFS()
    image.load(fs, "/w")
    assert _open(fs, "/w").entries == image.entries[:-1]


def test_torn_record_with_zeroed_payload_is_truncated(caplog: pytest.LogCaptureFixture) -> None:
    image = _image(3, preallocate=True)
    data = bytearray(image.files[image.last_name])
    data[image.last_start + 20 : image.last_end] = bytes(image.last_end - image.last_start - 20)
    image.files[image.last_name] = bytes(data)
    fs = FaultyFS()
    image.load(fs, "/w")
    with caplog.at_level(logging.WARNING, logger="raft.aio.wal"):
        assert _open(fs, "/w").entries == image.entries[:-1]
    assert "checksum mismatch" in caplog.text


def test_damage_before_the_last_record_refuses_naming_file_and_offset() -> None:
    image = _image(12, preallocate=True)
    fs = FaultyFS()
    image.load(fs, "/w")
    name = image.last_name
    fs.flip_bit(f"/w/{name}", (image.last_start - 3) * 8)
    with pytest.raises(WalCorrupt) as caught:
        WAL.open(fs, "/w")
    assert name in str(caught.value) and "offset" in str(caught.value)
    assert caught.value.offset < image.last_start


def test_torn_end_of_an_earlier_segment_refuses() -> None:
    image = _image(12, preallocate=True)
    names = sorted(image.files)
    assert len(names) > 2
    fs = FaultyFS()
    image.load(fs, "/w")
    fs.truncate(f"/w/{names[1]}", fs.size(f"/w/{names[1]}") - 1)
    with pytest.raises(WalCorrupt, match=names[1]):
        WAL.open(fs, "/w")


@pytest.mark.parametrize("preallocate", [False, True])
def test_random_bit_flips_are_always_detected(preallocate: bool) -> None:
    image = _image(12, preallocate=preallocate, last_size=200)
    names = sorted(image.files)
    total_bits = sum(len(image.files[n]) * 8 for n in names)
    rng = random.Random(7)
    outcomes = {"refused": 0, "tail dropped": 0, "intact": 0}
    for _ in range(400):
        bit = rng.randrange(total_bits)
        for name in names:
            if bit < len(image.files[name]) * 8:
                break
            bit -= len(image.files[name]) * 8
        fs = FaultyFS()
        image.load(fs, "/w")
        fs.flip_bit(f"/w/{name}", bit)
        in_last_record = name == image.last_name and bit // 8 >= image.last_start
        past_the_log = name == image.last_name and bit // 8 >= image.last_end
        try:
            replay = WAL.open(fs, "/w", segment_size=SEGMENT)[1]
        except WalCorrupt as exc:
            assert name in str(exc)
            outcomes["refused"] += 1
            continue
        assert in_last_record, f"flip of bit {bit} in {name} went unnoticed"
        if past_the_log:
            assert replay.entries == image.entries
            outcomes["intact"] += 1
        else:
            assert replay.entries == image.entries[:-1]
            outcomes["tail dropped"] += 1
    assert outcomes["refused"] > 300 and outcomes["tail dropped"] > 0
