"""Go-compatible JSON bytes (expected strings were produced by etcd 3.4.23 / Go's encoder)."""

from __future__ import annotations

import pytest

from http_api.gojson import (
    decode,
    dumps,
    error_body,
    event_body,
    go_float,
    node_json,
    quote,
    rfc3339nano_utc,
)
from store.event import Event, NodeExtern


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", '"plain"'),
        ("<a href='x'>&", "\"\\u003ca href='x'\\u003e\\u0026\""),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("\b\f\x01\x1f", '"\\u0008\\u000c\\u0001\\u001f"'),
        ("\n\r\t", '"\\n\\r\\t"'),
        ('"\\', '"\\"\\\\"'),
        ("\x7f", '"\x7f"'),
        ("héllo ☃", '"héllo ☃"'),
        ("\ufffd", '"\ufffd"'),
    ],
)
def test_quote_escapes_like_go(text: str, expected: str) -> None:
    assert quote(text) == expected


def test_invalid_utf8_becomes_one_escape_per_byte() -> None:
    # etcd: PUT /v2/keys/u%ff%c3?value=%fe%e2%80%a8%08%3c%e2%80
    key = decode(b"/u\xff\xc3")
    value = decode(b"\xfe\xe2\x80\xa8\x08<\xe2\x80")
    assert quote(key) == '"/u\\ufffd\\ufffd"'
    assert quote(value) == '"\\ufffd\\u2028\\u0008\\u003c\\ufffd\\ufffd"'


@pytest.mark.parametrize(
    ("unix_ns", "expected"),
    [
        (1795484275_595974730, "2026-11-24T01:37:55.59597473Z"),
        (1795484275_000000000, "2026-11-24T01:37:55Z"),
        (1795484275_000000001, "2026-11-24T01:37:55.000000001Z"),
        (0, "1970-01-01T00:00:00Z"),
        (-1, "1969-12-31T23:59:59.999999999Z"),
    ],
)
def test_rfc3339nano_utc(unix_ns: int, expected: str) -> None:
    assert rfc3339nano_utc(unix_ns) == expected


def test_node_field_order_and_omissions() -> None:
    child = NodeExtern("/d/x", value="", modified_index=5, created_index=5)
    subdir = NodeExtern("/d/s", dir=True, modified_index=6, created_index=6)
    node = NodeExtern(
        "/d",
        dir=True,
        expiration=1795484275_595974730,
        ttl=3,
        nodes=(child, subdir),
        modified_index=7,
        created_index=4,
    )
    assert node_json(node) == (
        '{"key":"/d","dir":true,"expiration":"2026-11-24T01:37:55.59597473Z","ttl":3,'
        '"nodes":[{"key":"/d/x","value":"","modifiedIndex":5,"createdIndex":5},'
        '{"key":"/d/s","dir":true,"modifiedIndex":6,"createdIndex":6}],'
        '"modifiedIndex":7,"createdIndex":4}'
    )
    assert node_json(NodeExtern("", dir=True, nodes=())) == '{"dir":true}'


def test_event_body_with_prev_node_and_stripped() -> None:
    event = Event(
        "set",
        NodeExtern("/a", value="2", modified_index=5, created_index=5),
        NodeExtern("/a", value="1", modified_index=4, created_index=4),
        5,
    )
    assert event_body(event) == (
        b'{"action":"set","node":{"key":"/a","value":"2","modifiedIndex":5,"createdIndex":5},'
        b'"prevNode":{"key":"/a","value":"1","modifiedIndex":4,"createdIndex":4}}\n'
    )
    assert event_body(event, strip_nodes=True) == b'{"action":"set"}\n'


def test_error_body_omits_empty_cause() -> None:
    assert error_body(100, "Key not found", "/a", 7) == (
        b'{"errorCode":100,"message":"Key not found","cause":"/a","index":7}\n'
    )
    assert error_body(102, "Not a file", "", 3) == (
        b'{"errorCode":102,"message":"Not a file","index":3}\n'
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (1.0, "1"),
        (0.25, "0.25"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-07"),
        (0.000001, "0.000001"),
        (-2.5, "-2.5"),
    ],
)
def test_go_float(value: float, expected: str) -> None:
    assert go_float(value) == expected


def test_dumps_generic_values() -> None:
    value = {"a": [1, "x", True, False, None], "b": {"c": 0.5}}
    assert dumps(value) == '{"a":[1,"x",true,false,null],"b":{"c":0.5}}'
    with pytest.raises(TypeError):
        dumps(object())
