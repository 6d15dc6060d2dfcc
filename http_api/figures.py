"""Plain, lock-free figures behind `/metrics`: written by one thread each (event loop or disk
thread), read by the scrape, which turns them into Prometheus families (`http_api.metrics`).

pyetcd hands `DiskFigures` and `PeerFigures` to the WAL, the snapshot store and the peer
transport as their observers (`raft.aio.observe`), so that raft/aio stays free of Prometheus.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

__all__ = ["DiskFigures", "Histogram", "PeerFigures", "exponential"]


def exponential(start: float, factor: float, count: int) -> tuple[float, ...]:
    """Go's `prometheus.ExponentialBuckets`."""
    return tuple(start * factor**i for i in range(count))


# etcd 3.4's buckets, by the metric that uses them.
WAL_FSYNC_BUCKETS = exponential(0.001, 2, 14)
SNAP_BUCKETS = exponential(0.001, 2, 14)
HTTP_BUCKETS = exponential(0.0005, 2, 13)
RTT_BUCKETS = exponential(0.0001, 2, 16)
SNAPSHOT_TRANSFER_BUCKETS = exponential(0.1, 2, 10)


class Histogram:
    """Go's cumulative histogram, for one writer: `observe` is a bisect and three additions."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> Iterator[tuple[float, int]]:
        """(upper bound, observations at most that), ending with +Inf."""
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            yield bound, running


class DiskFigures:
    """`etcd_disk_wal_*` and the v2 snapshot file figures (`etcd_snap_fsync_*`,
    `etcd_debugging_snap_save_*`), fed by the disk thread."""

    def __init__(self) -> None:
        self.wal_fsync = Histogram(WAL_FSYNC_BUCKETS)
        self.wal_written = 0
        self.snap_marshalling = Histogram(SNAP_BUCKETS)
        self.snap_fsync = Histogram(SNAP_BUCKETS)
        self.snap_total = Histogram(SNAP_BUCKETS)

    def wal_synced(self, seconds: float) -> None:
        self.wal_fsync.observe(seconds)

    def wal_appended(self, nbytes: int) -> None:
        self.wal_written += nbytes

    def snapshot_saved(self, marshalling: float, fsync: float, total: float) -> None:
        self.snap_marshalling.observe(marshalling)
        self.snap_fsync.observe(fsync)
        self.snap_total.observe(total)


class PeerFigures:
    """`etcd_network_peer_*` and `etcd_network_snapshot_*` by peer id, fed on the event loop
    by the peer transport (streams, snapshots received) and the member (snapshots sent)."""

    def __init__(self) -> None:
        self.sent_bytes: dict[int, int] = {}
        self.received_bytes: dict[int, int] = {}
        self.received_failures: dict[int, int] = {}
        self.round_trip: dict[int, Histogram] = {}
        self.disconnected: dict[int, int] = {}
        self.send_inflight: dict[int, int] = {}
        self.send_seconds: dict[int, Histogram] = {}
        self.receive_inflight: dict[int, int] = {}
        self.receive_seconds: dict[int, Histogram] = {}
        self.receive_failures: dict[int, int] = {}

    def peer_sent(self, peer: int, nbytes: int) -> None:
        self.sent_bytes[peer] = self.sent_bytes.get(peer, 0) + nbytes

    def peer_received(self, peer: int, nbytes: int) -> None:
        self.received_bytes[peer] = self.received_bytes.get(peer, 0) + nbytes

    def peer_receive_failed(self, peer: int) -> None:
        self.received_failures[peer] = self.received_failures.get(peer, 0) + 1

    def peer_round_trip(self, peer: int, seconds: float) -> None:
        _observe(self.round_trip, peer, seconds, RTT_BUCKETS)

    def peer_disconnected(self, peer: int) -> None:
        self.disconnected[peer] = self.disconnected.get(peer, 0) + 1

    def snapshot_send_started(self, peer: int) -> None:
        self.send_inflight[peer] = self.send_inflight.get(peer, 0) + 1

    def snapshot_send_ended(self, peer: int, ok: bool, seconds: float) -> None:
        """As etcd: the duration of successful sends only (failures are counted apart)."""
        self.send_inflight[peer] = max(0, self.send_inflight.get(peer, 0) - 1)
        if ok:
            _observe(self.send_seconds, peer, seconds, SNAPSHOT_TRANSFER_BUCKETS)

    def snapshot_receive_started(self, peer: int) -> None:
        self.receive_inflight[peer] = self.receive_inflight.get(peer, 0) + 1

    def snapshot_receive_ended(self, peer: int, ok: bool, seconds: float) -> None:
        self.receive_inflight[peer] = max(0, self.receive_inflight.get(peer, 0) - 1)
        if ok:
            _observe(self.receive_seconds, peer, seconds, SNAPSHOT_TRANSFER_BUCKETS)
        else:
            self.receive_failures[peer] = self.receive_failures.get(peer, 0) + 1


def _observe(
    series: dict[int, Histogram], peer: int, seconds: float, bounds: tuple[float, ...]
) -> None:
    histogram = series.get(peer)
    if histogram is None:
        histogram = series[peer] = Histogram(bounds)
    histogram.observe(seconds)
