"""Protocol negotiation: a member talks to a build one protocol version older, both ways."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest

from raft.aio.peer_frames import (
    MIN_PROTO_VERSION,
    PROTO_VERSION,
    Accept,
    Hello,
    Ping,
    Refuse,
    decode_peer_frame,
    encode_control,
)
from raft.codec import BadFrame, FrameDecoder, encode_frame
from raft.messages import AppendEntries
from tests.transport.conftest import MemberFactory, eventually
from tests.transport.test_hostile import hello, raw_session

NOTICE = AppendEntries(2, 9, 3, index=5, log_term=3, entries=(), commit=5, commit_only=True)


class OldListener:
    """A listener that speaks only protocol 1, as the build before protocol 2 did: it refuses
    any other version with that build's words and decodes raft messages in the v1 layout."""

    def __init__(self) -> None:
        self.hellos: list[int] = []
        self.frames: list[Any] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder(decode=lambda body: decode_peer_frame(body, version=1))
        try:
            while data := await reader.read(65536):
                decoder.receive_data(data)
                for event in decoder:
                    if type(event) is Hello:
                        self.hellos.append(event.proto_version)
                        if event.proto_version != 1:
                            reason = f"protocol version {event.proto_version} (we speak 1)"
                            writer.write(encode_control(Refuse(reason)))
                            return
                        writer.write(encode_control(Accept()))
                    elif type(event) is not Ping:
                        self.frames.append(event)
        finally:
            writer.close()


@pytest.fixture
async def old_listener() -> AsyncIterator[OldListener]:
    old = OldListener()
    old.server = await asyncio.start_server(old.serve, "127.0.0.1", 0)
    yield old
    old.server.close()
    await old.server.wait_closed()


def test_this_build_speaks_the_previous_version() -> None:
    assert (MIN_PROTO_VERSION, PROTO_VERSION) == (1, 2)


async def test_dialer_falls_back_to_v1_and_encodes_v1_frames(
    make_member: MemberFactory, old_listener: OldListener
) -> None:
    new = await make_member(9, listen=None)
    new.transport.set_peers({2: (old_listener.url,)})
    await eventually(lambda: new.transport.stats(2).connected, "a stream to the v1 member")
    new.transport.send([NOTICE])
    await eventually(lambda: bool(old_listener.frames), "the append at the v1 member")
    assert old_listener.hellos == [2, 1]
    # The v1 layout has no commit_only: the old follower answers it, as it always did.
    assert old_listener.frames == [AppendEntries(2, 9, 3, 5, 3, (), 5)]
    assert not any(isinstance(f, BadFrame) for f in old_listener.frames)


async def test_listener_accepts_a_v1_dialer_and_decodes_v1_frames(
    make_member: MemberFactory,
) -> None:
    victim = await make_member(2)
    v1_append = encode_frame(AppendEntries(2, 9, 3, 5, 3, (), 5), 1)
    assert len(msgpack.unpackb(v1_append[4:])) == 8  # tag and seven fields: the v1 layout
    answer = await raw_session(victim, hello(proto_version=1) + v1_append)
    assert msgpack.unpackb(answer[4:]) == [65]
    await eventually(lambda: bool(victim.received), "the v1 append delivered")
    assert victim.received == [AppendEntries(2, 9, 3, 5, 3, (), 5, commit_only=False)]
    assert victim.transport.counters.malformed_frames == 0


async def test_a_v2_stream_still_carries_commit_only(make_member: MemberFactory) -> None:
    victim = await make_member(2)
    answer = await raw_session(victim, hello() + encode_frame(NOTICE))
    assert msgpack.unpackb(answer[4:]) == [65]
    await eventually(lambda: bool(victim.received), "the v2 append delivered")
    assert victim.received == [NOTICE]


async def test_a_v1_stream_rejects_v2_layout_frames(make_member: MemberFactory) -> None:
    victim = await make_member(2)
    await raw_session(victim, hello(proto_version=1) + encode_frame(NOTICE))
    await eventually(lambda: victim.transport.counters.malformed_frames == 1, "a bad frame")
    assert victim.received == []


@pytest.mark.parametrize("version", [0, PROTO_VERSION + 1])
async def test_versions_outside_the_range_are_refused_with_the_range(
    make_member: MemberFactory, version: int
) -> None:
    victim = await make_member(2)
    answer = await raw_session(victim, hello(proto_version=version))
    tag, reason = msgpack.unpackb(answer[4:])
    assert tag == 66
    assert reason == f"protocol version {version} (we speak 1 to {PROTO_VERSION})"
    assert victim.transport.counters.refused_hellos == 1


async def test_new_members_speak_the_newest_version(make_member: MemberFactory) -> None:
    a, b = await make_member(1), await make_member(2)
    a.transport.set_peers({2: (b.url,)})
    await eventually(lambda: a.transport.stats(2).connected, "a stream between new members")
    a.transport.send([AppendEntries(2, 1, 3, 5, 3, (), 5, commit_only=True)])
    await eventually(lambda: bool(b.received), "the append")
    assert b.received[0].commit_only is True
    assert b.transport.counters.refused_hellos == 0
