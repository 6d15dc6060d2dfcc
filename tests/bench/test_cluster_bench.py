"""The cluster benchmark: its harness against a real 3-member etcd cluster, and its table."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import uvloop

from bench import cluster, harness
from bench.cluster import LEADER, SPREAD, Cell
from bench.load import LoadResult, run_load, spread_connections
from bench.profile import ProfileError, module_shares, report, split_threads
from bench.watch_fanout import FanoutResult, run_fanout

needs_binaries = [
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd binary not installed"),
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed"),
]
KEYS = 20


@pytest.fixture(scope="module")
def etcd3() -> Iterator[harness.Cluster]:
    with harness.running_clusters(["etcd"], 3, harness.TEST_ARGS) as clusters:
        leader = clusters["etcd"].leader()
        harness.preload(leader.port, KEYS, 100)
        yield clusters["etcd"]


class TestAgainstRealClusters:
    pytestmark = needs_binaries

    def test_cluster_has_three_members_and_one_leader(self, etcd3: harness.Cluster) -> None:
        leader = etcd3.leader()
        assert len(etcd3.servers) == 3
        assert len({s.port for s in etcd3.servers}) == 3
        assert len(etcd3.followers(leader)) == 2
        for server in etcd3.servers:
            status, body = harness.request(server.port, "GET", "/v2/members")
            assert status == 200 and body.count(b'"id"') == 3

    def test_spread_load_reaches_every_member(self, etcd3: harness.Cluster) -> None:
        leader = etcd3.leader()
        members = [leader, *etcd3.followers(leader)]
        result = run_load(members, "GET", 3, 1.0, KEYS, 100, members)
        assert result.errors == 0 and result.requests > 50
        assert len(result.member_cpu_s) == 3
        assert all(cpu > 0 for cpu in result.member_cpu_s), result.member_cpu_s
        assert result.server_cpu_s == pytest.approx(sum(result.member_cpu_s))

    @pytest.mark.parametrize("method", ["QGET", "MIX"])
    def test_quorum_and_mixed_loads_succeed_on_a_follower(
        self, etcd3: harness.Cluster, method: str
    ) -> None:
        follower = etcd3.followers(etcd3.leader())[0]
        result = run_load([follower], method, 2, 1.0, KEYS, 100)
        assert result.errors == 0 and result.requests > 20

    def test_fanout_spread_over_members(self, etcd3: harness.Cluster) -> None:
        leader = etcd3.leader()
        result = uvloop.run(run_fanout(leader, 7, 2, spread_over=etcd3.servers))
        assert len(result.round_ms) == 2 and len(result.member_cpu_s) == 3
        for server in etcd3.servers:
            assert harness.store_stats(server.port)["watchers"] == 0

    @pytest.mark.parametrize("impl", ["etcd", "pyetcd"])
    def test_suite_measures_every_cell_and_renders(self, impl: str) -> None:
        suite_cells = cluster.cells([3], [6], [cluster.PUT])
        suite = cluster.run_suite([impl], 1.0, 2, suite_cells, KEYS, harness.TEST_ARGS)
        assert suite.notes[0].startswith(f"{impl} idle CPU"), suite.notes
        assert set(suite.results) == {(cell, impl) for cell in suite_cells}
        assert all(not isinstance(r, str) for r in suite.results.values()), suite.results
        text = cluster.render(suite, "cmd", "machine")
        assert "| PUT | leader | 3 |" in text
        assert "| PUT | spread | 3 (1 per member) |" in text
        assert "| 6 over 3 members |" in text
        assert f"{impl} idle CPU (3 members together)" in text


def test_spread_connections_are_an_equal_share_per_member() -> None:
    assert spread_connections(16, 3) == 15
    assert spread_connections(128, 3) == 126
    assert spread_connections(2, 3) == 3
    assert spread_connections(7, 1) == 7


def test_run_load_rejects_unknown_methods_and_no_target() -> None:
    with pytest.raises(ValueError, match="unsupported method"):
        run_load([], "POST", 1, 1.0, 1, 1)
    with pytest.raises(ValueError, match="no target"):
        run_load([], "GET", 1, 1.0, 1, 1)


def _load(rps: int, leader_cpu: float = 0.25) -> LoadResult:
    return LoadResult(rps, 1.0, 0.5, 2.0, 0, 0.75, 0.1, (leader_cpu, 0.25, 0.25))


def test_render_reports_cpu_ratios_and_targets() -> None:
    suite = cluster.Suite(["etcd", "pyetcd"], duration=1.0, rounds=4)
    put128, get16 = Cell(cluster.PUT, 128, LEADER), Cell(cluster.GET, 16, SPREAD)
    fan = Cell(cluster.FANOUT, 1000, SPREAD)
    suite.results[(put128, "etcd")] = _load(10_000)
    suite.results[(put128, "pyetcd")] = _load(4_000)
    suite.results[(get16, "etcd")] = _load(20_000)
    suite.results[(get16, "pyetcd")] = "a member exited"
    suite.results[(fan, "etcd")] = FanoutResult(1000, (10.0, 20.0), 0.04, 0.02, (0.02, 0.01, 0.01))
    suite.results[(fan, "pyetcd")] = FanoutResult(
        1000, (30.0, 30.0), 0.08, 0.02, (0.04, 0.02, 0.02)
    )
    text = cluster.render(suite, "python -m bench cluster", "test machine")
    assert (
        "| PUT | leader | 128 | 10,000 · 0.50 / 2.0 | 0.75 (leader 0.25) · 75 µs (wrk 0.10) |"
        in text
    )
    assert "| 0.40 | >= 0.5x MISSED |" in text
    assert "| GET (local) | spread | 15 (5 per member) |" in text
    assert "| a member exited |  | — | >= 0.5x |" in text
    assert "| 1000 over 3 members | 15.00 | 20.0 (leader 10.0) / 10.0 | 30.00 |" in text
    assert "| 2.00 |  |" in text


def test_targets_follow_the_issue() -> None:
    for placement in (LEADER, SPREAD):
        assert str(cluster.TARGETS[Cell(cluster.PUT, 1, placement)]) == ">= 0.7x"
        assert str(cluster.TARGETS[Cell(cluster.PUT, 128, placement)]) == ">= 0.5x"
        assert str(cluster.TARGETS[Cell(cluster.QGET, 128, placement)]) == ">= 1.0x"
        assert str(cluster.TARGETS[Cell(cluster.GET, 1, placement)]) == ">= 0.5x"
    assert Cell(cluster.MIX, 128, LEADER) not in cluster.TARGETS


def test_cells_cover_both_placements_and_the_fanout() -> None:
    got = cluster.cells([1, 16], [1000], [cluster.PUT])
    assert got == [
        Cell(cluster.PUT, 1, LEADER),
        Cell(cluster.PUT, 1, SPREAD),
        Cell(cluster.PUT, 16, LEADER),
        Cell(cluster.PUT, 16, SPREAD),
        Cell(cluster.FANOUT, 1000, SPREAD),
    ]


def test_module_shares_group_innermost_python_frames_by_source_file() -> None:
    collapsed = (
        "run (/usr/lib/python3.11/asyncio/events.py);put (/w/raft/core.py) 6\n"
        "run (/usr/lib/python3.11/asyncio/events.py);step (/w/raft/core.py) 2\n"
        "run (/usr/lib/python3.11/asyncio/events.py);dumps (/w/store/codec.py) 1\n"
        "run (/w/store/codec.py);write (libc.so.6);0x7f0 (libc.so.6) 1\n"
        "run (events.py);uv__io_poll (linux.c);epoll_wait (libc.so.6) 50\n"
    )
    assert module_shares(collapsed) == [("raft/core.py", 80.0), ("store/codec.py", 20.0)]
    with pytest.raises(ProfileError):
        module_shares("run (a.py);epoll_wait (libc.so.6) 3\n")


def test_profile_report_puts_the_event_loop_thread_first() -> None:
    collapsed = (
        "thread (11): raft-1_0;_worker (/u/futures/thread.py);fdatasync (/w/raft/aio/fs.py) 30\n"
        "thread (10): MainThread;run (/u/asyncio/events.py);handle (/w/http_api/keys.py) 10\n"
        "thread (10): MainThread;run (/u/asyncio/events.py);epoll_wait (libc.so.6) 99\n"
        "thread (12): uvloop_0;epoll_wait (libc.so.6) 7\n"
    )
    assert list(split_threads(collapsed)) == ["MainThread", "raft-1_0", "uvloop_0"]
    text = report(collapsed, "leader under put 128")
    assert text.startswith("leader under put 128: 40 busy samples\n")
    assert "| MainThread | 10 | 25.0 |" in text
    assert "| raft-1_0 | 30 | 75.0 |" in text
    assert "uvloop_0" not in text
    assert "| `http_api/keys.py` | 100.0 |" in text
    assert "| `aio/fs.py` | 100.0 |" in text
