"""ReadIndex: linearizable reads confirmed by a heartbeat round, without log writes."""

from __future__ import annotations

import pytest

from raft import AppendResponse, NotLeader, ReadState
from raft.testing import Network


def test_read_index_on_the_leader() -> None:
    net = Network()
    net.campaign(1)
    net.propose(1, b"a")
    last_index = net.nodes[1].raft.log.last_index()
    net.nodes[1].read_index(b"r1")
    assert net.read_states[1] == []  # needs a heartbeat round first
    net.stabilize()
    assert net.read_states[1] == [ReadState(net.committed(1), b"r1")]
    assert net.nodes[1].raft.log.last_index() == last_index  # no log entry was written


def test_read_index_on_a_follower_is_forwarded() -> None:
    net = Network()
    net.campaign(1)
    net.propose(1, b"a")
    net.nodes[3].read_index(b"r3")
    net.stabilize()
    assert net.read_states[3] == [ReadState(net.committed(1), b"r3")]
    assert net.read_states[1] == []


def test_new_leader_holds_reads_until_an_entry_of_its_term_commits() -> None:
    net = Network()
    net.ignore(AppendResponse)
    net.campaign(1)
    assert net.leader() == 1 and net.committed(1) < net.nodes[1].raft.log.last_index()
    net.nodes[1].read_index(b"early")
    net.nodes[2].read_index(b"early-2")
    net.stabilize()
    assert net.read_states[1] == net.read_states[2] == []
    net.heal()
    net.tick()
    committed = net.committed(1)
    assert net.nodes[1].raft.log.term(committed) == net.term(1)
    assert net.read_states[1] == [ReadState(committed, b"early")]
    assert net.read_states[2] == [ReadState(committed, b"early-2")]


def test_an_isolated_leader_cannot_confirm_reads() -> None:
    net = Network()
    net.campaign(1)
    net.isolate(1)
    net.nodes[1].read_index(b"r")
    net.tick([1], n=3)
    assert net.read_states[1] == []
    net.heal()
    net.tick([1])  # heartbeats carry the pending ctx and now reach a quorum
    assert [rs.ctx for rs in net.read_states[1]] == [b"r"]


def test_reads_confirmed_together_in_order() -> None:
    net = Network(range(1, 6))
    net.campaign(1)
    for ctx in (b"a", b"b", b"c"):
        net.nodes[1].read_index(ctx)
    net.stabilize()
    assert [rs.ctx for rs in net.read_states[1]] == [b"a", b"b", b"c"]


def test_single_node_reads_immediately() -> None:
    net = Network([1])
    net.campaign(1)
    net.nodes[1].read_index(b"solo")
    net.stabilize()
    assert net.read_states[1] == [ReadState(net.committed(1), b"solo")]


def test_read_without_leader_raises_and_duplicate_ctx_is_counted() -> None:
    net = Network()
    with pytest.raises(NotLeader):
        net.nodes[1].read_index(b"x")
    net.campaign(1)
    net.isolate(1)
    net.nodes[1].read_index(b"dup")
    net.nodes[1].read_index(b"dup")
    assert net.nodes[1].status().counters.dropped_reads == 1
