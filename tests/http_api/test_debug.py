"""`/debug/vars` and `PUT /config/local/log`, against real etcd 3.4.23 and in-process.

The compat tests send the same requests to a real etcd member and a pyetcd member and compare
status, body and the headers that carry meaning (Content-Type, Allow, nosniff); header order
and `Date` are the compat suite's business.
"""

from __future__ import annotations

import json
import logging
import re
import resource
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from http_api.debug import decode_level, raft_status_json
from http_api.protocol import PeerProgress, RaftStatus
from tests import procs
from tests.compat import rawhttp

needs_etcd = pytest.mark.skipif(
    shutil.which("etcd") is None, reason="NOT RUN: etcd 3.4.23 binary not found on PATH"
)

# (body, what Go's decoder yields: the Level, or None for "Invalid json body")
DECODED: list[tuple[bytes, str | None]] = [
    (b'{"Level":"DEBUG"}', "DEBUG"),
    (b'{"level":"debug"}', "debug"),
    (b'  {"LEVEL":"x", "other": [1, {"a": null}]}', "x"),
    (b'{"Level":"INFO"} trailing', "INFO"),
    (b'{"Level":"INFO","level":"ERROR"}', "ERROR"),
    (b'{"Level":null}', ""),
    (b"{}", ""),
    (b"null", ""),
    (b"null  ", ""),
    (b"nullx", None),
    (b"", None),
    (b"garbage", None),
    (b'{"Level":5}', None),
    (b'{"Level":["DEBUG"]}', None),
    (b"[]", None),
    (b'"DEBUG"', None),
    (b"5", None),
    (b'{"Level":NaN}', None),
    (b'{"Level":"DEBUG"', None),
    (b'{"Lev\\u0065l":"WARNING"}', "WARNING"),
]


@pytest.mark.parametrize(("body", "level"), DECODED)
def test_log_body_decodes_as_go_does(body: bytes, level: str | None) -> None:
    assert decode_level(body) == level


def test_raft_status_is_etcds_json() -> None:
    status = RaftStatus(
        id=0x180C196F90E92846, term=2, vote=0x180C196F90E92846, commit=4,
        lead=0x180C196F90E92846, raft_state="StateLeader", applied=4,
        progress=(PeerProgress(0x180C196F90E92846, 4, 5, "StateReplicate"),), lead_transferee=0,
    )  # fmt: skip
    assert raft_status_json(status) == (
        '{"id":"180c196f90e92846","term":2,"vote":"180c196f90e92846","commit":4,'
        '"lead":"180c196f90e92846","raftState":"StateLeader","applied":4,"progress":'
        '{"180c196f90e92846":{"match":4,"next":5,"state":"StateReplicate"}},"leadtransferee":"0"}'
    )
    follower = RaftStatus(1, 3, 0, 9, 2, "StateFollower", 9, (), 0)
    assert '"progress":{},"leadtransferee":"0"}' in raft_status_json(follower)


@pytest.fixture
async def members() -> AsyncIterator[tuple[procs.Member, procs.Member]]:
    async with (
        procs.running_member_async("etcd") as etcd,
        procs.running_member_async("pyetcd") as pyetcd,
    ):
        yield etcd, pyetcd


_MEANINGFUL = ("content-type", "allow", "x-content-type-options", "content-length")
# (method, path, body): what an operator or a confused client may send.
LOG_REQUESTS: list[tuple[str, str, bytes]] = [
    ("GET", "/config/local/log", b""),
    ("POST", "/config/local/log", b"{}"),
    ("PUT", "/config/local/log", b""),
    ("PUT", "/config/local/log", b"garbage"),
    ("PUT", "/config/local/log", b'{"Level":5}'),
    ("PUT", "/config/local/log", b'{"Level":"nope"}'),
    ("PUT", "/config/local/log", b'{"Level":"<b>&"}'),
    ("PUT", "/config/local/log", b"null"),
    ("PUT", "/config/local/log", b'{"level":"debug"}'),
    ("PUT", "/config/local/log", b'{"Level":"4"}'),
    ("PUT", "/config/local/log", b'{"Level":"INFO"} trailing'),
    ("PUT", "/config/local/log/", b'{"Level":"INFO"}'),
    ("POST", "/debug/vars", b""),
    ("DELETE", "/debug/vars", b""),
    ("HEAD", "/debug/vars", b""),
    ("GET", "/debug/vars/", b""),
    ("GET", "/debug/pprof/", b""),
]


