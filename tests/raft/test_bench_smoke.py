"""The throughput benchmark keeps working (a tiny run; figures live in bench/RESULTS.md)."""

from __future__ import annotations

from bench.raft_bench import codec_rate, run


def test_bench_runs_and_checks_every_node_applied_everything() -> None:
    assert run(proposals=640, batch=64, size=100, nodes=3) > 0
    assert codec_rate(entries=128, batch=64, size=100) > 0
