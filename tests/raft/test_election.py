"""Elections: the paper's rules plus pre-vote and check-quorum (etcd raft_test.go style)."""

from __future__ import annotations

import random

from raft import Config, MemoryStorage, RawNode, RequestVote, Role, VoteResponse
from raft.testing import Network


def roles(net: Network) -> dict[int, Role]:
    return {node_id: net.role(node_id) for node_id in net.nodes}


def test_campaign_elects_a_leader_that_everyone_follows() -> None:
    net = Network()
    net.campaign(1)
    assert roles(net) == {1: Role.LEADER, 2: Role.FOLLOWER, 3: Role.FOLLOWER}
    assert {net.term(i) for i in net.nodes} == {2}
    assert {net.lead(i) for i in net.nodes} == {1}
    # The new leader's empty entry of its own term commits everywhere.
    assert {net.committed(i) for i in net.nodes} == {4}


def test_ticks_alone_elect_exactly_one_leader() -> None:
    for seed in range(5):
        net = Network(range(1, 6), seed=seed)
        net.tick_election()
        leader = net.leader()
        assert leader is not None
        assert sum(role is Role.LEADER for role in roles(net).values()) == 1
        assert {net.lead(i) for i in net.nodes} == {leader}


def test_single_node_elects_itself() -> None:
    net = Network([1])
    net.campaign(1)
    assert net.role(1) is Role.LEADER and net.committed(1) == 2


def test_a_minority_cannot_elect_a_leader() -> None:
    net = Network(range(1, 6), pre_vote=False)
    for node_id in (3, 4, 5):
        net.isolate(node_id)
    net.campaign(1)
    assert net.role(1) is Role.CANDIDATE
    net.heal()
    net.isolate(5)
    net.campaign(1)
    assert net.role(1) is Role.LEADER


def test_duelling_candidates_without_pre_vote() -> None:
    net = Network(pre_vote=False, check_quorum=False)
    net.cut(1, 3)
    net.campaign(1)
    net.campaign(3)
    assert roles(net) == {1: Role.LEADER, 2: Role.FOLLOWER, 3: Role.CANDIDATE}
    net.heal()
    # 3's higher term deposes 1, but its log lacks 1's entry so nobody votes for it.
    net.campaign(3)
    assert roles(net) == {1: Role.FOLLOWER, 2: Role.FOLLOWER, 3: Role.FOLLOWER}
    assert {net.term(i) for i in net.nodes} == {3}
    assert net.committed(1) == net.committed(2) == 4
    assert net.nodes[3].raft.log.last_index() == 3


def test_duelling_pre_candidates_do_not_disrupt_the_leader() -> None:
    net = Network(pre_vote=True, check_quorum=False)
    net.cut(1, 3)
    net.campaign(1)
    net.campaign(3)
    assert roles(net) == {1: Role.LEADER, 2: Role.FOLLOWER, 3: Role.FOLLOWER}
    net.heal()
    net.campaign(3)  # the pre-vote fails: 3's log is behind
    assert net.leader() == 1 and net.term(1) == 2 and net.term(3) == 2


def test_candidate_concedes_to_a_leader_of_its_term() -> None:
    net = Network(pre_vote=False)
    net.isolate(1)
    net.campaign(1)  # 1 is a candidate at term 2
    net.heal()
    net.cut(1, 3)
    net.campaign(2)  # 2 wins term 2 with 3's vote; 1 then hears from a leader of its term
    assert net.role(1) is Role.FOLLOWER and net.lead(1) == 2 and net.term(1) == 2


def test_partitioned_node_under_pre_vote_does_not_disrupt_on_rejoin() -> None:
    net = Network()
    net.campaign(1)
    net.isolate(3)
    for _ in range(5):
        net.tick_election()
    # Pre-vote never succeeds, so the isolated node's term never grows.
    assert net.role(3) is Role.PRE_CANDIDATE and net.term(3) == 2
    net.heal()
    net.tick()
    assert net.leader() == 1 and {net.term(i) for i in net.nodes} == {2}
    assert net.role(3) is Role.FOLLOWER and net.lead(3) == 1
    net.propose(1, b"after")
    assert net.applied[3] == [b"after"]


def test_without_pre_vote_a_rejoining_node_forces_an_election() -> None:
    net = Network(pre_vote=False, check_quorum=False)
    net.campaign(1)
    net.isolate(3)
    for _ in range(3):
        net.tick_election([3])
    assert net.term(3) > 2
    net.heal()
    net.tick_election([3])
    # The contrast case: the leader of term 2 is deposed by the rejoining node's term.
    assert net.term(1) == net.term(3) > 2
    assert net.leader() != 1 or net.term(1) > 3


