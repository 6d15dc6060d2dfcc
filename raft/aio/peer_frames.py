"""Control frames of the peer protocol, sharing one frame stream with raft messages.

A control frame is a msgpack list `[tag, *fields]` like a raft message, with tags from 64 up so
the two never collide; `decode_peer_frame` turns any frame body into a raft `Message` or one of
the dataclasses below and validates every field, so a peer cannot hand us a wrongly-typed value.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import astuple, dataclass
from typing import Any

import msgpack

from raft.codec import MAX_UINT64, CodecError, message_from_wire
from raft.messages import Message

# Raised whenever a message's wire fields change (2: AppendEntries.commit_only), so members
# of different builds refuse each other's streams with a logged reason instead of bad frames.
PROTO_VERSION = 2
_LENGTH = struct.Struct(">I")


class ConnKind(enum.IntEnum):
    """What a connection carries, announced in its Hello."""

    STREAM = 0
    SNAPSHOT = 1
    INFO = 2


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


ControlFrame = Hello | Accept | Refuse | Ping | Pong | Info | SnapshotReceived

_TAGS: dict[type[Any], int] = {
    Hello: 64,
    Accept: 65,
    Refuse: 66,
    Ping: 67,
    Pong: 68,
    Info: 69,
    SnapshotReceived: 70,
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


_PARSERS = {
    64: _hello,
    65: _empty(Accept),
    66: _refuse,
    67: _seq(Ping),
    68: _seq(Pong),
    69: _info,
    70: _empty(SnapshotReceived),
}


def encode_control(frame: ControlFrame) -> bytes:
    """A length-prefixed control frame, framed exactly like `raft.codec.encode_frame`."""
    body = msgpack.packb([_TAGS[type(frame)], *astuple(frame)], use_bin_type=True)
    return _LENGTH.pack(len(body)) + body


def decode_peer_frame(body: bytes) -> Message | ControlFrame:
    """A raft message or a control frame; CodecError for anything else."""
    try:
        items = msgpack.unpackb(body, raw=False, use_list=True, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise CodecError(f"invalid msgpack: {exc}") from None
    if type(items) is not list or not items or type(items[0]) is not int:
        raise CodecError(f"not a peer frame: {items!r:.40}")
    parse = _PARSERS.get(items[0])
    if parse is None:
        return message_from_wire(items)
    result: Message | ControlFrame = parse(items)
    return result
