"""Snapshots: InstallSnapshot to followers behind a compaction, and follower restore."""

from __future__ import annotations

from raft import (
    AppendEntries,
    AppendResponse,
    ConfState,
    Entry,
    InstallSnapshot,
    ProgressState,
    Snapshot,
    SnapshotMeta,
)
from raft.testing import Network


def lagging_cluster() -> Network:
    """Leader 1 has compacted past everything node 3 holds."""
    net = Network()
    net.campaign(1)
    net.isolate(3)
    for i in range(10):
        net.propose(1, b"%d" % i)
    net.compact(1, net.nodes[1].raft.log.applied)
    return net


def test_follower_behind_compaction_receives_a_snapshot() -> None:
    net = lagging_cluster()
    snapshot_index = net.storages[1].snapshot().meta.index
    net.heal()
    net.tick()
    assert net.storages[3].snapshot().meta.index == snapshot_index
    assert net.applied[3] == net.applied[1] == [b"%d" % i for i in range(10)]
    assert net.conf_states[3] == ConfState((1, 2, 3))
    net.propose(1, b"after")
    assert net.applied[3][-1] == b"after"
    assert net.nodes[1].status().progress[3].state is ProgressState.REPLICATE


def test_failed_snapshot_is_retried_after_report_snapshot() -> None:
    net = lagging_cluster()
    net.heal()
    net.ignore(InstallSnapshot)
    net.tick()
    # The network reported the undelivered snapshot, as a transport must.
    progress = net.nodes[1].status().progress[3]
    assert progress.state is ProgressState.PROBE and progress.paused
    net.heal()
    net.tick()
    assert net.applied[3] == net.applied[1]


def test_report_unreachable_moves_a_replicating_follower_to_probe() -> None:
    net = Network()
    net.campaign(1)
    assert net.nodes[1].status().progress[2].state is ProgressState.REPLICATE
    net.nodes[1].report_unreachable(2)
    assert net.nodes[1].status().progress[2].state is ProgressState.PROBE
    net.propose(1, b"x")
    assert net.applied[2] == [b"x"]


def test_follower_ignores_a_snapshot_it_has_already_committed() -> None:
    net = Network()
    net.campaign(1)
    committed = net.committed(2)
    old = Snapshot(SnapshotMeta(committed - 1, 1, ConfState((1, 2, 3))), b"\x90")
    net.send(InstallSnapshot(2, 1, net.term(1), old))
    assert net.storages[2].snapshot().is_empty and net.committed(2) == committed


def test_snapshot_matching_the_log_only_fast_forwards_the_commit() -> None:
    net = Network()
    net.campaign(1)
    node = net.nodes[2]
    last = node.raft.log.last_index()
    # Node 2 holds an entry of term 2 but has not learnt that it is committed.
    node.step(AppendEntries(2, 1, 2, last, 2, (Entry(2, last + 1, data=b"a"),), last))
    assert net.committed(2) == last
    snapshot = Snapshot(SnapshotMeta(last + 1, 2, ConfState((1, 2, 3))), b"\x90")
    node.step(InstallSnapshot(2, 1, 2, snapshot))
    rd = node.ready()
    assert rd.snapshot is None  # no restore was needed
    assert net.committed(2) == last + 1
    assert [e.data for e in rd.committed_entries] == [b"a"]
    assert rd.messages[-1] == AppendResponse(1, 2, 2, last + 1)
