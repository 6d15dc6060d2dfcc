"""`--force-new-cluster` on real etcd and pyetcd: of three members two are lost (kill -9) and one
stopped; it is restarted with the flag on its data dir and must come back alone with every
committed key and its member id, take writes, and grow again with member add."""

from __future__ import annotations

import signal

import pytest

from tests.cluster.client import get_json, put_key, read_tree, wait_for
from tests.cluster.harness import READY_TIMEOUT, running_cluster

pytestmark = pytest.mark.timeout(180)

KEYS = {f"forced/k{i}": str(i) for i in range(20)}
TREE = {f"/{key}": value for key, value in KEYS.items()}


def _members(port: int) -> list[str] | None:
    got = get_json(port, "/v2/members")
    return None if got is None or got[0] != 200 else sorted(m["id"] for m in got[1]["members"])


def test_force_new_cluster_then_member_add(impl: str) -> None:
    with running_cluster(impl, 3) as cluster:
        port = cluster.leader().client_port
        for key, value in KEYS.items():
            reply = put_key(port, key, value)
            assert reply is not None and reply.status == 201, reply
        last = list(KEYS)[-1]

        def applied_everywhere() -> bool | None:
            for node in cluster.nodes:
                got = get_json(node.client_port, f"/v2/keys/{last}")
                if got is None or got[0] != 200:
                    return None
            return True

        # etcd keeps only what the survivor's WAL records as committed, and it buffers a
        # commit-only hard state until the next sync: the survivor learns the last commit, is
        # stopped (which syncs), and the others are lost.
        wait_for(applied_everywhere, READY_TIMEOUT, "the last write applied by every member")
        survivor = cluster.nodes[0]
        survivor.signal(signal.SIGTERM)
        assert survivor.proc is not None
        survivor.proc.wait(timeout=30)  # etcd dies of the signal it re-raises, pyetcd exits 0
        for node in cluster.nodes:
            node.kill()
        survivor.argv.append("--force-new-cluster")
        survivor.restart()
        cluster.nodes = [survivor]

        def alone() -> bool | None:
            return True if _members(survivor.client_port) == [survivor.member_id] else None

        wait_for(alone, READY_TIMEOUT, f"{impl} alone after --force-new-cluster", interval=0.1)
        assert read_tree(survivor.client_port, "forced", quorum=True) == TREE
        reply = put_key(survivor.client_port, "forced/after", "1")
        assert reply is not None and reply.status == 201, reply

        added = cluster.add_member(survivor, "m3")
        cluster.wait_ready()
        expected = sorted((survivor.member_id, added.member_id))
        for node in (survivor, added):
            assert _members(node.client_port) == expected, cluster.logs()
        tree = read_tree(added.client_port, "forced", quorum=True)
        assert tree == {**TREE, "/forced/after": "1"}
