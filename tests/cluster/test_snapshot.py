"""A follower SIGSTOPped past a compaction catches up by snapshot after SIGCONT."""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.cluster.client import call, read_tree, wait_for
from tests.cluster.conftest import SNAP_WRITES
from tests.cluster.harness import Node, running_cluster
from tests.cluster.load import Writers

pytestmark = pytest.mark.timeout(240)

CATCH_UP_BOUND_S = 20.0
WRITERS = 4
RECEIVED = re.compile(r"^etcd_network_snapshot_receive_success\{[^}]*\} (\S+)$", re.M)


def _snapshots_received(node: Node) -> float:
    """etcd's counter of raft snapshots this member received (0 until the first one)."""
    reply = call(node.client_port, "GET", "/metrics", timeout=5.0)
    assert reply is not None and reply.status == 200, reply
    return sum(float(v) for v in RECEIVED.findall(reply.body.decode("utf-8", "replace")))


def test_paused_follower_catches_up_by_snapshot(impl: str) -> None:
    with running_cluster(impl, 3, ("--snapshot-count", "100")) as cluster:
        leader = cluster.leader()
        paused = next(n for n in cluster.nodes if n is not leader)
        others = [leader.client_port] + [
            n.client_port for n in cluster.nodes if n not in (leader, paused)
        ]
        before = _snapshots_received(paused)
        paused.signal(signal.SIGSTOP)
        writers = Writers("snap", lambda: others, count=WRITERS, max_writes=SNAP_WRITES // WRITERS)
        writers.start()
        writers.join(timeout=120.0)
        expected = read_tree(leader.client_port, "snap", quorum=True)
        assert len(expected) >= len(writers.acked) >= SNAP_WRITES * 0.9, (
            len(writers.acked),
            writers.attempts,
            cluster.logs(),
        )

        resumed_at = time.monotonic()
        paused.signal(signal.SIGCONT)
        wait_for(
            lambda: (
                True if read_tree(paused.client_port, "snap", quorum=False) == expected else None
            ),
            CATCH_UP_BOUND_S,
            f"{paused.name} to serve the latest data locally",
            interval=0.05,
        )
        took = time.monotonic() - resumed_at
        print(f"\n{impl}: {len(expected)} keys; paused follower caught up in {took:.3f}s")
        assert _snapshots_received(paused) > before, f"no snapshot received\n{paused.log_tail()}"
