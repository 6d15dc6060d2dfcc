"""Leadership transfer: TimeoutNow once the target is caught up, abort after a timeout."""

from __future__ import annotations

import pytest

from raft import ConfigError, NotLeader, ProposalDropped, Role
from raft.testing import Network


def test_transfer_to_an_up_to_date_follower() -> None:
    net = Network()
    net.campaign(1)
    net.nodes[1].transfer_leader(2)
    net.stabilize()
    assert net.leader() == 2 and net.term(2) == 3
    assert net.role(1) is Role.FOLLOWER and net.lead(1) == 2


def test_transfer_to_a_lagging_follower_catches_it_up_first() -> None:
    net = Network()
    net.campaign(1)
    net.isolate(3)
    for i in range(5):
        net.propose(1, b"%d" % i)
    net.heal()
    assert net.committed(3) < net.committed(1)
    net.nodes[1].transfer_leader(3)
    net.stabilize()
    assert net.leader() == 3
    assert net.applied[3] == [b"%d" % i for i in range(5)]
    net.propose(3, b"after")
    assert all(applied[-1] == b"after" for applied in net.applied.values())


def test_proposals_are_refused_while_transferring_and_transfer_aborts() -> None:
    net = Network()
    net.campaign(1)
    net.isolate(3)
    net.nodes[1].transfer_leader(3)
    net.stabilize()
    assert net.nodes[1].status().lead_transferee == 3
    with pytest.raises(ProposalDropped):
        net.nodes[1].propose(b"x")
    net.tick([1, 2], n=net.config_for(1).election_tick)
    assert net.leader() == 1 and net.nodes[1].status().lead_transferee == 0
    net.propose(1, b"x")
    assert net.applied[2] == [b"x"]


def test_transfer_requested_on_a_follower_is_forwarded() -> None:
    net = Network()
    net.campaign(1)
    net.nodes[2].transfer_leader(3)
    net.stabilize()
    assert net.leader() == 3


def test_transfer_argument_checks() -> None:
    net = Network()
    with pytest.raises(ConfigError):
        net.nodes[1].transfer_leader(9)
    with pytest.raises(NotLeader):
        net.nodes[1].transfer_leader(2)
    net.campaign(1)
    net.nodes[1].transfer_leader(1)  # to itself: nothing to do
    net.stabilize()
    assert net.leader() == 1 and net.term(1) == 2
