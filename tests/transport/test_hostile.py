"""Refused hellos and malformed traffic close one connection, are counted, and harm nothing else."""

from __future__ import annotations

import asyncio
import logging
import struct
from urllib.parse import urlsplit

import msgpack
import pytest

from raft.aio.peer_frames import PROTO_VERSION, Accept, ConnKind, Hello, Ping, Pong, encode_control
from raft.codec import encode_frame
from raft.messages import Heartbeat
from tests.transport.conftest import CLUSTER, Member, MemberFactory, connect, eventually


async def raw_session(member: Member, payload: bytes) -> bytes:
    """Write `payload` to the listener, half-close, and return all it wrote back."""
    parts = urlsplit(member.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(payload)
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()


def hello(frm: int = 9, to: int = 2, cluster: int | None = CLUSTER, **kw: object) -> bytes:
    fields: dict[str, object] = {
        "proto_version": PROTO_VERSION,
        "cluster_id": cluster,
        "from_id": frm,
        "to_id": to,
        "kind": ConnKind.STREAM,
    }
    fields.update(kw)
    return encode_control(Hello(**fields))  # type: ignore[arg-type]


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


async def assert_still_serving(victim: Member, helper: Member) -> None:
    before = len(victim.received)
    helper.transport.send([Heartbeat(victim.id, helper.id, 1, commit=7)])
    await eventually(lambda: len(victim.received) == before + 1, "a legitimate message")


@pytest.fixture
async def pair(make_member: MemberFactory) -> tuple[Member, Member]:
    victim, helper = await make_member(2), await make_member(1)
    connect(victim, helper)
    return victim, helper


MALFORMED = {
    "garbage": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "not msgpack": frame(b"\xc1\xc1\xc1"),
    "oversized hello": struct.pack(">I", 1 << 20) + b"\x00" * 64,
    "truncated hello": hello()[:-2],
    "raft message before hello": encode_frame(Heartbeat(2, 9, 1, commit=0)),
    "oversized frame": hello() + struct.pack(">I", 0xFFFFFFFF) + b"\x00" * 16,
    "truncated frame": hello() + encode_frame(Heartbeat(2, 9, 1, commit=0))[:-3],
    "bad message": hello() + frame(msgpack.packb([5, 2, 9, "one", 0, b""])),
    "unknown tag": hello() + frame(msgpack.packb([99, 2, 9, 1])),
    "second hello": hello() + hello(),
    "pong on a stream": hello() + encode_control(Pong(1)),
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_traffic_closes_only_that_connection(
    pair: tuple[Member, Member], payload: bytes
) -> None:
    victim, helper = pair
    await raw_session(victim, payload)
    await eventually(lambda: victim.transport.counters.malformed_frames == 1, "the count")
    assert not victim.received
    await assert_still_serving(victim, helper)


async def test_good_frames_before_a_bad_one_are_delivered(pair: tuple[Member, Member]) -> None:
    victim, _ = pair
    good = encode_frame(Heartbeat(2, 9, 1, commit=1))
    answer = await raw_session(victim, hello() + good + frame(b"\x91\xc1") + good)
    assert [m.commit for m in victim.received] == [1]
    assert victim.transport.counters.malformed_frames == 1
    assert answer.startswith(encode_control(Accept()))


async def test_ping_is_answered_and_forged_sender_dropped(pair: tuple[Member, Member]) -> None:
    victim, helper = pair
    forged = encode_frame(Heartbeat(2, 1, 1, commit=0))
    misrouted = encode_frame(Heartbeat(3, 9, 1, commit=0))
    answer = await raw_session(victim, hello() + encode_control(Ping(7)) + forged + misrouted)
    assert answer == encode_control(Accept()) + encode_control(Pong(7))
    counters = victim.transport.counters
    assert (counters.frm_mismatch, counters.misrouted, counters.malformed_frames) == (1, 1, 0)
    assert not victim.received
    await assert_still_serving(victim, helper)


REFUSED = {
    "foreign cluster": hello(cluster=0xBAD),
    "no cluster": hello(cluster=None),
    "wrong to_id": hello(to=3),
    "newer protocol": hello(proto_version=PROTO_VERSION + 1),
    "info without handler": hello(kind=ConnKind.INFO, to=0),
}


@pytest.mark.parametrize("payload", REFUSED.values(), ids=REFUSED.keys())
async def test_refused_hello_is_answered_and_counted(
    pair: tuple[Member, Member], payload: bytes
) -> None:
    victim, helper = pair
    answer = await raw_session(victim, payload + encode_frame(Heartbeat(2, 9, 1, commit=0)))
    assert msgpack.unpackb(answer[4:])[0] == 66
    assert victim.transport.counters.refused_hellos == 1
    assert not victim.received
    await assert_still_serving(victim, helper)


async def test_foreign_cluster_dialer_is_refused(
    make_member: MemberFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="raft.aio.transport")
    b = await make_member(2)
    intruder = await make_member(0xAB, cluster_id=0xF0E, backoff=(0.05, 0.05))
    intruder.transport.set_peers({2: (b.url,)})
    intruder.transport.send([Heartbeat(2, 0xAB, 1, commit=0)])
    await eventually(lambda: b.transport.counters.refused_hellos >= 1, "a refusal")
    await eventually(lambda: 2 in intruder.unreachable, "the intruder to see it refused")
    assert not b.received
    assert not intruder.transport.stats(2).connected
    lines = [r.getMessage() for r in caplog.records if "refused stream" in r.getMessage()]
    assert lines and "member ab" in lines[0] and "f0e" in lines[0] and "c1" in lines[0]


async def test_wrong_to_id_is_refused(make_member: MemberFactory) -> None:
    a, b = await make_member(1, backoff=(0.05, 0.05)), await make_member(2)
    a.transport.set_peers({3: (b.url,)})
    a.transport.send([Heartbeat(3, 1, 1, commit=0)])
    await eventually(lambda: b.transport.counters.refused_hellos >= 1, "a refusal")
    assert not b.received
    assert not a.transport.stats(3).connected


async def test_silent_connection_times_out(make_member: MemberFactory) -> None:
    victim = await make_member(2, hello_timeout=0.1)
    parts = urlsplit(victim.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        async with asyncio.timeout(10):
            assert await reader.read() == b""
    finally:
        writer.close()
    assert victim.transport.counters.malformed_frames == 1
