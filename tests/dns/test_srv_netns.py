"""--discovery-srv and DNS names in peer URLs against a real DNS server (tests/dns/dnsserver.py)
on a network namespace's loopback, each member resolving through it; every scenario run with
real etcd 3.4.23 and with pyetcd, and the answers compared."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dns.netns import DnsWorld, open_world
from tests.release.deploy import Netns, can_namespace
from tls.authority import KeySpec
from tls.certtool import bosh_tls_values

WHY_NOT = can_namespace() or (None if shutil.which("etcd") else "needs real etcd (the oracle)")
pytestmark = [
    pytest.mark.skipif(WHY_NOT is not None, reason=f"NOT RUN: the DNS tier {WHY_NOT}"),
    pytest.mark.timeout(240),
]
IMPLS = ("etcd", "pyetcd")
DOMAIN = "example.test"
ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
A_RECORDS = "".join(f"n{i}.{DOMAIN}. 60 IN A {a}\n" for i, a in enumerate(ADDRESSES))


def _srv(service: str) -> str:
    return "".join(f"_{service}._tcp.{DOMAIN}. 60 IN SRV 0 0 2380 n{i}.{DOMAIN}.\n"
                   for i in range(3))  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[DnsWorld]:
    with Netns() as netns:
        world = open_world(netns, tmp_path, A_RECORDS + request.param)
        try:
            yield world
        finally:
            world.close()


def _binary(impl: str) -> list[str]:
    return ["etcd"] if impl == "etcd" else [sys.executable, "-m", "pyetcd"]


def _certs(base: Path) -> list[str]:
    """Peer TLS flags: a CA and one peer certificate for *.example.test and the addresses."""
    day = dt.timedelta(days=1)
    values = bosh_tls_values(KeySpec("ecdsa", 256), DOMAIN, [], list(ADDRESSES), 2 * day, day)
    for name in ("peer_ca_cert", "peer_cert", "peer_key"):
        (base / f"{name}.pem").write_text(values[name])
    return ["--peer-trusted-ca-file", str(base / "peer_ca_cert.pem"),
            "--peer-cert-file", str(base / "peer_cert.pem"),
            "--peer-key-file", str(base / "peer_key.pem"), "--peer-client-cert-auth"]  # fmt: skip


def _member_argv(impl: str, base: Path, i: int, scheme: str, *extra: str) -> list[str]:
    address = ADDRESSES[i]
    return [
        *_binary(impl), "--name", f"n{i}", "--data-dir", str(base / f"{impl}-n{i}"),
        "--listen-peer-urls", f"{scheme}://{address}:2380",
        "--initial-advertise-peer-urls", f"{scheme}://{address}:2380",
        "--listen-client-urls", f"http://{address}:2379",
        "--advertise-client-urls", f"http://{address}:2379", "--enable-v2", *extra,
    ]  # fmt: skip


def _members(world: DnsWorld, address: str = ADDRESSES[0]) -> list[dict[str, Any]] | None:
    body = world.wait_for(f"http://{address}:2379/v2/members")
    if body is None:
        return None
    return sorted(body["members"], key=lambda m: m["name"])


def _cluster(world: DnsWorld, impl: str, scheme: str, *extra: str) -> list[dict[str, Any]]:
    for i in range(3):
        world.start(f"{impl}-n{i}", *_member_argv(impl, world.base, i, scheme, *extra))
    members = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # all three listed, each with its client URLs published
        members = _members(world)
        if members and len(members) == 3 and all(m["name"] and m["clientURLs"] for m in members):
            break
        time.sleep(0.3)
    world.stop_all()
    logs = "\n".join(world.log(f"{impl}-n{i}")[-1500:] for i in range(3))
    assert members is not None and len(members) == 3, f"{impl} did not form:\n{logs}"
    return members


@pytest.mark.parametrize("world", [_srv("etcd-server-ssl")], indirect=True)
def test_srv_bootstrap_https_matches_etcd(world: DnsWorld) -> None:
    """Members advertise addresses; the SRV targets are names: each member finds itself by
    resolved address, and the cluster (ids, names, peer URLs) is etcd's."""
    tls = _certs(world.base)
    found = {impl: _cluster(world, impl, "https", "--discovery-srv", DOMAIN, *tls)
             for impl in IMPLS}  # fmt: skip
    assert found["pyetcd"] == found["etcd"]
    assert [m["peerURLs"] for m in found["etcd"]] == [
        [f"https://n{i}.{DOMAIN}:2380"] for i in range(3)
    ]
    assert "got bootstrap from DNS for etcd-server at n0=https://n0.example.test:2380" in (
        world.log("pyetcd-n0")
    )


def _refused(world: DnsWorld, impl: str, *argv: str, scheme: str = "http") -> str:
    """The one fatal line a start that fails prints, without its timestamp."""
    argv = (*_member_argv(impl, world.base, 0, scheme, *argv),)
    argv = tuple(
        str(world.base / f"{impl}-refused") if i and argv[i - 1] == "--data-dir" else a
        for i, a in enumerate(argv)
    )  # fmt: skip  (no data yet)
    done = world.run(*argv, timeout=120)  # a name that never resolves is retried for 30 s
    assert done.returncode != 0, f"{impl} started:\n{done.stderr[-2000:]}"
    fatal = [line for line in done.stderr.splitlines() if " C | " in line]
    assert fatal, f"{impl} printed no fatal line:\n{done.stderr[-2000:]}"
    return fatal[-1].split(" C | ", 1)[1]


