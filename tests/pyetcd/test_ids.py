"""Member and cluster ids (checked against ids real etcd 3.4.23 reported) and peer/client URLs."""

from __future__ import annotations

import pytest

from pyetcd.cli import _bind_addresses
from pyetcd.ids import cluster_id, format_id, member_id
from pyetcd.urls import URLError, host_port, parse_initial_cluster, parse_url


def test_single_member_vector_from_the_spec() -> None:
    mid = member_id(["http://127.0.0.1:23800"], "etcd-cluster")
    assert format_id(mid) == "2e1259d415f2a040"
    assert format_id(cluster_id([mid])) == "48276a8f75b6a87"


def test_etcd_defaults() -> None:
    # etcd with no clustering flags: --initial-advertise-peer-urls http://localhost:2380
    mid = member_id(["http://localhost:2380"], "etcd-cluster")
    assert format_id(mid) == "8e9e05c52164694d"
    assert format_id(cluster_id([mid])) == "cdf818194e3a8c32"


def test_one_member_with_three_peer_urls_sorts_them() -> None:
    # etcd --initial-cluster n1=...:41382,n1=...:41380,n1=...:41381 --initial-cluster-token tok
    urls = ["http://127.0.0.1:41382", "http://127.0.0.1:41380", "http://127.0.0.1:41381"]
    mid = member_id(urls, "tok")
    assert format_id(mid) == "1d6878cb59fea46f"
    assert format_id(cluster_id([mid])) == "25d5915fae071634"


def test_three_member_cluster() -> None:
    # etcd --initial-cluster a=...:41380,b=...:41390,c=...:41391 --initial-cluster-token t3
    ids = [member_id([f"http://127.0.0.1:{port}"], "t3") for port in (41380, 41390, 41391)]
    assert sorted(format_id(i) for i in ids) == [
        "48c7e4a000f37472",
        "70dfa72dd4a7bd7a",
        "72e75d8afa2c7630",
    ]
    assert format_id(cluster_id(ids)) == "293933236ee8ae95"
    assert cluster_id(reversed(ids)) == cluster_id(ids)


def test_runtime_add_hashes_no_token_and_the_unix_second() -> None:
    # POST /v2/members {"peerURLs":["http://127.0.0.1:24810"]} at unix second 1795491498
    assert format_id(member_id(["http://127.0.0.1:24810"], "", 1795491498)) == "748a9048d3de52a2"


def test_format_id_is_unpadded_hex() -> None:
    assert format_id(0x48276A8F75B6A87) == "48276a8f75b6a87"


def test_initial_cluster_names_may_repeat() -> None:
    parsed = parse_initial_cluster("a=http://127.0.0.1:2,b=http://127.0.0.1:3,a=http://127.0.0.1:1")
    assert parsed == {
        "a": ("http://127.0.0.1:1", "http://127.0.0.1:2"),
        "b": ("http://127.0.0.1:3",),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "URL scheme must be http, https, unix, or unixs: "),
        ("a=ftp://h:1", "URL scheme must be http, https, unix, or unixs: ftp://h:1"),
        ("a=http://h", 'URL address does not have the form "host:port": http://h'),
        ("a=http://h:1/x", "URL must not contain a path: http://h:1/x"),
    ],
)
def test_initial_cluster_urls_are_checked(text: str, message: str) -> None:
    with pytest.raises(URLError, match="^" + message.replace("(", r"\(") + "$"):
        parse_initial_cluster(text)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:2379", ("127.0.0.1", 2379)),
        ("http://127.0.0.1:2379?q=1#f", ("127.0.0.1", 2379)),
        ("http://user@[::1]:5", ("::1", 5)),
        ("http://0.0.0.0:", ("0.0.0.0", 0)),
    ],
)
def test_listen_addresses(url: str, address: tuple[str, int]) -> None:
    assert host_port(parse_url(url)) == address


def test_localhost_binds_both_loopbacks() -> None:
    addresses = _bind_addresses("http://localhost:2379")
    assert addresses[0] == ("127.0.0.1", 2379)
    assert addresses[1:] in ([], [("::1", 2379)])
    assert _bind_addresses("http://0.0.0.0:1") == [("0.0.0.0", 1)]
