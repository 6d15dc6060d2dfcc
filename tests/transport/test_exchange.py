"""Raft messages between real transports on 127.0.0.1: delivery, loss reporting, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest
import uvloop

from raft.aio import transport as transport_module
from raft.aio.peer_frames import Accept, encode_control
from raft.aio.transport import PeerTransport, PeerURLError
from raft.messages import AppendEntries, AppendResponse, Heartbeat, InstallSnapshot, Message
from raft.types import ConfState, Entry, Snapshot, SnapshotMeta
from tests.transport.conftest import WAIT, Member, MemberFactory, connect, eventually


def heartbeats(frm: int, to: int, count: int, term: int = 1) -> list[Heartbeat]:
    return [Heartbeat(to, frm, term, commit=i) for i in range(count)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_two_members_exchange_both_ways(make_member: MemberFactory) -> None:
    a, b = await make_member(1), await make_member(2)
    connect(a, b)
    entries = (Entry(1, 5, data=b"x" * 100), Entry(1, 6, data=b"y"))
    a.transport.send([AppendEntries(2, 1, 1, index=4, log_term=1, entries=entries, commit=3)])
    b.transport.send([AppendResponse(1, 2, 1, index=6)])
    await eventually(lambda: bool(a.received and b.received), "one message each way")
    assert b.received == [AppendEntries(2, 1, 1, index=4, log_term=1, entries=entries, commit=3)]
    assert a.received == [AppendResponse(1, 2, 1, index=6)]
    await eventually(lambda: a.transport.stats(2).sent == 1, "the send to be counted")
    stats = a.transport.stats(2)
    assert (stats.connected, stats.failed, stats.queue_drops) == (True, 0, 0)
    assert not a.unreachable and not b.unreachable


async def test_three_members_keep_per_link_order(make_member: MemberFactory) -> None:
    members = [await make_member(i) for i in (1, 2, 3)]
    connect(*members)
    for src in members:
        src.transport.send(
            msg for dst in members if dst is not src for msg in heartbeats(src.id, dst.id, 50)
        )
    await eventually(lambda: all(len(m.received) == 100 for m in members), "100 messages each")
    for dst in members:
        for src in members:
            if src is not dst:
                got = [m.commit for m in dst.received if m.frm == src.id]
                assert got == list(range(50)), (src.id, dst.id)


async def test_latency_is_measured_with_pings(make_member: MemberFactory) -> None:
    a, b = await make_member(1, ping_interval=0.05), await make_member(2)
    connect(a, b)
    await eventually(lambda: a.transport.stats(2).latency.samples >= 3, "three pings")
    latency = a.transport.stats(2).latency
    assert 0 < latency.minimum <= latency.average <= latency.maximum
    assert latency.minimum <= latency.current <= latency.maximum
    assert latency.stddev >= 0
    assert not b.received, "pings are not raft messages"


async def test_reconnects_after_peer_restart(make_member: MemberFactory) -> None:
    a, b = await make_member(1, backoff=(0.01, 0.05)), await make_member(2)
    connect(a, b)
    a.transport.send(heartbeats(1, 2, 1))
    await eventually(lambda: len(b.received) == 1, "first delivery")
    url = b.url
    await b.transport.stop()
    await eventually(lambda: not a.transport.stats(2).connected, "the stream to break")
    a.transport.send(heartbeats(1, 2, 1))
    await eventually(lambda: 2 in a.unreachable, "unreachable report while down")
    again = await make_member(2, listen=url)
    await eventually(lambda: a.transport.stats(2).connected, "reconnection")
    a.transport.send(heartbeats(1, 2, 3, term=2))
    await eventually(lambda: len(again.received) == 3, "delivery after restart")
    assert a.transport.stats(2).failed >= 1


async def test_a_writable_stream_is_written_at_once(make_member: MemberFactory) -> None:
    """No queue and no pump in between while the socket takes more: even a burst far above
    the queue bound goes out whole."""
    a, b = await make_member(1, queue_size=10), await make_member(2)
    connect(a, b)
    await eventually(lambda: a.transport.stats(2).connected, "connection")
    a.transport.send(heartbeats(1, 2, 150))
    stats = a.transport.stats(2)
    assert (stats.sent, stats.queued, stats.queue_drops) == (150, 0, 0)
    await eventually(lambda: len(b.received) == 150, "the whole burst")


async def test_writes_queue_behind_a_backed_up_stream_in_order(
    make_member: MemberFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await make_member(1), await make_member(2)
    connect(a, b)
    await eventually(lambda: a.transport.stats(2).connected, "connection")
    monkeypatch.setattr(transport_module, "HIGH_WATER", -1)
    a.transport.send(heartbeats(1, 2, 30))
    monkeypatch.undo()
    a.transport.send([Heartbeat(2, 1, 1, commit=30 + i) for i in range(30)])
    assert a.transport.stats(2).queued == 60, "nothing overtakes the queue"
    await eventually(lambda: len(b.received) == 60, "the queued sixty")
    assert [m.commit for m in b.received] == list(range(60))


async def test_queue_overflow_drops_and_reports(
    make_member: MemberFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await make_member(1, queue_size=100), await make_member(2)
    connect(a, b)
    await eventually(lambda: a.transport.stats(2).connected, "connection")
    monkeypatch.setattr(transport_module, "HIGH_WATER", -1)
    a.transport.send(heartbeats(1, 2, 150))
    # Back to normal at once: a stream left "backed up" stops reading pongs, and under load the
    # peer's ping-flood guard would then close it before the hundred arrive.
    monkeypatch.undo()
    stats = a.transport.stats(2)
    assert (stats.queued, stats.queue_drops, stats.failed) == (100, 50, 50)
    assert a.unreachable == [2], "one report per send call"
    assert a.transport.counters.queue_drops == 50
    await eventually(lambda: len(b.received) == 100, "the queued hundred")


async def test_down_peer_drops_instead_of_piling_up(make_member: MemberFactory) -> None:
    a = await make_member(1, backoff=(0.2, 0.2))
    a.transport.set_peers({2: (f"http://127.0.0.1:{free_port()}",)})
    await eventually(lambda: bool(a.unreachable), "a failed dial")
    for _ in range(20):
        a.transport.send(heartbeats(1, 2, 10))
        await asyncio.sleep(0.02)
    stats = a.transport.stats(2)
    assert stats.queued <= 10 and stats.sent == 0 and not stats.connected
    assert a.unreachable.count(2) >= 20, "every dropping send is reported"
    assert (stats.failed, stats.queue_drops) == (0, 0), "a peer never reached is no failure"


async def test_drops_count_as_failures_once_the_peer_was_reached(
    make_member: MemberFactory,
) -> None:
    a, b = await make_member(1, backoff=(5.0, 5.0)), await make_member(2)
    connect(a, b)
    await eventually(lambda: a.transport.stats(2).connected, "connection")
    await b.transport.stop()
    await eventually(lambda: not a.transport.stats(2).connected, "the stream to break")
    a.transport.send(heartbeats(1, 2, 7))
    assert a.transport.stats(2).failed == 7
    assert a.transport.counters.failed == 7


async def test_restarted_peer_dialling_us_ends_our_backoff(make_member: MemberFactory) -> None:
    """Without the redial our stream would sit out a 2-4 s backoff, dropping what is sent."""
    a, b = await make_member(1, backoff=(4.0, 4.0)), await make_member(2)
    connect(a, b)
    await eventually(lambda: a.transport.stats(2).connected, "connection")
    url = b.url
    await b.transport.stop()
    await eventually(lambda: 2 in a.unreachable, "the stream to break")
    again = await make_member(2, listen=url)
    again.transport.set_peers({1: (a.url,)})
    again.transport.send(heartbeats(2, 1, 1))
    await eventually(lambda: len(a.received) == 1, "the restarted peer's stream to us")
    started = time.monotonic()
    a.transport.send(heartbeats(1, 2, 1, term=2))
    await eventually(lambda: len(again.received) == 1, "prompt delivery", timeout=1.5)
    assert time.monotonic() - started < 1.5
    assert a.transport.stats(2).connected and a.transport.stats(2).failed == 0


async def test_set_peers_adds_updates_and_removes(make_member: MemberFactory) -> None:
    a, b, c = await make_member(1), await make_member(2), await make_member(3)
    a.transport.set_peers({1: (a.url,), 2: ("http://127.0.0.1:1",)})
    assert a.transport.peer_ids() == [2]
    a.transport.set_peers({2: (b.url,), 3: (c.url,)})
    a.transport.send(heartbeats(1, 2, 1) + heartbeats(1, 3, 1))
    await eventually(lambda: bool(b.received and c.received), "delivery to 2 and 3")
    a.transport.set_peers({3: (c.url,)})
    with pytest.raises(KeyError):
        a.transport.stats(2)
    a.transport.send(heartbeats(1, 2, 1))
    assert a.transport.counters.unknown_peer == 1
    with pytest.raises(PeerURLError):
        a.transport.set_peers({3: ("ftp://127.0.0.1:1",)})
    with pytest.raises(PeerURLError):
        a.transport.set_peers({3: ()})
    assert a.transport.peer_ids() == [3]


async def test_callback_errors_do_not_break_the_stream(make_member: MemberFactory) -> None:
    a = await make_member(1)
    seen: list[int] = []

    def explode(msg: object) -> None:
        seen.append(1)
        raise RuntimeError("boom")

    b = PeerTransport(2, 0xC1, explode, lambda p: None, lambda p, ok: None)
    await b.start(["http://127.0.0.1:0"])
    try:
        a.transport.set_peers({2: (b.bound_urls[0],)})
        a.transport.send(heartbeats(1, 2, 5))
        await eventually(lambda: len(seen) == 5, "all five despite the errors")
        assert b.counters.received == 5
    finally:
        await b.stop()


def big_snapshot(to: int, frm: int, size: int) -> InstallSnapshot:
    meta = SnapshotMeta(100, 3, ConfState((1, 2)))
    return InstallSnapshot(to, frm, 3, Snapshot(meta, bytes(range(256)) * (size // 256)))


async def test_snapshot_uses_its_own_connection(make_member: MemberFactory) -> None:
    a, b = await make_member(1), await make_member(2)
    connect(a, b)
    a.transport.send(heartbeats(1, 2, 1))
    await eventually(lambda: len(b.received) == 1, "the stream")
    streams = b.transport.counters.accepted_connections
    snap = big_snapshot(2, 1, 8 << 20)
    a.transport.send([snap, *heartbeats(1, 2, 1)])
    await eventually(lambda: bool(a.snapshot_status), "the snapshot status")
    assert a.snapshot_status == [(2, True)]
    assert snap in b.received
    assert b.transport.counters.accepted_connections == streams + 1
    assert b.transport.counters.snapshots_received == a.transport.counters.snapshots_sent == 1
    assert a.transport.stats(2).sent == 2, "the snapshot is not on the stream"


async def test_snapshot_to_unreachable_peer_fails(make_member: MemberFactory) -> None:
    a = await make_member(1, backoff=(1.0, 1.0))
    a.transport.set_peers({2: (f"http://127.0.0.1:{free_port()}",)})
    a.transport.send([big_snapshot(2, 1, 1024)])
    await eventually(lambda: bool(a.snapshot_status), "the snapshot status")
    assert a.snapshot_status == [(2, False)]
    assert a.transport.counters.snapshots_failed == 1


async def test_snapshot_outcome_is_reported_whatever_fails(
    make_member: MemberFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error (uvloop's RuntimeError on a closed transport, say) is still a
    failed snapshot for raft, never a silently dead task."""

    async def broken_dial(*args: object) -> None:
        raise RuntimeError("unable to perform operation: the handler is closed")

    a, b = await make_member(1), await make_member(2)
    connect(a, b)
    monkeypatch.setattr(transport_module, "_dial", broken_dial)
    a.transport.send([big_snapshot(2, 1, 1024)])
    await eventually(lambda: bool(a.snapshot_status), "the snapshot status")
    assert a.snapshot_status == [(2, False)]


