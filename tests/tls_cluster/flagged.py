"""One member of etcd or pyetcd started with TLS flags, and clients that report what they saw.

The flag tests run the same command line against both implementations and compare outcomes:
a handshake that fails, a connection closed before any answer, or the HTTP status and body.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests import procs
from tests.tls.helpers import CA, Leaf

HOST = procs.HOST
READY_LINE = "ready to serve client requests"
READY_TIMEOUT = 40.0
IO_TIMEOUT = 5.0
# A refused connection is closed within this long after its handshake; an accepted one is not.
SETTLE = 1.0
# Bounds the wait for a rewritten file to take effect (pyetcd polls its files once a second).
RELOAD_WAIT = 10.0
_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} ")


@dataclass(frozen=True, slots=True)
class Running:
    impl: str
    workdir: Path
    client_port: int
    peer_port: int
    proc: subprocess.Popen[bytes]

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    def log(self) -> str:
        return (self.workdir / "member.log").read_text("utf-8", "replace")


def argv(
    impl: str,
    workdir: Path,
    client_urls: Sequence[str],
    peer_url: str,
    flags: Sequence[str],
) -> list[str]:
    return [
        *procs.command(impl), "--name", "m", "--data-dir", str(workdir / "data"), "--enable-v2",
        *procs.FAST_TIMING,
        "--listen-client-urls", ",".join(client_urls), "--advertise-client-urls", client_urls[0],
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"m={peer_url}", *flags,
    ]  # fmt: skip


@contextlib.contextmanager
def member(
    impl: str,
    flags: Sequence[str],
    *,
    client_schemes: Sequence[str] = ("https",),
    peer_scheme: str = "http",
) -> Iterator[Running]:
    """A ready single member; killed and its directory removed at the end."""
    workdir = Path(tempfile.mkdtemp(prefix=f"tlsflags-{impl}-"))
    client_port, peer_port = procs.free_port(), procs.free_port()
    clients = [f"{scheme}://{HOST}:{client_port}" for scheme in client_schemes]
    args = argv(impl, workdir, clients, f"{peer_scheme}://{HOST}:{peer_port}", flags)
    log_path = workdir / "member.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    running = Running(impl, workdir, client_port, peer_port, proc)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while READY_LINE not in running.log():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{impl} did not start:\n{running.log()[-3000:]}")
            time.sleep(0.1)
        yield running
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def refusal(impl: str, flags: Sequence[str], peer_scheme: str = "https") -> tuple[int, str]:
    """Exit code and last log line (without its time stamp) of a start that must fail."""
    workdir = Path(tempfile.mkdtemp(prefix=f"tlsflags-{impl}-"))
    try:
        client, peer = procs.free_port(), procs.free_port()
        args = argv(
            impl, workdir, [f"https://{HOST}:{client}"], f"{peer_scheme}://{HOST}:{peer}", flags
        )
        return run_to_end(args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_to_end(args: Sequence[str]) -> tuple[int, str]:
    """Exit code and last stderr line, time stamp removed, of a run that must end."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    return done.returncode, _STAMP.sub("", lines[-1]) if lines else ""


def wait_for(check: Callable[[], bool], timeout: float = READY_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def client_context(
    ca: Path | None, leaf: Leaf | None = None, *, ciphers: str | None = None
) -> ssl.SSLContext:
    """A client trusting `ca` (nothing checked without it), presenting `leaf`; `ciphers`
    forces TLS 1.2 with exactly that OpenSSL cipher list."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cafile=str(ca))
    if leaf is not None:
        ctx.load_cert_chain(str(leaf.cert), str(leaf.key))
    if ciphers is not None:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
    return ctx


def get(port: int, ctx: ssl.SSLContext | None, path: str = "/v2/keys/") -> str:
    """`<status> <body>` of one GET on a fresh connection, or `refused` when no answer came
    (handshake failed, or the connection was closed or reset before any answer)."""
    conn: http.client.HTTPConnection
    if ctx is None:
        conn = http.client.HTTPConnection(HOST, port, timeout=IO_TIMEOUT)
    else:
        conn = http.client.HTTPSConnection(HOST, port, timeout=IO_TIMEOUT, context=ctx)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return f"{reply.status} {reply.read().decode('utf-8', 'replace')}"
    except (OSError, http.client.HTTPException):
        return "refused"
    finally:
        conn.close()


def stays_open(port: int, ctx: ssl.SSLContext) -> bool:
    """Whether a TLS connection survives its handshake for SETTLE seconds (sending nothing):
    what tells an accepted peer from a refused one on either implementation's peer port."""
    try:
        with (
            socket.create_connection((HOST, port), timeout=IO_TIMEOUT) as raw,
            ctx.wrap_socket(raw, server_hostname=HOST) as tls,
        ):
            tls.settimeout(SETTLE)
            try:
                data = tls.recv(1)
            except TimeoutError:
                return True
            return bool(data)
    except (OSError, ssl.SSLError):
        return False


def serial(leaf: Leaf) -> int:
    return x509.load_pem_x509_certificate(leaf.cert.read_bytes()).serial_number


def write_crl(path: Path, ca: CA, revoked: Sequence[Leaf], *, der: bool = False) -> None:
    """A CRL signed by `ca` listing `revoked`, replaced atomically."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=30))
    )
    for leaf in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial(leaf))
            .revocation_date(now - dt.timedelta(minutes=1))
            .build()
        )
    crl = builder.sign(ca.key, hashes.SHA256())
    encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(crl.public_bytes(encoding))
    tmp.replace(path)
