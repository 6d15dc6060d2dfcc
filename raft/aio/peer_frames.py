"""Control frames of the peer protocol, sharing one frame stream with raft messages.

A control frame is a msgpack list `[tag, *fields]` like a raft message, with tags from 64 up so
the two never collide; `decode_peer_frame` turns any frame body into a raft `Message` or one of
the dataclasses below and validates every field, so a peer cannot hand us a wrongly-typed value.

Versions: a dialer offers the newest protocol version it speaks in its Hello; a listener that
speaks that version accepts it and the connection carries raft messages in that version's wire
layout (`raft.codec`). A listener refuses a version it does not speak with a reason beginning
"protocol version", which is what builds since version 1 answer, and the dialer then offers the
next older one. So members one build apart interoperate during a rolling upgrade. Control
frames have the same layout in every version; a STATUS request is new in version 2.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import astuple, dataclass
from typing import Any

import msgpack

from raft.codec import (
    MAX_UINT64,
    OLDEST_WIRE_VERSION,
    WIRE_VERSION,
    CodecError,
    message_from_wire,
)
from raft.messages import Message

# Raised whenever a message's wire fields change (2: AppendEntries.commit_only); a member
# speaks every version from MIN_PROTO_VERSION up, so the build before a change still connects.
PROTO_VERSION = WIRE_VERSION
MIN_PROTO_VERSION = OLDEST_WIRE_VERSION
VERSION_REFUSAL = "protocol version"
_LENGTH = struct.Struct(">I")


class ConnKind(enum.IntEnum):
    """What a connection carries, announced in its Hello."""

    STREAM = 0
    SNAPSHOT = 1
    INFO = 2
    STATUS = 3


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame of every connection; `cluster_id` is None only for a joiner's INFO request."""

    proto_version: int
    cluster_id: int | None
    from_id: int
    to_id: int
    kind: ConnKind


@dataclass(frozen=True, slots=True)
class Accept:
    """The listener took the Hello; the dialer may start sending."""


@dataclass(frozen=True, slots=True)
class Refuse:
    """The listener rejected the Hello; it closes the connection after this frame."""

    reason: str


@dataclass(frozen=True, slots=True)
class Ping:
    seq: int


@dataclass(frozen=True, slots=True)
class Pong:
    seq: int


@dataclass(frozen=True, slots=True)
class Info:
    """The listener's answer to an INFO Hello: the bytes its info handler returned."""

    data: bytes


@dataclass(frozen=True, slots=True)
class SnapshotReceived:
    """The listener handed an InstallSnapshot to its raft node."""


@dataclass(frozen=True, slots=True)
class Status:
    """Who a member is and whom it follows: the split-brain detector's exchange. The dialer
    sends its own after a STATUS Hello and the listener answers with its own, whatever the
    cluster: telling two clusters apart is the point. `leader_id` 0 means no known leader."""

    cluster_id: int
    member_id: int
    leader_id: int
    term: int


ControlFrame = Hello | Accept | Refuse | Ping | Pong | Info | SnapshotReceived | Status

_TAGS: dict[type[Any], int] = {
    Hello: 64,
    Accept: 65,
    Refuse: 66,
    Ping: 67,
    Pong: 68,
    Info: 69,
    SnapshotReceived: 70,
    Status: 71,
}


def _uint(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= MAX_UINT64:
        raise CodecError(f"expected a uint64, got {value!r:.40}")
    return value


def _fields(items: list[Any], count: int, name: str) -> list[Any]:
    if len(items) != count + 1:
        raise CodecError(f"{name} needs {count} fields, got {len(items) - 1}")
    return items[1:]


def _hello(items: list[Any]) -> Hello:
    version, cluster_id, from_id, to_id, kind = _fields(items, 5, "Hello")
    if type(kind) is not int or kind not in ConnKind._value2member_map_:
        raise CodecError(f"unknown connection kind {kind!r:.40}")
    cluster = None if cluster_id is None else _uint(cluster_id)
    return Hello(_uint(version), cluster, _uint(from_id), _uint(to_id), ConnKind(kind))


def _refuse(items: list[Any]) -> Refuse:
    (reason,) = _fields(items, 1, "Refuse")
    if type(reason) is not str:
        raise CodecError("Refuse reason must be a string")
    return Refuse(reason)


def _info(items: list[Any]) -> Info:
    (data,) = _fields(items, 1, "Info")
    if type(data) is not bytes:
        raise CodecError("Info data must be bytes")
    return Info(data)


def _seq(cls: type[Ping] | type[Pong]) -> Any:
    def parse(items: list[Any]) -> Ping | Pong:
        (seq,) = _fields(items, 1, cls.__name__)
        return cls(_uint(seq))

    return parse


def _empty(cls: type[Accept] | type[SnapshotReceived]) -> Any:
    def parse(items: list[Any]) -> Accept | SnapshotReceived:
        _fields(items, 0, cls.__name__)
        return cls()

    return parse


def _status(items: list[Any]) -> Status:
    return Status(*(_uint(value) for value in _fields(items, 4, "Status")))


def version_refusal(offered: int) -> str:
    """Why a Hello offering `offered` is refused, or "" when this build speaks it."""
    if MIN_PROTO_VERSION <= offered <= PROTO_VERSION:
        return ""
    return f"{VERSION_REFUSAL} {offered} (we speak {MIN_PROTO_VERSION} to {PROTO_VERSION})"


def fallback_version(offered: int, refusal: str) -> int | None:
    """The version to offer next after `refusal` of `offered`, or None to give up."""
    if refusal.startswith(VERSION_REFUSAL) and offered > MIN_PROTO_VERSION:
        return offered - 1
    return None


_PARSERS = {
    64: _hello,
    65: _empty(Accept),
    66: _refuse,
    67: _seq(Ping),
    68: _seq(Pong),
    69: _info,
    70: _empty(SnapshotReceived),
    71: _status,
}


def encode_control(frame: ControlFrame) -> bytes:
    """A length-prefixed control frame, framed exactly like `raft.codec.encode_frame`."""
    body = msgpack.packb([_TAGS[type(frame)], *astuple(frame)], use_bin_type=True)
    return _LENGTH.pack(len(body)) + body


def decode_peer_frame(body: bytes, version: int = PROTO_VERSION) -> Message | ControlFrame:
    """A raft message (in `version`'s layout) or a control frame; CodecError for anything
    else."""
    try:
        items = msgpack.unpackb(body, raw=False, use_list=True, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise CodecError(f"invalid msgpack: {exc}") from None
    if type(items) is not list or not items or type(items[0]) is not int:
        raise CodecError(f"not a peer frame: {items!r:.40}")
    parse = _PARSERS.get(items[0])
    if parse is None:
        return message_from_wire(items, version)
    result: Message | ControlFrame = parse(items)
    return result
