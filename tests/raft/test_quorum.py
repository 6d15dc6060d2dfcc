"""Quorum arithmetic against straightforward models."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from raft.progress import Progress
from raft.quorum import VoteResult, committed_index, vote_result
from raft.tracker import ProgressTracker

voter_sets = st.sets(st.integers(1, 20), min_size=1, max_size=7)


@given(voter_sets, st.data())
def test_committed_index_is_the_highest_index_a_majority_reached(voters, data) -> None:
    acked = {v: data.draw(st.integers(0, 50)) for v in voters if data.draw(st.booleans())}
    result = committed_index(voters, acked)
    # Model: the largest i such that a majority of voters acked >= i.
    quorum = len(voters) // 2 + 1
    model = max(
        (i for i in range(0, 51) if sum(acked.get(v, 0) >= i for v in voters) >= quorum),
        default=0,
    )
    assert result == model


@given(voter_sets, st.data())
def test_tracker_fast_path_agrees_with_the_general_rule(voters, data) -> None:
    tracker = ProgressTracker(tuple(voters), 8)
    tracker.reset_progress(lambda _node: Progress(0, 1, 8))
    for pr in tracker.progress.values():
        pr.match = data.draw(st.integers(0, 30))
    assert tracker.committed() == committed_index(
        voters, {v: tracker.progress[v].match for v in voters}
    )


def test_empty_config_commits_everything() -> None:
    assert committed_index((), {}) == 1 << 64
    assert vote_result((), {}) is VoteResult.WON


@given(voter_sets, st.data())
def test_vote_result_matches_counting(voters, data) -> None:
    votes = {v: data.draw(st.booleans()) for v in sorted(voters) if data.draw(st.booleans())}
    votes[999] = True  # a non-voter's vote never counts
    granted = sum(1 for v in voters if votes.get(v) is True)
    missing = sum(1 for v in voters if v not in votes)
    quorum = len(voters) // 2 + 1
    expected = (
        VoteResult.WON
        if granted >= quorum
        else VoteResult.PENDING
        if granted + missing >= quorum
        else VoteResult.LOST
    )
    assert vote_result(voters, votes) is expected


def test_vote_result_examples() -> None:
    assert vote_result((1, 2, 3), {1: True}) is VoteResult.PENDING
    assert vote_result((1, 2, 3), {1: True, 2: True}) is VoteResult.WON
    assert vote_result((1, 2, 3), {1: True, 2: False, 3: False}) is VoteResult.LOST
    assert vote_result((1, 2, 3, 4), {1: True, 2: True, 3: False}) is VoteResult.PENDING
    assert vote_result((1, 2, 3, 4), {1: True, 2: False, 3: False}) is VoteResult.LOST


def test_tracker_keeps_the_first_vote_of_each_node() -> None:
    tracker = ProgressTracker((3, 1, 2), 8)
    assert tracker.voters == (1, 2, 3)
    tracker.record_vote(1, True)
    tracker.record_vote(2, False)
    tracker.record_vote(2, True)
    assert tracker.tally_votes() is VoteResult.PENDING
    tracker.record_vote(3, True)
    assert tracker.tally_votes() is VoteResult.WON
