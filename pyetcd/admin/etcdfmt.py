"""etcd 3.4's on-disk formats, decoded from their public definitions (wal/walpb/record.proto,
raft/raftpb/raft.proto, etcdserver/etcdserverpb/etcdserver.proto, snap/snappb/snap.proto) with a
small protobuf wire decoder. Pure functions over bytes; the reading of files is importetcd's.

A WAL segment is a run of frames: a little-endian int64 whose low 56 bits are the record's
length and whose top bit, when set, says the low 3 bits of the top byte are padding (to 8
bytes); then a walpb.Record{type, crc, data}. The crc is crc32c (Castagnoli) of every record's
data, chained across records and segments; a CRC record carries the chain's value so far. A
zero length is the preallocated end of a segment.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

# walpb record types (wal/wal.go).
METADATA, ENTRY, STATE, CRC, SNAPSHOT = 1, 2, 3, 4, 5
# raftpb.EntryType and ConfChangeType.
ENTRY_NORMAL, ENTRY_CONF_CHANGE = 0, 1
CONF_ADD, CONF_REMOVE, CONF_UPDATE = 0, 1, 2
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_FRAME = struct.Struct("<Q")
_LENGTH_MASK = (1 << 56) - 1


class FormatError(ValueError):
    """Bytes that do not decode as the etcd structure they should hold."""


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_TABLE = _crc32c_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """Go's `crc32.Update(crc, castagnoliTable, data)`."""
    table = _TABLE
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise FormatError("truncated or overlong varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a protobuf message: ints for varints and fixed
    widths, bytes for length-delimited fields."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _BYTES:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise FormatError(f"field {number} runs past the end of the message")
            value, pos = buf[pos : pos + length], pos + length
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if pos + width > len(buf):
                raise FormatError(f"field {number} runs past the end of the message")
            value, pos = int.from_bytes(buf[pos : pos + width], "little"), pos + width
        else:
            raise FormatError(f"unsupported wire type {wire} for field {number}")
        if number == 0:
            raise FormatError("field number 0")
        yield number, wire, value


def _message(buf: bytes, schema: dict[int, int]) -> dict[int, int | bytes]:
    """Fields by number, each checked against its expected wire type; unknown numbers fail,
    which is what tells a v2 Request from an InternalRaftRequest."""
    out: dict[int, int | bytes] = {}
    for number, wire, value in fields(buf):
        if schema.get(number) != wire:
            raise FormatError(f"unexpected field {number} (wire type {wire})")
        out[number] = value
    return out


def _int(msg: dict[int, int | bytes], number: int) -> int:
    value = msg.get(number, 0)
    assert isinstance(value, int)
    return value


def _bytes(msg: dict[int, int | bytes], number: int) -> bytes:
    value = msg.get(number, b"")
    assert isinstance(value, bytes)
    return value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(frozen=True, slots=True)
class Record:
    type: int
    crc: int
    data: bytes


@dataclass(frozen=True, slots=True)
class TornFrame:
    """Where a segment's records end unreadably, and why."""

    offset: int
    reason: str


def records(segment: bytes) -> tuple[list[tuple[int, Record]], TornFrame | None]:
    """The (offset, record) pairs of one segment, up to its zero-filled end or the first frame
    that cannot be read (returned as well: only the last segment may end so)."""
    out: list[tuple[int, Record]] = []
    pos = 0
    while pos + _FRAME.size <= len(segment):
        (field,) = _FRAME.unpack_from(segment, pos)
        if field == 0:
            return out, None
        length = field & _LENGTH_MASK
        pad = (field >> 56) & 0x7 if field >> 63 else 0
        start = pos + _FRAME.size
        if start + length + pad > len(segment):
            return out, TornFrame(pos, f"record of {length} bytes runs past the end of the file")
        try:
            msg = _message(segment[start : start + length], {1: _VARINT, 2: _VARINT, 3: _BYTES})
        except FormatError as exc:
            return out, TornFrame(pos, f"undecodable record: {exc}")
        out.append((pos, Record(_int(msg, 1), _int(msg, 2), _bytes(msg, 3))))
        pos = start + length + pad
    if pos < len(segment):
        return out, TornFrame(pos, "short frame header")
    return out, None


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    type: int
    data: bytes


def entry(data: bytes) -> Entry:
    msg = _message(data, {1: _VARINT, 2: _VARINT, 3: _VARINT, 4: _BYTES})
    return Entry(_int(msg, 2), _int(msg, 3), _int(msg, 1), _bytes(msg, 4))


def hard_state(data: bytes) -> tuple[int, int, int]:
    """(term, vote, commit)."""
    msg = _message(data, {1: _VARINT, 2: _VARINT, 3: _VARINT})
    return _int(msg, 1), _int(msg, 2), _int(msg, 3)


def wal_snapshot(data: bytes) -> tuple[int, int]:
    """walpb.Snapshot: (index, term)."""
    msg = _message(data, {1: _VARINT, 2: _VARINT})
    return _int(msg, 1), _int(msg, 2)


def metadata(data: bytes) -> tuple[int, int]:
    """etcdserverpb.Metadata: (member id, cluster id)."""
    msg = _message(data, {1: _VARINT, 2: _VARINT})
    return _int(msg, 1), _int(msg, 2)


@dataclass(frozen=True, slots=True)
class ConfChange:
    type: int
    node_id: int
    context: bytes


def conf_change(data: bytes) -> ConfChange:
    msg = _message(data, {1: _VARINT, 2: _VARINT, 3: _VARINT, 4: _BYTES})
    return ConfChange(_int(msg, 2), _int(msg, 3), _bytes(msg, 4))


@dataclass(frozen=True, slots=True)
class SnapFile:
    """A member/snap/*.snap: raftpb.Snapshot inside snappb.Snapshot{crc, data}."""

    index: int
    term: int
    voters: tuple[int, ...]
    data: bytes


def snap_file(raw: bytes) -> SnapFile:
    outer = _message(raw, {1: _VARINT, 2: _BYTES})
    body = _bytes(outer, 2)
    if crc32c(body) != _int(outer, 1):
        raise FormatError("crc mismatch")
    snap = _message(body, {1: _BYTES, 2: _BYTES})
    meta = _message(_bytes(snap, 2), {1: _BYTES, 2: _VARINT, 3: _VARINT})
    voters: list[int] = []
    for number, wire, value in fields(_bytes(meta, 1)):
        if number != 1:
            continue
        if wire == _VARINT:
            assert isinstance(value, int)
            voters.append(value)
        elif wire == _BYTES:  # packed
            assert isinstance(value, bytes)
            pos = 0
            while pos < len(value):
                voter, pos = _varint(value, pos)
                voters.append(voter)
    return SnapFile(_int(meta, 2), _int(meta, 3), tuple(voters), _bytes(snap, 1))


@dataclass(frozen=True, slots=True)
class Request:
    """etcdserverpb.Request, the payload of a v2 write; `prev_exist` and `refresh` are None
    when unset (they are nullable)."""

    method: str
    path: str
    val: str = ""
    dir: bool = False
    prev_value: str = ""
    prev_index: int = 0
    prev_exist: bool | None = None
    expiration: int = 0
    recursive: bool = False
    time: int = 0
    refresh: bool | None = None


_REQUEST_SCHEMA = {
    1: _VARINT, 2: _BYTES, 3: _BYTES, 4: _BYTES, 5: _VARINT, 6: _BYTES, 7: _VARINT, 8: _VARINT,
    9: _VARINT, 10: _VARINT, 11: _VARINT, 12: _VARINT, 13: _VARINT, 14: _VARINT, 15: _VARINT,
    16: _VARINT, 17: _VARINT,
}  # fmt: skip
_METHODS = frozenset({"PUT", "POST", "DELETE", "QGET", "GET", "HEAD", "SYNC"})


def _text(msg: dict[int, int | bytes], number: int) -> str:
    return _bytes(msg, number).decode("utf-8", "surrogateescape")


def _flag(msg: dict[int, int | bytes], number: int) -> bool | None:
    return None if number not in msg else bool(msg[number])


def request(data: bytes) -> Request | None:
    """The v2 request in a normal entry, or None for anything else (an InternalRaftRequest:
    v3, lease, alarm and auth requests, which always carry a header, field 100)."""
    try:
        msg = _message(data, _REQUEST_SCHEMA)
    except FormatError:
        return None
    method = _text(msg, 2)
    if method not in _METHODS:
        return None
    return Request(
        method,
        _text(msg, 3),
        _text(msg, 4),
        bool(_int(msg, 5)),
        _text(msg, 6),
        _int(msg, 7),
        _flag(msg, 8),
        _signed(_int(msg, 9)),
        bool(_int(msg, 12)),
        _signed(_int(msg, 15)),
        _flag(msg, 17),
    )


def internal_v2(data: bytes) -> Request | None:
    """The v2 request wrapped in an InternalRaftRequest (field 2), if any."""
    try:
        for number, wire, value in fields(data):
            if number == 2 and wire == _BYTES:
                assert isinstance(value, bytes)
                return request(value)
    except FormatError:
        return None
    return None


_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def go_time_ns(text: str) -> int | None:
    """A Go `time.Time` in JSON (RFC 3339 with nanoseconds) as Unix ns; None for Go's zero time,
    which etcd's store uses for "never expires"."""
    match = _TIME.match(text)
    if match is None:
        raise FormatError(f"not an RFC 3339 time: {text!r}")
    base, fraction, zone = match.groups()
    if base.startswith("0001-01-01"):
        return None
    zone = "+00:00" if zone == "Z" else zone
    seconds = int(datetime.fromisoformat(base + zone).timestamp())
    return seconds * 1_000_000_000 + int((fraction or "").ljust(9, "0"))
