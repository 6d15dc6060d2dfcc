"""Log replication, commitment rules, flow control, forwarding and the uncommitted bound."""

from __future__ import annotations

import pytest

from raft import (
    AppendEntries,
    AppendResponse,
    Entry,
    Message,
    ProgressState,
    ProposalDropped,
    Propose,
    Role,
)
from raft.testing import Network


def _record(net: Network) -> list[Message]:
    """Every message the network delivers from now on, in order."""
    seen: list[Message] = []

    def hook(m: Message) -> bool:
        seen.append(m)
        return True

    net.msg_hook = hook
    return seen


def test_proposals_replicate_and_apply_in_order_everywhere() -> None:
    net = Network(range(1, 6))
    net.campaign(1)
    for i in range(20):
        net.nodes[1].propose(b"%d" % i)
        if i % 3 == 0:
            net.stabilize()
    net.stabilize()
    expected = [b"%d" % i for i in range(20)]
    assert all(applied == expected for applied in net.applied.values())
    assert len({tuple(net.log_terms(i)) for i in net.nodes}) == 1


def test_follower_forwards_proposals_to_the_leader() -> None:
    net = Network()
    net.campaign(1)
    net.propose(3, b"via-3")
    assert all(applied == [b"via-3"] for applied in net.applied.values())


def test_proposal_without_a_leader_is_dropped_locally() -> None:
    net = Network()
    with pytest.raises(ProposalDropped):
        net.nodes[2].propose(b"x")
    net.campaign(1)
    net.isolate(1)
    net.nodes[2].raft.become_follower(3, 0)
    with pytest.raises(ProposalDropped):
        net.nodes[2].propose(b"x")


def test_forwarded_proposals_that_reach_a_non_leader_are_counted() -> None:
    net = Network()
    net.campaign(1)
    net.send(Propose(2, 3, 0, (Entry(0, 0, data=b"x"),)))
    assert net.nodes[2].status().counters.dropped_proposals == 1
    assert net.applied[1] == []


def test_figure_8_an_old_term_entry_is_not_committed_by_counting_replicas() -> None:
    net = Network(range(1, 6), pre_vote=False, check_quorum=False)
    net.campaign(1)  # term 2
    base = net.committed(1)
    at = base + 1  # the contested index
    # (a) Leader 1 replicates `at` of term 2 to node 2 only.
    for node_id in (3, 4, 5):
        net.isolate(node_id)
    net.propose(1, b"old")
    assert net.log_terms(2)[-1] == (at, 2) and net.committed(1) == base
    # (b) Node 5 wins term 3 with votes of 3 and 4 and appends `at` locally only.
    net.heal()
    net.isolate(1)
    net.isolate(2)
    net.ignore(AppendEntries)
    net.campaign(5)
    assert net.role(5) is Role.LEADER and net.log_terms(5)[-1] == (at, 3)
    # (c) Node 1 wins term 4 (it needs two rounds: 3 and 4 voted in term 3) and gets its
    # term-2 entry onto a majority, 1, 2, 3 and 4, but not its own term-4 entry.
    net.heal()
    net.isolate(5)
    net.msg_hook = lambda m: not (isinstance(m, AppendEntries) and m.frm == 1)
    net.restart(1)  # node 1 crashed and comes back as a follower of term 2
    net.campaign(1)
    net.campaign(1)
    assert net.role(1) is Role.LEADER and net.term(1) == 4
    old = Entry(2, at, data=b"old")
    for node_id in (3, 4):
        net.nodes[node_id].step(AppendEntries(node_id, 1, 4, base, 2, (old,), base))
    net.stabilize()
    assert [net.log_terms(i)[at - 1] for i in (1, 2, 3, 4)] == [(at, 2)] * 4
    assert net.committed(1) == base  # counting replicas of a term-2 entry commits nothing
    # (d) So node 5 may still win and overwrite `at`, which is safe.
    net.heal()
    net.isolate(1)
    net.restart(5)
    net.campaign(5)
    net.campaign(5)
    assert net.role(5) is Role.LEADER
    assert [net.log_terms(i)[at - 1] for i in (2, 3, 4, 5)] == [(at, 3)] * 4
    net.heal()
    net.tick()  # node 1, the stale leader of term 4, hears of term 5 and steps down
    net.propose(5, b"new")
    assert all(applied == [b"new"] for applied in net.applied.values())


def test_leader_commits_old_entries_once_an_entry_of_its_term_commits() -> None:
    net = Network(pre_vote=False, check_quorum=False)
    net.campaign(1)
    net.isolate(2)
    net.isolate(3)
    net.propose(1, b"a")  # index 5, only on 1
    net.heal()
    net.isolate(3)
    # 1 re-elects itself at term 3; its term-3 entry carries index 5 along.
    net.nodes[1].raft.become_follower(2, 0)
    net.campaign(1)
    assert net.role(1) is Role.LEADER and net.committed(1) == 6
    assert net.applied[1] == net.applied[2] == [b"a"]


def test_divergent_follower_log_is_replaced_from_the_first_conflict() -> None:
    net = Network()
    net.campaign(1)
    net.propose(1, b"shared")
    net.isolate(1)
    for i in range(5):
        net.nodes[1].propose(b"lost-%d" % i)  # only node 1 ever holds these
    net.stabilize()
    net.tick_election([2, 3])
    leader = net.leader()
    assert leader in (2, 3)
    for i in range(3):
        net.propose(leader, b"won-%d" % i)
    net.heal()
    net.tick_election()
    assert net.role(1) is Role.FOLLOWER
    assert net.log_terms(1) == net.log_terms(leader)
    expected = [b"shared", b"won-0", b"won-1", b"won-2"]
    assert all(applied == expected for applied in net.applied.values())


