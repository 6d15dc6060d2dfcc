"""The v1 and v2 wire layouts of raft messages, and the version fallback rule."""

from __future__ import annotations

import msgpack
import pytest

from raft import messages as m
from raft.aio.peer_frames import (
    MIN_PROTO_VERSION,
    PROTO_VERSION,
    Status,
    decode_peer_frame,
    encode_control,
    fallback_version,
    version_refusal,
)
from raft.codec import CodecError, decode_message, encode_message
from raft.types import Entry, EntryKind

ENTRY = Entry(3, 6, EntryKind.NORMAL, b"x")
NOTICE = m.AppendEntries(2, 1, 3, index=5, log_term=3, entries=(), commit=5, commit_only=True)


def test_v1_layout_is_what_the_previous_build_wrote() -> None:
    # The previous build's AppendEntries: tag, to, frm, term, index, log_term, entries, commit.
    msg = m.AppendEntries(2, 1, 3, 5, 3, (ENTRY,), 6)
    assert msgpack.unpackb(encode_message(msg, 1)) == [1, 2, 1, 3, 5, 3, [[3, 6, 0, b"x"]], 6]
    assert msgpack.unpackb(encode_message(msg, 2))[-1] is False


def test_v1_encoding_drops_commit_only_and_decoding_defaults_it() -> None:
    decoded = decode_message(encode_message(NOTICE, 1), 1)
    assert decoded == m.AppendEntries(2, 1, 3, 5, 3, (), 5, commit_only=False)
    assert decode_message(encode_message(NOTICE, 2), 2) == NOTICE


@pytest.mark.parametrize(("written", "read"), [(1, 2), (2, 1)])
def test_a_frame_in_the_other_layout_is_refused(written: int, read: int) -> None:
    with pytest.raises(CodecError, match="AppendEntries needs"):
        decode_message(encode_message(NOTICE, written), read)


@pytest.mark.parametrize("version", [MIN_PROTO_VERSION, PROTO_VERSION])
def test_messages_without_new_fields_are_the_same_in_every_version(version: int) -> None:
    msg = m.Heartbeat(2, 1, 3, commit=4, ctx=b"c")
    assert encode_message(msg, version) == encode_message(msg)
    assert decode_message(encode_message(msg), version) == msg


def test_peer_frames_decode_messages_in_the_given_version() -> None:
    body = encode_message(NOTICE, 1)
    assert decode_peer_frame(body, 1) == m.AppendEntries(2, 1, 3, 5, 3, (), 5)
    with pytest.raises(CodecError):
        decode_peer_frame(body, 2)


def test_status_frames_round_trip_and_validate() -> None:
    status = Status(0xC1, 0xA, 0xB, 7)
    assert decode_peer_frame(encode_control(status)[4:]) == status
    with pytest.raises(CodecError, match="Status needs 4"):
        decode_peer_frame(msgpack.packb([71, 1, 2, 3]))
    with pytest.raises(CodecError, match="uint64"):
        decode_peer_frame(msgpack.packb([71, 1, 2, -3, 4]))


def test_version_refusal_names_the_range() -> None:
    assert version_refusal(1) == version_refusal(2) == ""
    assert version_refusal(3) == "protocol version 3 (we speak 1 to 2)"
    assert version_refusal(0) == "protocol version 0 (we speak 1 to 2)"


@pytest.mark.parametrize(
    ("offered", "reason", "next_version"),
    [
        (2, "protocol version 2 (we speak 1)", 1),  # the previous build's words
        (2, "protocol version 2 (we speak 3 to 4)", 1),
        (1, "protocol version 1 (we speak 2 to 3)", None),  # nothing older to offer
        (2, "cluster id mismatch", None),
        (2, "addressed to member 3, this is 2", None),
    ],
)
def test_fallback_only_after_a_version_refusal(
    offered: int, reason: str, next_version: int | None
) -> None:
    assert fallback_version(offered, reason) == next_version
