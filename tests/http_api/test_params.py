"""etcd's parseKeyRequest validation order and the PUT/POST/DELETE routing table."""

from __future__ import annotations

import pytest

from http_api.keys import KeysRequest, command_for, expire_at, parse_request
from store.commands import CompareAndDelete, CompareAndSwap, Create, Delete, Set, Update
from store.errors import EtcdError

NOW = 1_700_000_000_000_000_000


def _form(query: str) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        form.setdefault(name, []).append(value)
    return form


# Each case breaks every rule after the one expected to fire: the first failure must win.
@pytest.mark.parametrize(
    ("method", "query", "code", "cause"),
    [
        ("PUT", "prevIndex=x&waitIndex=y&recursive=z", 203, 'invalid value for "prevIndex"'),
        ("PUT", "prevIndex=&waitIndex=y", 203, 'invalid value for "prevIndex"'),
        ("PUT", "waitIndex=-1&recursive=z", 203, 'invalid value for "waitIndex"'),
        ("GET", "recursive=z&sorted=q", 209, 'invalid value for "recursive"'),
        ("GET", "sorted=q&wait=q", 209, 'invalid value for "sorted"'),
        ("GET", "wait=&dir=q", 209, 'invalid value for "wait"'),
        ("GET", "dir=q&quorum=q", 209, 'invalid value for "dir"'),
        ("GET", "quorum=q&stream=q", 209, 'invalid value for "quorum"'),
        ("GET", "stream=q&prevValue=", 209, 'invalid value for "stream"'),
        ("PUT", "wait=true&prevValue=", 209, '"wait" can only be used with GET requests'),
        ("HEAD", "wait=1", 209, '"wait" can only be used with GET requests'),
        ("PUT", "prevValue=&noValueOnSuccess=x", 201, '"prevValue" cannot be empty'),
        ("PUT", "noValueOnSuccess=x&ttl=-1", 209, 'invalid value for "noValueOnSuccess"'),
        ("PUT", "ttl=-1&prevExist=x", 202, 'invalid value for "ttl"'),
        ("PUT", "ttl=1.5", 202, 'invalid value for "ttl"'),
        ("DELETE", "prevExist=x&refresh=x", 209, "invalid value for prevExist"),
        ("PUT", "prevExist=&refresh=x", 209, "invalid value for prevExist"),
        ("PUT", "refresh=x", 209, "invalid value for refresh"),
        ("PUT", "refresh=true&value=v", 211, "A value was provided on a refresh"),
        ("PUT", "refresh=true", 212, "No TTL value set"),
        ("PUT", "refresh=true&ttl=", 212, "No TTL value set"),
    ],
)
def test_validation_order(method: str, query: str, code: int, cause: str) -> None:
    with pytest.raises(EtcdError) as caught:
        parse_request(method, "/k", _form(query))
    assert (caught.value.code, caught.value.cause, caught.value.index) == (code, cause, 0)


def test_first_value_wins_and_defaults() -> None:
    req = parse_request("PUT", "/k", {"value": ["a", "b"], "ttl": [""], "refresh": ["false"]})
    assert (req.value, req.ttl, req.refresh) == ("a", None, False)
    assert parse_request("GET", "/k", {}) == KeysRequest("GET", "/k")
    req = parse_request("GET", "/k", _form("wait=T&waitIndex=007&recursive=1&stream=t"))
    assert (req.wait, req.wait_index, req.recursive, req.stream) == (True, 7, True, True)
    assert parse_request("PUT", "/k", _form("refresh=1&ttl=5&value=")).refresh is True


def _command(method: str, query: str) -> object:
    return command_for(parse_request(method, "/k", _form(query)), NOW)


def test_dispatch_table() -> None:
    assert _command("POST", "value=v&prevExist=true&prevValue=x") == Create(
        "/k", "v", False, True, None, NOW
    )
    assert _command("PUT", "value=v&prevExist=true") == Update("/k", "v", None, False, NOW)
    assert _command("PUT", "prevExist=true&prevIndex=3&value=v") == CompareAndSwap(
        "/k", "", 3, "v", None, False, NOW
    )
    assert _command("PUT", "prevExist=false&prevValue=x&dir=true") == Create(
        "/k", "", True, False, None, NOW
    )
    assert _command("PUT", "prevValue=x&refresh=true&ttl=1") == CompareAndSwap(
        "/k", "x", 0, "", NOW + 1_000_000_000, True, NOW
    )
    assert _command("PUT", "prevValue=x&value=v") == CompareAndSwap(
        "/k", "x", 0, "v", None, False, NOW
    )
    assert _command("PUT", "prevIndex=0&value=v&dir=true&ttl=0") == Set(
        "/k", "v", True, NOW, False, NOW
    )
    assert _command("DELETE", "prevIndex=4&prevExist=false&dir=true") == CompareAndDelete(
        "/k", "", 4, NOW
    )
    assert _command("DELETE", "recursive=true") == Delete("/k", False, True, NOW)
    assert _command("DELETE", "dir=true") == Delete("/k", True, False, NOW)


def test_expire_at_wraps_like_go_int64() -> None:
    assert expire_at(NOW, 10) == NOW + 10_000_000_000
    huge = expire_at(NOW, 99999999999999)
    assert -(1 << 63) <= huge < (1 << 63)
    assert huge == (NOW + 99999999999999 * 1_000_000_000 + (1 << 63)) % (1 << 64) - (1 << 63)
