"""Single-server membership changes: effective on apply, one at a time."""

from __future__ import annotations

import pytest

from raft import (
    AppendResponse,
    ConfChange,
    ConfChangeKind,
    ConfigError,
    ConfState,
    HeartbeatResponse,
    ProposalDropped,
    Role,
)
from raft.testing import Network

ADD, REMOVE, UPDATE = ConfChangeKind.ADD, ConfChangeKind.REMOVE, ConfChangeKind.UPDATE


def test_add_a_node_that_catches_up_from_the_log() -> None:
    net = Network()
    net.campaign(1)
    net.propose(1, b"before")
    net.add_node(4)
    net.propose_conf_change(1, ConfChange(ADD, 4, b"member-4"))
    assert all(net.conf_states[i] == ConfState((1, 2, 3, 4)) for i in net.nodes)
    net.propose(1, b"after")
    assert net.applied[4] == [b"before", b"after"]
    assert net.log_terms(4) == net.log_terms(1)


def test_add_a_node_under_load() -> None:
    net = Network()
    net.campaign(1)
    net.add_node(4)
    node = net.nodes[1]
    for i in range(60):
        node.propose(b"%d" % i)
        if i == 20:
            node.propose_conf_change(ConfChange(ADD, 4))
        if i % 7 == 0:
            net.stabilize()
    net.stabilize()
    expected = [b"%d" % i for i in range(60)]
    assert all(applied == expected for applied in net.applied.values())
    # With four voters, a quorum is three: two down nodes stall commits.
    net.isolate(3)
    net.isolate(4)
    net.propose(1, b"stalled")
    assert net.applied[1] == expected


def test_remove_a_follower() -> None:
    net = Network()
    net.campaign(1)
    net.propose_conf_change(1, ConfChange(REMOVE, 3))
    assert net.conf_states[1] == ConfState((1, 2))
    assert 3 not in net.nodes[1].status().progress
    net.isolate(3)
    net.propose(1, b"two-of-two")
    assert net.applied[2] == [b"two-of-two"]
    # The removed node never campaigns, and the leader ignores its responses.
    net.tick_election([3])
    assert net.role(3) is Role.FOLLOWER
    net.heal()
    before = net.nodes[1].status().counters.unknown_sender
    net.send(HeartbeatResponse(1, 3, net.term(1)))
    assert net.nodes[1].status().counters.unknown_sender == before + 1


def test_removing_the_leader_makes_it_step_down() -> None:
    net = Network()
    net.campaign(1)
    net.propose_conf_change(1, ConfChange(REMOVE, 1))
    assert net.role(1) is Role.FOLLOWER
    assert net.conf_states[2] == ConfState((2, 3))
    net.tick_election()
    leader = net.leader()
    assert leader in (2, 3)
    net.propose(leader, b"x")
    assert net.applied[2] == net.applied[3] == [b"x"]
    for _ in range(3):
        net.tick_election([1])
    assert net.leader() == leader


def test_one_pending_conf_change_at_a_time() -> None:
    net = Network()
    net.campaign(1)
    net.add_node(4)
    net.add_node(5)
    node = net.nodes[1]
    node.propose_conf_change(ConfChange(ADD, 4))
    with pytest.raises(ProposalDropped):
        node.propose_conf_change(ConfChange(ADD, 5))
    net.stabilize()
    net.propose_conf_change(1, ConfChange(ADD, 5))
    assert net.conf_states[5] == ConfState((1, 2, 3, 4, 5))


def test_a_new_leader_waits_for_possibly_pending_conf_changes() -> None:
    net = Network(check_quorum=False)
    net.campaign(1)
    net.add_node(4)
    net.add_node(5)
    net.ignore(AppendResponse)
    net.propose_conf_change(1, ConfChange(ADD, 4))  # replicated, never committed
    net.campaign(2)
    assert net.leader() == 2
    # Node 2's log may end in an unapplied conf change: it must not stack another one.
    with pytest.raises(ProposalDropped):
        net.nodes[2].propose_conf_change(ConfChange(ADD, 5))
    net.heal()
    net.tick()
    assert net.conf_states[2] == ConfState((1, 2, 3, 4))
    net.propose_conf_change(2, ConfChange(ADD, 5))
    assert net.conf_states[5] == ConfState((1, 2, 3, 4, 5))


def test_update_keeps_the_voters() -> None:
    net = Network()
    net.campaign(1)
    net.propose_conf_change(1, ConfChange(UPDATE, 2, b"new-urls"))
    assert net.conf_states[1] == ConfState((1, 2, 3))


def test_invalid_conf_changes_raise() -> None:
    net = Network([1])
    net.campaign(1)
    with pytest.raises(ConfigError):
        net.nodes[1].propose_conf_change(ConfChange(ADD, 0))
    with pytest.raises(ConfigError):
        net.nodes[1].propose_conf_change(ConfChange(REMOVE, 1))
