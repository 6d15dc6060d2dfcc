"""1-, 3- and 5-member clusters boot and agree on members, leader, cluster ID and data."""

from __future__ import annotations

import pytest

from tests.cluster.client import call, get_json, put_key
from tests.cluster.harness import Cluster, cluster_id, running_cluster

pytestmark = pytest.mark.timeout(120)


def _member_views(cluster: Cluster) -> list[list[dict[str, object]]]:
    views = []
    for node in cluster.nodes:
        got = get_json(node.client_port, "/v2/members")
        assert got is not None and got[0] == 200, f"{node.name}: /v2/members -> {got}"
        views.append(got[1]["members"])
    return views


@pytest.mark.parametrize("size", [1, 3, 5])
def test_cluster_boots_and_agrees(impl: str, size: int) -> None:
    with running_cluster(impl, size) as cluster:
        expected = sorted(
            (
                {
                    "id": n.member_id,
                    "name": n.name,
                    "peerURLs": [n.peer_url],
                    "clientURLs": [n.client_url],
                }
                for n in cluster.nodes
            ),
            key=lambda m: int(str(m["id"]), 16),
        )
        assert _member_views(cluster) == [expected] * size  # same list, sorted by numeric ID

        leader = cluster.leader()
        for node in cluster.nodes:
            got = get_json(node.client_port, "/v2/stats/self")
            assert got is not None and got[0] == 200
            stats = got[1]
            assert stats["id"] == node.member_id and stats["name"] == node.name
            assert stats["leaderInfo"]["leader"] == leader.member_id
            assert stats["state"] == ("StateLeader" if node is leader else "StateFollower")
            got = get_json(node.client_port, "/v2/stats/leader")
            if node is leader:
                assert got is not None and got[0] == 200, got
                assert got[1]["leader"] == leader.member_id
                assert set(got[1]["followers"]) == {n.member_id for n in cluster.nodes} - {
                    leader.member_id
                }
            else:
                assert got == (403, {"message": "not current leader"}), got
            machines = call(node.client_port, "GET", "/v2/machines")
            assert machines is not None and machines.status == 200
            assert sorted(machines.body.decode().split(", ")) == sorted(
                n.client_url for n in cluster.nodes
            )

        # A fresh cluster's store has 2 internal writes per member plus the cluster version.
        cid = cluster_id(cluster.nodes)
        for node in cluster.nodes:
            reply = call(node.client_port, "GET", "/v2/keys/")
            assert reply is not None and reply.status == 200
            assert reply.headers["x-etcd-cluster-id"] == cid
            assert reply.headers["x-etcd-index"] == str(2 * size + 1)

        for writer in cluster.nodes:
            key, value = f"boot/from-{writer.name}", f"written-on-{writer.name}"
            reply = put_key(writer.client_port, key, value)
            assert reply is not None and reply.status == 201, (writer.name, reply)
            for reader in cluster.nodes:
                got = get_json(reader.client_port, f"/v2/keys/{key}?quorum=true")
                assert got is not None and got[0] == 200, (reader.name, got)
                assert got[1]["node"]["value"] == value, (writer.name, reader.name, got)
