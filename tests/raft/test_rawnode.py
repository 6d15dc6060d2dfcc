"""The RawNode API: the Ready/advance contract, status, argument checks, bad remote input."""

from __future__ import annotations

import random
from dataclasses import FrozenInstanceError

import pytest

from raft import (
    AppendEntries,
    ConfChange,
    ConfChangeKind,
    Config,
    ConfigError,
    Entry,
    EntryKind,
    HardState,
    Heartbeat,
    InstallSnapshot,
    MemoryStorage,
    RawNode,
    RequestVote,
    Role,
    Snapshot,
    SoftState,
    TimeoutNow,
)
from raft.testing import Network


def single_node() -> tuple[RawNode, MemoryStorage]:
    storage = MemoryStorage()
    node = RawNode(Config(1, random.Random(0)), storage)
    node.bootstrap([ConfChange(ConfChangeKind.ADD, 1, b"me")])
    return node, storage


def run(node: RawNode, storage: MemoryStorage) -> list:
    """Execute every pending Ready; the Readies handled."""
    handled = []
    while node.has_ready():
        rd = node.ready()
        storage.append(rd.entries)
        if rd.hard_state is not None:
            storage.set_hard_state(rd.hard_state)
        for entry in rd.committed_entries:
            if entry.kind is EntryKind.CONF_CHANGE:
                node.apply_conf_change(ConfChange(ConfChangeKind.ADD, 1))
        node.advance(rd)
        handled.append(rd)
    return handled


def test_ready_contract_for_a_single_node() -> None:
    node, storage = single_node()
    (boot,) = run(node, storage)
    assert boot.hard_state == HardState(1, 0, 1) and boot.must_sync
    assert [(e.index, e.kind) for e in boot.entries] == [(1, EntryKind.CONF_CHANGE)]
    assert boot.committed_entries == boot.entries
    assert not node.has_ready()
    node.campaign()
    rd = node.ready()
    assert rd.soft_state == SoftState(1, Role.LEADER)
    assert rd.hard_state == HardState(2, 1, 2) and rd.must_sync
    assert rd.entries == (Entry(2, 2),) and rd.committed_entries == (Entry(2, 2),)
    assert rd.messages == ()
    with pytest.raises(FrozenInstanceError):
        rd.must_sync = False  # type: ignore[misc]
    storage.append(rd.entries)
    node.advance(rd)
    node.propose(b"a")
    node.propose(b"b")
    rd = node.ready()
    assert [e.data for e in rd.entries] == [b"a", b"b"] == [e.data for e in rd.committed_entries]
    assert rd.soft_state is None and rd.hard_state == HardState(2, 1, 4)
    storage.append(rd.entries)
    node.advance(rd)
    assert not node.has_ready()
    assert node.status().applied == 4


def test_commit_only_change_needs_no_sync() -> None:
    net = Network()
    net.campaign(1)
    node = net.nodes[2]
    last = node.raft.log.last_index()
    node.step(AppendEntries(2, 1, 2, last, 2, (Entry(2, last + 1, data=b"x"),), last))
    net.process_ready(2)
    node.step(Heartbeat(2, 1, 2, last + 1))
    rd = node.ready()
    assert rd.hard_state is not None and rd.hard_state.commit == last + 1
    assert not rd.must_sync and rd.entries == ()


def test_status_reports_progress_only_on_the_leader() -> None:
    net = Network()
    net.campaign(1)
    status = net.nodes[1].status()
    assert status.soft_state == SoftState(1, Role.LEADER)
    assert sorted(status.progress) == [1, 2, 3]
    assert status.progress[2].match == net.committed(1) and status.progress[2].recent_active
    assert status.voters == (1, 2, 3)
    assert net.nodes[2].status().progress == {}
    status.counters.misaddressed = 99  # a copy: the node's counters are unaffected
    assert net.nodes[1].status().counters.misaddressed == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"id": 0},
        {"id": 1 << 64},
        {"id": 1, "heartbeat_tick": 0},
        {"id": 1, "election_tick": 1, "heartbeat_tick": 1},
        {"id": 1, "max_inflight": 0},
        {"id": 1, "max_size_per_msg": 0},
        {"id": 1, "max_uncommitted_bytes": -1},
    ],
)
def test_config_validation(kwargs) -> None:
    with pytest.raises(ConfigError):
        Config(**kwargs)


def test_bootstrap_argument_checks() -> None:
    add = ConfChangeKind.ADD
    with pytest.raises(ConfigError):
        RawNode(Config(1), MemoryStorage()).bootstrap([])
    with pytest.raises(ConfigError):
        RawNode(Config(1), MemoryStorage()).bootstrap([ConfChange(add, 1), ConfChange(add, 1)])
    with pytest.raises(ConfigError):
        RawNode(Config(1), MemoryStorage()).bootstrap([ConfChange(ConfChangeKind.REMOVE, 1)])
    node, _ = single_node()
    with pytest.raises(ConfigError):
        node.bootstrap([ConfChange(add, 1)])


def test_step_rejects_non_messages() -> None:
    node, _ = single_node()
    with pytest.raises(TypeError):
        node.step("hello")  # type: ignore[arg-type]


def test_bad_remote_input_is_counted_never_raised() -> None:
    net = Network()
    net.campaign(1)
    node = net.nodes[2]
    last = node.raft.log.last_index()
    bad = [
        TimeoutNow(3, 1, 2),  # addressed to someone else
        TimeoutNow(2, 0, 2),  # from nobody
        TimeoutNow(2, 2, 2),  # from itself
        AppendEntries(2, 1, 2, last, 2, (Entry(2, last + 5),), last),  # gap in indexes
        Heartbeat(2, 1, 2, last + 10),  # commit beyond the log
        InstallSnapshot(2, 1, 2, Snapshot()),  # empty snapshot
        Heartbeat(2, 1, 1, 0),  # stale term (answered, so not counted)
        RequestVote(2, 3, 0, last, 2),  # term 0 outside forwarding
    ]
    for msg in bad:
        node.step(msg)
    counters = node.status().counters
    assert counters.misaddressed == 3 and counters.malformed == 4
    assert node.raft.vote == 1
    assert net.role(2) is Role.FOLLOWER and net.term(2) == 2
    node.raft.check_invariants()


def test_local_argument_types_are_checked() -> None:
    node, _ = single_node()
    node.campaign()
    with pytest.raises(TypeError):
        node.propose("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        node.read_index(b"")
