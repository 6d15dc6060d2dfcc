"""The watcher hub and event history: spec §1.6, §1.9, §7 rows 16-22."""

from __future__ import annotations

from store.commands import Sync
from store.errors import EVENT_INDEX_CLEARED
from store.event import NodeExtern
from store.history import HISTORY_SIZE
from store.store import Store
from store.watcher import STREAM_BUFFER
from tests.store.util import S, boot, cad, cas, create, delete, fails, put, update


def test_non_stream_watch_gets_the_next_event_then_closes() -> None:
    store = boot()
    calls: list[int] = []
    watcher = store.watch("/k")
    watcher.on_event = lambda: calls.append(1)
    assert (watcher.start_index, watcher.closed, watcher.take()) == (3, False, [])
    assert store.stats().watchers == 1
    event = put(store, "/k", "v")
    assert calls == [1]
    assert watcher.closed
    assert watcher.take() == [event]
    assert watcher.take() == []
    assert store.stats().watchers == 0
    put(store, "/k", "w")
    assert calls == [1]


def test_exact_watch_ignores_children_and_siblings_recursive_gets_children() -> None:
    store = boot()
    exact = store.watch("/d")
    recursive = store.watch("/d", recursive=True)
    sibling = put(store, "/dx", "v")
    child = put(store, "/d/c", "v")
    assert exact.take() == []
    assert recursive.take() == [child]
    assert sibling.node.key == "/dx"
    own = update(store, "/d")
    assert exact.take() == [own]


def test_root_recursive_watch_sees_every_user_key_but_no_member_writes() -> None:
    store = Store()
    watcher = store.watch("/", recursive=True, stream=True)
    from store.commands import AddMember

    store.apply(AddMember(1, ("http://p",), 0))
    event = put(store, "/a/b", "v")
    assert watcher.take() == [event]


def test_hidden_keys_reach_exact_watchers_only() -> None:
    store = boot()
    root = store.watch("/", recursive=True, stream=True)
    parent = store.watch("/d", recursive=True, stream=True)
    exact = store.watch("/d/_h/x", stream=True)
    inside_hidden = store.watch("/d/_h", recursive=True, stream=True)
    below = put(store, "/d/_h/x", "v")
    hidden_dir = update(store, "/d/_h")
    assert root.take() == []
    assert parent.take() == []
    assert exact.take() == [below]
    assert inside_hidden.take() == [below, hidden_dir]


def test_wait_index_in_the_past_returns_the_first_matching_historical_event() -> None:
    store = boot()
    first = put(store, "/k", "1")
    put(store, "/other", "x")
    put(store, "/k", "2")
    watcher = store.watch("/k", since_index=4)
    assert watcher.closed
    assert store.stats().watchers == 0
    (event,) = watcher.take()
    assert event.node == first.node
    assert event.etcd_index == 6
    later = store.watch("/k", since_index=5).take()
    assert [e.node.value for e in later] == ["2"]


def test_wait_index_in_the_future_waits_for_that_index() -> None:
    store = boot()
    watcher = store.watch("/k", since_index=6)
    assert watcher.start_index == 3
    put(store, "/k", "4")
    put(store, "/k", "5")
    assert watcher.take() == []
    event = put(store, "/k", "6")
    assert watcher.take() == [event]


def test_stream_watch_from_history_delivers_one_event_then_stays_silent() -> None:
    """Verified on etcd 3.4.23: the history hit is not registered as a live watcher."""
    store = boot()
    first = put(store, "/k", "1")
    watcher = store.watch("/k", stream=True, since_index=4)
    put(store, "/k", "2")
    assert [e.node for e in watcher.take()] == [first.node]
    assert not watcher.closed
    assert store.stats().watchers == 0


def test_history_scan_ignores_hidden_and_matches_dir_deletes_by_string_prefix() -> None:
    store = boot()
    hidden = put(store, "/d/_h", "v")
    assert store.watch("/d", recursive=True, since_index=4).take() == [hidden]
    put(store, "/w", dir=True)
    removed = delete(store, "/w", dir=True)
    prefixed = store.watch("/wx", since_index=removed.etcd_index).take()
    assert prefixed[0].node == removed.node
    file_deleted = put(store, "/f", "v")
    delete(store, "/f")
    assert store.watch("/fx", since_index=file_deleted.etcd_index + 1).take() == []


def test_history_window_of_1000_and_error_401() -> None:
    store = boot()
    for i in range(HISTORY_SIZE + 30):
        put(store, "/k", str(i))
    current = store.index
    start = current - HISTORY_SIZE + 1
    fails(
        EVENT_INDEX_CLEARED,
        f"the requested history has been cleared [{start}/{start - 1}]",
        current,
        store.watch,
        "/k",
        since_index=start - 1,
    )
    assert store.watch("/k", since_index=start).take()[0].node.modified_index == start
    assert store.metrics().watch_requests == 2


def test_internal_writes_take_history_slots_but_match_no_user_watch() -> None:
    store = boot()
    assert store.watch("/", recursive=True, since_index=1).take() == []
    for i in range(HISTORY_SIZE - 3):
        put(store, "/k", str(i))
    assert store.watch("/nothing", since_index=1).take() == []
    put(store, "/k", "last")
    fails(
        EVENT_INDEX_CLEARED,
        "the requested history has been cleared [2/1]",
        HISTORY_SIZE + 1,
        store.watch,
        "/k",
        since_index=1,
    )


