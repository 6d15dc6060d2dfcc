"""A segmented write-ahead log for raft's hard state and entries.

Segments are `{seq:016x}-{first_index:016x}.wal`. A record is a 13-byte header and a msgpack
payload: `u32 length | u8 type | u32 header check | u32 crc`, little-endian. The header check is
the crc32 of length and type, so a damaged length can never pass for a record torn at the end of
the file. The crc is zlib.crc32 over type and payload seeded with the previous record's crc, a chain
that each segment continues through its first record (type CRC, whose payload is the seed).

Every segment then repeats the metadata and the current hard state, so the oldest segments can be
released once a snapshot covers them. Segments are preallocated (measured faster on ext4, see
bench/RESULTS.md: a fdatasync that does not grow the file need not commit a new size), so the
last segment's log ends where only zeros follow: that is free space, not damage.

Damage in the last segment that a crash mid-write explains is truncated with a warning, together
with everything after it: a torn or short record followed only by zeros or nothing, or a damaged
record holding a zeroed sector or a zeroed header (a page the crash lost while a later one was
written back; like etcd, a record whose data legitimately holds a zero sector is then taken for
torn). Any other damage means records that were once durable are unreadable: opening refuses with
`WalCorrupt`.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import re
import struct
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

import msgpack

from raft.aio.fs import FS, File, FsyncFailed
from raft.aio.observe import DiskObserver

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SEGMENT_SIZE = 64 * 1024 * 1024
MAX_WALS = 5

_HEADER = struct.Struct("<IBII")
_LENGTH_TYPE = struct.Struct("<IB")
HEADER_SIZE = _HEADER.size
SECTOR = 512
_SEGMENT = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.wal$")
_TMP_SUFFIX = ".tmp"


class RecordType(IntEnum):
    CRC = 1
    META = 2
    HARD_STATE = 3
    ENTRIES = 4
    SNAPSHOT = 5


class WalError(Exception):
    """The WAL cannot be created, opened or written."""


class WalNotFound(WalError):
    """The directory holds no WAL segment."""


class WalCorrupt(WalError):
    """A record that should be durable is damaged; the message names the file and offset."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: corrupt WAL record at offset {offset}: {reason}")
        self.path = path
        self.offset = offset


class WalSnapshotNotFound(WalError):
    """The WAL holds no marker for the snapshot it was asked to replay from."""


class WalWriteFailed(WalError):
    """A write failed; the partial record was removed, so the WAL is still clean."""


class WalNoSpace(WalWriteFailed):
    """ENOSPC: nothing of the failed call was kept; free space and retry."""


