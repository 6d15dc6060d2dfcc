"""msgpack encoding of messages, entries and snapshots, and a length-prefixed frame stream.

A message is a tuple `[tag, to, frm, term, *fields]` in its dataclass's field order; an entry is
`[term, index, kind, data]`, a snapshot `[index, term, [voters...], data]`. Decoding validates
every field, so a peer can never make the core see a wrongly-typed value.

Messages have a wire version so members of adjacent builds interoperate during a rolling
upgrade: a field added in version N is a trailing field with a default, left out when
encoding for an older version and taking its default when decoding one.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import msgpack

from . import messages as m
from .types import (
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Snapshot,
    SnapshotMeta,
)

MAX_UINT64 = (1 << 64) - 1
DEFAULT_MAX_FRAME_SIZE = 64 << 20
_LENGTH = struct.Struct(">I")


class CodecError(ValueError):
    """Bytes that do not decode to a well-formed value."""


# Stable wire tags: never renumber, only append.
_TAGS: dict[type[m.Message], int] = {
    m.AppendEntries: 1,
    m.AppendResponse: 2,
    m.RequestVote: 3,
    m.VoteResponse: 4,
    m.Heartbeat: 5,
    m.HeartbeatResponse: 6,
    m.InstallSnapshot: 7,
    m.TimeoutNow: 8,
    m.Propose: 9,
    m.ReadIndexRequest: 10,
    m.ReadIndexResponse: 11,
    m.TransferLeader: 12,
}
_CLASSES = {tag: cls for cls, tag in _TAGS.items()}

# The wire version each field first appeared in; unlisted fields are in every version.
WIRE_VERSION = 2
OLDEST_WIRE_VERSION = 1
_ADDED_IN: dict[tuple[type[m.Message], str], int] = {(m.AppendEntries, "commit_only"): 2}


def _fields_for(version: int) -> dict[type[m.Message], tuple[str, ...]]:
    out = {}
    for cls in _TAGS:
        names = [f.name for f in fields(cls)]
        kept = tuple(n for n in names if _ADDED_IN.get((cls, n), 1) <= version)
        if names[: len(kept)] != list(kept):
            # An old frame must still fill the leading fields, so only trailing ones may be new.
            raise TypeError(f"{cls.__name__}: fields added in a later version must trail")
        out[cls] = kept
    return out


_FIELDS_BY_VERSION = {v: _fields_for(v) for v in range(OLDEST_WIRE_VERSION, WIRE_VERSION + 1)}


def _uint(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= MAX_UINT64:
        raise CodecError(f"expected a uint64, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise CodecError(f"expected a bool, got {value!r}")
    return value


def _bytes(value: Any) -> bytes:
    if type(value) is not bytes:
        raise CodecError(f"expected bytes, got {type(value).__name__}")
    return value


def _list(value: Any, length: int | None = None) -> list[Any]:
    if type(value) is not list or (length is not None and len(value) != length):
        raise CodecError(f"expected a list of {length}, got {value!r:.80}")
    return value


def entry_to_wire(entry: Entry) -> list[Any]:
    return [entry.term, entry.index, int(entry.kind), entry.data]


_ENTRY_KINDS = {int(kind): kind for kind in EntryKind}


def entry_from_wire(obj: Any) -> Entry:
    term, index, kind, data = _list(obj, 4)
    entry_kind = _ENTRY_KINDS.get(kind) if type(kind) is int else None
    if entry_kind is None:
        raise CodecError(f"unknown entry kind {kind!r}")
    return Entry(_uint(term), _uint(index), entry_kind, _bytes(data))


def _entries_from_wire(obj: Any) -> tuple[Entry, ...]:
    return tuple(entry_from_wire(item) for item in _list(obj))


def snapshot_to_wire(snapshot: Snapshot) -> list[Any]:
    meta = snapshot.meta
    return [meta.index, meta.term, list(meta.conf_state.voters), snapshot.data]


def snapshot_from_wire(obj: Any) -> Snapshot:
    index, term, voters, data = _list(obj, 4)
    conf = ConfState(tuple(sorted({_uint(v) for v in _list(voters)})))
    return Snapshot(SnapshotMeta(_uint(index), _uint(term), conf), _bytes(data))


_FROM_WIRE: dict[str, Callable[[Any], Any]] = {
    "to": _uint,
    "frm": _uint,
    "term": _uint,
    "index": _uint,
    "log_term": _uint,
    "commit": _uint,
    "reject_hint": _uint,
    "last_index": _uint,
    "last_term": _uint,
    "transferee": _uint,
    "reject": _bool,
    "pre_vote": _bool,
    "transfer": _bool,
    "commit_only": _bool,
    "ctx": _bytes,
    "entries": _entries_from_wire,
    "snapshot": snapshot_from_wire,
}


def message_to_wire(msg: m.Message, version: int = WIRE_VERSION) -> list[Any]:
    """KeyError for a version outside OLDEST_WIRE_VERSION..WIRE_VERSION."""
    cls = type(msg)
    out: list[Any] = [_TAGS[cls]]
    for name in _FIELDS_BY_VERSION[version][cls]:
        value = getattr(msg, name)
        if name == "entries":
            value = [entry_to_wire(e) for e in value]
        elif name == "snapshot":
            value = snapshot_to_wire(value)
        out.append(value)
    return out


def message_from_wire(obj: Any, version: int = WIRE_VERSION) -> m.Message:
    """Fields newer than `version` take their defaults; KeyError for an unknown version."""
    items = _list(obj)
    if not items or type(items[0]) is not int or items[0] not in _CLASSES:
        raise CodecError(f"unknown message tag {items[:1]!r}")
    cls = _CLASSES[items[0]]
    names = _FIELDS_BY_VERSION[version][cls]
    if len(items) != len(names) + 1:
        raise CodecError(f"{cls.__name__} needs {len(names)} fields, got {len(items) - 1}")
    return cls(*(_FROM_WIRE[name](value) for name, value in zip(names, items[1:], strict=True)))


def _unpack(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise CodecError(f"invalid msgpack: {exc}") from None


def encode_message(msg: m.Message, version: int = WIRE_VERSION) -> bytes:
    return msgpack.packb(message_to_wire(msg, version), use_bin_type=True)


def decode_message(data: bytes, version: int = WIRE_VERSION) -> m.Message:
    return message_from_wire(_unpack(data), version)


def encode_frame(msg: m.Message, version: int = WIRE_VERSION) -> bytes:
    """A 4-byte big-endian length followed by the msgpack body."""
    body = encode_message(msg, version)
    return _LENGTH.pack(len(body)) + body


def encode_entries(entries: list[Entry] | tuple[Entry, ...]) -> bytes:
    return msgpack.packb([entry_to_wire(e) for e in entries], use_bin_type=True)


def decode_entries(data: bytes) -> list[Entry]:
    return list(_entries_from_wire(_unpack(data)))


def encode_snapshot(snapshot: Snapshot) -> bytes:
    return msgpack.packb(snapshot_to_wire(snapshot), use_bin_type=True)


def decode_snapshot(data: bytes) -> Snapshot:
    return snapshot_from_wire(_unpack(data))


def encode_hard_state(hard_state: HardState) -> bytes:
    return msgpack.packb([hard_state.term, hard_state.vote, hard_state.commit])


def decode_hard_state(data: bytes) -> HardState:
    term, vote, commit = _list(_unpack(data), 3)
    return HardState(_uint(term), _uint(vote), _uint(commit))


def encode_conf_change(cc: ConfChange) -> bytes:
    return msgpack.packb([int(cc.kind), cc.node_id, cc.context], use_bin_type=True)


def decode_conf_change(data: bytes) -> ConfChange:
    kind, node_id, context = _list(_unpack(data), 3)
    try:
        cc_kind = ConfChangeKind(kind)
    except ValueError:
        raise CodecError(f"unknown conf change kind {kind!r}") from None
    return ConfChange(cc_kind, _uint(node_id), _bytes(context))


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame that was rejected. `fatal` means the stream cannot be resynchronised (an
    oversized length prefix): the caller must close the connection."""

    reason: str
    fatal: bool = False


