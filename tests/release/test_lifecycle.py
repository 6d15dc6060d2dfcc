"""The lifecycle's decision table, and whole BOSH operations played through it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pyetcd.lifecycle import (
    DrainObservation,
    Member,
    PostStartKind,
    PostStartObservation,
    Self,
    StartKind,
    StartObservation,
    decide_drain,
    decide_post_start,
    decide_start,
    deleting,
)

ME = Self("etcd-1", "http://10.0.0.2:7001")
M0 = Member("a0", "etcd-0", ("http://10.0.0.1:7001",), ("http://10.0.0.1:4001",))
M2 = Member("a2", "etcd-2", ("http://10.0.0.3:7001",), ("http://10.0.0.3:4001",))
MINE = Member("a1", "etcd-1", (ME.peer_url,), ("http://10.0.0.2:4001",))
PENDING = Member("a1", "", (ME.peer_url,))


def _start(has_data=False, members=None, bootstrap=False, first=True, foreign=""):
    return decide_start(StartObservation(ME, has_data, members, bootstrap, first, foreign))


# (situation, observation, kind, add_self, removed, initial cluster names)
START_TABLE = [
    ("data, cluster answers", _start(True, (M0, MINE)), StartKind.RESTART, False, (), ["etcd-1"]),
    ("data, nobody answers", _start(True, None), StartKind.RESTART, False, (), ["etcd-1"]),
    ("data, bootstrap first deploy", _start(True, None, True), StartKind.RESTART, False, (),
     ["etcd-1"]),
    ("no data, cluster without me", _start(False, (M0, M2)), StartKind.JOIN, True, (),
     ["etcd-0", "etcd-2", "etcd-1"]),
    ("no data, added but never started", _start(False, (M0, PENDING)), StartKind.JOIN, False, (),
     ["etcd-0", "etcd-1"]),
    ("no data, listed as a started member", _start(False, (M0, MINE)), StartKind.JOIN, True,
     ("a1",), ["etcd-0", "etcd-1"]),
    ("no data, bootstrap sees a cluster", _start(False, (M0,), True), StartKind.JOIN, True, (),
     ["etcd-0", "etcd-1"]),
    ("no data, nobody, bootstrap, first deploy", _start(False, None, True, True), StartKind.FOUND,
     False, (), ["etcd-1"]),
    ("no data, nobody, bootstrap, disk hosted a member", _start(False, None, True, False),
     StartKind.WAIT, False, (), []),
    ("no data, nobody, not bootstrap, first deploy", _start(False, None, False, True),
     StartKind.WAIT, False, (), []),
    ("no data, nobody, not bootstrap, later deploy", _start(False, None, False, False),
     StartKind.WAIT, False, (), []),
    ("no data, an etcd-release member answers", _start(False, (M0,), foreign="etcd-0"),
     StartKind.WAIT, False, (), []),
    ("data, an etcd-release member answers", _start(True, (M0,), foreign="etcd-0"),
     StartKind.RESTART, False, (), ["etcd-1"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("action", "kind", "add", "removed", "names"),
    [row[1:] for row in START_TABLE],
    ids=[row[0] for row in START_TABLE],
)
def test_start_table(action, kind, add, removed, names) -> None:
    assert action.kind is kind
    assert action.add_self is add
    assert action.remove == removed
    assert [name for name, _ in action.initial_cluster] == names
    assert action.cluster_state == ("new" if kind is StartKind.FOUND else "existing")
    assert action.reason


def test_waiting_never_founds() -> None:
    for bootstrap, first in ((False, True), (True, False), (False, False)):
        assert _start(False, None, bootstrap, first).kind is StartKind.WAIT


@pytest.mark.parametrize(
    ("next_state", "expected"),
    [
        ('{"persistent_disk": 0}', True),
        ('{"persistent_disk": 1024, "job": {"name": "etcd"}}', False),
        ("{}", False),
        ("", False),
        ("not json", False),
        ("[0]", False),
    ],
)
def test_deleting_reads_next_state(next_state: str, expected: bool) -> None:
    assert deleting(next_state) is expected


# (situation, deleting, running, leader, members, hand off, removed member)
DRAIN_TABLE = [
    ("update, follower", False, True, False, (M0, MINE), False, None),
    ("update, leader", False, True, True, (M0, MINE), True, None),
    ("update, single member leader", False, True, True, (MINE,), False, None),
    ("delete, follower", True, True, False, (M0, MINE), False, "a1"),
    ("delete, leader", True, True, True, (M0, MINE, M2), True, "a1"),
    ("delete, last member", True, True, True, (MINE,), False, None),
    ("delete, not a member", True, True, False, (M0, M2), False, None),
    ("delete, process not running", True, False, False, (M0, MINE), False, "a1"),
    ("update, nobody answers", False, True, False, None, False, None),
]


@pytest.mark.parametrize(
    ("is_deleting", "running", "leader", "members", "hand_off", "removed"),
    [row[1:] for row in DRAIN_TABLE],
    ids=[row[0] for row in DRAIN_TABLE],
)
def test_drain_table(is_deleting, running, leader, members, hand_off, removed) -> None:
    action = decide_drain(DrainObservation(ME, is_deleting, running, leader, members))
    assert (action.hand_off, action.remove) == (hand_off, removed)


@pytest.mark.parametrize(
    ("healthy", "member", "kind"),
    [
        (False, None, PostStartKind.WAIT),
        (True, None, PostStartKind.WAIT),
        (True, MINE, PostStartKind.DONE),
        (True, Member("a1", "etcd-1", ("http://old:7001",)), PostStartKind.UPDATE_PEER_URL),
    ],
)
def test_post_start_table(healthy, member, kind) -> None:
    action = decide_post_start(PostStartObservation(ME, healthy, member))
    assert action.kind is kind
    if kind is PostStartKind.UPDATE_PEER_URL:
        assert action.member_id == "a1"


# -- whole operations ------------------------------------------------------------------------


@dataclass
class Disk:
    has_data: bool = False
    marker: bool = False


@dataclass
class Model:
    """A cluster as its member list, instances as their disks, BOSH's order of steps."""

    group: str = "etcd"
    members: dict[str, Member] = field(default_factory=dict)
    disks: dict[int, Disk] = field(default_factory=dict)
    running: set[int] = field(default_factory=set)
    next_id: int = 0
    founded: int = 0

    def me(self, index: int) -> Self:
        return Self(f"{self.group.replace('_', '-')}-{index}", f"http://10.0.0.{index + 1}:7001")

    def answer(self, index: int) -> tuple[Member, ...] | None:
        others = [i for i in self.running if i != index]
        return tuple(self.members.values()) if others else None

    def start(self, index: int, bootstrap: bool) -> None:
        disk = self.disks.setdefault(index, Disk())
        me = self.me(index)
        action = decide_start(
            StartObservation(me, disk.has_data, self.answer(index), bootstrap, not disk.marker)
        )
        assert action.kind is not StartKind.WAIT, (index, action.reason)
        for mid in action.remove:
            del self.members[mid]
        if action.kind is StartKind.FOUND:
            self.founded += 1
            self.members = {}
        if action.add_self or action.kind is StartKind.FOUND:
            self.next_id += 1
            self.members[str(self.next_id)] = Member(str(self.next_id), "", (me.peer_url,))
        mid = next(m.id for m in self.members.values() if me.peer_url in m.peer_urls)
        self.members[mid] = Member(mid, me.name, (me.peer_url,))  # published
        disk.has_data = True
        self.running.add(index)
        post = decide_post_start(PostStartObservation(me, True, self.members[mid]))
        assert post.kind is PostStartKind.DONE
        disk.marker = True

    def drain(self, index: int, delete: bool) -> None:
        me = self.me(index)
        action = decide_drain(
            DrainObservation(me, delete, True, False, tuple(self.members.values()))
        )
        if action.remove:
            del self.members[action.remove]
        self.running.discard(index)
        if delete:
            del self.disks[index]

    def deploy(self, instances: int) -> None:
        """BOSH: update the existing instances one at a time, create new ones, delete extra."""
        existing = sorted(self.disks)
        for index in existing:
            if index < instances:
                self.drain(index, delete=False)
                self.start(index, bootstrap=index == 0)
        for index in range(instances):
            if index not in self.disks:
                self.start(index, bootstrap=index == 0)
        for index in sorted(existing, reverse=True):
            if index >= instances:
                self.drain(index, delete=True)

    def check(self, instances: int) -> None:
        names = sorted(m.name for m in self.members.values())
        assert names == sorted(self.me(i).name for i in range(instances))
        assert self.founded == 1


def test_scale_1_3_5_3_1_needs_no_manual_step() -> None:
    model = Model()
    for count in (1, 3, 5, 3, 1):
        model.deploy(count)
        model.check(count)


def test_rename_keeps_data_and_membership() -> None:
    model = Model()
    model.deploy(3)
    ids = sorted(model.members)
    model.group = "new_etcd"  # migrated_from: the disks move with the instances
    model.deploy(3)
    assert sorted(model.members) == ids
    assert sorted(m.name for m in model.members.values()) == [
        "new-etcd-0", "new-etcd-1", "new-etcd-2",
    ]  # fmt: skip


def test_lost_disk_rejoins_instead_of_founding() -> None:
    model = Model()
    model.deploy(3)
    model.running.discard(0)
    model.disks[0] = Disk()  # the bootstrap VM's disk was replaced, others still run
    model.start(0, bootstrap=True)
    model.check(3)
