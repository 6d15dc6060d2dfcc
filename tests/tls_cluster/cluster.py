"""Three-member clusters with client and peer mutual TLS, and certificates made at test time.

Certificates come from `pyetcd-certs quickstart --ip 127.0.0.1` (the tool operators use), one
run per PKI generation. Every member reads its material from its own `tls/` directory, which
the rotation test rewrites in place the way a BOSH deploy does.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from cryptography import x509

from tests import procs
from tests.tls.helpers import CA
from tls.authority import load_key

HOST = procs.HOST
CERTS_TOOL = str(Path(sys.executable).with_name("pyetcd-certs"))
# etcd's default timing halved: stable on a busy 2-core machine, fast enough to boot in seconds.
TIMING = ("--heartbeat-interval", "50", "--election-timeout", "500")
READY_TIMEOUT = 40.0
REQUEST_TIMEOUT = 10.0
SERVICE = "etcd.service.cf.internal"
LIVE_FILES = ("ca.crt", "server.crt", "server.key", "peer-ca.crt", "peer.crt", "peer.key")


@dataclass(frozen=True, slots=True)
class Pki:
    """One `pyetcd-certs quickstart` run: a client CA and a peer CA with their leaves."""

    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "out" / "etcdCA.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "out" / "etcdCA.key"

    def authority(self) -> CA:
        """The client CA with its key, to sign extra test certificates with."""
        certificate = x509.load_pem_x509_certificate(self.ca.read_bytes())
        return CA("etcdCA", self.ca, load_key(self.ca_key.read_bytes()), certificate)

    @property
    def server_cert(self) -> Path:
        return self.root / "out" / f"{SERVICE}.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "out" / f"{SERVICE}.key"

    @property
    def client_cert(self) -> Path:
        return self.root / "out" / "clientName.crt"

    @property
    def client_key(self) -> Path:
        return self.root / "out" / "clientName.key"

    @property
    def peer_ca(self) -> Path:
        return self.root / "peer" / "peerCA.crt"

    @property
    def peer_cert(self) -> Path:
        return self.root / "peer" / f"_.{SERVICE}.crt"

    @property
    def peer_key(self) -> Path:
        return self.root / "peer" / f"_.{SERVICE}.key"


def make_pki(root: Path) -> Pki:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [CERTS_TOOL, "quickstart", "--ip", HOST],
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=60,
    )
    return Pki(root)


def replace_file(path: Path, data: bytes) -> None:
    """Atomic rewrite (tmp + rename): a reader sees the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def tls_client(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    return ctx


def request(
    port: int,
    ctx: ssl.SSLContext | None,
    method: str,
    path: str,
    form: dict[str, str] | None = None,
    timeout: float = REQUEST_TIMEOUT,
) -> tuple[int, bytes]:
    """One request on a fresh connection (so every call is a full TLS handshake)."""
    if ctx is None:
        conn: http.client.HTTPConnection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    else:
        conn = http.client.HTTPSConnection(HOST, port, timeout=timeout, context=ctx)
    body = urlencode(form) if form is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def attempt(port: int, ctx: ssl.SSLContext | None, path: str) -> str:
    """'<status> <body>' or the exception a refused client sees."""
    try:
        status, body = request(port, ctx, "GET", path)
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}"
    return f"{status} {body.decode('utf-8', 'replace')}"


