"""Wire encoding round trips and the frame decoder's handling of hostile input."""

from __future__ import annotations

import struct
from dataclasses import fields

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raft import codec
from raft import messages as m
from raft.codec import BadFrame, CodecError, FrameDecoder
from raft.types import (
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Snapshot,
    SnapshotMeta,
)

uint64 = st.integers(0, (1 << 64) - 1)
entries = st.builds(Entry, uint64, uint64, st.sampled_from(EntryKind), st.binary(max_size=64))
snapshots = st.builds(
    Snapshot,
    st.builds(
        SnapshotMeta,
        uint64,
        uint64,
        st.builds(
            ConfState, st.lists(uint64, max_size=5, unique=True).map(lambda v: tuple(sorted(v)))
        ),
    ),
    st.binary(max_size=64),
)
FIELD_STRATEGIES = {
    "reject": st.booleans(),
    "pre_vote": st.booleans(),
    "transfer": st.booleans(),
    "commit_only": st.booleans(),
    "ctx": st.binary(max_size=32),
    "entries": st.lists(entries, max_size=5).map(tuple),
    "snapshot": snapshots,
}
MESSAGE_TYPES = sorted(codec._TAGS, key=lambda cls: codec._TAGS[cls])


def message_strategy(cls: type[m.Message]) -> st.SearchStrategy[m.Message]:
    return st.builds(cls, **{f.name: FIELD_STRATEGIES.get(f.name, uint64) for f in fields(cls)})


any_message = st.one_of([message_strategy(cls) for cls in MESSAGE_TYPES])


def test_every_message_type_has_a_tag() -> None:
    declared = {
        obj
        for obj in vars(m).values()
        if isinstance(obj, type) and issubclass(obj, m.Message) and obj is not m.Message
    }
    assert set(MESSAGE_TYPES) == declared


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_message_round_trip(cls, data) -> None:
    msg = data.draw(message_strategy(cls))
    assert codec.decode_message(codec.encode_message(msg)) == msg


@given(st.lists(any_message, max_size=8), st.integers(1, 50))
def test_frames_survive_arbitrary_chunking(msgs, chunk) -> None:
    stream = b"".join(codec.encode_frame(msg) for msg in msgs)
    decoder = FrameDecoder()
    out = []
    for at in range(0, len(stream), chunk):
        decoder.receive_data(stream[at : at + chunk])
        out.extend(decoder)
    assert out == msgs
    assert decoder.buffered == 0 and decoder.bad_frames == 0


@given(st.binary(max_size=200))
def test_garbage_bodies_yield_bad_frames_never_exceptions(body) -> None:
    decoder = FrameDecoder()
    good = m.TimeoutNow(1, 2, 3)
    decoder.receive_data(struct.pack(">I", len(body)) + body + codec.encode_frame(good))
    events = list(decoder)
    assert events[-1] == good
    assert len(events) == 2
    assert isinstance(events[0], BadFrame | m.Message)


@pytest.mark.parametrize(
    "obj",
    [
        [],
        [99, 1, 2, 3],
        ["x", 1, 2],
        [8, 1, 2],  # too few fields
        [8, 1, 2, 3, 4],  # too many
        [8, -1, 2, 3],  # negative id
        [8, 1, 2, True],  # bool is not an int here
        [5, 1, 2, 3, 4, "ctx-as-str"],
        [1, 1, 2, 3, 0, 0, [[1, 1, 7, b""]], 0],  # unknown entry kind
        [1, 1, 2, 3, 0, 0, [[1, 1, 0]], 0],  # short entry
        [1, 1, 2, 3, 0, 0, "nope", 0],
        [4, 1, 2, 3, 1, False],  # bool fields must be bools
        [7, 1, 2, 3, [1, 1, "voters", b""]],
        {"a": 1},
    ],
)
def test_malformed_messages_are_rejected_with_codec_error(obj) -> None:
    body = msgpack.packb(obj, use_bin_type=True)
    with pytest.raises(CodecError):
        codec.decode_message(body)
    decoder = FrameDecoder()
    decoder.receive_data(struct.pack(">I", len(body)) + body)
    event = decoder.next_event()
    assert isinstance(event, BadFrame) and not event.fatal
    assert decoder.bad_frames == 1


def test_invalid_msgpack_and_trailing_bytes() -> None:
    for body in (b"\xc1", b"\x93\x01", codec.encode_message(m.TimeoutNow(1, 2, 3)) + b"\x00"):
        with pytest.raises(CodecError):
            codec.decode_message(body)


def test_oversized_frame_is_fatal_and_stops_the_stream() -> None:
    decoder = FrameDecoder(max_frame_size=100)
    decoder.receive_data(struct.pack(">I", 101))
    event = decoder.next_event()
    assert event == BadFrame("frame of 101 bytes exceeds 100", fatal=True)
    assert decoder.broken and decoder.bad_frames == 1
    decoder.receive_data(codec.encode_frame(m.TimeoutNow(1, 2, 3)))
    assert decoder.next_event() is None and decoder.buffered == 0


def test_truncated_frame_waits_for_more_data() -> None:
    frame = codec.encode_frame(m.Heartbeat(1, 2, 3, 4, b"ctx"))
    decoder = FrameDecoder()
    decoder.receive_data(frame[:-1])
    assert decoder.next_event() is None
    decoder.receive_data(frame[-1:])
    assert decoder.next_event() == m.Heartbeat(1, 2, 3, 4, b"ctx")


def test_decoder_compacts_its_buffer() -> None:
    frame = codec.encode_frame(m.TimeoutNow(1, 2, 3))
    decoder = FrameDecoder()
    for _ in range(1000):
        decoder.receive_data(frame + frame[:3])
        assert decoder.next_event() == m.TimeoutNow(1, 2, 3)
        decoder.receive_data(frame[3:])
        assert decoder.next_event() == m.TimeoutNow(1, 2, 3)
    assert len(decoder._buf) <= 2 * len(frame)


def test_custom_decoder_function() -> None:
    decoder = FrameDecoder(decode=codec.decode_hard_state)
    body = codec.encode_hard_state(HardState(3, 2, 1))
    decoder.receive_data(struct.pack(">I", len(body)) + body)
    assert decoder.next_event() == HardState(3, 2, 1)


@given(st.lists(entries, max_size=5))
def test_entries_round_trip(items) -> None:
    assert codec.decode_entries(codec.encode_entries(items)) == items


@given(snapshots)
def test_snapshot_round_trip(snapshot) -> None:
    assert codec.decode_snapshot(codec.encode_snapshot(snapshot)) == snapshot


@given(st.builds(HardState, uint64, uint64, uint64))
def test_hard_state_round_trip(hard_state) -> None:
    assert codec.decode_hard_state(codec.encode_hard_state(hard_state)) == hard_state


@given(st.builds(ConfChange, st.sampled_from(ConfChangeKind), uint64, st.binary(max_size=32)))
def test_conf_change_round_trip(cc) -> None:
    assert codec.decode_conf_change(codec.encode_conf_change(cc)) == cc


def test_conf_change_with_unknown_kind_is_rejected() -> None:
    with pytest.raises(CodecError):
        codec.decode_conf_change(msgpack.packb([9, 1, b""]))
