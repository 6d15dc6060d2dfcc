"""One-second runs of the real load generator and fan-out client against real etcd."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import uvloop

from bench import api, harness
from bench.harness import Server
from bench.load import run_wrk
from bench.watch_fanout import FanoutResult, run_fanout

pytestmark = [
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd binary not installed"),
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed"),
]
KEYS = 20


@pytest.fixture(scope="module")
def etcd() -> Iterator[Server]:
    server = harness.start_server("etcd", harness.TEST_ARGS)
    try:
        harness.preload(server.port, KEYS, 100)
        yield server
    finally:
        server.stop()


def test_preload_wrote_every_key(etcd: Server) -> None:
    status, body = harness.request(etcd.port, "GET", f"{harness.KEY_PREFIX}{KEYS - 1}")
    assert status == 200
    assert b'"value":"' + b"x" * 100 + b'"' in body


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_wrk_run_measures_requests_latency_and_cpu(etcd: Server, method: str) -> None:
    result = run_wrk(etcd, method, 2, 1.0, KEYS, 100)
    assert result.errors == 0
    assert result.requests > 50
    assert 0.9 < result.seconds < 3
    assert 0 < result.p50_ms <= result.p99_ms
    assert result.server_cpu_s > 0


def test_wrk_counts_error_statuses(etcd: Server) -> None:
    status, _ = harness.request(etcd.port, "DELETE", f"{harness.KEY_PREFIX}0")
    assert status == 200
    try:
        result = run_wrk(etcd, "GET", 1, 1.0, 1, 100)
    finally:
        harness.preload(etcd.port, KEYS, 100)
    assert result.requests > 0
    assert result.errors == result.requests


def test_fanout_rounds_reach_every_watcher(etcd: Server) -> None:
    result = uvloop.run(run_fanout(etcd, 5, 3))
    assert len(result.round_ms) == 3
    assert all(0 < ms < 5000 for ms in result.round_ms)
    assert harness.store_stats(etcd.port)["watchers"] == 0


def test_suite_runs_every_workload_and_renders() -> None:
    suite = api.run_suite(
        ["etcd"], 1.0, 6, api.cells(connections=[1], watchers=[3]), KEYS, harness.TEST_ARGS
    )
    assert all(not isinstance(result, str) for result in suite.results.values()), suite.results
    fanout = suite.results[(api.Cell(api.FANOUT, 3), "etcd")]
    assert isinstance(fanout, FanoutResult)
    assert len(fanout.round_ms) == 6
    text = api.render(suite, "cmd", harness.machine_note())
    assert "| etcd req/s · p50 / p99 ms |" in text
    assert "pyetcd CPU" not in text
    assert "| GET (local) | 1 |" in text
    assert "| PUT | 1 |" in text
    assert "| 3 |" in text
    assert "etcd idle CPU" in text