def test_a_lagging_node_with_a_higher_term_cannot_take_over() -> None:
    net = Network()
    net.campaign(1)
    net.isolate(3)
    net.propose(1, b"x")
    # Node 3 somehow holds a higher term (e.g. it ran without pre-vote while partitioned).
    net.nodes[3].raft.become_follower(7, 0)
    net.heal()
    net.tick_election()
    # Its answers reveal term 7 and depose leader 1, but its log lacks b"x", so only an
    # up-to-date node can win: no committed entry is lost.
    leader = net.leader()
    assert leader in (1, 2)
    assert {net.term(i) for i in net.nodes} == {net.term(leader)} and net.term(leader) > 7
    net.propose(leader, b"y")
    assert all(applied == [b"x", b"y"] for applied in net.applied.values())


def test_check_quorum_leader_steps_down_when_isolated() -> None:
    net = Network()
    net.campaign(1)
    net.isolate(1)
    # Acks received before the partition count for the first check, so stepping down
    # takes between one and two election timeouts.
    election_tick = net.config_for(1).election_tick
    net.tick([1], n=election_tick)
    assert net.role(1) is Role.LEADER
    net.tick([1], n=election_tick)
    assert net.role(1) is Role.FOLLOWER and net.lead(1) == 0


def test_check_quorum_leader_with_a_quorum_keeps_leading() -> None:
    net = Network()
    net.campaign(1)
    net.isolate(3)
    net.tick([1, 2], n=5 * net.config_for(1).election_tick)
    assert net.role(1) is Role.LEADER


def test_lease_makes_followers_ignore_disruptive_vote_requests() -> None:
    net = Network(pre_vote=False)
    net.campaign(1)
    last = net.nodes[2].raft.log.last_index()
    net.send(RequestVote(2, 3, 9, last, 2))
    assert net.term(2) == 2 and net.lead(2) == 1
    assert net.nodes[2].status().counters.ignored_votes == 1
    # A transfer campaign is exempt from the lease.
    net.send(RequestVote(2, 3, 9, last, 2, transfer=True))
    assert net.term(2) == 9


def test_stale_leader_steps_down_after_partition_heals() -> None:
    net = Network()
    net.campaign(1)
    net.isolate(1)
    net.tick_election([2, 3])
    new_leader = net.leader()
    assert new_leader in (2, 3) and net.term(new_leader) == 3
    assert net.role(1) is Role.LEADER  # not ticked: it still believes it leads
    net.recover()
    net.tick([1])  # its heartbeat at term 2 is answered with term 3
    assert net.role(1) is Role.FOLLOWER and net.term(1) == 3
    net.tick()
    assert net.lead(1) == new_leader


def test_one_vote_per_term_and_only_for_up_to_date_logs() -> None:
    net = Network(pre_vote=False)
    node = net.nodes[1]
    net.queue.clear()
    node.step(RequestVote(1, 2, 5, 3, 1))
    node.step(RequestVote(1, 3, 5, 3, 1))
    rd = node.ready()
    votes = [(m.to, m.reject) for m in rd.messages if isinstance(m, VoteResponse)]
    assert votes == [(2, False), (3, True)]
    assert rd.hard_state is not None and rd.hard_state.vote == 2 and rd.must_sync
    node.advance(rd)
    node.step(RequestVote(1, 3, 6, 2, 1))  # shorter log at a new term: rejected
    rd = node.ready()
    assert [m.reject for m in rd.messages] == [True]
    assert rd.hard_state is not None and rd.hard_state.vote == 0 and rd.hard_state.term == 6


def test_pre_vote_does_not_change_the_voters_term_or_vote() -> None:
    net = Network()
    node = net.nodes[2]
    node.step(RequestVote(2, 3, 2, 3, 1, pre_vote=True))
    rd = node.ready()
    assert rd.hard_state is None
    assert [(m.term, m.pre_vote, m.reject) for m in rd.messages] == [(2, True, False)]
    assert node.raft.term == 1 and node.raft.vote == 0


def test_randomized_election_timeout_range() -> None:
    storage = MemoryStorage()
    seen = set()
    for seed in range(40):
        node = RawNode(Config(1, random.Random(seed), election_tick=10), storage)
        seen.add(node.raft.randomized_election_timeout)
    assert min(seen) >= 10 and max(seen) < 20 and len(seen) > 5
