"""Config.defer_commit: a commit only the leader's clients wait for rides on the next append."""

from __future__ import annotations

import pytest

from raft import AppendEntries, ConfChange, ConfChangeKind, Message, Role
from raft.testing import Network


def _elected(**config: object) -> tuple[Network, int]:
    """Node 1 leads; also returns the commit index everyone knows of once it does."""
    net = Network(**config)
    net.campaign(1)
    assert net.role(1) is Role.LEADER
    base = net.committed(1)
    assert [net.committed(i) for i in (2, 3)] == [base, base]
    return net, base


def _watch(net: Network) -> list[Message]:
    seen: list[Message] = []

    def hook(m: Message) -> bool:
        seen.append(m)
        return True

    net.msg_hook = hook
    return seen


def test_without_the_option_every_commit_is_broadcast_at_once() -> None:
    net, base = _elected()
    net.propose(1, b"a")
    assert [net.committed(i) for i in (1, 2, 3)] == [base + 1] * 3
    assert not net.nodes[1].commit_pending
    assert net.applied[2] == [b"a"]


def test_a_leader_local_commit_is_held_back_and_rides_on_the_next_append() -> None:
    net, base = _elected(defer_commit=True)
    seen = _watch(net)
    net.propose(1, b"a")
    assert net.committed(1) == base + 1
    assert [net.committed(i) for i in (2, 3)] == [base, base]
    assert net.nodes[1].commit_pending
    appends = [m for m in seen if isinstance(m, AppendEntries)]
    assert [(m.to, len(m.entries), m.commit) for m in appends] == [(2, 1, base), (3, 1, base)]
    assert net.applied[1] == [b"a"] and net.applied[2] == []

    seen.clear()
    net.propose(1, b"b")
    appends = [m for m in seen if isinstance(m, AppendEntries)]
    assert [(m.to, m.commit) for m in appends] == [(2, base + 1), (3, base + 1)]
    assert net.applied[2] == [b"a"]
    assert net.committed(1) == base + 2 and net.nodes[1].commit_pending


def test_flush_commit_broadcasts_the_held_back_index_once() -> None:
    net, base = _elected(defer_commit=True)
    net.propose(1, b"a")
    seen = _watch(net)
    net.nodes[1].flush_commit()
    net.stabilize()
    assert [(type(m).__name__, m.to) for m in seen if m.frm == 1] == [
        ("AppendEntries", 2),
        ("AppendEntries", 3),
    ]
    appends = [m for m in seen if isinstance(m, AppendEntries)]
    assert all(not m.entries and m.commit == base + 1 for m in appends)
    assert [net.committed(i) for i in (2, 3)] == [base + 1] * 2
    assert net.applied[3] == [b"a"]
    assert not net.nodes[1].commit_pending
    seen.clear()
    net.nodes[1].flush_commit()
    net.stabilize()
    assert seen == []


def test_a_heartbeat_carries_the_held_back_index_too() -> None:
    net, base = _elected(defer_commit=True)
    net.propose(1, b"a")
    net.tick([1])
    assert [net.committed(i) for i in (2, 3)] == [base + 1] * 2
    assert net.applied[2] == [b"a"]


def test_an_entry_a_follower_forwarded_is_broadcast_at_once() -> None:
    net, base = _elected(defer_commit=True)
    net.propose(3, b"via-3")
    assert [net.committed(i) for i in (1, 2, 3)] == [base + 1] * 3
    assert net.applied[3] == [b"via-3"]
    assert not net.nodes[1].commit_pending
    net.propose(1, b"local")
    assert net.committed(3) == base + 1 and net.nodes[1].commit_pending


@pytest.mark.parametrize("kind", [ConfChangeKind.ADD, ConfChangeKind.REMOVE])
def test_a_configuration_change_is_broadcast_at_once(kind: ConfChangeKind) -> None:
    net, base = _elected(defer_commit=True)
    node = 4 if kind is ConfChangeKind.ADD else 3
    net.propose_conf_change(1, ConfChange(kind, node))
    # The member being removed hears of its removal before the leader forgets it.
    assert [net.committed(i) for i in (1, 2, 3)] == [base + 1] * 3
    assert not net.nodes[1].commit_pending


def test_a_leader_that_steps_down_forgets_what_it_held_back() -> None:
    net, _ = _elected(defer_commit=True)
    net.propose(1, b"a")
    assert net.nodes[1].commit_pending
    net.isolate(1)
    net.tick_election([2, 3])
    net.heal()
    net.tick([2])
    assert net.role(1) is Role.FOLLOWER
    assert not net.nodes[1].commit_pending
    net.nodes[1].flush_commit()
    assert not net.nodes[1].has_ready() or not net.nodes[1].ready().messages
    assert net.applied[3] == [b"a"]