async def test_throughput_of_small_messages(make_member: MemberFactory) -> None:
    a, b = await make_member(1), await make_member(2)
    connect(a, b)
    await eventually(lambda: a.transport.stats(2).connected, "connection")
    total, batch = 100_000, 1000
    start = time.perf_counter()
    for i in range(0, total, batch):
        a.transport.send(heartbeats(1, 2, batch, term=i))
        while a.transport.stats(2).queued > 2 * batch:
            await asyncio.sleep(0)
        await asyncio.sleep(0)
    await eventually(lambda: len(b.received) == total, "all messages", timeout=60)
    rate = total / (time.perf_counter() - start)
    print(f"\ntransport throughput: {rate:,.0f} small messages/s (one link, both ends in-process)")
    assert a.transport.stats(2).failed == 0
    assert rate > 5_000


async def test_stopped_transport_ignores_sends(make_member: MemberFactory) -> None:
    a: Member = await make_member(1)
    a.transport.set_peers({2: ("http://127.0.0.1:1",)})
    await a.transport.stop()
    a.transport.send([*heartbeats(1, 2, 1), big_snapshot(2, 1, 256)])
    a.transport.set_peers({2: ("http://127.0.0.1:1",)})
    assert a.transport.peer_ids() == []
    assert not a.snapshot_status


