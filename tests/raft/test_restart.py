"""Recovery of a node from what its Storage holds: hard state, snapshot and entries."""

from __future__ import annotations

import random

import pytest

from raft import (
    Config,
    ConfState,
    Entry,
    HardState,
    MemoryStorage,
    RaftInvariantError,
    RawNode,
    Role,
    Snapshot,
    SnapshotMeta,
)
from raft.testing import Network


def test_whole_cluster_restart_recovers_state_and_keeps_going() -> None:
    net = Network()
    net.campaign(1)
    for i in range(5):
        net.propose(1, b"%d" % i)
    before = {i: (net.term(i), net.committed(i), net.log_terms(i)) for i in net.nodes}
    for node_id in net.nodes:
        net.restart(node_id)
    assert {i: (net.term(i), net.committed(i), net.log_terms(i)) for i in net.nodes} == before
    assert all(net.role(i) is Role.FOLLOWER for i in net.nodes)
    assert all(applied == [b"%d" % i for i in range(5)] for applied in net.applied.values())
    assert all(net.conf_states[i] == ConfState((1, 2, 3)) for i in net.nodes)
    net.tick_election()
    leader = net.leader()
    assert leader is not None and net.term(leader) > 2
    net.propose(leader, b"5")
    assert all(applied[-1] == b"5" for applied in net.applied.values())


def test_restart_from_snapshot_plus_entries() -> None:
    net = Network()
    net.campaign(1)
    for i in range(6):
        net.propose(1, b"%d" % i)
    net.compact(2, net.committed(2) - 2)
    net.restart(2)
    assert net.applied[2] == [b"%d" % i for i in range(6)]
    assert net.conf_states[2] == ConfState((1, 2, 3))
    assert net.committed(2) == net.committed(1)


def test_restart_remembers_the_vote() -> None:
    net = Network(pre_vote=False)
    net.isolate(1)
    net.campaign(1)
    net.restart(1)
    assert net.term(1) == 2 and net.nodes[1].raft.vote == 1


def test_applied_in_config_skips_redelivery() -> None:
    storage = MemoryStorage()
    storage.apply_snapshot(Snapshot(SnapshotMeta(3, 1, ConfState((1,))), b""))
    storage.append([Entry(1, 4, data=b"a"), Entry(1, 5, data=b"b"), Entry(2, 6, data=b"c")])
    storage.set_hard_state(HardState(2, 1, 6))
    node = RawNode(Config(1, random.Random(0), applied=5), storage)
    rd = node.ready()
    assert [e.data for e in rd.committed_entries] == [b"c"]
    assert rd.hard_state is None and rd.entries == ()
    fresh = RawNode(Config(1, random.Random(0)), storage)
    assert [e.data for e in fresh.ready().committed_entries] == [b"a", b"b", b"c"]


def test_corrupt_hard_state_is_an_invariant_error() -> None:
    storage = MemoryStorage()
    storage.append([Entry(1, 1)])
    storage.set_hard_state(HardState(1, 0, 5))
    with pytest.raises(RaftInvariantError):
        RawNode(Config(1, random.Random(0)), storage)