@dataclass(slots=True)
class Member:
    impl: str
    name: str
    workdir: Path
    client_port: int = field(default_factory=procs.free_port)
    peer_port: int = field(default_factory=procs.free_port)
    peer_host: str = HOST
    verify_clients: bool = True
    proc: subprocess.Popen[bytes] | None = None

    @property
    def tls_dir(self) -> Path:
        return self.workdir / "tls"

    @property
    def client_url(self) -> str:
        return f"https://{HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"https://{self.peer_host}:{self.peer_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "member.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def install(self, pki: Pki) -> None:
        """Copy one PKI generation into this member's live files."""
        self.tls_dir.mkdir(parents=True, exist_ok=True)
        sources = (pki.ca, pki.server_cert, pki.server_key, pki.peer_ca, pki.peer_cert)
        for name, source in zip(LIVE_FILES, (*sources, pki.peer_key), strict=True):
            replace_file(self.tls_dir / name, source.read_bytes())

    def tls_args(self) -> list[str]:
        d = self.tls_dir
        return [
            "--cert-file", str(d / "server.crt"), "--key-file", str(d / "server.key"),
            *(["--trusted-ca-file", str(d / "ca.crt"), "--client-cert-auth"]
              if self.verify_clients else []),
            "--peer-cert-file", str(d / "peer.crt"), "--peer-key-file", str(d / "peer.key"),
            "--peer-trusted-ca-file", str(d / "peer-ca.crt"), "--peer-client-cert-auth",
        ]  # fmt: skip

    def argv(self, cluster: str, token: str, state: str) -> list[str]:
        return [
            *procs.command(self.impl),
            "--name", self.name,
            "--data-dir", str(self.workdir / "data"),
            "--enable-v2", *TIMING,
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", f"https://{HOST}:{self.peer_port}",
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", cluster,
            "--initial-cluster-token", token,
            "--initial-cluster-state", state,
            *self.tls_args(),
        ]  # fmt: skip

    def start(self, argv: Sequence[str]) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@dataclass(slots=True)
class Cluster:
    impl: str
    root: Path
    pki: Pki
    members: list[Member]
    token: str = "tls-cluster"

    @property
    def client(self) -> ssl.SSLContext:
        """A client of the first PKI generation: CA, client certificate and key."""
        return tls_client(self.pki.ca, self.pki.client_cert, self.pki.client_key)

    @property
    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def start(self, ready: int | None = None) -> None:
        """Start every member; wait until the first `ready` (default: all) are healthy."""
        for member in self.members:
            member.start(member.argv(self.initial_cluster, self.token, "new"))
        for member in self.members[:ready]:
            self.wait_ready(member)

    def wait_ready(self, member: Member, ctx: ssl.SSLContext | None = None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert member.proc is not None
            if member.proc.poll() is not None:
                raise AssertionError(f"{member.name} exited; log:\n{member.log()[-4000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                status, body = request(
                    member.client_port, ctx or self.client, "GET", "/health", timeout=2
                )
                if status == 200 and json.loads(body).get("health") == "true":
                    return
            time.sleep(0.1)
        raise AssertionError(f"{member.name} not healthy; log:\n{member.log()[-4000:]}")

    def join(self, member: Member, ctx: ssl.SSLContext) -> None:
        """`member add` through the first member, then start `member` to join."""
        conn = http.client.HTTPSConnection(HOST, self.members[0].client_port, context=ctx)
        try:
            body = json.dumps({"peerURLs": [member.peer_url]})
            conn.request("POST", "/v2/members", body, {"Content-Type": "application/json"})
            reply = conn.getresponse()
            assert reply.status == 201, reply.read()
        finally:
            conn.close()
        self.members.append(member)
        member.start(member.argv(self.initial_cluster, self.token, "existing"))
        self.wait_ready(member, ctx)

    def stop(self) -> None:
        for member in self.members:
            member.stop()


@contextlib.contextmanager
def tls_cluster(
    impl: str, peer_hosts: Sequence[str] = (HOST, HOST, HOST), ready: int | None = None
) -> Iterator[Cluster]:
    """A running cluster with client and peer mutual TLS, one member per peer URL host (all on
    127.0.0.1; `localhost` is a host the certificates do not cover). Every process is killed and
    every file removed at the end."""
    root = Path(tempfile.mkdtemp(prefix=f"tls-{impl}-"))
    cluster = Cluster(impl, root, make_pki(root / "pki-1"), [])
    try:
        for index, host in enumerate(peer_hosts):
            member = Member(impl, f"m{index}", root / f"m{index}", peer_host=host)
            member.install(cluster.pki)
            cluster.members.append(member)
        cluster.start(ready)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
