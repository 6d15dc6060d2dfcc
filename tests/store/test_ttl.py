"""TTLs, expiry through sync(now), refresh: spec §1.8, §7 rows 10-12 and 22."""

from __future__ import annotations

import pytest

from store.commands import Sync
from store.errors import KEY_NOT_FOUND, NOT_FILE
from store.event import NodeExtern
from store.node import ttl_of
from store.store import Store
from tests.store.util import S, boot, cas, create, delete, fails, put, update


@pytest.mark.parametrize(
    ("remaining", "ttl"),
    [
        (2 * S, 2),
        (2 * S - 1, 2),
        (S + 1, 2),
        (S, 1),
        (1, 1),
        (0, 0),
        (-1, 0),
        (-S + 1, 0),
        (-S, -1),
        (-S - 1, -1),
        (-3 * S // 2, -1),
    ],
)
def test_ttl_is_go_ceiling_of_remaining_seconds(remaining: int, ttl: int) -> None:
    assert ttl_of(1000 * S + remaining, 1000 * S) == ttl


def test_permanent_nodes_have_no_ttl() -> None:
    assert ttl_of(None, 5) == 0


def test_ttl_shown_on_write_and_read_uses_each_callers_clock() -> None:
    store = boot()
    event = put(store, "/k", "v", expire_at=12 * S, now=10 * S)
    assert (event.node.expiration, event.node.ttl) == (12 * S, 2)
    assert store.get("/k", now=10 * S + 1).node.ttl == 2
    assert store.get("/k", now=11 * S).node.ttl == 1
    assert store.get("/k", now=12 * S).node.ttl == 0
    assert store.get("/k", now=14 * S).node.ttl == -2


def test_expired_but_unswept_keys_are_still_readable() -> None:
    store = boot()
    put(store, "/k", "v", expire_at=S, now=0)
    assert store.get("/k", now=2 * S).node.value == "v"
    assert store.has_ttl_nodes()


def test_sync_expires_due_nodes_earliest_first_ties_by_key_one_index_each() -> None:
    store = boot()
    put(store, "/late", "v", expire_at=9 * S)
    put(store, "/b", "v", expire_at=5 * S)
    put(store, "/a", "v", expire_at=5 * S)
    put(store, "/early", "v", expire_at=3 * S)
    put(store, "/permanent", "v")
    assert store.next_expiry() == 3 * S
    assert store.sync(2 * S) == []
    events = store.sync(5 * S)
    assert [(e.action, e.node.key, e.etcd_index) for e in events] == [
        ("expire", "/early", 9),
        ("expire", "/a", 10),
        ("expire", "/b", 11),
    ]
    assert events[1].node == NodeExtern("/a", modified_index=10, created_index=6)
    assert events[1].prev_node == NodeExtern("/a", "v", False, 5 * S, 0, None, 6, 6)
    assert store.index == 11
    assert store.next_expiry() == 9 * S
    assert store.stats().expire_count == 3
    assert store.metrics().expires == 3
    assert put(store, "/next", "v").node.modified_index == 12
    fails(KEY_NOT_FOUND, "/a", 12, store.get, "/a")


def test_late_sync_reports_negative_ttl_in_prev_node() -> None:
    store = boot()
    put(store, "/k", "v", expire_at=S)
    (event,) = store.sync(3 * S)
    assert event.prev_node is not None
    assert event.prev_node.ttl == -2


def test_ttl_zero_expires_at_the_next_sync() -> None:
    store = boot()
    event = put(store, "/k", "v", expire_at=7 * S, now=7 * S)
    assert (event.node.expiration, event.node.ttl) == (7 * S, 0)
    assert store.apply(Sync(7 * S)) is None
    fails(KEY_NOT_FOUND, "/k", 5, store.get, "/k")


def test_expiring_a_dir_removes_its_subtree_and_the_childrens_ttls() -> None:
    store = boot()
    put(store, "/d", dir=True, expire_at=5 * S)
    put(store, "/d/permanent", "v")
    put(store, "/d/later", "v", expire_at=50 * S)
    events = store.sync(5 * S)
    assert [e.node.key for e in events] == ["/d"]
    assert events[0].node.dir
    assert not store.has_ttl_nodes()
    assert store.next_expiry() is None
    assert store.sync(100 * S) == []
    assert store.index == 7


def test_set_or_update_without_ttl_makes_permanent_and_with_ttl_reschedules() -> None:
    store = boot()
    put(store, "/k", "v", expire_at=5 * S)
    put(store, "/k", "w")
    assert not store.has_ttl_nodes()
    assert store.sync(10 * S) == []
    update(store, "/k", "x", expire_at=5 * S)
    update(store, "/k", "y", expire_at=8 * S)
    assert store.next_expiry() == 8 * S
    assert store.sync(6 * S) == []
    cas(store, "/k", "z", prev_value="y")
    assert store.get("/k").node.expiration is None
    assert not store.has_ttl_nodes()


def test_dir_ttl_renewal_through_update() -> None:
    store = boot()
    create(store, "/d", dir=True, expire_at=5 * S)
    event = update(store, "/d", expire_at=30 * S, now=S)
    assert (event.action, event.node.ttl, event.node.dir) == ("update", 29, True)
    assert store.sync(6 * S) == []
    update(store, "/d")
    assert store.sync(100 * S) == []
    assert store.get("/d").node.expiration is None


def test_delete_and_cad_drop_ttl_entries() -> None:
    store = boot()
    put(store, "/a", "v", expire_at=5 * S)
    put(store, "/d/b", "v", expire_at=5 * S)
    delete(store, "/a")
    delete(store, "/d", recursive=True)
    assert not store.has_ttl_nodes()
    assert store.next_expiry() is None
    assert store.sync(10 * S) == []


def test_refresh_through_set_makes_a_new_node_and_keeps_the_value() -> None:
    store = boot()
    put(store, "/k", "v", expire_at=5 * S)
    event = put(store, "/k", expire_at=50 * S, refresh=True, now=S)
    assert event.action == "set"
    assert event.node == NodeExtern("/k", "v", False, 50 * S, 49, None, 5, 5)
    assert event.prev_node == NodeExtern("/k", "v", False, 5 * S, 4, None, 4, 4)
    assert store.sync(10 * S) == []
    fails(KEY_NOT_FOUND, "/missing", 5, put, store, "/missing", expire_at=S, refresh=True)
    put(store, "/d", dir=True)
    fails(NOT_FILE, "/d", 6, put, store, "/d", expire_at=S, refresh=True)


def test_refresh_through_update_works_on_dirs_and_keeps_created_index() -> None:
    store = boot()
    put(store, "/d", dir=True, expire_at=5 * S)
    event = update(store, "/d", expire_at=9 * S, refresh=True)
    assert (event.action, event.node.dir, event.node.created_index, event.refresh) == (
        "update",
        True,
        4,
        True,
    )
    put(store, "/f", "keep", expire_at=5 * S)
    refreshed = update(store, "/f", expire_at=9 * S, refresh=True)
    assert (refreshed.node.value, refreshed.node.created_index) == ("keep", 6)
    assert store.sync(5 * S) == []
    assert [e.node.key for e in store.sync(9 * S)] == ["/d", "/f"]


def test_refresh_through_cas_keeps_created_index() -> None:
    store = boot()
    put(store, "/k", "v", expire_at=5 * S)
    event = cas(store, "/k", "", prev_index=4, expire_at=9 * S, refresh=True)
    assert event.node == NodeExtern("/k", "v", False, 9 * S, 9, None, 5, 4)


def test_many_refreshes_keep_the_expiry_index_small() -> None:
    store = Store()
    put(store, "/k", "v", expire_at=10**6 * S)
    for i in range(1, 5000):
        update(store, "/k", expire_at=(10**6 + i) * S, refresh=True)
    assert len(store._ttl._heap) < 200
    assert store.next_expiry() == (10**6 + 4999) * S
    assert [e.node.key for e in store.sync(2 * 10**6 * S)] == ["/k"]


def test_ttl_index_survives_a_key_set_back_to_an_earlier_expiry() -> None:
    store = boot()
    put(store, "/k", "v", expire_at=5 * S)
    update(store, "/k", expire_at=9 * S)
    update(store, "/k", expire_at=5 * S)
    assert [e.node.key for e in store.sync(20 * S)] == ["/k"]
    assert not store.has_ttl_nodes()
