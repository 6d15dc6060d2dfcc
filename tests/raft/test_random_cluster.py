"""Seeded random fault schedules on the in-memory network, checking Raft's safety properties
after every step and liveness once the faults stop. A failing seed reproduces exactly."""

from __future__ import annotations

import contextlib
import random

import pytest

from raft import ConfChange, ConfChangeKind, ConfigError, NotLeader, ProposalDropped, Role
from raft.testing import Network

STEPS = 600


class Checker:
    def __init__(self, net: Network) -> None:
        self.net = net
        self.leaders: dict[int, int] = {}
        self.committed: dict[int, int] = {}  # index -> term of every entry seen committed

    def check(self) -> None:
        net = self.net
        for node_id, node in net.nodes.items():
            raft = node.raft
            if raft.role is Role.LEADER:
                assert self.leaders.setdefault(raft.term, node_id) == node_id, "two leaders"
            log = raft.log
            first = max(log.first_index(), log.committed - 20)
            for index in range(first, log.committed + 1):
                term = log.term(index)
                assert self.committed.setdefault(index, term) == term, "committed entry changed"
        applied = sorted(net.applied.values(), key=len)
        longest = applied[-1]
        for sequence in applied:
            assert sequence == longest[: len(sequence)], "state machines diverged"


@pytest.mark.parametrize("seed", range(40))
def test_random_faults_never_violate_safety(seed: int) -> None:
    rng = random.Random(seed)
    net = Network(range(1, 6), seed=seed)
    checker = Checker(net)
    counter = 0
    for _ in range(STEPS):
        action = rng.random()
        node_id = rng.randint(1, 5)
        if action < 0.45:
            net.tick()
        elif action < 0.70:
            counter += 1
            with contextlib.suppress(ProposalDropped):
                net.nodes[node_id].propose(b"%d-%d" % (seed, counter))
            net.stabilize()
        elif action < 0.78:
            net.isolate(node_id)
        elif action < 0.84:
            net.drop(node_id, rng.randint(1, 5), rng.choice([0.3, 1.0]))
        elif action < 0.90:
            net.heal()
        elif action < 0.93:
            net.restart(node_id)
        elif action < 0.96:
            applied = net.nodes[node_id].raft.log.applied
            if applied > net.storages[node_id].snapshot().meta.index:
                net.compact(node_id, applied)
        elif action < 0.97:
            with contextlib.suppress(NotLeader, ConfigError):
                net.nodes[node_id].transfer_leader(rng.randint(1, 5))
            net.stabilize()
        elif action < 0.985:
            # Toggle node 5's membership through whichever node we picked.
            voters = net.nodes[node_id].raft.tracker.voters
            kind = ConfChangeKind.REMOVE if 5 in voters else ConfChangeKind.ADD
            with contextlib.suppress(ProposalDropped, ConfigError):
                net.nodes[node_id].propose_conf_change(ConfChange(kind, 5))
            net.stabilize()
        else:
            with contextlib.suppress(NotLeader):
                net.nodes[node_id].read_index(b"r%d" % counter)
            net.stabilize()
        checker.check()
    net.heal()
    for _ in range(10):
        net.tick_election()
        if net.leader() is not None:
            break
    leader = net.leader()
    assert leader is not None
    net.propose(leader, b"final")
    net.tick(n=3)
    checker.check()
    voters = net.nodes[leader].raft.tracker.voters
    assert all(net.applied[v][-1:] == [b"final"] for v in voters)
