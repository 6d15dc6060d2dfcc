"""A wall-clock jump on the leader while TTL keys exist (libfaketime under every member). As in
etcd's v2 store, TTL keys expire at the leader's wall clock (its SYNC every 500 ms), so a jump
of J seconds forward may expire a key up to J seconds early, and never more."""

from __future__ import annotations

import os
import time
from urllib.parse import urlencode

import pytest

from tests.faults.members import Cluster, Member
from tests.faults.netns import Namespace, why_not

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
WHY_NOT = why_not() or (None if os.path.exists(LIBFAKETIME) else "needs Debian's faketime")
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"NOT RUN: the clock test {WHY_NOT}")
JUMP_S = 120
SLACK_S = 2.0  # TTLs are whole seconds, and a SYNC may lag by its interval


def _clock_file(member: Member) -> str:
    return os.path.join(member.workdir, "clock")


def _faked(member: Member) -> None:
    """Run the member under libfaketime; its wall-clock offset is read from a file each time."""
    with open(_clock_file(member), "w") as fh:
        fh.write("+0\n")
    member.wrapper = (
        "env", f"LD_PRELOAD={LIBFAKETIME}", f"FAKETIME_TIMESTAMP_FILE={_clock_file(member)}",
        "FAKETIME_NO_CACHE=1", "FAKETIME_DONT_FAKE_MONOTONIC=1",
    )  # fmt: skip


def _jump(member: Member, offset: str) -> None:
    with open(_clock_file(member), "w") as fh:
        fh.write(f"{offset}\n")


def _ttl_key(leader: Member, name: str, ttl: int) -> float:
    path = f"/v2/keys/ttl/{name}?ttl={ttl}"
    status, body = leader.request("PUT", path, urlencode({"value": "v"}), timeout=5.0)
    assert status == 201, body
    return time.monotonic()


def _remaining(member: Member, name: str) -> int | None:
    status, body = member.request("GET", f"/v2/keys/ttl/{name}?quorum=true", timeout=5.0)
    if status == 404:
        return None
    assert status == 200, body
    return int(body["node"]["ttl"])


@pytest.mark.timeout(120)
def test_a_clock_jump_on_the_leader_expires_no_key_early_beyond_the_jump() -> None:
    with Namespace(3) as ns, ns.entered():
        cluster = Cluster(ns, "pyetcd", [])
        try:
            cluster.boot(3, "clock", prepare=_faked)
            leader = cluster.wait_ready()
            _ttl_key(leader, "short", 2)
            long = _ttl_key(leader, "long", 600)
            _jump(leader, f"+{JUMP_S}")
            time.sleep(3.0)
            assert cluster.leader() is leader, "leadership moved: the jump was not on the leader"
            for member in cluster.members:
                assert _remaining(member, "short") is None, "a 2 s key outlived its TTL"
                left = _remaining(member, "long")
                floor = 600 - JUMP_S - (time.monotonic() - long) - SLACK_S
                assert left is not None and left >= floor, (
                    f"{member.name}: a 600 s key has {left} s left {time.monotonic() - long:.1f} s"
                    f" after a {JUMP_S} s jump (at least {floor:.0f} s expected)"
                )
            seen = _remaining(leader, "long")
            assert seen is not None and seen <= 600 - JUMP_S + SLACK_S, "the jump missed the leader"
            _jump(leader, f"-{JUMP_S}")
            fresh = _ttl_key(leader, "fresh", 3)
            time.sleep(1.5)
            for member in cluster.members:
                assert _remaining(member, "fresh") is not None, "a key expired after a jump back"
                assert _remaining(member, "long") is not None
            assert time.monotonic() - fresh < 3.0, "too slow: the checks ran past the TTL"
        finally:
            cluster.stop()