def test_refresh_consumes_an_index_is_recorded_but_never_delivered() -> None:
    store = boot()
    put(store, "/k", "v", expire_at=10 * S)
    live = store.watch("/k", stream=True)
    refreshed = put(store, "/k", expire_at=20 * S, refresh=True)
    assert refreshed.refresh
    assert refreshed.node == NodeExtern("/k", "v", False, 20 * S, 20, None, 5, 5)
    assert update(store, "/k", expire_at=30 * S, refresh=True).node.modified_index == 6
    assert cas(store, "/k", "", prev_value="v", expire_at=40 * S, refresh=True).node.value == "v"
    assert live.take() == []
    assert store.watch("/k", since_index=5).take() == []
    final = put(store, "/k", "new")
    assert live.take() == [final]
    assert store.watch("/k", since_index=5).take()[0].node == final.node


def test_delete_of_a_dir_reaches_watchers_of_removed_descendants_only() -> None:
    store = boot()
    put(store, "/d/a/b", "v")
    put(store, "/d/_h", "v")
    on_file = store.watch("/d/a/b")
    on_subdir = store.watch("/d/a")
    on_hidden = store.watch("/d/_h")
    on_missing = store.watch("/d/a/missing")
    on_parent_plain = store.watch("/")
    on_parent_recursive = store.watch("/", recursive=True)
    event = delete(store, "/d", recursive=True)
    for watcher in (on_file, on_subdir, on_hidden, on_parent_recursive):
        assert watcher.take() == [event]
    assert on_missing.take() == []
    assert on_parent_plain.take() == []
    assert not on_missing.closed


def test_stream_watchers_on_the_exact_path_get_removals_twice() -> None:
    store = boot()
    put(store, "/k", "v")
    put(store, "/d/c", "v")
    put(store, "/c", "v")
    stream_k = store.watch("/k", stream=True)
    plain_k = store.watch("/k")
    stream_d = store.watch("/d", stream=True)
    stream_child = store.watch("/d/c", stream=True)
    stream_c = store.watch("/c", stream=True)
    deleted = delete(store, "/k")
    dir_deleted = delete(store, "/d", recursive=True)
    cad_deleted = cad(store, "/c", prev_value="v")
    assert stream_k.take() == [deleted, deleted]
    assert plain_k.take() == [deleted]
    assert stream_d.take() == [dir_deleted, dir_deleted]
    assert stream_child.take() == [dir_deleted]
    assert stream_c.take() == [cad_deleted, cad_deleted]


def test_expiry_notifies_like_a_delete() -> None:
    store = boot()
    put(store, "/d", dir=True, expire_at=5 * S)
    put(store, "/d/c", "v")
    child = store.watch("/d/c")
    stream_dir = store.watch("/d", stream=True)
    recursive = store.watch("/", recursive=True, stream=True)
    assert store.apply(Sync(5 * S)) is None
    (event,) = child.take()
    assert event.action == "expire"
    assert event.node == NodeExtern("/d", None, True, modified_index=6, created_index=4)
    assert event.prev_node == NodeExtern("/d", None, True, 5 * S, 0, None, 4, 4)
    assert stream_dir.take() == [event, event]
    assert recursive.take() == [event]


def test_stream_overflow_closes_the_watcher_after_100_queued_events() -> None:
    store = boot()
    calls: list[bool] = []
    watcher = store.watch("/k", stream=True)
    watcher.on_event = lambda: calls.append(watcher.closed)
    for i in range(STREAM_BUFFER):
        put(store, "/k", str(i))
    assert not watcher.closed
    put(store, "/k", "overflow")
    assert watcher.closed
    assert calls[-1] is True
    assert len(calls) == STREAM_BUFFER + 1
    assert [e.node.value for e in watcher.take()] == [str(i) for i in range(STREAM_BUFFER)]
    put(store, "/k", "after")
    assert watcher.take() == []
    assert store.stats().watchers == 0


def test_draining_keeps_a_stream_alive() -> None:
    store = boot()
    watcher = store.watch("/k", stream=True)
    for i in range(3 * STREAM_BUFFER):
        put(store, "/k", str(i))
        assert len(watcher.take()) == 1
    assert not watcher.closed


def test_remove_is_idempotent_and_updates_the_count() -> None:
    store = boot()
    first = store.watch("/k")
    second = store.watch("/k", stream=True)
    assert store.stats().watchers == 2
    first.remove()
    first.remove()
    assert first.closed
    assert store.stats().watchers == 1
    event = put(store, "/k", "v")
    assert first.take() == []
    assert second.take() == [event]
    second.remove()
    assert store.stats().watchers == 0
    assert store.metrics().watchers == 0
    put(store, "/k", "w")
    assert second.take() == []


def test_watchers_on_one_key_are_served_in_registration_order() -> None:
    store = boot()
    order: list[str] = []
    for name in ("a", "b", "c"):
        watcher = store.watch("/k")
        watcher.on_event = lambda name=name: order.append(name)
    put(store, "/k", "v")
    assert order == ["a", "b", "c"]


def test_create_and_in_order_events_reach_parent_watchers() -> None:
    store = boot()
    watcher = store.watch("/q", recursive=True)
    event = create(store, "/q", "job", unique=True)
    assert watcher.take() == [event]
    assert event.node.key == "/q/00000000000000000004"
