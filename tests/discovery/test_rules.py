"""etcd's v2 discovery rules on plain data."""

from __future__ import annotations

import pytest

from pyetcd.discovery import (
    DUPLICATE_NAME,
    FULL_CLUSTER,
    INVALID_URL,
    DiscoveryError,
    Registered,
    check,
    cluster_string,
    registered,
    split_url,
)


def _reg(name: str, created: int, value: str = "") -> Registered:
    return Registered(name, value or f"{name}=http://127.0.0.1:{7000 + created}", created)


def test_registered_sorts_by_creation_and_skips_config() -> None:
    node = {
        "nodes": [
            {"key": "/t/b", "value": "b=http://h:2", "createdIndex": 9},
            {"key": "/t/_config", "dir": True, "createdIndex": 3},
            {"key": "/t/a", "value": "a=http://h:1", "createdIndex": 5},
        ]
    }
    assert [r.name for r in registered(node)] == ["a", "b"]


def test_the_first_size_registrations_form_the_cluster() -> None:
    members = [_reg("a", 1), _reg("b", 2), _reg("c", 3), _reg("d", 4)]
    assert check(members, 3, "b") == (members, False)
    assert check(members, 3, "d") == (members[:3], True)  # too late: the cluster is full
    assert check(members[:2], 3, "new") == (members[:2], False)  # room left


def test_cluster_string_refuses_duplicate_names_and_bad_urls() -> None:
    ok = [_reg("a", 1), _reg("b", 2)]
    assert cluster_string(ok, 2) == "a=http://127.0.0.1:7001,b=http://127.0.0.1:7002"
    with pytest.raises(DiscoveryError, match=DUPLICATE_NAME):
        cluster_string([_reg("a", 1), _reg("x", 2, "a=http://127.0.0.1:9")], 2)
    with pytest.raises(DiscoveryError, match=INVALID_URL):
        cluster_string([_reg("a", 1, "a=ftp://nope")], 1)
    assert FULL_CLUSTER == "discovery: cluster is full"


def test_the_url_path_is_the_key_prefix() -> None:
    assert split_url("http://127.0.0.1:2379/v2/keys/_etcd/registry/tok") == (
        "http://127.0.0.1:2379",
        "/v2/keys/_etcd/registry/tok",
    )
    with pytest.raises(DiscoveryError, match=INVALID_URL):
        split_url("127.0.0.1:2379/x")
