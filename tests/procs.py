"""Start and stop real etcd or pyetcd members on free loopback ports for process-level tests.

Every member lives in its own temporary directory (data dir + log file) and its own process
group, so `stop()` can kill everything it spawned and leave nothing behind on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
ETCD_BINARY = "etcd"
IMPLEMENTATIONS = ("etcd", "pyetcd")
# Fast raft timing for single-member test clusters (both implementations accept these flags).
FAST_TIMING = ("--heartbeat-interval", "10", "--election-timeout", "100")
DEFAULT_TOKEN = "etcd-cluster"


class MemberStartError(RuntimeError):
    """The member process exited or never became ready before its deadline."""


def free_port() -> int:
    """A currently unused TCP port on 127.0.0.1 (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def member_id(peer_urls: Sequence[str], token: str = DEFAULT_TOKEN) -> int:
    """etcd's bootstrap member ID: first 8 bytes of sha1(sorted peer URLs + cluster token)."""
    digest = hashlib.sha1(("".join(sorted(peer_urls)) + token).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def cluster_id(member_ids: Sequence[int]) -> int:
    """etcd's cluster ID: first 8 bytes of sha1 over the sorted member IDs (8-byte big-endian)."""
    raw = b"".join(mid.to_bytes(8, "big") for mid in sorted(member_ids))
    return int.from_bytes(hashlib.sha1(raw).digest()[:8], "big")


def command(impl: str) -> list[str]:
    """The argv prefix that launches an implementation."""
    if impl == "etcd":
        binary = shutil.which(ETCD_BINARY)
        if binary is None:
            raise MemberStartError("etcd binary not found on PATH")
        return [binary]
    if impl == "pyetcd":
        return [sys.executable, "-m", "pyetcd"]
    raise ValueError(f"unknown implementation {impl!r}")


@dataclass(slots=True)
class Member:
    """A running single-member cluster; `stop()` is idempotent."""

    impl: str
    name: str
    client_port: int
    peer_port: int
    token: str
    workdir: str
    proc: subprocess.Popen[bytes]
    log_path: str
    argv: list[str] = field(default_factory=list)

    @property
    def client_url(self) -> str:
        return f"http://{HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{HOST}:{self.peer_port}"

    @property
    def data_dir(self) -> str:
        return os.path.join(self.workdir, "data")

    @property
    def member_id(self) -> str:
        return f"{member_id([self.peer_url], self.token):x}"

    @property
    def cluster_id(self) -> str:
        return f"{cluster_id([member_id([self.peer_url], self.token)]):x}"

    def log_tail(self, limit: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                return fh.read()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def terminate(self, timeout: float = 60.0) -> bool:
        """A clean stop that keeps the data dir: SIGTERM, then wait; False if the member had to
        be killed after `timeout`."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return False
        return True

    def restart(self) -> None:
        """The same command line again after `terminate`: the member resumes from its data dir."""
        self.proc = launch(self.argv, self.log_path, append=True)


def _http_get(port: int, path: str, timeout: float) -> tuple[int, bytes, str | None]:
    """Status, body and `X-Etcd-Cluster-Id` of one GET."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheader("X-Etcd-Cluster-Id")
    finally:
        conn.close()


def _is_ready(member: Member, v2: bool) -> bool:
    """Ready = cluster version decided (so internal writes 1..3 are done) and v2 keys served by
    THIS member: two starts racing for one free port must not take the winner for themselves,
    so the answer's cluster id must be the one this member's own flags derive."""
    try:
        status, body, _ = _http_get(member.client_port, "/version", 1.0)
        if status != 200 or json.loads(body).get("etcdcluster") in (None, "not_decided"):
            return False
        if not v2:
            return True
        status, _, cluster = _http_get(member.client_port, "/v2/keys", 1.0)
        return status == 200 and cluster == member.cluster_id
    except (OSError, ValueError, http.client.HTTPException):
        return False


def launch(argv: Sequence[str], log_path: str, append: bool = False) -> subprocess.Popen[bytes]:
    """A member process with its output in `log_path`, in its own process group (so `stop()`
    kills everything it spawned)."""
    with open(log_path, "ab" if append else "wb") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _spawn(impl: str, name: str, token: str, extra_args: Sequence[str]) -> Member:
    workdir = tempfile.mkdtemp(prefix=f"{impl}-member-")
    client_port, peer_port = free_port(), free_port()
    client, peer = f"http://{HOST}:{client_port}", f"http://{HOST}:{peer_port}"
    argv = [
        *command(impl),
        "--name", name,
        "--data-dir", os.path.join(workdir, "data"),
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"{name}={peer}",
        "--initial-cluster-token", token,
        *extra_args,
    ]  # fmt: skip
    log_path = os.path.join(workdir, "member.log")
    proc = launch(argv, log_path)
    return Member(impl, name, client_port, peer_port, token, workdir, proc, log_path, argv)


def start_member(
    impl: str,
    *,
    name: str = "n1",
    token: str = DEFAULT_TOKEN,
    extra_args: Sequence[str] = (*FAST_TIMING, "--enable-v2"),
    ready_timeout: float = 30.0,
    attempts: int = 3,
) -> Member:
    """Start a fresh single-member cluster and wait (bounded) until it serves requests.

    A start that dies early is retried on new ports, since a free port can be taken by another
    process between choosing it and binding it.
    """
    v2 = "--enable-v2" in extra_args
    last_log = ""
    for _ in range(attempts):
        member = _spawn(impl, name, token, extra_args)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline and member.proc.poll() is None:
            if _is_ready(member, v2) and member.proc.poll() is None:
                return member
            time.sleep(0.02)
        last_log = member.log_tail()
        timed_out = member.proc.poll() is None
        member.stop()
        if timed_out:
            break
    raise MemberStartError(f"{impl} member did not become ready; log tail:\n{last_log}")


@contextlib.contextmanager
def running_member(impl: str, **kwargs: Any) -> Iterator[Member]:
    """`with running_member("etcd") as m:`: a fresh member, always killed and cleaned up."""
    member = start_member(impl, **kwargs)
    try:
        yield member
    finally:
        member.stop()


@contextlib.asynccontextmanager
async def running_member_async(impl: str, **kwargs: Any) -> AsyncIterator[Member]:
    """Async form of `running_member`; the blocking start/stop run in worker threads."""
    member = await asyncio.to_thread(lambda: start_member(impl, **kwargs))
    try:
        yield member
    finally:
        await asyncio.to_thread(member.stop)