@contextlib.asynccontextmanager
async def linked_pair(
    a: PeerTransport, b: PeerTransport
) -> AsyncIterator[tuple[PeerTransport, PeerTransport]]:
    """Two bare transports (for scenarios run on uvloop itself) that know each other."""
    try:
        await a.start(["http://127.0.0.1:0"])
        await b.start(["http://127.0.0.1:0"])
        peers = {1: tuple(a.bound_urls), 2: tuple(b.bound_urls)}
        a.set_peers(peers)
        b.set_peers(peers)
        yield a, b
    finally:
        await a.stop()
        await b.stop()


def test_latency_has_sub_millisecond_precision_under_uvloop() -> None:
    """uvloop's clock ticks in whole milliseconds: loopback round trips must not read 0 or 1."""

    async def scenario() -> None:
        a = PeerTransport(
            1, 7, lambda m: None, lambda p: None, lambda p, ok: None, ping_interval=0.02
        )
        b = PeerTransport(2, 7, lambda m: None, lambda p: None, lambda p, ok: None)
        async with linked_pair(a, b):
            await eventually(lambda: a.stats(2).latency.samples >= 5, "five pings")
            latency = a.stats(2).latency
        assert 0 < latency.minimum <= latency.maximum
        assert latency.minimum != round(latency.minimum), latency
        assert latency.maximum != round(latency.maximum), latency

    uvloop.run(scenario())


