"""`/metrics`: etcd's v2-relevant Prometheus series, read at scrape time.

Request handlers only bump plain dict counters (`HttpCounters`); the collector turns them and the
store's own counters into metric families when scraped, so the hot path never touches a lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from http_api.protocol import KeysServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HttpCounters:
    """`etcd_http_*` and `etcd_server_health_*` counts, by label values."""

    __slots__ = ("failed", "health_failures", "health_success", "received")

    def __init__(self) -> None:
        self.received: dict[str, int] = {}
        self.failed: dict[tuple[str, str], int] = {}  # by (code, method), Go's label order
        self.health_success = 0
        self.health_failures = 0

    def count_received(self, method: str) -> None:
        self.received[method] = self.received.get(method, 0) + 1

    def count_failed(self, method: str, status: int) -> None:
        key = (str(status), method)
        self.failed[key] = self.failed.get(key, 0) + 1


class _Collector:
    """Families in name order, as Go's registry writes them."""

    def __init__(self, server: KeysServer, counters: HttpCounters) -> None:
        self._server = server
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        store = self._server.store.metrics()
        expires = CounterMetricFamily(
            "etcd_debugging_store_expires_total", "Total number of expired keys."
        )
        expires.add_metric([], store.expires)
        yield expires
        reads = CounterMetricFamily(
            "etcd_debugging_store_reads_total",
            "Total number of reads action by (get/getRecursive), local to this member.",
            labels=["action"],
        )
        for action, count in store.reads:
            reads.add_metric([action], count)
        yield reads
        requests = CounterMetricFamily(
            "etcd_debugging_store_watch_requests_total",
            "Total number of incoming watch requests (new or reestablished).",
        )
        requests.add_metric([], store.watch_requests)
        yield requests
        yield GaugeMetricFamily(
            "etcd_debugging_store_watchers",
            "Count of currently active watchers.",
            value=store.watchers,
        )
        writes = CounterMetricFamily(
            "etcd_debugging_store_writes_total",
            "Total number of writes (e.g. set/compareAndDelete) seen by this member.",
            labels=["action"],
        )
        for action, count in store.writes:
            writes.add_metric([action], count)
        yield writes
        failed = CounterMetricFamily(
            "etcd_http_failed_total",
            "Counter of handle failures of requests (non-watches), by method (GET/PUT etc.) "
            "and code (400, 500 etc.).",
            labels=["code", "method"],
        )
        for (code, method), count in sorted(self._counters.failed.items()):
            failed.add_metric([code, method], count)
        yield failed
        received = CounterMetricFamily(
            "etcd_http_received_total",
            "Counter of requests received into the system (successfully parsed and authd).",
            labels=["method"],
        )
        for method, count in sorted(self._counters.received.items()):
            received.add_metric([method], count)
        yield received
        yield GaugeMetricFamily(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            value=1 if self._server.has_leader() else 0,
        )


class Metrics:
    """One app's registry (never the process-global one: several members may share a process)."""

    def __init__(self, server: KeysServer) -> None:
        self.counters = HttpCounters()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(server, self.counters))

    def render(self) -> bytes:
        """The exposition text. The health counters are written by hand: prometheus-client
        would name them `..._total`, etcd does not."""
        counters = self.counters
        health = (
            "# HELP etcd_server_health_failures The total number of failed health checks\n"
            "# TYPE etcd_server_health_failures counter\n"
            f"etcd_server_health_failures {counters.health_failures}\n"
            "# HELP etcd_server_health_success The total number of successful health checks\n"
            "# TYPE etcd_server_health_success counter\n"
            f"etcd_server_health_success {counters.health_success}\n"
        )
        return generate_latest(self._registry) + health.encode()
