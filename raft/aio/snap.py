"""Snapshot files: the application's state up to a raft index, written atomically.

One file per snapshot, `{term:016x}-{index:016x}.snap`:
`magic (8) | u32 crc | u32 meta length | meta (msgpack: index, term, voters) | data`, where the crc
covers everything after itself. A file is written to a temp name, synced, renamed in, and the
directory synced, so a crash leaves either the whole snapshot or none of it.

`save` may run on an executor thread while the event loop loads or lists: the store keeps no
state but a lock that orders its own directory changes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import msgpack

from raft.aio.fs import FS
from raft.aio.observe import DiskObserver

log = logging.getLogger(__name__)

MAGIC = b"PYSNAP\x00\x01"
MAX_SNAPSHOTS = 5

_HEADER = struct.Struct("<8sII")
_NAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.snap$")
_TMP_SUFFIX = ".tmp"


class SnapError(Exception):
    """A snapshot file cannot be read or written."""


class SnapCorrupt(SnapError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: corrupt snapshot: {reason}")
        self.path = path


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: int
    term: int
    voters: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    meta: SnapshotMeta
    data: bytes


def snapshot_name(meta: SnapshotMeta) -> str:
    return f"{meta.term:016x}-{meta.index:016x}.snap"


class SnapStore:
    """A directory of snapshot files keeping the newest `max_snapshots`."""

    def __init__(self, fs: FS, dir: str, max_snapshots: int = MAX_SNAPSHOTS) -> None:
        if max_snapshots < 1:
            raise ValueError("max_snapshots must be at least 1")
        self._fs, self._dir, self._max = fs, dir, max_snapshots
        self._lock = threading.Lock()
        self.observer: DiskObserver | None = None
        if not fs.exists(dir):
            fs.makedirs(dir)
            fs.fsync_dir(os.path.dirname(os.path.normpath(dir)) or os.curdir)

    def save(self, snapshot: StoredSnapshot) -> str:
        """Write a snapshot durably and purge the oldest; returns its path.

        An OSError leaves no partial file behind; `FsyncFailed` is fatal, as for the WAL.
        """
        started = time.perf_counter()
        meta = snapshot.meta
        packed = msgpack.packb((meta.index, meta.term, list(meta.voters)))
        body_len = struct.pack("<I", len(packed))
        crc = zlib.crc32(snapshot.data, zlib.crc32(packed, zlib.crc32(body_len)))
        head = _HEADER.pack(MAGIC, crc, len(packed)) + packed
        path = os.path.join(self._dir, snapshot_name(meta))
        tmp = path + _TMP_SUFFIX
        with self._lock:
            marshalled = time.perf_counter()
            file = self._fs.open_write(tmp)
            try:
                file.truncate(0)
                file.write(0, head)
                file.write(len(head), snapshot.data)
                file.fsync()
                file.close()
                synced = time.perf_counter()
                self._fs.rename(tmp, path)
            except BaseException:
                file.close()
                with contextlib.suppress(OSError):
                    self._fs.remove(tmp)
                raise
            self._fs.fsync_dir(self._dir)
            self._purge()
        if self.observer is not None:
            done = time.perf_counter()
            self.observer.snapshot_saved(marshalled - started, synced - marshalled, done - started)
        return path

    def names(self) -> list[str]:
        """Snapshot file names, newest first."""
        return sorted((n for n in self._fs.listdir(self._dir) if _NAME.match(n)), reverse=True)

    def load(self, name: str) -> StoredSnapshot:
        path = os.path.join(self._dir, name)
        match = _NAME.match(name)
        if match is None:
            raise SnapError(f"{path}: not a snapshot file name")
        try:
            raw = self._fs.read(path)
        except OSError as exc:
            raise SnapError(f"{path}: cannot read snapshot: {exc}") from exc
        snapshot = _decode(raw, path)
        if (snapshot.meta.term, snapshot.meta.index) != (int(match[1], 16), int(match[2], 16)):
            raise SnapCorrupt(path, f"contents {snapshot.meta} do not match the file name")
        return snapshot

    def load_newest(
        self, accept: Callable[[SnapshotMeta], bool] | None = None
    ) -> StoredSnapshot | None:
        """The newest readable snapshot that `accept` allows, skipping damaged ones with a warning.

        Pass `accept` to require a WAL marker, e.g. `lambda m: (m.index, m.term) in markers`.
        """
        for name in self.names():
            try:
                snapshot = self.load(name)
            except SnapError as exc:
                log.warning("skipping snapshot %s: %s", name, exc)
                continue
            if accept is None or accept(snapshot.meta):
                return snapshot
        return None

    def _purge(self) -> None:
        names = self._fs.listdir(self._dir)
        stale = [n for n in names if n.endswith(".snap" + _TMP_SUFFIX)]
        stale += sorted((n for n in names if _NAME.match(n)), reverse=True)[self._max :]
        for name in stale:
            self._fs.remove(os.path.join(self._dir, name))


def _decode(raw: bytes, path: str) -> StoredSnapshot:
    if len(raw) < _HEADER.size:
        raise SnapCorrupt(path, f"only {len(raw)} bytes")
    magic, crc, meta_len = _HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise SnapCorrupt(path, "bad magic")
    view = memoryview(raw)
    if zlib.crc32(view[8 + 4 :]) != crc:
        raise SnapCorrupt(path, "checksum mismatch")
    meta_end = _HEADER.size + meta_len
    try:
        index, term, voters = msgpack.unpackb(view[_HEADER.size : meta_end])
        meta = SnapshotMeta(int(index), int(term), tuple(int(v) for v in voters))
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise SnapCorrupt(path, f"undecodable metadata: {exc}") from exc
    return StoredSnapshot(meta, bytes(view[meta_end:]))
