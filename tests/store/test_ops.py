"""Key operations: results, indexes and errors as etcd 3.4.23 gives them (spec §1.4, §2, §7)."""

from __future__ import annotations

import pytest

from store.errors import (
    DIR_NOT_EMPTY,
    KEY_NOT_FOUND,
    NODE_EXIST,
    NOT_DIR,
    NOT_FILE,
    ROOT_R_ONLY,
    TEST_FAILED,
    EtcdError,
)
from store.event import NodeExtern
from store.store import Store, clean_path, user_path
from tests.store.util import boot, cad, cas, create, delete, fails, put, update


def test_first_user_write_is_index_4_and_set_then_get() -> None:
    store = boot()
    event = put(store, "/foo", "bar")
    assert event.action == "set"
    assert event.node == NodeExtern("/foo", "bar", modified_index=4, created_index=4)
    assert event.prev_node is None
    assert event.etcd_index == 4
    got = store.get("/foo")
    assert got.action == "get"
    assert got.node == NodeExtern("/foo", "bar", modified_index=4, created_index=4)
    assert got.etcd_index == 4


def test_set_replaces_with_a_new_node_and_reports_prev() -> None:
    store = boot()
    put(store, "/k", "1")
    event = put(store, "/k", "2")
    assert event.node == NodeExtern("/k", "2", modified_index=5, created_index=5)
    assert event.prev_node == NodeExtern("/k", "1", modified_index=4, created_index=4)


def test_set_on_dir_is_not_a_file_even_with_dir_true() -> None:
    store = boot()
    put(store, "/d", dir=True)
    fails(NOT_FILE, "/d", 4, put, store, "/d", "x")
    fails(NOT_FILE, "/d", 4, put, store, "/d", dir=True)


def test_set_dir_over_file_replaces_it_and_ignores_value() -> None:
    store = boot()
    put(store, "/f", "v")
    event = put(store, "/f", "ignored", dir=True)
    assert event.node == NodeExtern("/f", None, True, modified_index=5, created_index=5)
    assert event.prev_node == NodeExtern("/f", "v", modified_index=4, created_index=4)
    assert store.get("/f").node.nodes is None


def test_set_without_value_stores_empty_string() -> None:
    store = boot()
    put(store, "/e")
    assert store.get("/e").node.value == ""


def test_writes_create_missing_parents_with_the_write_index() -> None:
    store = boot()
    put(store, "/a/b/c", "v")
    a = store.get("/a").node
    assert (a.dir, a.created_index, a.modified_index) == (True, 4, 4)
    assert store.get("/a/b").node.created_index == 4
    assert store.index == 4


def test_path_errors_name_the_first_missing_prefix_or_the_file() -> None:
    store = boot()
    fails(KEY_NOT_FOUND, "/a", 3, store.get, "/a/b/c")
    put(store, "/a/f", "v")
    fails(KEY_NOT_FOUND, "/a/x", 4, store.get, "/a/x/y")
    fails(NOT_DIR, "/a/f", 4, store.get, "/a/f/g")
    fails(NOT_DIR, "/a/f", 4, put, store, "/a/f/g/h", "v")
    fails(NOT_DIR, "/a/f", 4, create, store, "/a/f/g", "v")
    fails(NOT_DIR, "/a/f", 4, create, store, "/a/f", "v", unique=True)
    fails(NOT_DIR, "/a/f", 4, update, store, "/a/f/g", "v")
    fails(NOT_DIR, "/a/f", 4, delete, store, "/a/f/g")
    assert store.index == 4


def test_root_writes_are_read_only_but_get_and_post_work() -> None:
    store = boot()
    fails(ROOT_R_ONLY, "/", 3, put, store, "/", "v")
    fails(ROOT_R_ONLY, "/", 3, put, store, "/", dir=True)
    fails(ROOT_R_ONLY, "/", 3, create, store, "/", "v")
    fails(ROOT_R_ONLY, "/", 3, update, store, "/", "")
    fails(ROOT_R_ONLY, "/", 3, cas, store, "/", "v", prev_value="x")
    fails(ROOT_R_ONLY, "/", 3, delete, store, "/", recursive=True)
    fails(NOT_FILE, "", 3, cad, store, "/", prev_value="x")
    empty = store.get("/")
    assert empty.node == NodeExtern("", None, True)
    event = create(store, "/", "v", unique=True)
    assert event.node.key == "/00000000000000000004"
    assert store.get("/").node.nodes == (event.node,)


