"""`/metrics`: etcd 3.4's series that mean something for a v2 member, under etcd's names, types,
labels and buckets, on a prometheus-client registry.

Request handlers and raft/aio only bump plain figures (`HttpCounters`, `http_api.figures`); a
collector turns them, the store's counters and the member's `ServerMetrics` into metric families
at scrape time, so the hot path never takes a lock. prometheus-client's process, platform and GC
collectors stand in for Go's `process_*` and `go_*`. The text is written as Go's registry
writes it (`http_api.exposition`). Extra gauges from the server
(`ServerMetrics.extra_gauges`) are exported as they come.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

from http_api.exposition import exposition, go_float
from http_api.figures import HTTP_BUCKETS, DiskFigures, Histogram, PeerFigures

if TYPE_CHECKING:
    from http_api.protocol import KeysServer, ServerMetrics

__all__ = [
    "CONTENT_TYPE",
    "ETCD_VERSION",
    "HttpCounters",
    "Metrics",
    "accepts_gzip",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ETCD_VERSION = "3.4.23"


class HttpCounters:
    """`etcd_http_*`, `etcd_server_health_*` and scrape counts, by label values."""

    __slots__ = (
        "failed",
        "health_failures",
        "health_success",
        "received",
        "scrapes",
        "scrapes_in_flight",
        "successful",
    )

    def __init__(self) -> None:
        self.received: dict[str, int] = {}
        self.failed: dict[tuple[str, str], int] = {}  # by (code, method), Go's label order
        self.successful: dict[str, Histogram] = {}
        self.health_success = 0
        self.health_failures = 0
        self.scrapes = 0
        self.scrapes_in_flight = 0

    def count_received(self, method: str) -> None:
        self.received[method] = self.received.get(method, 0) + 1

    def count_failed(self, method: str, status: int) -> None:
        key = (str(status), method)
        self.failed[key] = self.failed.get(key, 0) + 1

    def count_success(self, method: str, started: float) -> None:
        """A request (not a watch) answered without error, `started` by `time.perf_counter`."""
        histogram = self.successful.get(method)
        if histogram is None:
            histogram = self.successful[method] = Histogram(HTTP_BUCKETS)
        histogram.observe(time.perf_counter() - started)


def accepts_gzip(accept_encoding: str) -> bool:
    """promhttp's test of the (first) `Accept-Encoding` header."""
    parts = (part.strip() for part in accept_encoding.split(","))
    return any(part == "gzip" or part.startswith("gzip;") for part in parts)


def _counter(name: str, doc: str, value: float) -> Metric:
    family = Metric(name, doc, "counter")
    family.add_sample(name, {}, value)
    return family


def _counter_vec(name: str, doc: str, label: str, values: Mapping[str, float]) -> Metric:
    family = Metric(name, doc, "counter")
    for label_value, count in values.items():
        family.add_sample(name, {label: label_value}, count)
    return family


def _gauge_vec(name: str, doc: str, label: str, values: Mapping[str, float]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for label_value, value in values.items():
        family.add_metric([label_value], value)
    return family


def _histogram(
    name: str, doc: str, series: Mapping[str, Histogram], label: str | None = None
) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=[label] if label else None)
    for label_value, histogram in series.items():
        buckets = [(go_float(bound), count) for bound, count in histogram.cumulative()]
        family.add_metric([label_value] if label else [], buckets, histogram.sum)
    return family


def _by_peer(values: Mapping[int, float]) -> dict[str, float]:
    return {f"{peer:x}": value for peer, value in values.items()}


def _store_families(server: KeysServer) -> Iterator[Metric]:
    store = server.store.metrics()
    yield _counter("etcd_debugging_store_expires_total", "Total number of expired keys.",
                   store.expires)  # fmt: skip
    yield _counter_vec(
        "etcd_debugging_store_reads_total",
        "Total number of reads action by (get/getRecursive), local to this member.",
        "action",
        {action: n for action, n in store.reads if n},  # Go's series exist once counted
    )
    yield _counter(
        "etcd_debugging_store_watch_requests_total",
        "Total number of incoming watch requests (new or reestablished).",
        store.watch_requests,
    )
    yield GaugeMetricFamily(
        "etcd_debugging_store_watchers", "Count of currently active watchers.", store.watchers
    )
    yield _counter_vec(
        "etcd_debugging_store_writes_total",
        "Total number of writes (e.g. set/compareAndDelete) seen by this member.",
        "action",
        {action: n for action, n in store.writes if n},
    )


