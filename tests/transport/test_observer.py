"""The transport's observer sees what /metrics reports: bytes each way, round trips, receive
failures, disconnections and snapshot receives (timed)."""

from __future__ import annotations

from http_api.figures import PeerFigures
from tests.transport.conftest import MemberFactory, connect, eventually
from tests.transport.test_exchange import big_snapshot, heartbeats


async def test_streams_and_snapshots_are_observed(make_member: MemberFactory) -> None:
    a, b = await make_member(1, ping_interval=0.05), await make_member(2)
    sent, received = PeerFigures(), PeerFigures()
    a.transport.observer, b.transport.observer = sent, received
    connect(a, b)
    a.transport.send(heartbeats(1, 2, 10))
    await eventually(lambda: len(b.received) == 10, "the heartbeats")
    await eventually(lambda: 2 in sent.round_trip, "a round trip")
    assert sent.sent_bytes[2] > 0 and received.received_bytes[1] > 0
    assert received.received_bytes[1] <= sent.sent_bytes[2] + 64 * 10  # frames, not pings
    a.transport.send([big_snapshot(2, 1, 1 << 16)])
    await eventually(lambda: bool(a.snapshot_status), "the snapshot status")
    await eventually(lambda: 1 in received.receive_seconds, "the snapshot timing")
    assert received.receive_seconds[1].count == 1 and received.receive_inflight[1] == 0
    assert not received.receive_failures


async def test_a_stream_going_down_counts_a_disconnection(make_member: MemberFactory) -> None:
    a, b = await make_member(1, backoff=(0.01, 0.05)), await make_member(2)
    figures = PeerFigures()
    a.transport.observer = figures
    connect(a, b)
    a.transport.send(heartbeats(1, 2, 1))
    await eventually(lambda: a.transport.stats(2).connected, "the stream")
    await b.transport.stop()
    await eventually(lambda: figures.disconnected.get(2) == 1, "the disconnection")
