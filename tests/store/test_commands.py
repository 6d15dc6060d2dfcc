"""The command codec: every command round-trips; anything else is a clear BadCommand."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.commands import (
    AddMember,
    BadCommand,
    Command,
    CompareAndDelete,
    CompareAndSwap,
    Create,
    Delete,
    PublishMember,
    RemoveMember,
    Set,
    SetClusterVersion,
    Sync,
    Update,
    UpdateMember,
    decode_command,
    encode_command,
)

texts = st.text(max_size=20)
ints = st.integers(min_value=0, max_value=2**64 - 1)
expiries = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
urls = st.lists(texts, max_size=3).map(tuple)

commands = st.one_of(
    st.builds(Set, texts, texts, st.booleans(), expiries, st.booleans(), ints),
    st.builds(Create, texts, texts, st.booleans(), st.booleans(), expiries, ints),
    st.builds(Update, texts, texts, expiries, st.booleans(), ints),
    st.builds(CompareAndSwap, texts, texts, ints, texts, expiries, st.booleans(), ints),
    st.builds(Delete, texts, st.booleans(), st.booleans(), ints),
    st.builds(CompareAndDelete, texts, texts, ints, ints),
    st.builds(Sync, ints),
    st.builds(AddMember, ints, urls, ints),
    st.builds(UpdateMember, ints, urls, ints),
    st.builds(RemoveMember, ints, ints),
    st.builds(PublishMember, ints, texts, urls, ints),
    st.builds(SetClusterVersion, texts, ints),
)


@given(commands)
def test_every_command_round_trips(cmd: Command) -> None:
    assert decode_command(encode_command(cmd)) == cmd


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        msgpack.packb(5),
        msgpack.packb([]),
        msgpack.packb([99, 1]),
        msgpack.packb([[1], "k"]),
        msgpack.packb([True, 1]),
        msgpack.packb([7]),
        msgpack.packb([7, 1, 2]),
        msgpack.packb([7, "now"]),
        msgpack.packb([1, "/k", 5, False, None, False, 0]),
        msgpack.packb([1, "/k", "v", 1, None, False, 0]),
        msgpack.packb([1, "/k", "v", False, "soon", False, 0]),
        msgpack.packb([8, 1, "http://a", 0]),
        msgpack.packb([8, 1, ["http://a", 3], 0]),
        msgpack.packb([10, 1.5, 0]),
    ],
)
def test_malformed_entries_raise_bad_command(data: bytes) -> None:
    with pytest.raises(BadCommand):
        decode_command(data)