def test_exchange_and_snapshot_under_uvloop() -> None:
    """The daemon runs on uvloop; the rest of this suite runs on the default loop."""

    async def scenario() -> None:
        got: list[object] = []
        status: list[tuple[int, bool]] = []
        a = PeerTransport(1, 7, got.append, lambda p: None, lambda p, ok: status.append((p, ok)))
        b = PeerTransport(2, 7, got.append, lambda p: None, lambda p, ok: None)
        async with linked_pair(a, b):
            a.send([*heartbeats(1, 2, 1000), big_snapshot(2, 1, 1 << 20)])
            b.send(heartbeats(2, 1, 1000))
            await eventually(lambda: len(got) == 2001 and bool(status), "both ways and snapshot")
            assert status == [(2, True)]

    uvloop.run(scenario())


async def test_unencodable_messages_are_dropped_not_fatal(make_member: MemberFactory) -> None:
    a, b = await make_member(1), await make_member(2)
    connect(a, b)
    too_big = 1 << 70
    a.transport.send([Heartbeat(2, 1, too_big, commit=0), *heartbeats(1, 2, 2)])
    a.transport.send([InstallSnapshot(2, 1, too_big, Snapshot())])
    await eventually(lambda: len(b.received) == 2 and bool(a.snapshot_status), "the rest")
    assert a.snapshot_status == [(2, False)]
    assert a.transport.stats(2).failed == 1


async def test_changed_peer_url_moves_the_stream(make_member: MemberFactory) -> None:
    a, old, new = await make_member(1), await make_member(2), await make_member(2)
    a.transport.set_peers({2: (old.url,)})
    a.transport.send(heartbeats(1, 2, 1))
    await eventually(lambda: len(old.received) == 1, "delivery to the old address")
    a.transport.set_peers({2: (new.url,)})
    await eventually(lambda: a.transport.stats(2).connected and 2 in a.unreachable, "redial")
    await eventually(lambda: a.transport.stats(2).connected, "the new stream")
    a.transport.send(heartbeats(1, 2, 1))
    await eventually(lambda: len(new.received) == 1, "delivery to the new address")
    assert len(old.received) == 1


async def test_silent_peer_is_declared_down_by_ping_timeout(make_member: MemberFactory) -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(encode_control(Accept()))
        while await reader.read(65536):
            pass
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        a = await make_member(1, ping_interval=0.05, ping_timeout=0.2, backoff=(1.0, 1.0))
        a.transport.set_peers({2: (f"http://127.0.0.1:{port}",)})
        await eventually(lambda: a.transport.stats(2).connected, "the handshake")
        await eventually(lambda: 2 in a.unreachable, "the ping timeout")
        assert not a.transport.stats(2).connected
    finally:
        server.close()
        await a.transport.stop()
        await server.wait_closed()


def test_a_stream_closed_under_the_pump_is_redialled_under_uvloop() -> None:
    """uvloop refuses writes to a closed transport with RuntimeError: the pump must see the
    closed stream before writing, or the peer's task dies and the peer stays cut off for good
    (found by the kill -9 failover test: a member never redialled a restarted leader)."""

    async def scenario() -> None:
        received: list[Message] = []
        a = PeerTransport(
            1, 7, lambda m: None, lambda p: None, lambda p, ok: None, backoff=(0.01, 0.05)
        )
        b = PeerTransport(2, 7, received.append, lambda p: None, lambda p, ok: None)
        async with linked_pair(a, b):
            await eventually(lambda: a.stats(2).connected, "the stream")
            for attempt in range(3):
                a._peers[2].conn.writer.transport.abort()  # type: ignore[union-attr]
                mark = 100 + attempt
                deadline = time.monotonic() + WAIT
                while not any(m.commit == mark for m in received):
                    if time.monotonic() > deadline:
                        pytest.fail(f"no delivery after abort {attempt}")
                    a.send([Heartbeat(2, 1, 1, commit=mark)])
                    await asyncio.sleep(0.01)

    uvloop.run(scenario())