def test_create_and_in_order_keys() -> None:
    store = boot()
    event = create(store, "/c", "1")
    assert (event.action, event.node.created_index) == ("create", 4)
    fails(NODE_EXIST, "/c", 4, create, store, "/c", "2")
    fails(NODE_EXIST, "/c", 4, create, store, "/c", dir=True)
    first = create(store, "/q", "a", unique=True)
    put(store, "/other", "x")
    second = create(store, "/q", "b", unique=True)
    in_dir = create(store, "/q", dir=True, unique=True)
    assert first.node.key == "/q/00000000000000000005"
    assert second.node.key == "/q/00000000000000000007"
    assert in_dir.node == NodeExtern("/q/00000000000000000008", None, True, None, 0, None, 8, 8)
    listed = store.get("/q", recursive=True, sorted=True).node.nodes
    assert listed is not None
    assert [n.key for n in listed] == [first.node.key, second.node.key, in_dir.node.key]
    fails(NOT_DIR, "/c", 8, create, store, "/c", "x", unique=True)


def test_update_keeps_created_index_and_requires_existence() -> None:
    store = boot()
    fails(KEY_NOT_FOUND, "/u", 3, update, store, "/u", "v")
    put(store, "/u", "1")
    event = update(store, "/u", "2")
    assert event.action == "update"
    assert event.node == NodeExtern("/u", "2", modified_index=5, created_index=4)
    assert event.prev_node == NodeExtern("/u", "1", modified_index=4, created_index=4)
    assert store.get("/u").node == event.node


def test_update_of_a_file_without_value_empties_it() -> None:
    store = boot()
    put(store, "/u", "1")
    assert update(store, "/u").node.value == ""


def test_update_of_a_dir_reports_new_index_but_keeps_the_stored_one() -> None:
    store = boot()
    put(store, "/d", dir=True)
    fails(NOT_FILE, "/d", 4, update, store, "/d", "v")
    event = update(store, "/d", expire_at=30 * 10**9)
    assert event.node == NodeExtern("/d", None, True, 30 * 10**9, 30, None, 5, 4)
    stored = store.get("/d").node
    assert (stored.modified_index, stored.created_index, stored.ttl) == (4, 4, 30)
    assert update(store, "/d").prev_node == NodeExtern("/d", None, True, 30 * 10**9, 30, None, 4, 4)


def test_compare_and_swap_success_and_every_failure_cause() -> None:
    store = boot()
    fails(KEY_NOT_FOUND, "/k", 3, cas, store, "/k", "v", prev_value="x")
    put(store, "/k", "one")
    put(store, "/d", dir=True)
    fails(NOT_FILE, "/d", 5, cas, store, "/d", "v", prev_value="x")
    fails(TEST_FAILED, "[two != one]", 5, cas, store, "/k", "v", prev_value="two")
    fails(TEST_FAILED, "[9 != 4]", 5, cas, store, "/k", "v", prev_index=9)
    fails(
        TEST_FAILED,
        "[two != one] [9 != 4]",
        5,
        cas,
        store,
        "/k",
        "v",
        prev_value="two",
        prev_index=9,
    )
    event = cas(store, "/k", "new", prev_value="one", prev_index=4)
    assert event.action == "compareAndSwap"
    assert event.node == NodeExtern("/k", "new", modified_index=6, created_index=4)
    assert event.prev_node == NodeExtern("/k", "one", modified_index=4, created_index=4)
    assert cas(store, "/k", "again", prev_index=6).node.modified_index == 7
    assert store.index == 7


def test_delete_file_dir_and_recursive() -> None:
    store = boot()
    fails(KEY_NOT_FOUND, "/x", 3, delete, store, "/x")
    put(store, "/f", "v")
    event = delete(store, "/f")
    assert event.action == "delete"
    assert event.node == NodeExtern("/f", modified_index=5, created_index=4)
    assert event.prev_node == NodeExtern("/f", "v", modified_index=4, created_index=4)
    put(store, "/g", "v")
    assert delete(store, "/g", dir=True).node.key == "/g"
    put(store, "/d/c", "v")
    fails(NOT_FILE, "/d", 8, delete, store, "/d")
    fails(DIR_NOT_EMPTY, "/d", 8, delete, store, "/d", dir=True)
    event = delete(store, "/d", recursive=True)
    assert event.node == NodeExtern("/d", None, True, modified_index=9, created_index=8)
    assert event.prev_node == NodeExtern("/d", None, True, modified_index=8, created_index=8)
    fails(KEY_NOT_FOUND, "/d", 9, store.get, "/d/c")
    put(store, "/e", dir=True)
    assert delete(store, "/e", dir=True).node.dir


