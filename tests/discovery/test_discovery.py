"""`--discovery` between real processes: pyetcd and etcd members bootstrapping from a discovery
service that is itself etcd or pyetcd, and what a member that comes too late does."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import pytest

from tests import procs

pytestmark = pytest.mark.timeout(240)
IMPLS = ["etcd", "pyetcd"] if shutil.which("etcd") else ["pyetcd"]
TIMING = ("--heartbeat-interval", "10", "--election-timeout", "100")
READY_S = 40.0


@dataclass(slots=True)
class Proc:
    name: str
    client_port: int
    peer_port: int
    workdir: str
    proc: subprocess.Popen[bytes]

    @property
    def client_url(self) -> str:
        return f"http://{procs.HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{procs.HOST}:{self.peer_port}"

    def log(self) -> str:
        with open(os.path.join(self.workdir, "log"), "rb") as fh:
            return fh.read().decode("utf-8", "replace")[-3000:]


@contextlib.contextmanager
def members(impl: str, durl: str, names: list[str], *extra: str) -> Iterator[list[Proc]]:
    started: list[Proc] = []
    try:
        for name in names:
            workdir = tempfile.mkdtemp(prefix=f"{impl}-disc-{name}-")
            cport, pport = procs.free_port(), procs.free_port()
            client, peer = f"http://{procs.HOST}:{cport}", f"http://{procs.HOST}:{pport}"
            argv = [
                *procs.command(impl), "--name", name, "--data-dir", f"{workdir}/data",
                "--enable-v2", *TIMING, "--discovery", durl,
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, *extra,
            ]  # fmt: skip
            with open(os.path.join(workdir, "log"), "wb") as log:
                proc = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            started.append(Proc(name, cport, pport, workdir, proc))
        yield started
    finally:
        for p in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.proc.pid, signal.SIGKILL)
            p.proc.wait()
            shutil.rmtree(p.workdir, ignore_errors=True)


def _get(url: str) -> tuple[int, dict, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def _put(url: str, **form: str) -> None:
    data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(url, data=data, method="PUT")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status in (200, 201)


def token(service: procs.Member, size: int) -> str:
    durl = f"{service.client_url}/v2/keys/_etcd/registry/{uuid.uuid4().hex}"
    _put(f"{durl}/_config/size", value=str(size))
    return durl


def wait_cluster(ps: list[Proc], size: int) -> tuple[str, list[dict]]:
    deadline = time.monotonic() + READY_S
    while True:
        answers = []
        for p in ps:
            with contextlib.suppress(OSError, ValueError):
                answers.append(_get(f"{p.client_url}/v2/members"))
        named = [a for a in answers if a[0] == 200 and all(m["name"] for m in a[1]["members"])]
        if len(named) == len(ps) and all(len(a[1]["members"]) == size for a in named):
            return named[0][2]["X-Etcd-Cluster-Id"], named[0][1]["members"]
        for p in ps:
            assert p.proc.poll() is None, p.log()
        assert time.monotonic() < deadline, "\n".join(p.log() for p in ps)
        time.sleep(0.1)


@pytest.mark.parametrize("service_impl", IMPLS)
@pytest.mark.parametrize("impl", IMPLS)
def test_three_members_bootstrap_with_etcds_ids(impl: str, service_impl: str) -> None:
    with procs.running_member(service_impl, name="disc") as service:
        durl = token(service, 3)
        with members(impl, durl, ["a", "b", "c"]) as ps:
            cluster, listed = wait_cluster(ps, 3)
            ids = {m["name"]: int(m["id"], 16) for m in listed}
            for p in ps:  # ids from the advertised peer URLs with the discovery URL as token
                assert ids[p.name] == procs.member_id([p.peer_url], durl)
            assert int(cluster, 16) == procs.cluster_id(list(ids.values()))
            _put(f"{ps[0].client_url}/v2/keys/k", value="v")
            assert _get(f"{ps[2].client_url}/v2/keys/k?quorum=true")[1]["node"]["value"] == "v"
            # The registry holds one key per member, named by id, valued name=peerURL.
            _, reg, _ = _get(durl)
            values = sorted(n["value"] for n in reg["node"]["nodes"] if "value" in n)
            assert values == sorted(f"{p.name}={p.peer_url}" for p in ps)


@pytest.mark.parametrize("impl", IMPLS)
def test_a_member_too_late_falls_back_to_proxy_or_exits(impl: str) -> None:
    with procs.running_member("pyetcd", name="disc") as service:
        durl = token(service, 1)
        with members(impl, durl, ["a"]) as first:
            wait_cluster(first, 1)
            with members(impl, durl, ["late"], "--discovery-fallback", "exit") as late:
                assert late[0].proc.wait(timeout=30) == 1
                assert "discovery: cluster is full" in late[0].log()
            with members(impl, durl, ["px"]) as proxied:  # the default fallback: proxy
                deadline = time.monotonic() + READY_S
                while True:
                    with contextlib.suppress(OSError, ValueError):
                        status, body, _ = _get(f"{proxied[0].client_url}/v2/config/local/proxy")
                        if status == 200 and body["endpoints"]:
                            break
                    assert proxied[0].proc.poll() is None, proxied[0].log()
                    assert time.monotonic() < deadline, proxied[0].log()
                    time.sleep(0.1)
                assert body["endpoints"] == [first[0].client_url]
                _put(f"{proxied[0].client_url}/v2/keys/through", value="proxy")
                assert _get(f"{first[0].client_url}/v2/keys/through")[1]["node"]["value"] == "proxy"


class _ForwardProxy(http.server.BaseHTTPRequestHandler):
    """A plain HTTP forward proxy: the request line carries the absolute URL."""

    seen: ClassVar[list[str]] = []

    def _forward(self) -> None:
        self.seen.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {"Content-Type": self.headers.get("Content-Type", "")} if body else {}
        req = urllib.request.Request(self.path, data=body, method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, data, answer = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as exc:
            status, data, answer = exc.code, exc.read(), exc.headers
        self.send_response(status)
        for name in ("Content-Type", "X-Etcd-Index"):
            if answer.get(name):
                self.send_header(name, answer[name])
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = _forward

    def log_message(self, *args: object) -> None:
        pass


def test_discovery_requests_go_through_the_discovery_proxy() -> None:
    server = http.server.ThreadingHTTPServer((procs.HOST, 0), _ForwardProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with procs.running_member("pyetcd", name="disc") as service:
            durl = token(service, 1)
            via = f"http://{procs.HOST}:{server.server_address[1]}"
            with members("pyetcd", durl, ["a"], "--discovery-proxy", via) as ps:
                wait_cluster(ps, 1)
        assert any(p.startswith(f"{durl}/_config/size") for p in _ForwardProxy.seen)
        assert any("prevExist=false" in p for p in _ForwardProxy.seen)  # the registration
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
