"""save()/restore(): identical state, history and future behaviour; corrupt input is refused."""

from __future__ import annotations

import msgpack
import pytest

from store.commands import RemoveMember
from store.errors import EtcdError
from store.event import Event
from store.snapshot import BadSnapshot
from store.store import Store
from tests.store.util import S, boot, cad, cas, create, delete, put, update

KEYS = ["/a", "/d/x", "/d/_h", "/q", "/t", "/d"]


def _busy_store() -> Store:
    store = boot()
    store.apply(RemoveMember(0x2E1259D415F2A040, 0))
    put(store, "/a", "1")
    put(store, "/d/x", "2", expire_at=7 * S)
    put(store, "/d/_h", "hidden")
    create(store, "/q", "job", unique=True)
    create(store, "/q", "job", unique=True)
    update(store, "/d/x", expire_at=9 * S, refresh=True)
    put(store, "/t", dir=True, expire_at=5 * S)
    put(store, "/t/c", "child")
    cas(store, "/a", "3", prev_value="1")
    put(store, "/gone/x", "v")
    delete(store, "/gone", recursive=True)
    put(store, "/c", "v")
    cad(store, "/c", prev_value="v")
    store.sync(5 * S)
    return store


def _outcome(call) -> Event | tuple[int, str, int] | list[Event] | None:
    try:
        return call()
    except EtcdError as err:
        return (err.code, err.cause, err.index)


def _observe(store: Store) -> list[object]:
    seen: list[object] = [store.index, store.members(), store.removed_member_ids()]
    seen.append(store.cluster_version())
    seen.append((store.has_ttl_nodes(), store.next_expiry()))
    for now in (0, 6 * S, 20 * S):
        seen.append(store.get("/", recursive=True, sorted=True, now=now))
    for key in KEYS:
        for since in range(1, store.index + 2):
            seen.append(_outcome(lambda key=key, since=since: _scan(store, key, since)))
    return seen


def _scan(store: Store, key: str, since: int) -> list[Event]:
    watcher = store.watch(key, True, False, since)
    events = watcher.take()
    watcher.remove()
    return events


def test_round_trip_is_identical_now_and_later() -> None:
    original = _busy_store()
    data = original.save()
    restored = Store.restore(data)
    assert restored.save() == data
    assert _observe(restored) == _observe(original)
    for store in (original, restored):
        put(store, "/after", "v")
        update(store, "/d/x", "w", expire_at=12 * S)
    assert _outcome(lambda: original.sync(12 * S)) == _outcome(lambda: restored.sync(12 * S))
    assert _observe(restored) == _observe(original)
    assert restored.save() == original.save()


def test_live_watchers_are_not_part_of_a_snapshot() -> None:
    store = boot()
    watcher = store.watch("/k", stream=True)
    restored = Store.restore(store.save())
    assert restored.stats().watchers == 0
    put(restored, "/k", "v")
    assert watcher.take() == []


def test_restored_unsorted_listing_keeps_child_order() -> None:
    store = boot()
    for name in ("z", "a", "m"):
        put(store, f"/o/{name}", name)
    restored = Store.restore(store.save())
    assert restored.get("/o") == store.get("/o")


def test_snapshot_keeps_the_history_window() -> None:
    store = boot()
    for i in range(1100):
        put(store, "/k", str(i))
    restored = Store.restore(store.save())
    assert _outcome(lambda: restored.watch("/k", since_index=50)) == (401, _cleared(104, 50), 1103)
    assert restored.watch("/k", since_index=104).take() == store.watch("/k", since_index=104).take()


def _cleared(start: int, index: int) -> str:
    return f"the requested history has been cleared [{start}/{index}]"


def test_deep_trees_round_trip() -> None:
    store = Store()
    deep = "/" + "/".join(["n"] * 600)
    put(store, deep, "bottom")
    restored = Store.restore(store.save())
    assert restored.get(deep).node.value == "bottom"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        msgpack.packb([99, 0, [], []]),
        msgpack.packb([1, 0, [["/x/y", "", False, 1, 1, None]], []]),
        msgpack.packb([1, 0, [["/1", "", True, 0, 0, None], ["/1/f/g", "", False, 1, 1, None]]]),
        msgpack.packb([1, 0, [["/1", "", "yes"]], []]),
        msgpack.packb([1, "x", [], []]),
        msgpack.packb([1, 0, [], [["/1/k", "set", ["/k"], None, 1, False]]]),
        msgpack.packb({"a": 1}),
    ],
)
def test_corrupt_snapshots_raise_bad_snapshot(data: bytes) -> None:
    with pytest.raises(BadSnapshot):
        Store.restore(data)
