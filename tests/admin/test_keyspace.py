"""The copy's rules on plain data: what to write, what differs, how events replay."""

from __future__ import annotations

from pyetcd.admin.keyspace import (
    Delete,
    Entry,
    Put,
    differences,
    entries,
    event_write,
    extra_keys,
    normalise_prefix,
    rebuild,
)

TREE = {
    "dir": True,
    "nodes": [
        {"key": "/a", "value": "1", "modifiedIndex": 4},
        {"key": "/empty", "dir": True},
        {"key": "/ttl", "dir": True, "ttl": 30, "nodes": [{"key": "/ttl/k", "value": ""}]},
        {
            "key": "/plain",
            "dir": True,
            "nodes": [
                {"key": "/plain/x", "value": "v", "ttl": 0},
                {
                    "key": "/plain/sub",
                    "dir": True,
                    "nodes": [{"key": "/plain/sub/y", "value": "w"}],
                },
            ],
        },
    ],
}


def test_rebuild_writes_only_the_directories_that_need_it_parents_first() -> None:
    dirs, keys = rebuild(TREE)
    assert dirs == [Put("/empty", None), Put("/ttl", None, 30)]
    assert keys == [
        Put("/a", "1"),
        Put("/ttl/k", ""),
        Put("/plain/x", "v", 1),  # a TTL about to run out is kept, not dropped
        Put("/plain/sub/y", "w"),
    ]


def test_rebuild_of_a_subtree_recreates_its_root_directory_when_empty() -> None:
    assert rebuild({"key": "/d", "dir": True}) == ([Put("/d", None)], [])


def test_entries_and_differences() -> None:
    src = entries(TREE)
    assert src["/plain/sub"] == Entry(None, True)
    assert src["/a"] == Entry("1", False)
    assert "/" not in src
    dst = dict(src)
    assert differences(src, dst) == []
    dst["/a"] = Entry("2", False)
    dst["/only"] = Entry("z", False)
    del dst["/empty"]
    assert differences(src, dst) == ["/a", "/empty", "/only"]


def test_extra_keys_deletes_topmost_paths_only() -> None:
    dst = {
        "/gone": Entry(None, True),
        "/gone/k": Entry("1", False),
        "/kept": Entry("2", False),
        "/x": Entry("3", False),
    }
    src = {"/kept": Entry("2", False)}
    assert extra_keys(src, dst) == [Delete("/gone", True), Delete("/x", False)]


def test_event_write_maps_every_action() -> None:
    node = {"key": "/k", "value": "v", "modifiedIndex": 9}
    for action in ("set", "create", "update", "compareAndSwap"):
        assert event_write({"action": action, "node": node}) == Put("/k", "v")
    with_ttl = {"action": "set", "node": {**node, "ttl": 5}}
    assert event_write(with_ttl) == Put("/k", "v", 5)
    stamped = {**node, "ttl": 5, "expiration": "2026-12-03T17:11:17.964013557Z"}
    assert event_write({"action": "set", "node": stamped}) == Put("/k", "v", 5, 1796317877.964013)
    a_dir = {"action": "create", "node": {"key": "/d", "dir": True}}
    assert event_write(a_dir) == Put("/d", None)
    for action in ("delete", "compareAndDelete", "expire"):
        assert event_write({"action": action, "node": {"key": "/k"}}) == Delete("/k", False)
    assert event_write({"action": "delete", "node": {"key": "/d", "dir": True}}) == Delete(
        "/d", True
    )
    assert event_write({"action": "get", "node": node}) is None
    assert event_write({"action": "set"}) is None


def test_prefixes() -> None:
    assert normalise_prefix("") == "/"
    assert normalise_prefix("a//b/") == "/a/b"
