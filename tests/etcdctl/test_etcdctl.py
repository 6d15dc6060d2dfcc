"""Drive the real `ETCDCTL_API=2 etcdctl` against each implementation.

Every test is parametrized over real etcd and pyetcd: the etcd run proves each expected
output and exit code; the pyetcd run must match it. Each test gets a fresh member, so the
indexes printed in error lines are deterministic (first user write = 4).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests import procs

if shutil.which("etcdctl") is None or shutil.which("etcd") is None:
    pytest.skip(
        "etcdctl/etcd (Debian etcd-client, etcd-server 3.4.23) not installed",
        allow_module_level=True,
    )

COMMAND_TIMEOUT = 15.0


@pytest.fixture(params=procs.IMPLEMENTATIONS)
def member(request: pytest.FixtureRequest) -> Iterator[procs.Member]:
    with procs.running_member(request.param) as m:
        yield m


def ctl(member: procs.Member, *args: str) -> tuple[int, str, str]:
    """Run one etcdctl v2 command; returns (exit code, stdout, stderr)."""
    done = subprocess.run(
        ["etcdctl", "--endpoints", member.client_url, *args],
        env={**os.environ, "ETCDCTL_API": "2"},
        capture_output=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def start_ctl(member: procs.Member, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["etcdctl", "--endpoints", member.client_url, *args],
        env={**os.environ, "ETCDCTL_API": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def store_watchers(member: procs.Member) -> int:
    conn = http.client.HTTPConnection(procs.HOST, member.client_port, timeout=5)
    try:
        conn.request("GET", "/v2/stats/store")
        return int(json.loads(conn.getresponse().read())["watchers"])
    finally:
        conn.close()


def wait_for_watchers(member: procs.Member, count: int, deadline: float = 10.0) -> None:
    """Block until the server reports `count` registered watchers (no sleeping on guesses)."""
    end = time.monotonic() + deadline
    while store_watchers(member) < count:
        if time.monotonic() > end:
            raise AssertionError(f"{member.impl}: watcher never registered")
        time.sleep(0.02)


def test_set_and_get(member: procs.Member) -> None:
    assert ctl(member, "set", "/a", "1") == (0, "1\n", "")
    assert ctl(member, "get", "/a") == (0, "1\n", "")
    assert ctl(member, "get", "/missing") == (4, "", "Error:  100: Key not found (/missing) [4]\n")
    assert ctl(member, "set", "/a", "2", "--swap-with-value", "x") == (
        4,
        "",
        "Error:  101: Compare failed ([x != 1]) [4]\n",
    )
    assert ctl(member, "set", "/a", "2", "--swap-with-value", "1") == (0, "2\n", "")


def test_mk_and_in_order(member: procs.Member) -> None:
    assert ctl(member, "mk", "/m", "v") == (0, "v\n", "")
    assert ctl(member, "mk", "/m", "v") == (4, "", "Error:  105: Key already exists (/m) [4]\n")
    assert ctl(member, "mk", "--in-order", "/q", "job") == (0, "job\n", "")
    assert ctl(member, "ls", "/q") == (0, "/q/00000000000000000005\n", "")


def test_mkdir_setdir_and_get_dir(member: procs.Member) -> None:
    assert ctl(member, "mkdir", "/d") == (0, "", "")
    assert ctl(member, "mkdir", "/d") == (4, "", "Error:  105: Key already exists (/d) [4]\n")
    assert ctl(member, "get", "/d") == (1, "", "/d: is a directory\n")
    assert ctl(member, "setdir", "/sd") == (0, "", "")
    assert ctl(member, "ls", "-p", "--sort") == (0, "/d/\n/sd/\n", "")


def test_update_and_updatedir(member: procs.Member) -> None:
    assert ctl(member, "update", "/u", "x") == (4, "", "Error:  100: Key not found (/u) [3]\n")
    assert ctl(member, "set", "/u", "1") == (0, "1\n", "")
    assert ctl(member, "update", "/u", "2") == (0, "2\n", "")
    assert ctl(member, "mkdir", "/d", "--ttl", "100") == (0, "", "")
    assert ctl(member, "updatedir", "/d", "--ttl", "200") == (0, "", "")
    assert ctl(member, "-o", "json", "get", "/u") == (
        0,
        '{"action":"get","node":{"key":"/u","value":"2","nodes":null,"createdIndex":4,'
        '"modifiedIndex":5},"prevNode":null}\n',
        "",
    )
    assert ctl(member, "-o", "extended", "get", "/u") == (
        0,
        "Key: /u\nCreated-Index: 4\nModified-Index: 5\nTTL: 0\nIndex: 7\n\n2\n",
        "",
    )
    assert ctl(member, "updatedir", "/d") == (0, "", "")
    assert ctl(member, "updatedir", "/nope") == (4, "", "Error:  100: Key not found (/nope) [8]\n")


def test_ls_recursive_sorted(member: procs.Member) -> None:
    for key in ("/l/b", "/l/a", "/l/c/d"):
        assert ctl(member, "set", key, "1") == (0, "1\n", "")
    assert ctl(member, "ls", "-r", "--sort", "/l") == (0, "/l/a\n/l/b\n/l/c\n/l/c/d\n", "")
    assert ctl(member, "ls", "-p", "--sort", "/l") == (0, "/l/a\n/l/b\n/l/c/\n", "")
    assert ctl(member, "ls", "/nope") == (4, "", "Error:  100: Key not found (/nope) [6]\n")


def test_rm_variants(member: procs.Member) -> None:
    assert ctl(member, "set", "/a", "3") == (0, "3\n", "")
    assert ctl(member, "set", "/l/x", "1") == (0, "1\n", "")
    assert ctl(member, "mkdir", "/d") == (0, "", "")
    assert ctl(member, "rm", "/a") == (0, "PrevNode.Value: 3\n", "")
    assert ctl(member, "rm", "/l") == (4, "", "Error:  102: Not a file (/l) [7]\n")
    assert ctl(member, "rm", "-r", "/l") == (0, "", "")
    assert ctl(member, "rm", "/nope") == (4, "", "Error:  100: Key not found (/nope) [8]\n")
    assert ctl(member, "rmdir", "/d") == (0, "", "")
    assert ctl(member, "ls") == (0, "", "")


def test_watch_after_index(member: procs.Member) -> None:
    assert ctl(member, "set", "/w", "1") == (0, "1\n", "")
    assert ctl(member, "set", "/w", "2") == (0, "2\n", "")
    assert ctl(member, "watch", "--after-index", "4", "/w") == (0, "2\n", "")
    assert ctl(member, "watch", "-r", "--after-index", "3", "/") == (0, "[set] /w\n1\n", "")


def test_watch_live(member: procs.Member) -> None:
    proc = start_ctl(member, "watch", "-r", "/live")
    try:
        wait_for_watchers(member, 1)
        assert ctl(member, "set", "/live/k", "v") == (0, "v\n", "")
        out, err = proc.communicate(timeout=COMMAND_TIMEOUT)
    finally:
        proc.kill()
        proc.wait()
    assert (proc.returncode, out, err) == (0, b"[set] /live/k\nv\n", b"")


def test_member_list(member: procs.Member) -> None:
    expected = (
        f"{member.member_id}: name=n1 peerURLs={member.peer_url} "
        f"clientURLs={member.client_url} isLeader=true\n"
    )
    assert ctl(member, "member", "list") == (0, expected, "")


def test_cluster_health(member: procs.Member) -> None:
    expected = (
        f"member {member.member_id} is healthy: got healthy result from {member.client_url}\n"
        "cluster is healthy\n"
    )
    assert ctl(member, "cluster-health") == (0, expected, "")