def _same_refusal(world: DnsWorld, *argv: str, scheme: str = "http") -> str:
    """Both refuse the start with the same line; returns it."""
    etcd, ours = (_refused(world, impl, *argv, scheme=scheme) for impl in IMPLS)
    assert ours == etcd
    return etcd


@pytest.mark.parametrize("world", [_srv("etcd-server")], indirect=True)
def test_http_only_srv_fails_as_in_etcd_3_4_23(world: DnsWorld) -> None:
    """etcd 3.4.23 drops what `_etcd-server._tcp` finds (GetDNSClusterNames keeps it only
    when its lookup failed): an http-only SRV zone does not bootstrap, in either."""
    assert _same_refusal(world, "--discovery-srv", DOMAIN) == (
        "etcdmain: error setting up initial cluster: error querying DNS SRV records for "
        f"_etcd-server-ssl lookup _etcd-server-ssl._tcp.{DOMAIN} on 127.0.0.1:53: no such host"
    )


@pytest.mark.parametrize("world", [_srv("etcd-server-ssl-blue")], indirect=True)
def test_srv_name_suffix_and_a_member_missing(world: DnsWorld) -> None:
    """--discovery-srv-name picks `_etcd-server-ssl-<name>`; a member none of whose
    advertised addresses is a target is refused, as etcd refuses it."""
    tls = _certs(world.base)
    line = _same_refusal(world, "--discovery-srv", DOMAIN, "--discovery-srv-name", "blue",
                         "--initial-advertise-peer-urls", "https://127.0.0.9:2380", *tls,
                         scheme="https")  # fmt: skip
    assert line.endswith('cannot find local etcd member "n0" in SRV records')
    found = {impl: _cluster(world, impl, "https", "--discovery-srv", DOMAIN,
                            "--discovery-srv-name", "blue", *tls) for impl in IMPLS}  # fmt: skip
    assert found["pyetcd"] == found["etcd"]


@pytest.mark.parametrize("world", [""], indirect=True)
def test_names_in_initial_cluster_match_by_address(world: DnsWorld) -> None:
    """--initial-cluster names a member by DNS name, it advertises its address: etcd
    resolves both and starts; a name resolving elsewhere is refused with etcd's reason."""
    cluster = ",".join(f"n{i}=http://n{i}.{DOMAIN}:2380" for i in range(3))
    found = {impl: _cluster(world, impl, "http", "--initial-cluster", cluster)
             for impl in IMPLS}  # fmt: skip
    assert found["pyetcd"] == found["etcd"]
    wrong = f"n0=http://n1.{DOMAIN}:2380"
    assert _same_refusal(world, "--initial-cluster", wrong) == (
        f"etcdmain: --initial-cluster has {wrong} but missing from --initial-advertise-peer-urls"
        '=http://127.0.0.1:2380 (resolved urls: "http://127.0.0.1:2380" != '
        '"http://127.0.0.2:2380")'
    )
    unknown = f"n0=http://nowhere.{DOMAIN}:2380"
    assert "lookup nowhere.example.test on 127.0.0.1:53: no such host" in _same_refusal(
        world, "--initial-cluster", unknown
    )


@pytest.mark.parametrize("world", [_srv("etcd-server-ssl")], indirect=True)
def test_proxy_finds_its_peers_by_srv(world: DnsWorld) -> None:
    """`--proxy on --discovery-srv`: the proxy takes the SRV targets as its peers (it need
    not be one) and forwards writes, as etcd's proxy does in front of the same cluster."""
    tls = _certs(world.base)
    for impl in IMPLS:
        for i in range(3):
            world.start(f"{impl}-n{i}", *_member_argv(impl, world.base, i, "https",
                                                      "--discovery-srv", DOMAIN, *tls))  # fmt: skip
        world.start(f"{impl}-proxy", *_binary(impl), "--proxy", "on", "--discovery-srv", DOMAIN,
                    "--data-dir", str(world.base / f"{impl}-proxy"), "--enable-v2",
                    "--listen-client-urls", "http://127.0.0.4:2379", *tls[:-1])  # fmt: skip
        written = None
        for _ in range(60):
            written = world.put(f"http://127.0.0.4:2379/v2/keys/{impl}", "via-proxy")
            if written is not None:
                break
            time.sleep(0.5)
        logs = world.log(f"{impl}-proxy")[-2000:]
        assert written is not None, f"{impl}'s proxy did not forward:\n{logs}"
        assert written["node"]["value"] == "via-proxy"
        member = world.get(f"http://127.0.0.2:2379/v2/keys/{impl}?quorum=true")
        assert member["node"]["value"] == "via-proxy"
        world.stop_all()
