"""Progress state transitions and inflight flow control."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raft.errors import RaftInvariantError
from raft.progress import Inflights, Progress, ProgressState


def test_inflights_bound_and_release_in_order() -> None:
    inflights = Inflights(3)
    for index in (5, 9, 12):
        inflights.add(index)
    assert inflights.full() and len(inflights) == 3
    with pytest.raises(RaftInvariantError):
        inflights.add(13)
    inflights.free_le(8)
    assert len(inflights) == 2 and not inflights.full()
    inflights.free_le(12)
    assert len(inflights) == 0
    inflights.add(20)
    inflights.reset()
    assert len(inflights) == 0


@given(st.lists(st.integers(1, 5), min_size=1, max_size=40), st.integers(0, 200))
def test_inflights_free_le_releases_exactly_the_acknowledged(steps, ack) -> None:
    inflights = Inflights(64)
    index = 0
    sent = []
    for step in steps:
        index += step
        inflights.add(index)
        sent.append(index)
    inflights.free_le(ack)
    assert len(inflights) == sum(1 for i in sent if i > ack)


def test_probe_sends_one_append_then_waits() -> None:
    pr = Progress(0, 5, 4)
    assert pr.state is ProgressState.PROBE and not pr.is_paused()
    pr.sent_entries(3, 7)
    assert pr.is_paused() and pr.next == 5  # probing does not move next optimistically
    assert pr.maybe_update(7)
    assert not pr.is_paused() and pr.match == 7 and pr.next == 8


def test_replicate_pipelines_until_inflights_are_full() -> None:
    pr = Progress(4, 5, 2)
    pr.become_replicate()
    assert pr.next == 5
    pr.sent_entries(2, 6)
    assert pr.next == 7 and not pr.is_paused()
    pr.sent_entries(1, 7)
    assert pr.next == 8 and pr.is_paused()
    pr.sent_entries(0, 7)  # an empty append (commit only) takes no inflight slot
    assert pr.maybe_update(6)
    pr.inflights.free_le(6)
    assert not pr.is_paused()


def test_stale_acks_do_not_regress() -> None:
    pr = Progress(0, 1, 4)
    assert pr.maybe_update(5)
    assert not pr.maybe_update(3)
    assert pr.match == 5 and pr.next == 6


def test_rejection_in_replicate_falls_back_to_match() -> None:
    pr = Progress(5, 6, 8)
    pr.become_replicate()
    pr.sent_entries(4, 9)
    assert pr.next == 10
    assert not pr.maybe_decr_to(4, 4)  # stale: below match
    assert pr.maybe_decr_to(8, 3)
    assert pr.next == 6


def test_rejection_in_probe_uses_the_hint_but_never_goes_below_match() -> None:
    pr = Progress(2, 10, 8)
    assert not pr.maybe_decr_to(5, 1)  # stale: not the append we last sent (next-1 = 9)
    assert pr.maybe_decr_to(9, 6)
    assert pr.next == 7
    pr.msg_app_flow_paused = True
    assert pr.maybe_decr_to(6, 0)
    assert pr.next == 3 and not pr.is_paused()


def test_snapshot_state_pauses_and_probes_after_the_snapshot() -> None:
    pr = Progress(3, 4, 8)
    pr.become_snapshot(20)
    assert pr.is_paused() and pr.pending_snapshot == 20
    pr.become_probe()
    assert pr.state is ProgressState.PROBE and pr.next == 21 and pr.pending_snapshot == 0
    pr.become_snapshot(20)
    pr.maybe_update(25)
    pr.become_probe()
    assert pr.next == 26