def test_compare_and_delete() -> None:
    store = boot()
    fails(KEY_NOT_FOUND, "/k", 3, cad, store, "/k", prev_value="x")
    put(store, "/k", "v")
    put(store, "/d", dir=True)
    fails(NOT_FILE, "/d", 5, cad, store, "/d", prev_value="x")
    fails(TEST_FAILED, "[w != v]", 5, cad, store, "/k", prev_value="w")
    fails(TEST_FAILED, "[3 != 4]", 5, cad, store, "/k", prev_index=3)
    event = cad(store, "/k", prev_value="v", prev_index=4)
    assert event.action == "compareAndDelete"
    assert event.node == NodeExtern("/k", modified_index=6, created_index=4)
    assert event.prev_node == NodeExtern("/k", "v", modified_index=4, created_index=4)


def test_get_lists_one_level_and_hides_underscore_names() -> None:
    store = boot()
    put(store, "/d/b", "2")
    put(store, "/d/a", "1")
    put(store, "/d/_hidden", "h")
    put(store, "/d/sub/x", "x")
    put(store, "/d/sub/_y", "y")
    put(store, "/d/only/_z", "z")
    node = store.get("/d", sorted=True).node
    assert node.nodes is not None
    assert [(n.key, n.value, n.nodes) for n in node.nodes] == [
        ("/d/a", "1", None),
        ("/d/b", "2", None),
        ("/d/only", None, None),
        ("/d/sub", None, None),
    ]
    deep = store.get("/d", recursive=True, sorted=True).node.nodes
    assert deep is not None
    assert deep[2].nodes is None
    assert deep[3].nodes == (NodeExtern("/d/sub/x", "x", modified_index=7, created_index=7),)
    assert store.get("/d/_hidden").node.value == "h"
    assert store.get("/d/a", recursive=True, sorted=True).node.value == "1"


def test_sorting_is_bytewise_by_full_key_at_every_level() -> None:
    store = boot()
    for key in ("/s/b", "/s/B", "/s/a/z", "/s/a/m", "/s/\u00e9", "/s/10", "/s/9"):
        put(store, key, "v")
    nodes = store.get("/s", recursive=True, sorted=True).node.nodes
    assert nodes is not None
    assert [n.key for n in nodes] == ["/s/10", "/s/9", "/s/B", "/s/a", "/s/b", "/s/\u00e9"]
    inner = nodes[3].nodes
    assert inner is not None
    assert [n.key for n in inner] == ["/s/a/m", "/s/a/z"]


def test_failed_writes_do_not_consume_an_index() -> None:
    store = boot()
    put(store, "/k", "v")
    for call, args, kwargs in [
        (create, ("/k",), {}),
        (update, ("/missing",), {}),
        (cas, ("/k", "x"), {"prev_value": "nope"}),
        (delete, ("/missing",), {}),
        (cad, ("/k",), {"prev_index": 99}),
    ]:
        with pytest.raises(EtcdError) as info:
            call(store, *args, **kwargs)
        assert info.value.index == 4
    assert put(store, "/next", "v").node.modified_index == 5


def test_keys_are_normalised_defensively_and_never_leave_the_user_namespace() -> None:
    assert user_path("/") == "/1"
    assert user_path("") == "/1"
    assert user_path("/a/b") == "/1/a/b"
    assert user_path("a//b/./c/") == "/1/a/b/c"
    assert user_path("/../0/members") == "/1/0/members"
    assert clean_path("/a/../../b/..") == "/"
    store = boot()
    put(store, "a//b/", "v")
    assert store.get("/a/b").node.key == "/a/b"
    put(store, "/../0/version", "user")
    assert store.cluster_version() == "3.4.0"
    assert store.get("/0/version").node.value == "user"


def test_unicode_and_odd_keys_round_trip() -> None:
    store = boot()
    for key in ("/sp ace", "/q?x", "/\u00fc/\u20ac", "/a%2Fb"):
        put(store, key, key)
        assert store.get(key).node.value == key


def test_index_property_tracks_writes_only() -> None:
    store = Store()
    assert store.index == 0
    put(store, "/a", "1")
    store.get("/a")
    assert store.index == 1


def test_apply_refuses_what_is_not_a_command() -> None:
    with pytest.raises(TypeError):
        Store().apply("set /k v")  # type: ignore[arg-type]


def test_recursive_get_and_delete_of_a_very_deep_tree() -> None:
    store = Store()
    deep = "/" + "/".join(["n"] * 1500)
    put(store, deep, "bottom")
    node = store.get("/", recursive=True).node
    for _ in range(1500):
        assert node.nodes is not None
        (node,) = node.nodes
    assert (node.key, node.value) == (deep, "bottom")
    watcher = store.watch(deep)
    delete(store, "/n", recursive=True)
    assert watcher.take()[0].node.key == "/n"