class EntryLike(Protocol):
    """Anything shaped like a raft entry (`raft.types.Entry` fits)."""

    @property
    def term(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def kind(self) -> int: ...
    @property
    def data(self) -> bytes: ...


class HardStateLike(Protocol):
    @property
    def term(self) -> int: ...
    @property
    def vote(self) -> int: ...
    @property
    def commit(self) -> int: ...


@dataclass(frozen=True, slots=True)
class WalEntry:
    term: int
    index: int
    kind: int
    data: bytes


@dataclass(frozen=True, slots=True)
class HardState:
    term: int = 0
    vote: int = 0
    commit: int = 0


@dataclass(frozen=True, slots=True)
class Metadata:
    cluster_id: int
    member_id: int


@dataclass(frozen=True, slots=True)
class SnapshotMarker:
    index: int = 0
    term: int = 0


@dataclass(frozen=True, slots=True)
class Replay:
    """What `WAL.open` recovered: the log after `snapshot`, in index order."""

    metadata: Metadata
    hard_state: HardState
    entries: list[WalEntry]
    snapshot: SnapshotMarker


@dataclass(frozen=True, slots=True)
class _Segment:
    seq: int
    first_index: int

    @property
    def name(self) -> str:
        return f"{self.seq:016x}-{self.first_index:016x}.wal"


def _record(rtype: RecordType, payload: bytes, prev_crc: int) -> tuple[bytes, int]:
    length_type = _LENGTH_TYPE.pack(len(payload), rtype)
    crc = zlib.crc32(payload, zlib.crc32(length_type[4:], prev_crc))
    return _HEADER.pack(len(payload), rtype, zlib.crc32(length_type), crc) + payload, crc


def _segment_head(crc: int, metadata: Metadata, hard: HardState) -> tuple[bytes, int]:
    """The records opening every segment: the chain seed, the metadata, the hard state."""
    first, crc = _record(RecordType.CRC, msgpack.packb(crc), crc)
    meta, crc = _record(
        RecordType.META,
        msgpack.packb((FORMAT_VERSION, metadata.cluster_id, metadata.member_id)),
        crc,
    )
    state, crc = _record(RecordType.HARD_STATE, msgpack.packb(_hard_tuple(hard)), crc)
    return first + meta + state, crc


def _hard_tuple(hard: HardStateLike) -> tuple[int, int, int]:
    return (hard.term, hard.vote, hard.commit)


def _list_segments(fs: FS, dir: str, *, clean: bool) -> list[_Segment]:
    """The segments in order; with `clean`, leftovers of an interrupted cut are removed."""
    segments = []
    for name in fs.listdir(dir):
        match = _SEGMENT.match(name)
        if match:
            segments.append(_Segment(int(match[1], 16), int(match[2], 16)))
        elif clean and name.endswith(".wal" + _TMP_SUFFIX):
            fs.remove(os.path.join(dir, name))
    segments.sort(key=lambda s: s.seq)
    for before, after in itertools.pairwise(segments):
        if after.seq != before.seq + 1:
            raise WalError(f"{dir}: WAL segments out of sequence: {before.name}, {after.name}")
    return segments


def _read(fs: FS, path: str) -> bytes:
    try:
        return fs.read(path)
    except OSError as exc:
        raise WalError(f"{path}: cannot read WAL segment: {exc}") from exc


def _zeros(data: bytes, start: int, end: int | None = None) -> bool:
    end = len(data) if end is None else min(end, len(data))
    return data.count(0, start, end) == end - start


def _torn(data: bytes, pos: int, record_end: int) -> bool:
    """Whether a damaged record shows a lost write: a zeroed sector, or a zeroed header start.

    Writeback after a crash need not keep a prefix: a later page may reach the disk while an
    earlier one reads back as zeros. A bit flip makes neither pattern.
    """
    head_end = min(pos + HEADER_SIZE, (pos // SECTOR + 1) * SECTOR, len(data))
    if head_end - pos >= 4 and _zeros(data, pos, head_end):
        return True
    first = (pos // SECTOR + 1) * SECTOR
    return any(
        _zeros(data, b, b + SECTOR)
        for b in range(first, min(max(record_end, pos + HEADER_SIZE), len(data)), SECTOR)
    )


def _write_error(exc: OSError, what: str) -> WalWriteFailed:
    if exc.errno == errno.ENOSPC:
        return WalNoSpace(f"{what}: no space left on device")
    return WalWriteFailed(f"{what}: {exc}")


@dataclass(slots=True)
class _Replayer:
    """Walks records in order, checking the chain and rebuilding the state they describe."""

    snapshot: SnapshotMarker
    collect_entries: bool = True
    crc: int | None = None
    metadata: Metadata | None = None
    hard_state: HardState = HardState()
    entries: list[WalEntry] = field(default_factory=list)
    markers: list[SnapshotMarker] = field(default_factory=list)
    found_snapshot: bool = False

    def scan(self, data: bytes, path: str, last: bool) -> tuple[int, str | None]:
        """Apply a segment's records; returns where the log ends and why, if it ends damaged."""
        view = memoryview(data)
        pos = 0
        while pos < len(data):
            damage, record_end = self._damage(data, view, pos)
            if damage is None:
                self._apply(view, pos, path)
                pos = record_end
            elif not last or pos == 0:  # a segment's head is durable before the segment exists
                raise WalCorrupt(path, pos, damage)
            elif _zeros(data, pos):
                return pos, None
            elif _zeros(data, record_end) or _torn(data, pos, record_end):
                return pos, damage
            else:
                raise WalCorrupt(path, pos, damage)
        return pos, None

    def _damage(self, data: bytes, view: memoryview, pos: int) -> tuple[str | None, int]:
        """Why the record at `pos` is unusable (None if it is fine) and where it ends."""
        size = len(data)
        if size - pos < HEADER_SIZE:
            return "short record header", size
        length, rtype, check, crc = _HEADER.unpack_from(view, pos)
        if zlib.crc32(view[pos : pos + 5]) != check:
            return "bad header checksum", pos + HEADER_SIZE
        end = pos + HEADER_SIZE + length
        if end > size:
            return f"record of {length} bytes runs past the end of the file", size
        if (rtype == RecordType.CRC) != (pos == 0):
            return "a segment must start with exactly one CRC record", end
        payload = view[pos + HEADER_SIZE : end]
        seed = self.crc
        if rtype == RecordType.CRC:
            try:
                seed = int(msgpack.unpackb(payload))
            except (ValueError, TypeError, msgpack.UnpackException):
                return "undecodable chain seed", end
        if seed is None or zlib.crc32(payload, zlib.crc32(bytes((rtype,)), seed)) != crc:
            return "checksum mismatch", end
        return None, end

    def _apply(self, view: memoryview, pos: int, path: str) -> None:
        length, rtype, _, crc = _HEADER.unpack_from(view, pos)
        payload = view[pos + HEADER_SIZE : pos + HEADER_SIZE + length]
        try:
            body: Any = msgpack.unpackb(payload)
            match rtype:
                case RecordType.CRC:
                    if self.crc is not None and body != self.crc:
                        raise WalCorrupt(path, pos, "CRC chain broken between segments")
                case RecordType.META:
                    self._meta(body, path, pos)
                case RecordType.HARD_STATE:
                    self.hard_state = HardState(*body)
                case RecordType.ENTRIES:
                    if self.collect_entries:
                        self._entries(body, path, pos)
                case RecordType.SNAPSHOT:
                    self._marker(SnapshotMarker(*body), path, pos)
                case _:
                    raise WalCorrupt(path, pos, f"unknown record type {rtype}")
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise WalCorrupt(path, pos, f"undecodable {rtype} payload: {exc}") from exc
        self.crc = crc

    def _meta(self, body: Any, path: str, pos: int) -> None:
        version, cluster_id, member_id = body
        if version != FORMAT_VERSION:
            raise WalError(f"{path}: unsupported WAL format version {version}")
        meta = Metadata(cluster_id, member_id)
        if self.metadata is not None and meta != self.metadata:
            raise WalCorrupt(path, pos, f"metadata {meta} differs from {self.metadata}")
        self.metadata = meta

    def _entries(self, body: Any, path: str, pos: int) -> None:
        """Apply a batch as raft's log append does: it replaces everything from its first index."""
        base, entries = self.snapshot.index, self.entries
        if not body:
            return
        first, last = body[0][1], body[-1][1]
        if last - first != len(body) - 1:
            raise WalCorrupt(path, pos, f"entry batch {first}..{last} is not consecutive")
        skip = max(0, base + 1 - first)
        if skip >= len(body):
            return
        slot = first + skip - base - 1
        if slot > len(entries):
            self._gap(first + skip, base + len(entries), path, pos)
        del entries[slot:]
        entries.extend(itertools.starmap(WalEntry, body[skip:] if skip else body))

    def _gap(self, index: int, last: int, path: str, pos: int) -> None:
        newer = [m for m in self.markers if m.index >= last]
        if newer:
            raise WalSnapshotNotFound(
                f"{path}: entry {index} follows snapshot {newer[-1]}: replay from that snapshot"
            )
        raise WalCorrupt(path, pos, f"entry {index} leaves a gap after {last}")

    def _marker(self, marker: SnapshotMarker, path: str, pos: int) -> None:
        self.markers.append(marker)
        if marker.index == self.snapshot.index and self.snapshot.index:
            if marker.term != self.snapshot.term:
                raise WalCorrupt(
                    path, pos, f"snapshot {marker} does not match the one given, {self.snapshot}"
                )
            self.found_snapshot = True


def _replay(
    fs: FS, dir: str, segments: list[_Segment], snapshot: SnapshotMarker
) -> tuple[_Replayer, str, int, str | None]:
    """Scan the segments from the one holding the entry after `snapshot`: the replayer, the last
    segment's path, where its log ends, and why it ends there if it ends damaged."""
    if not segments:
        raise WalNotFound(f"{dir} holds no WAL segment")
    replayer = _Replayer(snapshot)
    start = WAL._start(segments, snapshot, dir)
    end, damage = 0, None
    for i in range(start, len(segments)):
        path = os.path.join(dir, segments[i].name)
        end, damage = replayer.scan(_read(fs, path), path, i == len(segments) - 1)
    if replayer.metadata is None:
        raise WalCorrupt(path, 0, "no metadata record")
    if snapshot.index and not replayer.found_snapshot:
        raise WalSnapshotNotFound(f"{dir}: no marker for snapshot {snapshot} in the WAL")
    return replayer, path, end, damage


@dataclass(frozen=True, slots=True)
class TornTail:
    """Where the last segment's log ends damaged: what `WAL.open` would cut off."""

    path: str
    offset: int
    reason: str


@dataclass(frozen=True, slots=True)
class WalReading:
    """What `read_wal` found, without changing anything on disk."""

    replay: Replay
    segments: tuple[str, ...]
    markers: tuple[SnapshotMarker, ...]
    torn_tail: TornTail | None


def read_wal(fs: FS, dir: str, snapshot_marker: SnapshotMarker | None = None) -> WalReading:
    """Replay as `WAL.open` does, strictly read-only: no leftover is removed, no torn tail cut
    (for inspection and backup of a data dir whose member is stopped)."""
    snapshot = snapshot_marker or SnapshotMarker()
    segments = _list_segments(fs, dir, clean=False)
    replayer, path, end, damage = _replay(fs, dir, segments, snapshot)
    assert replayer.metadata is not None
    replay = Replay(replayer.metadata, replayer.hard_state, replayer.entries, snapshot)
    torn = None if damage is None else TornTail(path, end, damage)
    names = tuple(s.name for s in segments)
    return WalReading(replay, names, tuple(replayer.markers), torn)


class WAL:
    """An open WAL in append mode. Not thread-safe: one writer (the raft executor thread)."""

    def __init__(
        self,
        fs: FS,
        dir: str,
        metadata: Metadata,
        *,
        segment_size: int,
        max_wals: int,
        preallocate: bool,
    ) -> None:
        if max_wals < 1:
            raise ValueError("max_wals must be at least 1")
        self._fs, self._dir, self._metadata = fs, dir, metadata
        self._segment_size, self._max_wals, self._preallocate = segment_size, max_wals, preallocate
        self._segments: list[_Segment] = []
        self._file: File | None = None
        self._offset = 0
        self._crc = 0
        self._last_index = 0
        self._hard_state = HardState()
        self._broken: str | None = None
        self.observer: DiskObserver | None = None

    @classmethod
    def create(
        cls,
        fs: FS,
        dir: str,
        metadata: Metadata,
        *,
        segment_size: int = SEGMENT_SIZE,
        max_wals: int = MAX_WALS,
        preallocate: bool = True,
    ) -> WAL:
        fs.makedirs(dir)
        if _list_segments(fs, dir, clean=True):
            raise WalError(f"{dir} already holds a WAL")
        wal = cls(
            fs, dir, metadata, segment_size=segment_size, max_wals=max_wals, preallocate=preallocate
        )
        wal._new_segment(_Segment(0, 0))
        fs.fsync_dir(os.path.dirname(os.path.normpath(dir)) or os.curdir)
        return wal

    @staticmethod
    def exists(fs: FS, dir: str) -> bool:
        return fs.exists(dir) and bool(_list_segments(fs, dir, clean=False))

    @classmethod
    def open(
        cls,
        fs: FS,
        dir: str,
        snapshot_marker: SnapshotMarker | None = None,
        *,
        segment_size: int = SEGMENT_SIZE,
        max_wals: int = MAX_WALS,
        preallocate: bool = True,
    ) -> tuple[WAL, Replay]:
        """Replay the log after `snapshot_marker`, repair a torn tail, and open for appending."""
        snapshot = snapshot_marker or SnapshotMarker()
        segments = _list_segments(fs, dir, clean=True)
        replayer, path, end, damage = _replay(fs, dir, segments, snapshot)
        wal = cls(
            fs,
            dir,
            replayer.metadata,
            segment_size=segment_size,
            max_wals=max_wals,
            preallocate=preallocate,
        )
        wal._segments = segments
        wal._file = fs.open_write(path)
        if damage is not None:
            log.warning("WAL %s: dropping damaged tail at offset %d (%s)", path, end, damage)
            wal._file.truncate(end)
            wal._sync(full=True)
        wal._reserve(wal._file)
        wal._offset, wal._crc = end, replayer.crc or 0
        wal._hard_state = replayer.hard_state
        wal._last_index = replayer.entries[-1].index if replayer.entries else snapshot.index
        replay = Replay(replayer.metadata, replayer.hard_state, replayer.entries, snapshot)
        return wal, replay

    @staticmethod
    def _start(segments: list[_Segment], snapshot: SnapshotMarker, dir: str) -> int:
        """The last segment that can hold the entry after the snapshot."""
        starts = [i for i, s in enumerate(segments) if s.first_index <= snapshot.index]
        if not starts:
            raise WalError(
                f"{dir}: the oldest segment {segments[0].name} starts after snapshot {snapshot}"
            )
        return starts[-1]

    @staticmethod
    def snapshot_markers(fs: FS, dir: str) -> list[SnapshotMarker]:
        """Every snapshot marker in the WAL, oldest first; read-only (a torn tail is skipped).

        A snapshot file is only usable if its marker is here: pick the newest snapshot that has one.
        """
        segments = _list_segments(fs, dir, clean=False)
        replayer = _Replayer(SnapshotMarker(), collect_entries=False)
        for i, segment in enumerate(segments):
            path = os.path.join(dir, segment.name)
            replayer.scan(_read(fs, path), path, i == len(segments) - 1)
        return replayer.markers

    @property
    def metadata(self) -> Metadata:
        return self._metadata

    @property
    def last_index(self) -> int:
        return self._last_index

    @property
    def segment_names(self) -> list[str]:
        return [s.name for s in self._segments]

    def save(
        self, hard_state: HardStateLike | None, entries: Sequence[EntryLike], must_sync: bool
    ) -> None:
        """Append one raft Ready's entries and hard state; one fdatasync if `must_sync`.

        `WalNoSpace`/`WalWriteFailed`: nothing of this call was kept, the WAL stays usable.
        `FsyncFailed`: fatal, the member must stop (see `raft.aio.fs`).
        """
        self._check_usable()
        records: list[tuple[RecordType, bytes]] = []
        if entries:
            first, last = entries[0].index, entries[-1].index
            if not 0 < first <= self._last_index + 1 or last - first != len(entries) - 1:
                raise ValueError(
                    f"entries {first}..{last} ({len(entries)}) are not consecutive from at most"
                    f" {self._last_index + 1}: the log would have a gap"
                )
            batch = [(e.term, e.index, int(e.kind), e.data) for e in entries]
            records.append((RecordType.ENTRIES, msgpack.packb(batch)))
        hard = None if hard_state is None else HardState(*_hard_tuple(hard_state))
        if hard is not None and hard != self._hard_state:
            records.append((RecordType.HARD_STATE, msgpack.packb(_hard_tuple(hard))))
        if records:
            self._append(records)
            if entries:
                self._last_index = entries[-1].index
            if hard is not None:
                self._hard_state = hard
        if must_sync:
            self._sync()

    def save_snapshot_marker(self, index: int, term: int) -> None:
        """Record that a snapshot at (index, term) is durable; synced before returning."""
        self._check_usable()
        self._append([(RecordType.SNAPSHOT, msgpack.packb((index, term)))])
        self._last_index = max(self._last_index, index)
        self._sync()

    def release_to(self, index: int) -> None:
        """Remove segments wholly covered by a snapshot at `index`, keeping `max_wals` files."""
        covered = [i for i, s in enumerate(self._segments) if s.first_index <= index]
        keep_from = covered[-1] if covered else 0
        drop = max(0, min(keep_from, len(self._segments) - self._max_wals))
        for segment in self._segments[:drop]:
            try:
                self._fs.remove(os.path.join(self._dir, segment.name))
            except OSError as exc:
                raise WalError(f"{self._dir}: cannot release {segment.name}: {exc}") from exc
            del self._segments[0]

    def close(self) -> None:
        if self._file is None:
            return
        try:
            if self._broken is None:
                self._sync()
        finally:
            self._file.close()
            self._file = None

    def _check_usable(self) -> None:
        if self._file is None:
            raise WalError(f"{self._dir}: WAL is closed")
        if self._broken is not None:
            raise WalError(f"{self._dir}: WAL unusable after an earlier failure: {self._broken}")

    def _append(self, records: list[tuple[RecordType, bytes]]) -> None:
        if self._offset >= self._segment_size:
            self._cut()
        crc, parts = self._crc, []
        for rtype, payload in records:
            part, crc = _record(rtype, payload, crc)
            parts.append(part)
        buf = b"".join(parts)
        assert self._file is not None
        try:
            self._file.write(self._offset, buf)
        except OSError as exc:
            self._rollback(exc)
            raise _write_error(exc, f"{self._dir}: WAL write failed") from exc
        self._offset += len(buf)
        self._crc = crc
        if self.observer is not None:
            self.observer.wal_appended(len(buf))

    def _rollback(self, exc: OSError) -> None:
        """Cut a partial record off so that the file ends on a record boundary again."""
        assert self._file is not None
        try:
            self._file.truncate(self._offset)
        except OSError as undo:
            self._broken = f"write failed ({exc}); its partial record stayed ({undo})"
            raise WalWriteFailed(f"{self._dir}: {self._broken}") from undo

    def _sync(self, *, full: bool = False) -> None:
        assert self._file is not None
        started = time.perf_counter()
        try:
            if full:
                self._file.fsync()
            else:
                self._file.fdatasync()
        except FsyncFailed as exc:
            self._broken = f"fsync failed: {exc}"
            raise
        if self.observer is not None:
            self.observer.wal_synced(time.perf_counter() - started)

    def _cut(self) -> None:
        """Seal the current segment (exact size, synced) before its successor can exist."""
        assert self._file is not None
        try:
            self._file.truncate(self._offset)
        except OSError as exc:
            raise _write_error(exc, f"{self._dir}: cannot seal segment") from exc
        self._sync(full=True)
        self._new_segment(_Segment(self._segments[-1].seq + 1, self._last_index + 1))

    def _new_segment(self, segment: _Segment) -> None:
        """Write a segment's head to a temp file, sync it, rename it in, sync the directory."""
        path = os.path.join(self._dir, segment.name)
        tmp = path + _TMP_SUFFIX
        head, crc = _segment_head(self._crc, self._metadata, self._hard_state)
        new: File | None = None
        try:
            new = self._fs.open_write(tmp)
            new.truncate(0)
            new.write(0, head)
            self._reserve(new)
            new.fsync()
            self._fs.rename(tmp, path)
            self._fs.fsync_dir(self._dir)
        except FsyncFailed as exc:
            self._broken = f"fsync failed while creating {path}: {exc}"
            if new is not None:
                new.close()
            raise
        except OSError as exc:
            if new is not None:
                new.close()
            with contextlib.suppress(OSError):
                self._fs.remove(tmp)
            raise _write_error(exc, f"cannot create WAL segment {path}") from exc
        if self._file is not None:
            self._file.close()
        self._file, self._offset, self._crc = new, len(head), crc
        self._segments.append(segment)

    def _reserve(self, file: File) -> None:
        if not self._preallocate:
            return
        try:
            file.preallocate(self._segment_size)
        except OSError as exc:
            log.warning("WAL %s: cannot preallocate (%s); continuing without", self._dir, exc)
