"""MemoryStorage, Unstable and RaftLog: index arithmetic and conflict handling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raft.errors import Compacted, RaftInvariantError, SnapshotOutOfDate, Unavailable
from raft.log import RaftLog
from raft.storage import MemoryStorage, limit_size
from raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta
from raft.unstable import Unstable


def ents(*terms: int, start: int = 1) -> list[Entry]:
    return [Entry(term, start + i) for i, term in enumerate(terms)]


def stored(*terms: int) -> MemoryStorage:
    storage = MemoryStorage()
    storage.append(ents(*terms))
    return storage


def test_memory_storage_index_arithmetic_and_compaction() -> None:
    storage = stored(1, 1, 2, 3, 3)
    assert (storage.first_index(), storage.last_index()) == (1, 5)
    assert storage.term(0) == 0 and storage.term(4) == 3
    storage.create_snapshot(3, ConfState((1, 2)), b"state")
    storage.compact(3)
    assert (storage.first_index(), storage.last_index()) == (4, 5)
    assert storage.term(3) == 2  # the compacted entry's term survives
    with pytest.raises(Compacted):
        storage.term(2)
    with pytest.raises(Compacted):
        storage.entries(3, 5)
    with pytest.raises(Unavailable):
        storage.entries(4, 7)
    with pytest.raises(Unavailable):
        storage.term(6)
    with pytest.raises(Compacted):
        storage.compact(3)
    with pytest.raises(SnapshotOutOfDate):
        storage.create_snapshot(2, ConfState(), b"")
    assert storage.initial_state() == (HardState(), ConfState((1, 2)))
    assert [e.index for e in storage.entries(4, 6)] == [4, 5]


def test_memory_storage_append_replaces_the_overlapping_suffix() -> None:
    storage = stored(1, 1, 1)
    storage.append(ents(2, 2, start=2))
    assert [(e.index, e.term) for e in storage.entries(1, 4)] == [(1, 1), (2, 2), (3, 2)]
    storage.compact(2)
    storage.append(ents(3, 3, 3, start=1))  # the compacted part is skipped
    assert [(e.index, e.term) for e in storage.entries(3, 4)] == [(3, 3)]
    with pytest.raises(RaftInvariantError):
        storage.append(ents(3, start=9))


def test_memory_storage_apply_snapshot_resets_the_log() -> None:
    storage = stored(1, 1)
    snapshot = Snapshot(SnapshotMeta(10, 4, ConfState((1,))), b"s")
    storage.apply_snapshot(snapshot)
    assert (storage.first_index(), storage.last_index()) == (11, 10)
    assert storage.hard_state == HardState(4, 0, 10)
    assert storage.snapshot() == snapshot
    with pytest.raises(SnapshotOutOfDate):
        storage.apply_snapshot(Snapshot(SnapshotMeta(5, 4)))


def test_limit_size_keeps_at_least_one_entry() -> None:
    big = [Entry(1, i, data=b"x" * 10) for i in range(1, 5)]
    assert len(limit_size(big, 0)) == 1
    assert len(limit_size(big, 25)) == 2
    assert len(limit_size(big, None)) == 4


def test_unstable_truncate_and_append_cases() -> None:
    unstable = Unstable(5)
    unstable.truncate_and_append(ents(1, 1, start=5))
    assert unstable.maybe_term(6) == 1 and unstable.maybe_term(7) is None
    unstable.truncate_and_append(ents(2, start=6))  # replaces index 6
    assert [(e.index, e.term) for e in unstable.entries] == [(5, 1), (6, 2)]
    unstable.truncate_and_append(ents(3, 3, start=4))  # before offset: replace all
    assert unstable.offset == 4 and [e.index for e in unstable.entries] == [4, 5]
    unstable.stable_to(4, 2)  # wrong term: entry was replaced, keep it
    assert unstable.offset == 4
    unstable.stable_to(4, 3)
    assert unstable.offset == 5 and unstable.maybe_term(5) == 3
    with pytest.raises(RaftInvariantError):
        unstable.slice(3, 5)


def test_unstable_snapshot() -> None:
    unstable = Unstable(1)
    snapshot = Snapshot(SnapshotMeta(7, 2))
    unstable.restore(snapshot)
    assert unstable.offset == 8 and unstable.entries == []
    assert unstable.maybe_term(7) == 2 and unstable.maybe_term(6) is None
    unstable.stable_snap_to(6)
    assert unstable.snapshot is snapshot
    unstable.stable_snap_to(7)
    assert unstable.snapshot is None


def make_log(*terms: int) -> RaftLog:
    return RaftLog(stored(*terms))


@pytest.mark.parametrize(
    ("incoming", "conflict"),
    [
        ([], 0),
        ([(1, 1), (2, 2), (3, 3)], 0),  # all present
        ([(2, 2), (3, 3)], 0),
        ([(3, 3)], 0),
        ([(1, 1), (2, 2), (3, 3), (4, 4), (5, 4)], 4),  # new entries
        ([(3, 3), (4, 4)], 4),
        ([(4, 4)], 4),
        ([(1, 4), (2, 4)], 1),  # conflicts
        ([(2, 1), (3, 4), (4, 4)], 2),
        ([(3, 1), (4, 2)], 3),
    ],
)
def test_find_conflict(incoming, conflict) -> None:
    log = make_log(1, 2, 3)
    assert log.find_conflict(tuple(Entry(t, i) for i, t in incoming)) == conflict


def test_maybe_append_truncates_only_from_the_first_conflict() -> None:
    log = make_log(1, 1, 2, 2)
    log.commit_to(1)
    # A stale, shorter append that matches must not truncate anything.
    assert log.maybe_append(1, 1, 1, (Entry(1, 2),)) == 2
    assert log.last_index() == 4
    # Mismatch at the previous entry: rejected, nothing changes.
    assert log.maybe_append(4, 3, 4, (Entry(3, 5),)) is None
    assert log.last_index() == 4
    # Conflict at index 3: entries from 3 on are replaced.
    assert log.maybe_append(2, 1, 3, (Entry(3, 3), Entry(3, 4), Entry(3, 5))) == 5
    assert [log.term(i) for i in range(1, 6)] == [1, 1, 3, 3, 3]
    assert log.committed == 3
    # Commit never goes past what this append vouches for.
    assert log.maybe_append(3, 3, 10, ()) == 3
    assert log.committed == 3


def test_maybe_append_refuses_to_overwrite_committed_entries() -> None:
    log = make_log(1, 1, 1)
    log.commit_to(3)
    with pytest.raises(RaftInvariantError):
        log.maybe_append(1, 1, 3, (Entry(2, 2),))


@given(
    st.lists(st.integers(1, 3), max_size=8),
    st.lists(st.sampled_from([4, 6, 8]), max_size=6),
    st.lists(st.sampled_from([5, 7, 9]), max_size=6),
    st.integers(0, 14),
)
def test_maybe_append_matches_a_list_model(prefix, our_tail, their_tail, prev) -> None:
    # Two logs sharing a prefix, then diverging with terms the other never used: logs that
    # Raft can actually produce (the Log Matching property holds between them).
    ours = sorted(prefix) + sorted(our_tail)
    theirs = sorted(prefix) + sorted(their_tail)
    prev = min(prev, len(theirs))
    log = make_log(*ours)
    leader = [Entry(t, i + 1) for i, t in enumerate(theirs)]
    prev_term = leader[prev - 1].term if prev else 0
    sent = tuple(e for e in leader[prev:] if e.term >= prev_term)
    result = log.maybe_append(prev, prev_term, 0, sent)
    model = [Entry(t, i + 1) for i, t in enumerate(ours)]
    if prev > len(model) or (prev and model[prev - 1].term != prev_term):
        assert result is None
        return
    assert result == prev + len(sent)
    expected = list(model)
    for entry in sent:
        at = entry.index - 1
        if at < len(expected) and expected[at].term == entry.term:
            continue
        del expected[at:]
        expected.append(entry)
    got = log.slice(1, log.last_index() + 1)
    assert [(e.index, e.term) for e in got] == [(e.index, e.term) for e in expected]


def test_find_conflict_by_term_walks_back_to_an_older_term() -> None:
    log = make_log(1, 1, 2, 2, 5, 5)
    assert log.find_conflict_by_term(6, 3) == (4, 2)
    assert log.find_conflict_by_term(6, 5) == (6, 5)
    assert log.find_conflict_by_term(4, 1) == (2, 1)
    assert log.find_conflict_by_term(2, 0) == (0, 0)


def test_commit_rules() -> None:
    log = make_log(1, 2, 3)
    assert not log.maybe_commit(3, 2)  # only an entry of the given term commits
    assert log.maybe_commit(2, 2)
    assert not log.maybe_commit(1, 1)  # never backwards
    with pytest.raises(RaftInvariantError):
        log.commit_to(9)
    log.applied_to(2)
    with pytest.raises(RaftInvariantError):
        log.applied_to(1)
    with pytest.raises(RaftInvariantError):
        log.applied_to(3)


def test_slice_spans_storage_and_unstable_with_a_size_limit() -> None:
    storage = MemoryStorage()
    storage.append([Entry(1, i, data=b"12345") for i in range(1, 4)])
    log = RaftLog(storage)
    log.append([Entry(1, i, data=b"12345") for i in range(4, 7)])
    assert [e.index for e in log.slice(2, 6)] == [2, 3, 4, 5]
    assert [e.index for e in log.slice(2, 6, max_size=12)] == [2, 3]
    assert [e.index for e in log.slice(3, 7, max_size=12)] == [3, 4]
    assert [e.index for e in log.slice(5, 7, max_size=1)] == [5]
    assert log.entries(7, None) == []
    with pytest.raises(Unavailable):
        log.slice(5, 9)
    storage.create_snapshot(3, ConfState((1,)), b"")
    storage.compact(3)
    with pytest.raises(Compacted):
        log.slice(2, 5)
    assert log.zero_term_on_out_of_bounds(1) == 0
    assert log.zero_term_on_out_of_bounds(3) == 1


def test_is_up_to_date() -> None:
    log = make_log(1, 2, 2)
    assert log.is_up_to_date(3, 2)
    assert log.is_up_to_date(1, 3)
    assert not log.is_up_to_date(2, 2)
    assert not log.is_up_to_date(9, 1)
