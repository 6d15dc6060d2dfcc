"""`--proxy on|readonly` against etcd 3.4.23's own v2 proxy: the same requests through each
implementation's proxy to its own cluster, answers compared byte for byte after normalising
what legitimately differs (dates, indexes, ids, ports)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

from tests import procs
from tests.cluster.harness import running_cluster
from tests.compat import rawhttp
from tests.tls_cluster.cluster import tls_cluster

pytestmark = pytest.mark.timeout(240)
IMPLS = ["etcd", "pyetcd"] if shutil.which("etcd") else ["pyetcd"]
READY_S = 20.0


@dataclass(slots=True)
class ProxyProc:
    impl: str
    port: int
    data_dir: str
    proc: subprocess.Popen[bytes]
    log_path: str

    @property
    def url(self) -> str:
        return f"http://{procs.HOST}:{self.port}"

    def log(self) -> str:
        with open(self.log_path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")[-3000:]


def _endpoints(port: int) -> list[str] | None:
    try:
        resp = asyncio.run(rawhttp.request(port, "GET", "/v2/config/local/proxy", timeout=2))
    except (TimeoutError, OSError, rawhttp.NoResponse):
        return None
    return json.loads(resp.body)["endpoints"] if resp.status == 200 else None


@contextlib.contextmanager
def proxy(
    impl: str, peer_urls: Sequence[str], *args: str, data_dir: str | None = None, wait: bool = True
) -> Iterator[ProxyProc]:
    workdir = tempfile.mkdtemp(prefix=f"{impl}-proxy-")
    port = procs.free_port()
    data = data_dir or os.path.join(workdir, "data")
    cluster = ",".join(f"m{i}={u}" for i, u in enumerate(peer_urls))
    argv = [
        *procs.command(impl), "--name", "px", "--data-dir", data,
        "--listen-client-urls", f"http://{procs.HOST}:{port}", "--initial-cluster", cluster,
        *(args or ("--proxy", "on")),
    ]  # fmt: skip
    log_path = os.path.join(workdir, "proxy.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    px = ProxyProc(impl, port, data, proc, log_path)
    try:
        deadline = time.monotonic() + READY_S
        while wait and not _endpoints(port):
            assert proc.poll() is None and time.monotonic() < deadline, px.log()
            time.sleep(0.05)
        yield px
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


_VOLATILE = ("date", "x-etcd-cluster-id", "x-etcd-index", "x-raft-index", "x-raft-term")
_INDEXES = re.compile(rb'"(modifiedIndex|createdIndex|index)":\d+')
_URL = re.compile(rb"http://127\.0\.0\.1:\d+")
_ID = re.compile(rb'"id":"[0-9a-f]+"')


def normal(resp: rawhttp.Response) -> tuple[object, ...]:
    """Volatile headers starred; a body with ids, ports or indexes (whose digits vary run to
    run) replaced by its normal form, its Content-Length checked against the bytes sent."""
    body = _ID.sub(b'"id":ID', _URL.sub(b"URL", _INDEXES.sub(rb'"\1":N', resp.body)))
    volatile = _VOLATILE if body == resp.body else (*_VOLATILE, "content-length")
    for k, v in resp.headers:
        if k.lower() == "content-length":
            assert int(v) == len(resp.body), resp.headers
    headers = tuple(
        (k, "*" if k.lower() in volatile else _URL.sub(b"URL", v.encode()).decode())
        for k, v in resp.headers
    )
    return resp.status, headers, body


SCRIPT: tuple[tuple[str, str, bytes], ...] = (
    ("PUT", "/v2/keys/a", b"value=1"),
    ("GET", "/v2/keys/a", b""),
    ("GET", "/v2/keys/missing", b""),
    ("POST", "/v2/keys/q", b"value=x"),
    ("PUT", "/v2/keys/a?prevValue=nope", b"value=2"),
    ("DELETE", "/v2/keys/a", b""),
    ("GET", "/v2/keys/a?wait=true&waitIndex=1", b""),
    ("OPTIONS", "/v2/keys/a", b""),
    ("GET", "/v2/config/local/proxy", b""),
    ("POST", "/v2/config/local/proxy", b""),
    ("GET", "/v2/members", b""),
    ("GET", "/version", b""),
)
FORM = (("Content-Type", "application/x-www-form-urlencoded"),)


async def _run_script(port: int) -> list[tuple[object, ...]]:
    out = []
    for method, target, body in SCRIPT:
        resp = await rawhttp.request(port, method, target, headers=FORM if body else (), body=body)
        out.append(normal(resp))
    return out


def _answers(impl: str, mode: str) -> list[tuple[object, ...]]:
    with (
        procs.running_member(impl) as member,
        proxy(impl, [member.peer_url], "--proxy", mode) as px,
    ):
        # Written past the proxy, so a readonly proxy's watch has an event to find.
        put = rawhttp.request(
            member.client_port, "PUT", "/v2/keys/a", headers=FORM, body=b"value=0"
        )
        asyncio.run(put)
        return asyncio.run(_run_script(px.port))


@pytest.mark.skipif(len(IMPLS) < 2, reason="real etcd is not installed: comparison not run")
@pytest.mark.parametrize("mode", ["on", "readonly"])
def test_answers_match_etcds_proxy(mode: str) -> None:
    etcd, ours = _answers("etcd", mode), _answers("pyetcd", mode)
    for (method, target, _), theirs, mine in zip(SCRIPT, etcd, ours, strict=True):
        if target == "/version":  # the version JSON names different builds; compare its shape
            assert (theirs[0], [k for k, _ in theirs[1]]) == (mine[0], [k for k, _ in mine[1]])
            continue
        assert mine == theirs, f"{method} {target}"


def _unreachable_answer(impl: str) -> tuple[object, ...]:
    dead = f"http://{procs.HOST}:{procs.free_port()}"
    with proxy(impl, [dead], "--proxy", "on", wait=False) as px:
        deadline = time.monotonic() + READY_S
        while True:
            try:
                return normal(asyncio.run(rawhttp.request(px.port, "GET", "/v2/keys/a")))
            except (OSError, rawhttp.NoResponse):
                assert time.monotonic() < deadline, px.log()
                time.sleep(0.1)


def test_no_reachable_member_answers_503_in_etcds_words() -> None:
    ours = _unreachable_answer("pyetcd")
    assert ours[0] == 503
    assert ours[2] == b'{"message":"httpproxy: zero endpoints currently available"}'
    if "etcd" in IMPLS:
        assert ours == _unreachable_answer("etcd")


def test_failover_refresh_and_the_cluster_file() -> None:
    with running_cluster("pyetcd", 3) as cluster:
        nodes = cluster.running
        args = ("--proxy", "on", "--proxy-refresh-interval", "500", "--proxy-failure-wait", "800")
        with proxy("pyetcd", [nodes[0].peer_url], *args) as px:
            assert sorted(_endpoints(px.port) or []) == sorted(n.client_url for n in nodes)
            with open(os.path.join(px.data_dir, "proxy", "cluster")) as fh:
                saved = json.load(fh)["PeerURLs"]
            assert sorted(saved) == sorted(n.peer_url for n in nodes)  # learnt from one peer
            # A follower dies (a dead leader would time writes out until the next election,
            # through any proxy): each request is then answered by a live member.
            leader = cluster.leader()
            next(n for n in nodes if n is not leader).kill()
            for i in range(20):
                put = rawhttp.request(
                    px.port, "PUT", f"/v2/keys/f{i}", headers=FORM, body=b"value=v", timeout=30
                )
                resp = asyncio.run(put)
                assert resp.status == 201, (resp.status, resp.body)
            data_dir = px.data_dir
            # A restart trusts the cluster file over a stale --initial-cluster.
            keep = tempfile.mkdtemp(prefix="pyetcd-proxy-keep-")
            shutil.copytree(
                os.path.dirname(os.path.join(data_dir, "proxy")), keep, dirs_exist_ok=True
            )
        stale = f"http://{procs.HOST}:{procs.free_port()}"
        try:
            with proxy("pyetcd", [stale], *args, data_dir=keep) as again:
                resp = asyncio.run(rawhttp.request(again.port, "GET", "/v2/keys/f19"))
                assert resp.status == 200 and b'"value":"v"' in resp.body
                assert "from cluster file" in again.log()
        finally:
            shutil.rmtree(keep, ignore_errors=True)


def test_readonly_refuses_writes_with_501_and_serves_reads() -> None:
    with (
        procs.running_member("pyetcd") as member,
        proxy("pyetcd", [member.peer_url], "--proxy", "readonly") as px,
    ):
        put = asyncio.run(
            rawhttp.request(px.port, "PUT", "/v2/keys/a", headers=FORM, body=b"value=1")
        )
        get = asyncio.run(rawhttp.request(px.port, "GET", "/v2/keys/"))
    assert (put.status, put.body) == (501, b"")  # headers: compared with etcd above
    assert get.status == 200


def _tls_answers(impl: str) -> list[tuple[object, ...]]:
    """A plain proxy in front of a mutual-TLS cluster (etcd-release's etcd_proxy story): the
    client files are the certificate presented upstream, the peer files fetch the members."""
    with tls_cluster(impl) as cluster:
        pki = cluster.pki
        args = (
            "--proxy", "on",
            "--cert-file", str(pki.client_cert), "--key-file", str(pki.client_key),
            "--trusted-ca-file", str(pki.ca),
            "--peer-cert-file", str(pki.peer_cert), "--peer-key-file", str(pki.peer_key),
            "--peer-trusted-ca-file", str(pki.peer_ca),
        )  # fmt: skip
        with proxy(impl, [m.peer_url for m in cluster.members], *args) as px:
            endpoints = _endpoints(px.port) or []
            assert sorted(endpoints) == sorted(m.client_url for m in cluster.members)
            put = rawhttp.request(px.port, "PUT", "/v2/keys/t", headers=FORM, body=b"value=1")
            return [normal(asyncio.run(put)), normal(asyncio.run(rawhttp.request(px.port, "GET",
                    "/v2/keys/t")))]  # fmt: skip


def test_plain_proxy_to_a_mutual_tls_cluster() -> None:
    ours = _tls_answers("pyetcd")
    assert [status for status, _, _ in ours] == [201, 200]
    if "etcd" in IMPLS:
        assert ours == _tls_answers("etcd")