def test_inflight_limit_bounds_unacknowledged_appends() -> None:
    net = Network(max_inflight=2)
    net.campaign(1)
    node = net.nodes[1]
    for i in range(5):
        node.propose(b"%d" % i)
        net.process_ready(1)  # persist and queue, but deliver nothing
    appends = [m for m in net.queue if isinstance(m, AppendEntries) and m.to == 2 and m.entries]
    assert len(appends) == 2
    assert node.status().progress[2].paused
    net.stabilize()
    assert net.applied[2] == [b"%d" % i for i in range(5)]


def test_max_size_per_msg_splits_appends() -> None:
    net = Network(max_size_per_msg=250)
    net.campaign(1)
    net.isolate(2)
    for _ in range(10):
        net.nodes[1].propose(b"x" * 100)
    net.stabilize()
    net.heal()
    seen = _record(net)
    net.tick()
    assert len(net.applied[2]) == 10
    assert max(len(m.entries) for m in seen if isinstance(m, AppendEntries) and m.to == 2) <= 2


def test_uncommitted_size_bound_drops_proposals_until_entries_commit() -> None:
    net = Network(max_uncommitted_bytes=1000)
    net.campaign(1)
    net.isolate(1)
    node = net.nodes[1]
    for _ in range(10):
        node.propose(b"x" * 100)
    with pytest.raises(ProposalDropped):
        node.propose(b"x")
    net.heal()
    net.stabilize()
    assert len(net.applied[2]) == 10
    node.propose(b"y" * 5000)  # nothing uncommitted: a large entry is still admitted
    with pytest.raises(ProposalDropped):
        node.propose(b"z")
    net.stabilize()
    net.propose(1, b"z")
    # Forwarded proposals over the bound are dropped at the leader and counted.
    net.isolate(1)
    node.propose(b"w" * 2000)
    net.stabilize()
    node.step(Propose(1, 2, 0, (Entry(0, 0, data=b"v"),)))
    assert node.status().counters.dropped_proposals == 1


def test_stale_and_bogus_append_responses_are_counted() -> None:
    net = Network()
    net.campaign(1)
    net.send(AppendResponse(1, 2, 2, 999))
    net.send(AppendResponse(1, 7, 2, 1))
    counters = net.nodes[1].status().counters
    assert counters.malformed == 1 and counters.unknown_sender == 1
    net.send(AppendResponse(1, 2, 1, 4))
    assert net.nodes[1].status().counters.stale_term == 1
    assert net.role(1) is Role.LEADER


def test_lost_appends_with_a_full_inflight_window_are_resent_after_heartbeats() -> None:
    # Found by the simulator (tests/sim/FINDINGS.md #1): lost appends used to keep a
    # REPLICATE follower's window full forever.
    net = Network(max_inflight=2)
    net.campaign(1)
    net.ignore(AppendEntries)
    for i in range(6):
        net.nodes[1].propose(b"%d" % i)
        net.stabilize()
    progress = net.nodes[1].status().progress
    assert progress[2].state is ProgressState.REPLICATE and progress[2].paused
    net.heal()
    net.tick(n=3)
    assert all(applied == [b"%d" % i for i in range(6)] for applied in net.applied.values())


def test_commit_notices_to_replicating_followers_go_unanswered() -> None:
    net = Network()
    net.campaign(1)
    seen = _record(net)
    net.propose(1, b"x")
    appends = [m for m in seen if isinstance(m, AppendEntries)]
    assert [(m.to, len(m.entries), m.commit_only) for m in appends] == [
        (2, 1, False),
        (3, 1, False),
        (2, 0, True),
        (3, 0, True),
    ]
    # Only the appends that carried the entry are answered; the commit still arrives.
    assert sorted(m.frm for m in seen if isinstance(m, AppendResponse)) == [2, 3]
    assert all(applied == [b"x"] for applied in net.applied.values())
    assert all(net.committed(i) == net.committed(1) for i in (2, 3))


def test_a_rejected_commit_notice_is_still_answered() -> None:
    net = Network()
    net.campaign(1)
    last, term = net.log_terms(2)[-1]
    net.nodes[2].step(AppendEntries(2, 1, term, last + 3, term, (), last, commit_only=True))
    replies = net.process_ready(2).messages
    assert [(type(m), m.reject) for m in replies] == [(AppendResponse, True)]


def test_a_commit_notice_carrying_entries_is_malformed() -> None:
    net = Network()
    net.campaign(1)
    last, term = net.log_terms(2)[-1]
    entry = Entry(term, last + 1, data=b"x")
    net.nodes[2].step(AppendEntries(2, 1, term, last, term, (entry,), last, commit_only=True))
    assert net.nodes[2].status().counters.malformed == 1
    assert not net.process_ready(2).messages
    assert net.log_terms(2)[-1] == (last, term)


def test_a_follower_whose_answers_were_lost_is_asked_again_after_a_heartbeat() -> None:
    net = Network()
    net.campaign(1)
    net.msg_hook = lambda m: not (isinstance(m, AppendResponse) and m.frm == 3)
    net.propose(1, b"x")
    progress = net.nodes[1].status().progress
    assert progress[3].state is ProgressState.REPLICATE
    assert progress[3].match < net.log_terms(1)[-1][0]
    seen = _record(net)
    net.tick(n=net.config_for(1).heartbeat_tick)
    asked = [m for m in seen if isinstance(m, AppendEntries) and m.to == 3]
    assert asked and not any(m.commit_only for m in asked)
    assert net.nodes[1].status().progress[3].match == net.log_terms(1)[-1][0]
