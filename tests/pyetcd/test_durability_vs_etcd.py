"""`--wal-dir` and `--max-request-bytes` side by side with real etcd 3.4.23 (real processes)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests import procs

if shutil.which("etcd") is None:
    pytest.skip(
        "NOT RUN: etcd (Debian etcd-server 3.4.23) is not installed, nothing to compare with",
        allow_module_level=True,
    )

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Go's ParseForm reads at most 10 MiB of a form body.
GO_MAX_FORM = 10 << 20


@pytest.fixture(params=procs.IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def scratch() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="walcmp-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _put(member: procs.Member, key: str, body: bytes) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection(procs.HOST, member.client_port, timeout=30)
    try:
        conn.request("PUT", f"/v2/keys/{key}", body=body, headers=FORM)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_wal_dir_holds_the_segments_and_the_snapshots_stay_in_the_data_dir(
    impl: str, scratch: str
) -> None:
    wal_dir = os.path.join(scratch, "wal")
    extra = (*procs.FAST_TIMING, "--enable-v2", "--wal-dir", wal_dir)
    with procs.running_member(impl, extra_args=extra) as member:
        status, _ = _put(member, "a", b"value=1")
        assert status == 201
        segments = sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal"))
        member_dir = os.path.join(member.data_dir, "member")
        assert sorted(os.listdir(member_dir)) == ["snap"], "no member/wal beside a --wal-dir"
    assert segments == ["0000000000000000-0000000000000000.wal"]


def test_max_request_bytes_does_not_bound_v2_requests(impl: str) -> None:
    """etcd 3.4 holds only v3 requests to --max-request-bytes; a v2 form body stops at Go's
    10 MiB form limit, answered as an invalid form."""
    extra = (*procs.FAST_TIMING, "--enable-v2", "--max-request-bytes", "1024")
    with procs.running_member(impl, extra_args=extra) as member:
        status, body = _put(member, "small", b"value=" + b"x" * 10_000)
        assert (status, body["action"]) == (201, "set")
        status, body = _put(member, "big", b"value=" + b"x" * GO_MAX_FORM)
        assert status == 400
        assert {k: body[k] for k in ("errorCode", "message", "cause")} == {
            "errorCode": 210,
            "message": "Invalid POST form",
            "cause": "http: POST too large",
        }


def _restarted_with(member: procs.Member, replace: dict[str, str]) -> subprocess.Popen[bytes]:
    """The member's own command line again, on its data dir, with some flags' values replaced."""
    argv = list(member.argv)
    for flag, value in replace.items():
        argv[argv.index(flag) + 1] = value
    with open(member.log_path, "ab") as log:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _get(member: procs.Member, key: str) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection(procs.HOST, member.client_port, timeout=5)
    try:
        conn.request("GET", f"/v2/keys/{key}")
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_a_member_with_data_ignores_the_initial_cluster_flags(impl: str) -> None:
    """A WAL makes a restart: another --name, a garbage --initial-cluster, another token and
    `existing` are not even read (etcd logs "initial cluster = " empty)."""
    member = procs.start_member(impl)
    again: subprocess.Popen[bytes] | None = None
    try:
        assert _put(member, "a", b"value=1")[0] == 201
        member.proc.send_signal(signal.SIGTERM)
        member.proc.wait(timeout=10)
        again = _restarted_with(
            member,
            {
                "--name": "zz",
                "--initial-cluster": "garbage",
                "--initial-cluster-token": "other",
            },
        )
        deadline = time.monotonic() + 30
        answer: tuple[int, dict[str, object]] | None = None
        while time.monotonic() < deadline and again.poll() is None:
            with contextlib.suppress(OSError, ValueError, http.client.HTTPException):
                answer = _get(member, "a")
                if answer[0] == 200:
                    break
            time.sleep(0.05)
        assert again.poll() is None, member.log_tail()
        assert answer is not None and answer[1]["node"]["value"] == "1"  # type: ignore[index]
    finally:
        if again is not None and again.poll() is None:
            os.killpg(again.pid, signal.SIGKILL)
            again.wait()
        member.stop()
