"""A 3-member cluster with client and peer mutual TLS: what works and what is refused.

Every refused client must leave the member serving and see none of the data.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.tls.helpers import Leaf
from tests.tls.helpers import Pki as LeafMaker
from tests.tls_cluster.cluster import HOST, Cluster, attempt, tls_client, tls_cluster
from tests.tls_cluster.cluster import request as call

IMPLS = ("etcd", "pyetcd")
SECRET = "s3cret-value"
KEY = "/v2/keys/tls/secret"


@pytest.fixture(scope="module", params=IMPLS)
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    with tls_cluster(request.param) as running:
        port = running.members[0].client_port
        status, _ = call(port, running.client, "PUT", KEY, {"value": SECRET})
        assert status == 201
        yield running


@pytest.fixture(scope="module")
def bad_clients(cluster: Cluster) -> dict[str, Leaf]:
    maker = LeafMaker(cluster.root / "bad-clients")
    maker.root.mkdir()
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=800)
    return {
        "other CA": maker.leaf(maker.ca("otherCA"), "intruder"),
        "expired": maker.leaf(cluster.pki.authority(), "oldClient", not_before=long_ago),
    }


def test_every_member_serves_the_data_over_https(cluster: Cluster) -> None:
    for member in cluster.members:
        status, body = call(member.client_port, cluster.client, "GET", f"{KEY}?quorum=true")
        assert status == 200, body
        assert json.loads(body)["node"]["value"] == SECRET
    status, body = call(cluster.members[2].client_port, cluster.client, "GET", "/v2/members")
    peers = sorted(url for m in json.loads(body)["members"] for url in m["peerURLs"])
    assert peers == sorted(m.peer_url for m in cluster.members)


def assert_still_serving(cluster: Cluster) -> None:
    status, body = call(cluster.members[0].client_port, cluster.client, "GET", KEY)
    assert status == 200 and SECRET in body.decode()


@pytest.mark.parametrize(("listener", "path"), [("client", KEY), ("peer", "/members")])
def test_plaintext_to_a_tls_port_is_refused(cluster: Cluster, listener: str, path: str) -> None:
    member = cluster.members[0]
    port = member.client_port if listener == "client" else member.peer_port
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        try:
            while chunk := sock.recv(4096):
                reply += chunk
        except (TimeoutError, ConnectionError):
            pass
    assert SECRET.encode() not in reply
    assert not reply.startswith(b"HTTP/1.1 200")
    assert_still_serving(cluster)


@pytest.mark.parametrize("who", ["no certificate", "other CA", "expired"])
def test_clients_without_a_valid_certificate_are_refused(
    cluster: Cluster, bad_clients: dict[str, Leaf], who: str
) -> None:
    if who == "no certificate":
        ctx = tls_client(cluster.pki.ca)
    else:
        ctx = tls_client(cluster.pki.ca, bad_clients[who].cert, bad_clients[who].key)
    for member in cluster.members:
        outcome = attempt(member.client_port, ctx, KEY)
        assert SECRET not in outcome
        assert not outcome.startswith("200"), outcome
    assert_still_serving(cluster)


def test_a_client_that_does_not_trust_the_ca_refuses_the_server(cluster: Cluster) -> None:
    ctx = tls_client(cluster.pki.peer_ca, cluster.pki.client_cert, cluster.pki.client_key)
    outcome = attempt(cluster.members[1].client_port, ctx, KEY)
    assert "CERTIFICATE_VERIFY_FAILED" in outcome


def test_etcdctl_v2_with_certificates(cluster: Cluster) -> None:
    pki = cluster.pki
    endpoints = ",".join(m.client_url for m in cluster.members)
    base = [
        "etcdctl", "--endpoints", endpoints, "--ca-file", str(pki.ca),
        "--cert-file", str(pki.client_cert), "--key-file", str(pki.client_key),
    ]  # fmt: skip
    env = {**os.environ, "ETCDCTL_API": "2"}
    put = subprocess.run(
        [*base, "set", "/tls/ctl", "via-etcdctl"], env=env, capture_output=True, timeout=30
    )
    assert put.returncode == 0, put.stderr
    got = subprocess.run([*base, "get", "/tls/ctl"], env=env, capture_output=True, timeout=30)
    assert got.returncode == 0 and got.stdout.strip() == b"via-etcdctl", got.stderr
    no_cert = subprocess.run(
        ["etcdctl", "--endpoints", endpoints, "--ca-file", str(pki.ca), "get", "/tls/ctl"],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert no_cert.returncode != 0 and b"via-etcdctl" not in no_cert.stdout


def test_curl_with_certificates(cluster: Cluster) -> None:
    pki = cluster.pki
    url = f"{cluster.members[2].client_url}{KEY}"
    tls = ["--cacert", str(pki.ca), "--cert", str(pki.client_cert), "--key", str(pki.client_key)]
    ok = subprocess.run(
        ["curl", "-sS", "--max-time", "10", *tls, url], capture_output=True, timeout=30
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["node"]["value"] == SECRET
    refused = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--cacert", str(pki.ca), url],
        capture_output=True,
        timeout=30,
    )
    assert refused.returncode != 0 and SECRET.encode() not in refused.stdout


# What shows that a member advertising a peer URL its certificate does not cover is kept out.
WRONG_HOST_REFUSAL = {
    # etcd starts it; the other members refuse its certificate at every dial and log why.
    "etcd": ("m0", "x509: certificate is valid for etcd.service.cf.internal"),
    # pyetcd does not start it: the startup check finds the missing SAN.
    "pyetcd": ("m2", "no SAN for host localhost"),
}


@pytest.mark.parametrize("impl", IMPLS)
def test_a_peer_whose_certificate_misses_its_url_host_is_refused(impl: str) -> None:
    with tls_cluster(impl, peer_hosts=(HOST, HOST, "localhost"), ready=2) as running:
        name, evidence = WRONG_HOST_REFUSAL[impl]
        (logged,) = (m for m in running.members if m.name == name)
        deadline = time.monotonic() + 20
        while evidence not in logged.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert evidence in logged.log()
        status, _ = call(running.members[1].client_port, running.client, "PUT", KEY, {"value": "x"})
        assert status in (200, 201)