def _http_families(counters: HttpCounters) -> Iterator[Metric]:
    failed = Metric(
        "etcd_http_failed_total",
        "Counter of handle failures of requests (non-watches), by method (GET/PUT etc.) "
        "and code (400, 500 etc.).",
        "counter",
    )
    for (code, method), count in counters.failed.items():
        failed.add_sample(failed.name, {"code": code, "method": method}, count)
    yield failed
    yield _counter_vec(
        "etcd_http_received_total",
        "Counter of requests received into the system (successfully parsed and authd).",
        "method",
        counters.received,
    )
    yield _histogram(
        "etcd_http_successful_duration_seconds",
        "Bucketed histogram of processing time (s) of successfully handled requests "
        "(non-watches), by method (GET/PUT etc.).",
        counters.successful,
        "method",
    )
    health = (
        ("failures", "failed", counters.health_failures),
        ("success", "successful", counters.health_success),
    )
    for suffix, word, count in health:
        yield _counter(f"etcd_server_health_{suffix}", f"The total number of {word} health checks",
                       count)  # fmt: skip
    yield GaugeMetricFamily(
        "promhttp_metric_handler_requests_in_flight",
        "Current number of scrapes being served.",
        counters.scrapes_in_flight,
    )
    yield _counter_vec(
        "promhttp_metric_handler_requests_total",
        "Total number of scrapes by HTTP status code.",
        "code",
        {"200": counters.scrapes, "500": 0, "503": 0},
    )


def _member_families(server: KeysServer) -> Iterator[Metric]:
    """What any member reports, raft node or not."""
    yield GaugeMetricFamily(
        "etcd_server_has_leader",
        "Whether or not a leader exists. 1 is existence, 0 is not.",
        1 if server.has_leader() else 0,
    )
    yield _gauge_vec(
        "etcd_server_version",
        "Which version is running. 1 for 'server_version' label with current version.",
        "server_version",
        {ETCD_VERSION: 1},
    )
    yield _gauge_vec(
        "etcd_server_id",
        "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
        "server_id",
        {f"{server.member_id:x}": 1},
    )
    version = server.cluster_version()
    if version is not None:
        yield _gauge_vec(
            "etcd_cluster_version",
            "Which version is running. 1 for 'cluster_version' label with current cluster version",
            "cluster_version",
            {version.rsplit(".", 1)[0]: 1},
        )
    yield GaugeMetricFamily(
        "etcd_server_is_learner",
        "Whether or not this member is a learner. 1 if is, 0 otherwise.",
        0,  # learners are added through the v3 API only
    )


def _raft_families(member_id: int, figures: ServerMetrics) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "etcd_server_is_leader",
        "Whether or not this member is a leader. 1 if is, 0 otherwise.",
        1 if figures.is_leader else 0,
    )
    yield _counter("etcd_server_leader_changes_seen_total", "The number of leader changes seen.",
                   figures.leader_changes)  # fmt: skip
    yield GaugeMetricFamily(
        "etcd_server_proposals_applied_total",
        "The total number of consensus proposals applied.",
        figures.proposals_applied,
    )
    yield GaugeMetricFamily(
        "etcd_server_proposals_committed_total",
        "The total number of consensus proposals committed.",
        figures.proposals_committed,
    )
    yield _counter(
        "etcd_server_proposals_failed_total",
        "The total number of failed proposals seen.",
        figures.proposals_failed,
    )
    yield GaugeMetricFamily(
        "etcd_server_proposals_pending",
        "The current number of pending proposals to commit.",
        figures.proposals_pending,
    )
    yield _counter(
        "etcd_server_heartbeat_send_failures_total",
        "The total number of leader heartbeat send failures (likely overloaded from slow disk).",
        figures.heartbeat_send_failures,
    )
    yield _counter(
        "etcd_server_slow_apply_total",
        "The total number of slow apply requests (likely overloaded from slow disk).",
        figures.slow_applies,
    )
    yield _counter(
        "etcd_server_slow_read_indexes_total",
        "The total number of pending read indexes not in sync with leader's or timed out read "
        "index requests.",
        figures.slow_read_indexes,
    )
    yield _counter("etcd_server_read_indexes_failed_total",
                   "The total number of failed read indexes seen.",
                   figures.read_indexes_failed)  # fmt: skip
    yield GaugeMetricFamily(
        "etcd_server_snapshot_apply_in_progress_total",
        "1 if the server is applying the incoming snapshot. 0 if none.",
        1 if figures.snapshot_apply_in_progress else 0,
    )
    local = f"{member_id:x}"
    active = GaugeMetricFamily(
        "etcd_network_active_peers",
        "The current number of active peer connections.",
        labels=["Local", "Remote"],
    )
    for peer, up in figures.peers_connected.items():
        active.add_metric([local, f"{peer:x}"], 1 if up else 0)
    yield active
    if figures.disk is not None:
        yield from _disk_families(figures.disk)
    if figures.peers is not None:
        yield from _peer_families(local, figures.peers)
    yield from _snapshot_families(figures)
    for gauge in figures.extra_gauges:
        yield GaugeMetricFamily(gauge.name, gauge.documentation, gauge.value)


def _disk_families(disk: DiskFigures) -> Iterator[Metric]:
    yield _histogram(
        "etcd_disk_wal_fsync_duration_seconds",
        "The latency distributions of fsync called by WAL.",
        {"": disk.wal_fsync},
    )
    yield GaugeMetricFamily(
        "etcd_disk_wal_write_bytes_total", "Total number of bytes written in WAL.", disk.wal_written
    )
    yield _histogram(
        "etcd_debugging_snap_save_marshalling_duration_seconds",
        "The marshalling cost distributions of save called by snapshot.",
        {"": disk.snap_marshalling},
    )
    yield _histogram(
        "etcd_debugging_snap_save_total_duration_seconds",
        "The total latency distributions of save called by snapshot.",
        {"": disk.snap_total},
    )
    yield _histogram(
        "etcd_snap_fsync_duration_seconds",
        "The latency distributions of fsync called by snap.",
        {"": disk.snap_fsync},
    )


