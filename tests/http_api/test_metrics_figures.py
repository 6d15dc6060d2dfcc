"""The figures behind /metrics come from the work itself: WAL fsyncs and bytes, snapshot saves,
request timings, scrapes."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from http_api.exposition import exposition
from http_api.figures import DiskFigures
from http_api.metrics import _raft_families
from http_api.protocol import ExtraGauge, ServerMetrics
from pyetcd.server import EtcdServer
from raft.aio.fs import OsFS
from raft.aio.snap import SnapshotMeta, SnapStore, StoredSnapshot


def _value(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert found, series
    return float(found[1])


async def _scrape(client: TestClient) -> str:
    return (await (await client.get("/metrics")).read()).decode()


async def test_writes_are_fsynced_timed_and_counted(client: TestClient) -> None:
    before = await _scrape(client)
    for i in range(3):
        assert (await client.put(f"/v2/keys/k{i}?value=v")).status == 201
    after = await _scrape(client)
    for series in ("etcd_disk_wal_fsync_duration_seconds_count", "etcd_disk_wal_write_bytes_total"):
        assert _value(after, series) > _value(before, series)
    assert _value(after, 'etcd_http_successful_duration_seconds_count{method="PUT"}') == 3
    assert _value(after, 'etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"}') == _value(
        after, "etcd_disk_wal_fsync_duration_seconds_count"
    )
    assert _value(after, 'promhttp_metric_handler_requests_total{code="200"}') == 1
    assert _value(after, "promhttp_metric_handler_requests_in_flight") == 1


def test_a_snapshot_save_is_timed(tmp_path) -> None:
    store = SnapStore(OsFS(), str(tmp_path / "snap"))
    figures = DiskFigures()
    store.observer = figures
    store.save(StoredSnapshot(SnapshotMeta(5, 2, (1,)), b"data" * 1000))
    totals = (figures.snap_marshalling.count, figures.snap_fsync.count, figures.snap_total.count)
    assert totals == (1, 1, 1)
    assert figures.snap_total.sum >= figures.snap_fsync.sum + figures.snap_marshalling.sum


async def test_members_report_their_peer_figures(server: EtcdServer) -> None:
    figures = server.server_metrics()
    assert figures is not None
    assert figures.disk is server.disk_figures and figures.peers is server.peer_figures


def test_extra_gauges_from_the_server_are_exported_as_they_come() -> None:
    figures = ServerMetrics(
        is_leader=True, leader_changes=1, proposals_committed=4, proposals_applied=4,
        proposals_pending=0, proposals_failed=0, snapshots_received={}, snapshots_sent={},
        snapshot_send_failures={}, peer_send_failures={},
        extra_gauges=(ExtraGauge("pyetcd_server_split_brain", "1 while split.", 0),),
    )  # fmt: skip
    text = exposition(_raft_families(0x1A, figures)).decode()
    assert "# TYPE pyetcd_server_split_brain gauge\npyetcd_server_split_brain 0\n" in text
    assert "etcd_network_active_peers" not in text, "no peer has ever been connected"