def _meaning(response: rawhttp.Response) -> tuple[object, ...]:
    headers = sorted((k.lower(), v) for k, v in response.headers if k.lower() in _MEANINGFUL)
    return response.status, tuple(headers), response.body


@needs_etcd
async def test_operator_endpoints_answer_as_etcd(
    members: tuple[procs.Member, procs.Member],
) -> None:
    etcd, pyetcd = members
    for method, path, body in LOG_REQUESTS:
        theirs = await rawhttp.request(etcd.client_port, method, path, body=body)
        ours = await rawhttp.request(pyetcd.client_port, method, path, body=body)
        assert _meaning(ours) == _meaning(theirs), (method, path, body)


def _vars(body: bytes) -> dict[str, object]:
    """expvar's layout (one variable per line, sorted) checked, then parsed."""
    text = body.decode()
    assert text.startswith("{\n") and text.endswith("\n}\n")
    names = re.findall(r'^"([^"]+)": ', text, flags=re.MULTILINE)
    assert names == sorted(names)
    parsed: dict[str, object] = json.loads(text)
    return parsed


@needs_etcd
async def test_debug_vars_has_etcds_variables(members: tuple[procs.Member, procs.Member]) -> None:
    etcd, pyetcd = members
    theirs = await rawhttp.request(etcd.client_port, "GET", "/debug/vars")
    ours = await rawhttp.request(pyetcd.client_port, "GET", "/debug/vars")
    assert (ours.status, ours.header("Content-Type")) == (
        theirs.status,
        theirs.header("Content-Type"),
    )
    etcd_vars, our_vars = _vars(theirs.body), _vars(ours.body)
    assert set(etcd_vars) - {"memstats"} == set(our_vars) - {"python.memory"}
    assert etcd_vars["cmdline"][1:] == etcd.argv[1:]  # type: ignore[index]
    assert our_vars["cmdline"][1:] == pyetcd.argv[3:]  # type: ignore[index]  # python -m pyetcd
    assert our_vars["file_descriptor_limit"] == etcd_vars["file_descriptor_limit"]
    theirs_raft, ours_raft = etcd_vars["raft.status"], our_vars["raft.status"]
    assert isinstance(theirs_raft, dict) and isinstance(ours_raft, dict)
    assert list(ours_raft) == list(theirs_raft)
    for member, status in ((etcd, theirs_raft), (pyetcd, ours_raft)):
        assert (status["id"], status["lead"], status["vote"]) == (member.member_id,) * 3
        assert status["raftState"] == "StateLeader" and status["leadtransferee"] == "0"
        assert status["applied"] <= status["commit"]
        assert status["progress"][member.member_id]["state"] == "StateReplicate"
    memory = our_vars["python.memory"]
    assert isinstance(memory, dict)
    assert memory["rss_bytes"] > 0 and memory["allocated_blocks"] > 0  # type: ignore[operator]
    assert len(memory["gc"]["generations"]) == 3  # type: ignore[index]


@needs_etcd
async def test_log_level_changes_live_as_in_etcd(
    members: tuple[procs.Member, procs.Member],
) -> None:
    """Both log etcd's notice; afterwards the level holds (a CRITICAL member logs no notice of
    its next change)."""
    for member in members:
        for level in ("DEBUG", "c", "INFO"):
            body = json.dumps({"Level": level}).encode()
            response = await rawhttp.request(
                member.client_port, "PUT", "/config/local/log", body=body
            )
            assert response.status == 204
        notices = re.findall(
            r' N \| [\w/]+: globalLogLevel set to "(\w+)"', member.log_tail(10_000_000)
        )
        assert notices == ["DEBUG", "CRITICAL"], member.impl


async def test_log_level_reaches_every_logger(client) -> None:
    root = logging.getLogger()
    before = root.level
    quiet = logging.getLogger("etcdserver")
    quiet.setLevel(logging.ERROR)
    try:
        response = await client.put("/config/local/log", data=b'{"Level":"debug"}')
        assert response.status == 204
        assert root.level == logging.DEBUG
        assert quiet.level == logging.NOTSET
    finally:
        root.setLevel(before)


def test_open_file_limit_is_raised_as_go_does() -> None:
    """Go raises the soft limit to the hard one at start, so etcd's `file_descriptor_limit` is
    the hard limit; pyetcd does the same."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    script = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, "
        f"{hard}))\n"
        "from pyetcd.cli import _raise_open_file_limit\n"
        "_raise_open_file_limit()\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == hard
