"""Rules from the Raft paper (§5), checked on single nodes by stepping messages directly."""

from __future__ import annotations

import random

from raft import (
    AppendEntries,
    AppendResponse,
    ConfChange,
    ConfChangeKind,
    Config,
    Entry,
    Heartbeat,
    MemoryStorage,
    RawNode,
    RequestVote,
    Role,
    VoteResponse,
)


def node(node_id: int = 1, **config: object) -> RawNode:
    storage = MemoryStorage()
    raw = RawNode(Config(node_id, random.Random(node_id), **config), storage)  # type: ignore[arg-type]
    raw.bootstrap([ConfChange(ConfChangeKind.ADD, i) for i in (1, 2, 3)])
    rd = raw.ready()
    storage.append(rd.entries)
    raw.advance(rd)
    return raw


def test_follower_starts_an_election_after_its_randomized_timeout() -> None:
    raw = node(pre_vote=False)
    timeout = raw.raft.randomized_election_timeout
    for _ in range(timeout - 1):
        raw.tick()
    assert raw.raft.role is Role.FOLLOWER
    raw.tick()
    assert raw.raft.role is Role.CANDIDATE and raw.raft.term == 2 and raw.raft.vote == 1
    rd = raw.ready()
    assert sorted((m.to, type(m)) for m in rd.messages) == [(2, RequestVote), (3, RequestVote)]


def test_pre_candidate_keeps_its_term_until_it_wins_the_pre_vote() -> None:
    raw = node()
    raw.campaign()
    assert raw.raft.role is Role.PRE_CANDIDATE and raw.raft.term == 1
    requests = raw.ready().messages
    assert {(m.term, m.pre_vote) for m in requests} == {(2, True)}
    raw.step(VoteResponse(1, 2, 2, pre_vote=True))
    assert raw.raft.role is Role.CANDIDATE and raw.raft.term == 2


def test_candidate_loses_on_a_majority_of_rejections() -> None:
    raw = node(pre_vote=False)
    raw.campaign()
    raw.step(VoteResponse(1, 2, 2, reject=True))
    assert raw.raft.role is Role.CANDIDATE
    raw.step(VoteResponse(1, 3, 2, reject=True))
    assert raw.raft.role is Role.FOLLOWER and raw.raft.term == 2


def test_leader_heartbeats_every_heartbeat_tick() -> None:
    raw = node(pre_vote=False, heartbeat_tick=2)
    raw.campaign()
    raw.step(VoteResponse(1, 2, 2))
    raw.advance(raw.ready())
    raw.tick()
    assert not raw.has_ready()
    raw.tick()
    assert sorted((m.to, type(m)) for m in raw.ready().messages) == [
        (2, Heartbeat),
        (3, Heartbeat),
    ]


def test_follower_rejects_an_append_that_does_not_match_its_log() -> None:
    raw = node(2)
    raw.step(AppendEntries(2, 1, 2, 5, 2, (Entry(2, 6),), 5))
    (reply,) = raw.ready().messages
    assert reply == AppendResponse(1, 2, 2, 5, reject=True, reject_hint=3, log_term=1)


def test_higher_term_append_makes_a_candidate_follow() -> None:
    raw = node(pre_vote=False)
    raw.campaign()
    raw.step(AppendEntries(1, 2, 5, 3, 1, (), 3))
    assert raw.raft.role is Role.FOLLOWER and raw.raft.term == 5 and raw.raft.lead == 2


def test_leader_appends_an_empty_entry_of_its_term() -> None:
    raw = node(pre_vote=False)
    raw.campaign()
    raw.advance(raw.ready())
    raw.step(VoteResponse(1, 2, 2))
    rd = raw.ready()
    assert rd.entries == (Entry(2, 4),)
    assert {type(m) for m in rd.messages} == {AppendEntries}
