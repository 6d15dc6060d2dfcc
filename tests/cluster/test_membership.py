"""Grow 3 -> 5 with member add (new members join as `existing`), shrink back with member remove
(the leader first)."""

from __future__ import annotations

import json

import pytest

from tests import procs
from tests.cluster.client import call, get_json, put_key, wait_for
from tests.cluster.harness import Cluster, Node, running_cluster

pytestmark = pytest.mark.timeout(180)

REMOVED_EXIT_S = 15.0


def _assert_agreement(cluster: Cluster, key: str, value: str) -> None:
    ids = sorted(n.member_id for n in cluster.nodes)
    for node in cluster.nodes:
        got = get_json(node.client_port, "/v2/members")
        assert got is not None and got[0] == 200
        assert sorted(m["id"] for m in got[1]["members"]) == ids, (node.name, got)
        got = get_json(node.client_port, f"/v2/keys/{key}?quorum=true")
        assert got is not None and got[0] == 200 and got[1]["node"]["value"] == value, got


def test_grow_to_five_and_shrink_back(impl: str) -> None:
    with running_cluster(impl, 3) as cluster:
        reply = put_key(cluster.nodes[0].client_port, "scale/k", "three")
        assert reply is not None and reply.status == 201, reply

        added = []
        for name in ("m3", "m4"):
            added.append(cluster.add_member(cluster.nodes[-1], name))
            cluster.wait_ready()
        _assert_agreement(cluster, "scale/k", "three")
        reply = put_key(added[-1].client_port, "scale/k", "five")
        assert reply is not None and reply.status == 200, reply
        _assert_agreement(cluster, "scale/k", "five")

        # Shrink by removing the leader first (it must hand over and stop), then a follower.
        removed: list[Node] = []
        for _ in range(2):
            leader = cluster.leader()
            victim = leader if not removed else next(n for n in cluster.nodes if n is not leader)
            via = next(n for n in cluster.nodes if n is not victim)
            cluster.remove_member(via, victim)
            exited = wait_for(
                lambda victim=victim: True if not victim.alive else None,
                REMOVED_EXIT_S,
                f"removed member {victim.name} to exit by itself",
            )
            assert exited
            cluster.wait_ready()
            assert cluster.leader() is not victim
            removed.append(victim)
        assert len(cluster.nodes) == 3
        reply = put_key(cluster.leader().client_port, "scale/k", "three-again")
        assert reply is not None and reply.status == 200, reply
        _assert_agreement(cluster, "scale/k", "three-again")

        via = cluster.nodes[0]
        gone = call(via.client_port, "DELETE", f"/v2/members/{removed[0].member_id}")
        assert gone is not None and gone.status == 410, gone
        assert gone.json() == {"message": f"Member permanently removed: {removed[0].member_id}"}


def test_reconfiguration_that_would_lose_quorum_is_refused(impl: str) -> None:
    """With one of three down, adding a member (4 need 3) or removing a live one (2 need 2, 1
    left) would leave no quorum: --strict-reconfig-check (the default) refuses both with 500."""
    with running_cluster(impl, 3) as cluster:
        leader = cluster.leader()
        down, live = (n for n in cluster.nodes if n is not leader)
        down.kill()
        peer = json.dumps({"peerURLs": [f"http://{procs.HOST}:{procs.free_port()}"]}).encode()
        added = call(leader.client_port, "POST", "/v2/members", peer, "application/json", 10.0)
        assert added is not None and added.status == 500, added
        assert added.json() == {"message": "Internal Server Error"}
        removed = call(leader.client_port, "DELETE", f"/v2/members/{live.member_id}", timeout=10.0)
        assert removed is not None and removed.status == 500, removed
        got = get_json(leader.client_port, "/v2/members")
        assert got is not None
        assert sorted(m["id"] for m in got[1]["members"]) == sorted(
            n.member_id for n in cluster.nodes
        )
