"""Shared steps of the pyetcd-admin process tests: run the tool, write keys, start pyetcd on a
given data dir, stop a member while keeping its data."""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tests import procs
from tests.cluster.client import get_json, put_key, read_tree, wait_for

ADMIN = [sys.executable, "-m", "pyetcd.admin"]
START_TIMEOUT = 60.0


def admin(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*ADMIN, *args], capture_output=True, text=True, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode:
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stderr.startswith("pyetcd-admin: "), done.stderr
    return done


def put_all(port: int, keys: dict[str, str]) -> None:
    for key, value in keys.items():
        reply = put_key(port, key, value)
        assert reply is not None and reply.status in (200, 201), reply


def tree(port: int, prefix: str) -> dict[str, str]:
    return read_tree(port, prefix, quorum=True)


def stop_keeping_data(member: procs.Member) -> None:
    """SIGTERM and wait: the data dir stays until `member.stop()`."""
    member.proc.send_signal(signal.SIGTERM)
    member.proc.wait(timeout=30)


@dataclass(slots=True)
class Daemon:
    """A pyetcd started on an existing data dir (a restore, a backup)."""

    proc: subprocess.Popen[bytes]
    client_port: int
    peer_port: int
    log_path: str

    @property
    def client_url(self) -> str:
        return f"http://{procs.HOST}:{self.client_port}"

    def log(self) -> str:
        with open(self.log_path, "rb") as fh:
            return fh.read()[-3000:].decode("utf-8", "replace")


@contextlib.contextmanager
def daemon(
    data_dir: str,
    name: str,
    extra: Sequence[str] = (),
    client_port: int | None = None,
    peer_port: int | None = None,
) -> Iterator[Daemon]:
    client_port = client_port or procs.free_port()
    peer_port = peer_port or procs.free_port()
    client, peer = f"http://{procs.HOST}:{client_port}", f"http://{procs.HOST}:{peer_port}"
    log_path = os.path.join(os.path.dirname(os.path.abspath(data_dir)), f"{name}.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                *procs.command("pyetcd"), "--name", name, "--data-dir", data_dir,
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                *procs.FAST_TIMING, "--enable-v2", *extra,
            ],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    running = Daemon(proc, client_port, peer_port, log_path)
    try:
        yield running
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def get(port: int, path: str, user: str = "") -> tuple[int, bytes] | None:
    """One GET, as `user:password` when given; None when the member does not answer."""
    headers = {}
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    conn = http.client.HTTPConnection(procs.HOST, port, timeout=2.0)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_serving(d: Daemon, key: str, user: str = "") -> None:
    def up() -> bool | None:
        if d.proc.poll() is not None:
            raise AssertionError(f"pyetcd exited:\n{d.log()}")
        got = get(d.client_port, f"/v2/keys/{key}?quorum=true", user)
        return True if got is not None and got[0] == 200 else None

    wait_for(up, START_TIMEOUT, f"pyetcd serving {key}", interval=0.05)


def members(port: int) -> list[dict[str, object]]:
    got = get_json(port, "/v2/members")
    assert got is not None and got[0] == 200, got
    return sorted(got[1]["members"], key=lambda m: str(m["name"]))
