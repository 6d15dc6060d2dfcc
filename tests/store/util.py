"""Shorthands for driving a Store the way http_api and the daemon do."""

from __future__ import annotations

import pytest

from store.commands import (
    AddMember,
    CompareAndDelete,
    CompareAndSwap,
    Create,
    Delete,
    PublishMember,
    Set,
    SetClusterVersion,
    Update,
)
from store.errors import EtcdError
from store.event import Event
from store.store import Store

S = 1_000_000_000  # one second in ns
MEMBER_ID = 0x2E1259D415F2A040


def boot() -> Store:
    """A store as a fresh 1-member cluster leaves it: the first user write gets index 4."""
    store = Store()
    store.apply(AddMember(MEMBER_ID, ("http://127.0.0.1:2380",), 0))
    store.apply(PublishMember(MEMBER_ID, "n1", ("http://127.0.0.1:2379",), 0))
    store.apply(SetClusterVersion("3.4.0", 0))
    assert store.index == 3
    return store


def put(
    store: Store,
    key: str,
    value: str = "",
    *,
    dir: bool = False,
    expire_at: int | None = None,
    refresh: bool = False,
    now: int = 0,
) -> Event:
    event = store.apply(Set(key, value, dir, expire_at, refresh, now))
    assert event is not None
    return event


def create(
    store: Store,
    key: str,
    value: str = "",
    *,
    dir: bool = False,
    unique: bool = False,
    expire_at: int | None = None,
    now: int = 0,
) -> Event:
    event = store.apply(Create(key, value, dir, unique, expire_at, now))
    assert event is not None
    return event


def update(
    store: Store,
    key: str,
    value: str = "",
    *,
    expire_at: int | None = None,
    refresh: bool = False,
    now: int = 0,
) -> Event:
    event = store.apply(Update(key, value, expire_at, refresh, now))
    assert event is not None
    return event


def cas(
    store: Store,
    key: str,
    value: str,
    *,
    prev_value: str = "",
    prev_index: int = 0,
    expire_at: int | None = None,
    refresh: bool = False,
    now: int = 0,
) -> Event:
    event = store.apply(CompareAndSwap(key, prev_value, prev_index, value, expire_at, refresh, now))
    assert event is not None
    return event


def delete(
    store: Store, key: str, *, dir: bool = False, recursive: bool = False, now: int = 0
) -> Event:
    event = store.apply(Delete(key, dir, recursive, now))
    assert event is not None
    return event


def cad(store: Store, key: str, *, prev_value: str = "", prev_index: int = 0) -> Event:
    event = store.apply(CompareAndDelete(key, prev_value, prev_index, 0))
    assert event is not None
    return event


def fails(code: int, cause: str, index: int, call, *args, **kwargs) -> EtcdError:
    """Assert `call` raises exactly this store error; return it."""
    with pytest.raises(EtcdError) as info:
        call(*args, **kwargs)
    err = info.value
    assert (err.code, err.cause, err.index) == (code, cause, index)
    return err