def _peer_counters(rows: Iterable[tuple[str, str, str, Mapping[int, int]]]) -> Iterator[Metric]:
    """Counter vectors by one peer label: (name, help, label, values by peer id)."""
    for name, doc, label, values in rows:
        yield _counter_vec(name, doc, label, _by_peer(values))


def _peer_families(local: str, peers: PeerFigures) -> Iterator[Metric]:
    yield from _peer_counters(
        (
            ("etcd_network_peer_sent_bytes_total", "The total number of bytes sent to peers.",
             "To", peers.sent_bytes),
            ("etcd_network_peer_received_bytes_total",
             "The total number of bytes received from peers.", "From", peers.received_bytes),
            ("etcd_network_peer_received_failures_total",
             "The total number of receive failures from peers.", "From",
             peers.received_failures),
        )
    )  # fmt: skip
    yield _histogram(
        "etcd_network_peer_round_trip_time_seconds",
        "Round-Trip-Time histogram between peers",
        {f"{peer:x}": histogram for peer, histogram in peers.round_trip.items()},
        "To",
    )
    disconnected = Metric(
        "etcd_network_disconnected_peers_total",
        "The total number of disconnected peers.",
        "counter",
    )
    for peer, count in peers.disconnected.items():
        disconnected.add_sample(disconnected.name, {"Local": local, "Remote": f"{peer:x}"}, count)
    yield disconnected
    yield from _peer_counters(
        (
            ("etcd_network_snapshot_receive_failures",
             "Total number of snapshot receive failures", "From", peers.receive_failures),
        )
    )  # fmt: skip
    for direction, label, inflight, seconds in (
        ("send", "To", peers.send_inflight, peers.send_seconds),
        ("receive", "From", peers.receive_inflight, peers.receive_seconds),
    ):
        yield _gauge_vec(
            f"etcd_network_snapshot_{direction}_inflights_total",
            f"Total number of inflight snapshot {direction}s",
            label,
            _by_peer(inflight),
        )
        yield _histogram(
            f"etcd_network_snapshot_{direction}_total_duration_seconds",
            f"Total latency distributions of v3 snapshot {direction}s",
            {f"{peer:x}": histogram for peer, histogram in seconds.items()},
            label,
        )


def _snapshot_families(figures: ServerMetrics) -> Iterator[Metric]:
    failures = {p: n for p, n in figures.peer_send_failures.items() if n}
    yield from _peer_counters(
        (
            ("etcd_network_peer_sent_failures_total",
             "The total number of send failures from peers.", "To", failures),
            ("etcd_network_snapshot_receive_success",
             "Total number of successful snapshot receives", "From", figures.snapshots_received),
            ("etcd_network_snapshot_send_success", "Total number of successful snapshot sends",
             "To", figures.snapshots_sent),
            ("etcd_network_snapshot_send_failures", "Total number of snapshot send failures",
             "To", figures.snapshot_send_failures),
        )
    )  # fmt: skip


def _os_families() -> Iterator[Metric]:
    """etcd's own `os_fd_*` (read at scrape time, where etcd samples every ten minutes) and the
    address-space limit Go's process collector reports beside prometheus-client's."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield GaugeMetricFamily("os_fd_limit", "The file descriptor limit.", soft)
    with contextlib.suppress(OSError):
        used = len(os.listdir("/proc/self/fd"))
        yield GaugeMetricFamily("os_fd_used", "The number of used file descriptors.", used)
    address_space, _ = resource.getrlimit(resource.RLIMIT_AS)
    yield GaugeMetricFamily(
        "process_virtual_memory_max_bytes",
        "Maximum amount of virtual memory available in bytes.",
        float(2**64) if address_space == resource.RLIM_INFINITY else address_space,
    )


class _Collector:
    def __init__(self, server: KeysServer, counters: HttpCounters) -> None:
        self._server = server
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        server = self._server
        yield from _store_families(server)
        yield from _http_families(self._counters)
        yield from _member_families(server)
        figures = server.server_metrics()
        if figures is not None:
            yield from _raft_families(server.member_id, figures)
        yield from _os_families()


class Metrics:
    """One app's registry (never the process-global one: several members may share a process)."""

    def __init__(self, server: KeysServer) -> None:
        self.counters = HttpCounters()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(server, self.counters))
        ProcessCollector(registry=self._registry)
        PlatformCollector(registry=self._registry)
        GCCollector(registry=self._registry)

    def render(self) -> bytes:
        counters = self.counters
        counters.scrapes_in_flight += 1
        try:
            return exposition(self._registry.collect())
        finally:
            counters.scrapes_in_flight -= 1
            counters.scrapes += 1
