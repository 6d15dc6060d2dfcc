"""`/v2/stats/store` counters and the `etcd_debugging_store_*` metrics (spec §3.2, §3.3)."""

from __future__ import annotations

import pytest

from store.errors import EtcdError
from store.stats import StoreStats
from store.store import Store
from tests.store.util import S, cad, cas, create, delete, put, update


def _attempt(call, *args, **kwargs) -> None:
    with pytest.raises(EtcdError):
        call(*args, **kwargs)


def test_json_fields_are_in_etcds_order() -> None:
    assert list(StoreStats().as_json_dict()) == [
        "getsSuccess",
        "getsFail",
        "setsSuccess",
        "setsFail",
        "deleteSuccess",
        "deleteFail",
        "updateSuccess",
        "updateFail",
        "createSuccess",
        "createFail",
        "compareAndSwapSuccess",
        "compareAndSwapFail",
        "compareAndDeleteSuccess",
        "compareAndDeleteFail",
        "expireCount",
        "watchers",
    ]


def test_every_operation_counts_success_and_failure() -> None:
    store = Store()
    put(store, "/k", "v", expire_at=S)
    _attempt(put, store, "/", "v")
    store.get("/k")
    store.get("/", recursive=True)
    _attempt(store.get, "/missing")
    create(store, "/c", "v")
    _attempt(create, store, "/c", "v")
    update(store, "/c", "w")
    _attempt(update, store, "/missing", "w")
    cas(store, "/c", "x", prev_value="w")
    _attempt(cas, store, "/c", "x", prev_value="nope")
    cad(store, "/c", prev_value="x")
    _attempt(cad, store, "/c", prev_value="x")
    put(store, "/d/e", "v")
    delete(store, "/d", recursive=True)
    _attempt(delete, store, "/d")
    store.sync(S)
    watcher = store.watch("/w")
    assert store.stats() == StoreStats(
        gets_success=2,
        gets_fail=1,
        sets_success=2,
        sets_fail=1,
        delete_success=1,
        delete_fail=1,
        update_success=1,
        update_fail=1,
        create_success=1,
        create_fail=1,
        compare_and_swap_success=1,
        compare_and_swap_fail=1,
        compare_and_delete_success=1,
        compare_and_delete_fail=1,
        expire_count=1,
        watchers=1,
    )
    metrics = store.metrics()
    assert dict(metrics.reads) == {"get": 2, "getRecursive": 1}
    assert dict(metrics.writes) == {
        "set": 3,
        "create": 2,
        "update": 2,
        "delete": 2,
        "compareAndSwap": 2,
        "compareAndDelete": 2,
    }
    assert (metrics.expires, metrics.watchers, metrics.watch_requests) == (1, 1, 1)
    watcher.remove()
    assert store.stats().watchers == 0


def test_a_create_failing_on_the_path_also_counts_a_failed_set() -> None:
    store = Store()
    put(store, "/f", "v")
    _attempt(create, store, "/f/g", "v")
    stats = store.stats()
    assert (stats.create_fail, stats.sets_fail) == (1, 1)
    assert dict(store.metrics().writes)["create"] == 2


def test_failed_watch_requests_are_counted() -> None:
    store = Store()
    for i in range(1001):
        put(store, "/k", str(i))
    _attempt(store.watch, "/k", since_index=1)
    assert store.metrics().watch_requests == 1
    assert store.stats().watchers == 0
