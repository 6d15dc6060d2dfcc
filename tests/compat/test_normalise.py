"""The normalisation must erase only what legitimately differs: prove it can still fail."""

from __future__ import annotations

import pytest

from tests import procs
from tests.compat.catalogue import ALL
from tests.compat.normalise import Context, Identity, first_difference, record
from tests.compat.rawhttp import Response

IDENT = Identity(23790, 23800, "2e1259d415f2a040", "48276a8f75b6a87")
JSON_HEADERS = (
    ("Content-Type", "application/json"),
    ("X-Etcd-Cluster-Id", "48276a8f75b6a87"),
    ("X-Etcd-Index", "4"),
    ("X-Raft-Index", "9"),
    ("X-Raft-Term", "2"),
)
NODE = (
    b'{"action":"get","node":{"key":"/t","value":"a\\u003cb","expiration":'
    b'"2026-11-24T01:37:55.59597473Z","ttl":30,"modifiedIndex":4,"createdIndex":4}}\n'
)


def rec(body: bytes, headers=JSON_HEADERS, target="/v2/keys/t", status=200, method="GET"):
    resp = Response(status, tuple(headers), body, True)
    return record(resp, Context.of(method, target), IDENT)


def test_member_and_cluster_ids_follow_the_verified_example() -> None:
    mid = procs.member_id(["http://127.0.0.1:23800"], "etcd-cluster")
    assert f"{mid:x}" == "2e1259d415f2a040"
    assert f"{procs.cluster_id([mid]):x}" == "48276a8f75b6a87"


def test_identical_responses_compare_equal() -> None:
    assert first_difference(rec(NODE), rec(NODE)) is None


def test_ttl_within_one_second_and_any_expiration_instant_are_equal() -> None:
    other = NODE.replace(b'"ttl":30', b'"ttl":29').replace(b"55.59597473Z", b"54.1Z")
    assert first_difference(rec(NODE), rec(other)) is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"ttl":30', b'"ttl":28'),
        (b"55.59597473Z", b"55.59597470Z"),  # trailing zero not trimmed
        (b"55.59597473Z", b"55.59597473+00:00"),
        (b"\\u003c", b"<"),
        (b'"value":"a\\u003cb",', b""),
        (b'"modifiedIndex":4,"createdIndex":4', b'"createdIndex":4,"modifiedIndex":4'),
        (b'"modifiedIndex":4', b'"modifiedIndex":5'),
        (b'"action":"get",', b'"action": "get",'),
        (b"}}\n", b"}}"),
    ],
)
def test_body_differences_are_detected(old: bytes, new: bytes) -> None:
    changed = NODE.replace(old, new)
    assert changed != NODE
    assert first_difference(rec(NODE), rec(changed)) is not None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Etcd-Index", "5"),
        ("X-Etcd-Cluster-Id", "1234"),
        ("X-Raft-Term", None),
        ("Access-Control-Allow-Origin", "*"),
    ],
)
def test_header_differences_are_detected(name: str, value: str | None) -> None:
    headers = [(k, v) for k, v in JSON_HEADERS if k != name]
    if value is not None:
        headers.append((name, value))
    assert first_difference(rec(NODE), rec(NODE, headers=headers)) is not None


def test_header_name_spelling_is_compared() -> None:
    headers = [(k.upper() if k == "X-Etcd-Cluster-Id" else k, v) for k, v in JSON_HEADERS]
    assert first_difference(rec(NODE), rec(NODE, headers=headers)) is not None


def test_raft_values_are_ignored_but_status_is_not() -> None:
    headers = [(k, "77" if k.startswith("X-Raft") else v) for k, v in JSON_HEADERS]
    assert first_difference(rec(NODE), rec(NODE, headers=headers)) is None
    assert first_difference(rec(NODE), rec(NODE, status=201)) is not None


def test_listing_order_ignored_only_when_not_sorted() -> None:
    a = b'{"node":{"nodes":[{"key":"/a"},{"key":"/b"}]}}\n'
    b = b'{"node":{"nodes":[{"key":"/b"},{"key":"/a"}]}}\n'
    assert first_difference(rec(a, target="/v2/keys/d"), rec(b, target="/v2/keys/d")) is None
    sorted_target = "/v2/keys/d?sorted=true"
    assert first_difference(rec(a, target=sorted_target), rec(b, target=sorted_target))


def test_ports_and_own_ids_are_scrubbed_but_foreign_ones_are_not() -> None:
    mine = b'{"id":"2e1259d415f2a040","peerURLs":["http://127.0.0.1:23800"]}'
    other = b'{"id":"2e1259d415f2a040","peerURLs":["http://127.0.0.1:23801"]}'
    ident2 = Identity(1, 2, "aa", "bb")
    a = record(Response(200, JSON_HEADERS, mine, True), Context.of("GET", "/v2/members"), IDENT)
    b = record(
        Response(200, JSON_HEADERS, b'{"id":"aa","peerURLs":["http://127.0.0.1:2"]}', True),
        Context.of("GET", "/v2/members"),
        ident2,
    )
    assert first_difference(a[3], b[3]) is None
    c = record(Response(200, JSON_HEADERS, other, True), Context.of("GET", "/v2/members"), IDENT)
    assert first_difference(a, c) is not None


def test_stats_values_ignored_but_field_order_kept() -> None:
    a = b'{"getsSuccess":1,"getsFail":2,"watchers":0}'
    b = b'{"getsSuccess":9,"getsFail":7,"watchers":0}'
    c = b'{"getsFail":2,"getsSuccess":1,"watchers":0}'
    d = b'{"getsSuccess":1,"getsFail":2,"watchers":1}'
    target = "/v2/stats/store"
    assert first_difference(rec(a, target=target), rec(b, target=target)) is None
    assert first_difference(rec(a, target=target), rec(c, target=target)) is not None
    assert first_difference(rec(a, target=target), rec(d, target=target)) is not None


def test_invalid_utf8_and_raw_text_are_compared_bytewise() -> None:
    good = b'{"value":"a\\ufffdb"}\n'
    raw = b'{"value":"a\xffb"}\n'
    assert first_difference(rec(good), rec(raw)) is not None
    text = (("Content-Type", "text/plain; charset=utf-8"),)
    assert first_difference(rec(b"404 page not found\n", text), rec(b"404 page not found", text))


def test_catalogue_is_large_and_names_are_unique() -> None:
    assert len(ALL) >= 150
    assert len({s.name for s in ALL}) == len(ALL)
