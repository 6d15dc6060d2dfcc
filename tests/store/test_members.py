"""The internal `/0` namespace: member records and cluster version take etcd indexes (spec §0)."""

from __future__ import annotations

from store.commands import (
    AddMember,
    PublishMember,
    RemoveMember,
    SetClusterVersion,
    UpdateMember,
)
from store.errors import KEY_NOT_FOUND, NODE_EXIST
from store.members import Member
from store.store import Store
from tests.store.util import MEMBER_ID, boot, fails, put


def test_boot_sequence_uses_indexes_1_to_3() -> None:
    store = boot()
    assert store.members() == [
        Member(MEMBER_ID, "n1", ("http://127.0.0.1:2380",), ("http://127.0.0.1:2379",))
    ]
    assert store.cluster_version() == "3.4.0"
    assert store.removed_member_ids() == set()
    assert not store.is_removed(MEMBER_ID)
    assert store.stats().sets_success == 2
    assert store.stats().create_success == 1


def test_three_member_bootstrap_puts_the_first_user_write_at_8() -> None:
    store = Store()
    for member_id in (3, 1, 2):
        store.apply(AddMember(member_id, (f"http://m{member_id}:2380",), 0))
    for member_id in (1, 2, 3):
        store.apply(PublishMember(member_id, f"n{member_id}", (f"http://m{member_id}:2379",), 0))
    store.apply(SetClusterVersion("3.4.0", 0))
    assert put(store, "/k", "v").node.modified_index == 8
    assert [m.id for m in store.members()] == [1, 2, 3]


def test_unpublished_member_has_empty_name_and_client_urls() -> None:
    store = boot()
    event = store.apply(AddMember(0xABC, ("http://new:2380", "http://new:2381"), 0))
    assert event is not None and event.node.key == "/0/members/abc/raftAttributes"
    assert store.index == 4
    added = store.members()[0]
    assert added == Member(0xABC, "", ("http://new:2380", "http://new:2381"), ())
    fails(NODE_EXIST, "/0/members/abc/raftAttributes", 4, store.apply, AddMember(0xABC, (), 0))


def test_update_member_takes_one_index() -> None:
    store = boot()
    store.apply(UpdateMember(MEMBER_ID, ("http://moved:2380",), 0))
    assert store.index == 4
    assert store.members()[0].peer_urls == ("http://moved:2380",)
    assert store.members()[0].name == "n1"
    fails(KEY_NOT_FOUND, "/0/members/77", 4, store.apply, UpdateMember(0x77, ("http://x:1",), 0))


def test_remove_member_takes_two_indexes_and_leaves_a_marker() -> None:
    store = boot()
    store.apply(AddMember(0x99, ("http://b:2380",), 0))
    event = store.apply(RemoveMember(0x99, 0))
    assert event is not None and event.node.key == "/0/removed_members/99"
    assert store.index == 6
    assert [m.id for m in store.members()] == [MEMBER_ID]
    assert store.removed_member_ids() == {0x99}
    assert store.is_removed(0x99)
    fails(NODE_EXIST, "/0/removed_members/99", 6, store.apply, RemoveMember(0x99, 0))
    fails(KEY_NOT_FOUND, "/0/members/77", 6, store.apply, RemoveMember(0x77, 0))
    store.apply(AddMember(0x99, ("http://b:2380",), 0))
    fails(NODE_EXIST, "/0/removed_members/99", 7, store.apply, RemoveMember(0x99, 0))
    assert [m.id for m in store.members()] == [0x99, MEMBER_ID]
    assert put(store, "/k", "v").node.modified_index == 8


def test_publish_is_a_set_and_repeats_on_restart() -> None:
    store = boot()
    store.apply(PublishMember(MEMBER_ID, "renamed", ("https://c:2379",), 0))
    assert store.index == 4
    assert store.members()[0].name == "renamed"
    assert store.members()[0].client_urls == ("https://c:2379",)


def test_member_records_are_invisible_to_user_keys() -> None:
    store = boot()
    root = store.get("/", recursive=True)
    assert root.node.nodes is None
    fails(KEY_NOT_FOUND, "/0", 3, store.get, "/0")


def test_cluster_version_is_none_until_set() -> None:
    store = Store()
    assert store.cluster_version() is None
    assert store.members() == []
    store.apply(SetClusterVersion("3.4.0", 0))
    assert store.cluster_version() == "3.4.0"
