"""`/metrics`: etcd's v2-relevant Prometheus series, read at scrape time.

Request handlers only bump plain dict counters (`HttpCounters`); the collector turns them, the
store's own counters and the member's `ServerMetrics` into metric families when scraped, so the hot
path never touches a lock. Families are written in name order, as Go's registry writes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from http_api.protocol import KeysServer, ServerMetrics

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


def _by_peer(name: str, doc: str, label: str, values: Mapping[int, int]) -> Iterator[Metric]:
    """A counter vector by member id, present once it has a series (as Go's vectors are)."""
    if not any(values.values()):
        return
    family = CounterMetricFamily(name, doc, labels=[label])
    for peer, count in sorted(values.items()):
        if count:
            family.add_metric([f"{peer:x}"], count)
    yield family


def _split_brain_family(figures: ServerMetrics) -> Metric:
    """pyetcd's own gauge (etcd has none): 1 while the split-brain detector sees a split."""
    return GaugeMetricFamily(
        "pyetcd_server_split_brain",
        "1 while this member sees two clusters or two leaders among its peers, 0 otherwise.",
        value=1 if figures.split_brain else 0,
    )


def _server_families(member_id: int, figures: ServerMetrics) -> Iterator[Metric]:
    yield _split_brain_family(figures)
    yield from _by_peer(
        "etcd_network_peer_sent_failures_total",
        "Messages to a peer that could not be sent.",
        "To",
        figures.peer_send_failures,
    )
    server_id = GaugeMetricFamily(
        "etcd_server_id", "This member's id, as a label; the value is 1.", labels=["server_id"]
    )
    server_id.add_metric([f"{member_id:x}"], 1)
    yield server_id
    yield GaugeMetricFamily(
        "etcd_server_is_leader",
        "1 while this member is the leader, 0 otherwise.",
        value=1 if figures.is_leader else 0,
    )
    changes = CounterMetricFamily(
        "etcd_server_leader_changes_seen_total", "Leader changes this member has seen."
    )
    changes.add_metric([], figures.leader_changes)
    yield changes
    yield GaugeMetricFamily(
        "etcd_server_proposals_applied_total",
        "Raft index of the last entry applied here.",
        value=figures.proposals_applied,
    )
    yield GaugeMetricFamily(
        "etcd_server_proposals_committed_total",
        "Raft index of the last committed entry known here.",
        value=figures.proposals_committed,
    )
    failed = CounterMetricFamily(
        "etcd_server_proposals_failed_total", "Proposals from this member that failed."
    )
    failed.add_metric([], figures.proposals_failed)
    yield failed
    yield GaugeMetricFamily(
        "etcd_server_proposals_pending",
        "Proposals from this member waiting to be applied.",
        value=figures.proposals_pending,
    )


def _plain_counter(name: str, doc: str, samples: Mapping[str, int]) -> str:
    """A counter named as etcd names it, without the `_total` prometheus-client would append."""
    lines = [f"# HELP {name} {doc}\n", f"# TYPE {name} counter\n"]
    lines.extend(f"{name}{labels} {count}\n" for labels, count in samples.items())
    return "".join(lines)


def _snapshot_counter(name: str, doc: str, label: str, values: Mapping[int, int]) -> list[str]:
    samples = {f'{{{label}="{peer:x}"}}': n for peer, n in sorted(values.items()) if n}
    return [_plain_counter(name, doc, samples)] if samples else []


def _families(text: str) -> list[str]:
    """Exposition text cut into one block per family (each starts with its HELP line)."""
    text = text.rstrip("\n")
    if not text:
        return []
    first, *rest = text.split("\n# HELP ")
    return [first + "\n", *(f"# HELP {block}\n" for block in rest)]


def _family_name(block: str) -> str:
    return block.split(" ", 3)[2]


class _Collector:
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
        figures = self._server.server_metrics()
        if figures is not None:
            yield from _server_families(self._server.member_id, figures)


class Metrics:
    """One app's registry (never the process-global one: several members may share a process)."""

    def __init__(self, server: KeysServer) -> None:
        self._server = server
        self.counters = HttpCounters()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(server, self.counters))

    def render(self) -> bytes:
        """The exposition text. Counters that etcd names without `_total` are written here."""
        counters = self.counters
        blocks = _families(generate_latest(self._registry).decode())
        blocks.append(
            _plain_counter(
                "etcd_server_health_failures",
                "The total number of failed health checks",
                {"": counters.health_failures},
            )
        )
        blocks.append(
            _plain_counter(
                "etcd_server_health_success",
                "The total number of successful health checks",
                {"": counters.health_success},
            )
        )
        figures = self._server.server_metrics()
        if figures is not None:
            blocks += _snapshot_counter(
                "etcd_network_snapshot_receive_success",
                "Snapshots received from a peer and handed to raft.",
                "From",
                figures.snapshots_received,
            )
            blocks += _snapshot_counter(
                "etcd_network_snapshot_send_success",
                "Snapshots sent to a peer that it acknowledged.",
                "To",
                figures.snapshots_sent,
            )
            blocks += _snapshot_counter(
                "etcd_network_snapshot_send_failures",
                "Snapshots to a peer that could not be sent.",
                "To",
                figures.snapshot_send_failures,
            )
        return "".join(sorted(blocks, key=_family_name)).encode()
