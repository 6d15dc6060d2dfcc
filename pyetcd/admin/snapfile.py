"""The hot snapshot file of `pyetcd-admin snapshot save`: one member's store at one applied index.

`magic | u32 header length | header (msgpack: version, index, term, cluster id, member id) |
store data | sha256 of everything before it`. The digest is written by the member that took the
snapshot, so damage anywhere, in transit or on disk, is refused at restore.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import msgpack

MAGIC = b"PYETCD-SNAPSHOT\n"
VERSION = 1
_LENGTH = struct.Struct("<I")
_DIGEST = hashlib.sha256().digest_size


class SnapshotFileError(ValueError):
    """Bytes that are not an intact snapshot file."""


@dataclass(frozen=True, slots=True)
class HotSnapshot:
    index: int
    term: int
    cluster_id: int
    member_id: int
    store_data: bytes


def encode_snapshot(snap: HotSnapshot) -> bytes:
    header = msgpack.packb([VERSION, snap.index, snap.term, snap.cluster_id, snap.member_id])
    body = b"".join((MAGIC, _LENGTH.pack(len(header)), header, snap.store_data))
    return body + hashlib.sha256(body).digest()


def decode_snapshot(raw: bytes) -> HotSnapshot:
    start = len(MAGIC) + _LENGTH.size
    if len(raw) < start + _DIGEST or not raw.startswith(MAGIC):
        raise SnapshotFileError("not a pyetcd snapshot file")
    view = memoryview(raw)
    if hashlib.sha256(view[:-_DIGEST]).digest() != raw[-_DIGEST:]:
        raise SnapshotFileError("sha256 checksum mismatch: the file is damaged")
    (length,) = _LENGTH.unpack_from(raw, len(MAGIC))
    try:
        version, index, term, cluster, member = msgpack.unpackb(view[start : start + length])
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise SnapshotFileError(f"undecodable header: {exc}") from None
    if version != VERSION:
        raise SnapshotFileError(f"unsupported snapshot file version {version!r}")
    return HotSnapshot(index, term, cluster, member, bytes(view[start + length : -_DIGEST]))
