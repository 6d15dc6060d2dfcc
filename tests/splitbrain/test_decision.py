"""The split-brain decision: what is a split, and how long it must last to trip the alarm."""

from __future__ import annotations

import pytest

from pyetcd.splitbrain import (
    INBOUND,
    SELF,
    Change,
    Finding,
    Report,
    Side,
    SplitBrainAlarm,
    assess,
    peer_urls_to_poll,
)
from raft.aio.peer_frames import Status

X, Y = 0xC1, 0xC2
A, B, C = 0xA, 0xB, 0xC


def reports(*statuses: tuple[int, int, int, int]) -> list[Report]:
    return [
        Report(Status(*s), SELF if i == 0 else f"http://p{i}:7001") for i, s in enumerate(statuses)
    ]


HEALTHY = reports((X, A, A, 5), (X, B, A, 5), (X, C, A, 5))

NO_SPLIT = {
    "healthy": HEALTHY,
    "alone": reports((X, A, A, 5)),
    "a member down": reports((X, A, A, 5), (X, B, A, 5)),
    "election in progress": reports((X, A, 0, 6), (X, B, 0, 6), (X, C, A, 5)),
    "restarting member knows no leader yet": reports((X, A, B, 5), (X, B, B, 5), (X, C, 0, 0)),
    "mid-join: the joiner has adopted the cluster id": reports((X, A, A, 5), (X, 0xD, 0, 0)),
    "the same member seen at two URLs": reports((X, A, A, 5), (X, B, A, 5), (X, B, A, 5)),
    "nobody answers": reports((X, A, 0, 3)),
}


@pytest.mark.parametrize("seen", NO_SPLIT.values(), ids=NO_SPLIT.keys())
def test_no_split(seen: list[Report]) -> None:
    assert assess(seen) is None


def test_two_cluster_ids_name_both_sides() -> None:
    found = assess(reports((X, A, A, 5), (X, B, A, 5), (Y, C, C, 2)))
    assert found == Finding("cluster", 0, (Side(X, (A, B)), Side(Y, (C,))))
    assert found.describe() == (
        "split brain: members answer for different clusters: "
        "cluster c1 (members a, b) vs cluster c2 (members c)"
    )


def test_a_wiped_member_with_its_old_id_in_a_new_cluster_is_a_split() -> None:
    # Restarted with wiped data as a 1-member cluster, member C keeps its member id.
    found = assess([Report(Status(Y, C, C, 2), SELF), *reports((X, A, A, 5), (X, B, A, 5))])
    assert found is not None and found.kind == "cluster"
    assert found.sides == (Side(X, (A, B)), Side(Y, (C,)))


def test_inbound_reports_count_like_polled_ones() -> None:
    found = assess([Report(Status(Y, C, C, 2), SELF), Report(Status(X, A, A, 5), INBOUND)])
    assert found is not None and found.kind == "cluster"


def test_an_inbound_leader_claim_counts_for_nothing() -> None:
    """The leader asked us a moment ago, then died; the others have elected a new one."""
    seen = reports((X, A, B, 6), (X, B, B, 6))
    assert assess([*seen, Report(Status(X, C, C, 5), INBOUND)]) is None
    assert assess([*seen, Report(Status(X, C, C, 5), "http://c:7001")]) is not None
    # Polled now, C follows B: its older inbound claim is overridden whatever the order.
    now = Report(Status(X, C, B, 6), "http://c:7001")
    assert assess([*seen, now, Report(Status(X, C, C, 5), INBOUND)]) is None


def test_two_leaders_in_one_cluster_name_their_followers() -> None:
    found = assess(reports((X, A, A, 5), (X, B, A, 5), (X, C, C, 7)))
    assert found == Finding("leader", X, (Side(A, (A, B)), Side(C, (C,))))
    assert found.describe() == (
        "split brain: more than one leader in cluster c1: "
        "leader a (followed by a, b) vs leader c (followed by c)"
    )


SPLIT = Finding("cluster", 0, (Side(X, (A, B)), Side(Y, (C,))))
TWO_LEADERS = Finding("leader", X, (Side(A, (A, B)), Side(C, (C,))))


def test_alarm_trips_after_confirmation_and_clears_after_clean_rounds() -> None:
    alarm = SplitBrainAlarm(leader_grace=4.0)
    assert alarm.observe(SPLIT, 0.0) is None
    assert alarm.observe(SPLIT, 3.0) == Change(SPLIT, on=True)
    assert alarm.active == SPLIT
    assert alarm.observe(SPLIT, 6.0) is None
    assert alarm.observe(None, 9.0) is None
    assert alarm.active == SPLIT
    assert alarm.observe(None, 12.0) == Change(SPLIT, on=False)
    assert alarm.active is None


def test_one_round_of_a_finding_does_not_trip() -> None:
    alarm = SplitBrainAlarm(leader_grace=4.0)
    for t in range(10):
        assert alarm.observe(SPLIT if t % 2 else None, t * 3.0) is None
    assert alarm.active is None


def test_two_leaders_must_outlast_the_grace() -> None:
    alarm = SplitBrainAlarm(leader_grace=4.0)
    assert alarm.observe(TWO_LEADERS, 0.0) is None
    assert alarm.observe(TWO_LEADERS, 3.0) is None  # two rounds, but within an election's reach
    assert alarm.observe(TWO_LEADERS, 6.0) == Change(TWO_LEADERS, on=True)


def test_successive_elections_never_add_up_to_a_split() -> None:
    """A rolling restart: each round may catch a different hand-over, never the same one."""
    alarm = SplitBrainAlarm(leader_grace=4.0)
    handovers = [
        Finding("leader", X, (Side(A, (A,)), Side(B, (B, C)))),
        Finding("leader", X, (Side(B, (B,)), Side(C, (A, C)))),
        Finding("leader", X, (Side(A, (A, B)), Side(C, (C,)))),
    ]
    for t in range(12):
        assert alarm.observe(handovers[t % 3], t * 3.0) is None


def test_a_changing_split_stays_on_with_the_new_sides() -> None:
    alarm = SplitBrainAlarm(leader_grace=0.0)
    alarm.observe(SPLIT, 0.0)
    alarm.observe(SPLIT, 3.0)
    wider = Finding("cluster", 0, (Side(X, (A,)), Side(Y, (B, C))))
    assert alarm.observe(wider, 6.0) == Change(wider, on=True)
    assert alarm.active == wider


def test_poll_list_is_initial_cluster_and_members_without_our_own() -> None:
    initial = [("m0", ("https://m0.dns:7001",)), ("m1", ("https://m1.dns:7001",))]
    members = [("https://10.0.0.1:7001",), ("https://m1.dns:7001", "https://10.0.0.2:7001")]
    own = ["https://m0.dns:7001", "https://10.0.0.1:7001"]
    assert peer_urls_to_poll(initial, members, own) == [
        "https://m1.dns:7001",
        "https://10.0.0.2:7001",
    ]