class FrameDecoder:
    """Bytes in, decoded values out, in the manner of h11's receive buffer.

    `receive_data` appends to one buffer; `next_event` returns a value, a BadFrame, or None
    when more data is needed. `decode` may be swapped between frames (the peer listener does,
    once a Hello has fixed the connection's protocol version). Consumed bytes are dropped
    lazily (once they are more than half of the buffer), so the total copying stays linear in
    the bytes received.
    """

    __slots__ = ("_buf", "_start", "bad_frames", "broken", "decode", "max_frame_size")

    def __init__(
        self,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        decode: Callable[[bytes], Any] = decode_message,
    ) -> None:
        self.max_frame_size = max_frame_size
        self.decode = decode
        self._buf = bytearray()
        self._start = 0
        self.bad_frames = 0
        self.broken = False

    def receive_data(self, data: bytes) -> None:
        if not self.broken:
            self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._start

    def next_event(self) -> Any:
        if self.broken:
            return None
        buf = self._buf
        start = self._start
        if len(buf) - start < 4:
            return None
        (length,) = _LENGTH.unpack_from(buf, start)
        if length > self.max_frame_size:
            self.broken = True
            self.bad_frames += 1
            self._buf = bytearray()
            self._start = 0
            return BadFrame(f"frame of {length} bytes exceeds {self.max_frame_size}", fatal=True)
        end = start + 4 + length
        if len(buf) < end:
            return None
        body = bytes(buf[start + 4 : end])
        if end * 2 >= len(buf):
            del buf[:end]
            self._start = 0
        else:
            self._start = end
        try:
            return self.decode(body)
        except (CodecError, TypeError, ValueError) as exc:
            self.bad_frames += 1
            return BadFrame(str(exc))

    def __iter__(self) -> FrameDecoder:
        return self

    def __next__(self) -> Any:
        event = self.next_event()
        if event is None:
            raise StopIteration
        return event
