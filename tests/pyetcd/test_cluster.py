"""Three in-process members over the real transport: agreement, membership, restart, quorum."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer

from http_api.app import make_app
from http_api.metrics import Metrics
from http_api.protocol import MembersError
from pyetcd.bootstrap import BootstrapError
from pyetcd.ids import cluster_id, member_id
from store.commands import Set, Sync
from store.errors import EtcdError
from tests.pyetcd.harness import Cluster, wait_until

NAMES = ("a", "b", "c")


def _set(server, key: str, value: str, expire_at: int | None = None) -> Set:
    return Set(key, value, False, expire_at, False, server.now())


@pytest.fixture
async def cluster(tmp_path):
    c = Cluster(str(tmp_path), NAMES)
    await c.start_all()
    yield c
    await c.stop_all()


async def test_bootstrap_ids_indexes_and_agreement(cluster: Cluster) -> None:
    ids = {n: member_id((cluster.peer_url(n),), "etcd-cluster") for n in NAMES}
    servers = cluster.servers
    assert {s.member_id for s in servers.values()} == set(ids.values())
    assert {s.cluster_id for s in servers.values()} == {cluster_id(ids.values())}
    follower = cluster.followers()[0]
    event = await follower.propose(_set(follower, "/k", "v"))
    assert event.node.modified_index == 8, "3 adds, 3 publishes, the version, then the write"
    for server in servers.values():
        await server.linearizable_read()
        assert server.store.get("/k").node.value == "v"
        assert [m.name for m in server.members()] == [
            n for _, n in sorted((ids[n], n) for n in NAMES)
        ]
    assert len({s.raft_term() for s in servers.values()}) == 1


async def test_stats_count_appends_and_followers(cluster: Cluster) -> None:
    leader = cluster.leader()
    for i in range(5):
        await leader.propose(_set(leader, "/s", str(i)))
    stats = leader.self_stats()
    assert stats["state"] == "StateLeader" and stats["sendAppendRequestCnt"] > 0
    lead_stats = leader.leader_stats()
    assert lead_stats is not None
    followers = lead_stats["followers"]
    assert isinstance(followers, dict) and len(followers) == 2
    for figures in followers.values():
        assert figures["counts"]["success"] > 0
    for follower in cluster.followers():
        await follower.linearizable_read()
        stats = follower.self_stats()
        assert stats["state"] == "StateFollower" and stats["recvAppendRequestCnt"] > 0
        assert stats["leaderInfo"]["leader"] == f"{leader.member_id:x}"
        assert follower.leader_stats() is None


async def test_ttl_expiry_is_proposed_by_the_leader_only(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    leader = cluster.leader()
    follower = cluster.followers()[0]
    syncs: list[str] = []
    for server in cluster.servers.values():
        original = server.submit

        def recording(cmd, server=server, original=original):
            if isinstance(cmd, Sync):
                syncs.append(server.name)
            return original(cmd)

        monkeypatch.setattr(server, "submit", recording)
    await follower.propose(_set(follower, "/t", "x", follower.now() + 200_000_000))
    await wait_until(lambda: not follower.store.has_ttl_nodes(), 5, "key did not expire")
    for server in cluster.servers.values():
        await server.linearizable_read()
        with pytest.raises(EtcdError):
            server.store.get("/t")
    assert leader.store.index == follower.store.index
    assert syncs and set(syncs) == {leader.name}


async def test_members_add_update_remove_and_the_removed_member_stops(
    cluster: Cluster, tmp_path
) -> None:
    leader = cluster.leader()
    cluster.reserve("d")
    added = await leader.add_member((cluster.peer_url("d"),))
    with pytest.raises(MembersError) as caught:
        await leader.add_member((cluster.peer_url("d"),))
    assert (caught.value.status, caught.value.message) == (409, "membership: peerURL exists")
    joiner = await cluster.start("d", "existing", (*NAMES, "d"))
    assert joiner.member_id == added.id and joiner.cluster_id == leader.cluster_id
    await cluster.settled()
    await wait_until(lambda: len(joiner.members()) == 4, 10)
    event = await joiner.propose(_set(joiner, "/j", "1"))
    assert event.etcd_index == joiner.store.index
    await leader.linearizable_read()
    assert leader.store.get("/j").node.value == "1"

    follower = next(s for s in cluster.followers() if s is not joiner)
    with pytest.raises(MembersError) as caught:
        await follower.update_member(added.id, (cluster.peer_url("a"),))
    assert caught.value.status == 409
    await follower.update_member(added.id, (cluster.peer_url("d"),))

    await leader.remove_member(added.id)
    await asyncio.wait_for(joiner.done.wait(), 10)
    assert joiner.stop_reason == "the member has been permanently removed from the cluster"
    with pytest.raises(MembersError) as caught:
        await leader.remove_member(added.id)
    assert caught.value.status == 410
    cluster.servers.pop("d")

    again = await cluster.start("d", "existing", (*NAMES, "d"))
    await asyncio.wait_for(again.done.wait(), 10)
    assert again.stop_reason == "the member has been permanently removed from the cluster"
    cluster.servers.pop("d")


async def test_restart_from_the_data_dir_loses_nothing(cluster: Cluster) -> None:
    follower = cluster.followers()[0]
    name = follower.name
    for i in range(20):
        await follower.propose(_set(follower, f"/r{i}", str(i)))
    await cluster.stop(name)
    leader = cluster.leader()
    await leader.propose(_set(leader, "/while-down", "x"))
    again = await cluster.start(name)
    await cluster.settled()
    await again.linearizable_read()
    assert again.store.get("/r19").node.value == "19"
    assert again.store.get("/while-down").node.value == "x"


async def test_leader_hands_over_on_stop(cluster: Cluster) -> None:
    leader = cluster.leader()
    term = leader.raft_term()
    await cluster.stop(leader.name)
    rest = list(cluster.servers.values())
    await wait_until(lambda: all(s.has_leader() for s in rest), 5)
    new_leader = cluster.leader()
    assert new_leader.raft_term() == term + 1, "a transfer, not an election after a timeout"


async def test_no_quorum_times_out_with_300_and_unhealthy(cluster: Cluster) -> None:
    survivor = cluster.followers()[0]
    for server in list(cluster.servers.values()):
        if server is not survivor:
            await cluster.stop(server.name)
    survivor.request_timeout = 0.5
    with pytest.raises(EtcdError) as caught:
        await survivor.propose(_set(survivor, "/q", "1"))
    assert caught.value.code == 300
    assert caught.value.cause.startswith("etcdserver: request timed out")
    metrics = survivor.server_metrics()
    assert metrics is not None and (metrics.proposals_failed, metrics.proposals_pending) == (1, 0)
    with pytest.raises(EtcdError):
        await survivor.linearizable_read()
    assert not await survivor.health()


async def test_a_joiner_that_was_not_added_is_refused(cluster: Cluster) -> None:
    cluster.reserve("e")
    with pytest.raises(BootstrapError) as caught:
        await cluster.start("e", "existing", (*NAMES, "e"))
    message = str(caught.value)
    assert message.startswith(f"cluster {cluster.leader().cluster_id:x} has no member with peer")
    assert "etcdctl member add e" in message and "\n" not in message


async def test_health_over_http_turns_503_without_quorum(cluster: Cluster) -> None:
    survivor = cluster.followers()[0]
    async with TestClient(TestServer(make_app(survivor))) as client:
        assert (await client.get("/health")).status == 200
        for server in list(cluster.servers.values()):
            if server is not survivor:
                await cluster.stop(server.name)
        await wait_until(lambda: not survivor.has_leader(), 5)
        resp = await client.get("/health")
        assert (resp.status, await resp.read()) == (503, b'{"health":"false"}\n')


async def test_a_joiner_far_behind_is_caught_up_by_snapshot(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, "etcdserver")
    cluster = Cluster(str(tmp_path), NAMES, "--snapshot-count=10", catchup_entries=2)
    await cluster.start_all()
    try:
        leader = cluster.leader()
        for i in range(40):
            await leader.propose(_set(leader, f"/k{i % 5}", str(i)))
        cluster.reserve("d")
        await leader.add_member((cluster.peer_url("d"),))
        joiner = await cluster.start("d", "existing", (*NAMES, "d"))
        await cluster.settled()
        await joiner.linearizable_read()
        assert joiner.store.get("/k4").node.value == "39"
        assert len(joiner.members()) == 4
        assert "recovered store from snapshot" in caplog.text
        figures = joiner.server_metrics()
        assert figures is not None and sum(figures.snapshots_received.values()) >= 1
        [sender] = figures.snapshots_received
        sent = cluster.servers[next(n for n, s in cluster.servers.items() if s.member_id == sender)]
        assert sent.server_metrics().snapshots_sent[joiner.member_id] >= 1
        text = Metrics(joiner).render().decode()
        assert f'etcd_network_snapshot_receive_success{{From="{sender:x}"}} ' in text
    finally:
        await cluster.stop_all()


async def test_strict_reconfig_check_over_http(cluster: Cluster) -> None:
    leader = cluster.leader()
    down, up = cluster.followers()
    await cluster.stop(down.name)

    def failing() -> bool:
        stats = leader.leader_stats()
        assert stats is not None
        return stats["followers"][f"{down.member_id:x}"]["counts"]["fail"] > 0

    await wait_until(failing, 5, "the leader did not notice the stopped member")
    async with TestClient(TestServer(make_app(leader))) as client:
        resp = await client.post(
            "/v2/members",
            json={"peerURLs": ["http://127.0.0.1:1"]},
        )
        assert (resp.status, await resp.json()) == (500, {"message": "Internal Server Error"})
        resp = await client.delete(f"/v2/members/{up.member_id:x}")
        assert resp.status == 500, "the leader alone is no quorum of the remaining two"
        resp = await client.delete(f"/v2/members/{down.member_id:x}")
        assert resp.status == 204, "a member that is down may always be removed"
        members = (await (await client.get("/v2/members")).json())["members"]
        assert sorted(m["name"] for m in members) == sorted([leader.name, up.name])


async def test_membership_changes_wait_until_every_member_was_connected_long_enough(
    tmp_path, caplog
) -> None:
    """--strict-reconfig-check: the member taking the request must have been connected to every
    member for `health_interval` (etcd: 5 s) before an add, and to a quorum before a remove."""
    caplog.set_level(logging.WARNING, "etcdserver")
    cluster = Cluster(str(tmp_path), NAMES, health_interval=60.0)
    await cluster.start_all()
    try:
        leader = cluster.leader()
        cluster.reserve("d")
        with pytest.raises(MembersError) as caught:
            await leader.add_member((cluster.peer_url("d"),))
        assert (caught.value.status, caught.value.message) == (500, "Internal Server Error")
        assert "not healthy for reconfigure, rejecting member add" in caplog.text
        with pytest.raises(MembersError) as caught:
            await leader.remove_member(cluster.followers()[0].member_id)
        assert caught.value.status == 500
        assert "reconfigure breaks active quorum, rejecting remove member" in caplog.text
        assert len(leader.members()) == 3
        leader.health_interval = 0.2
        await asyncio.sleep(0.3)
        added = await leader.add_member((cluster.peer_url("d"),))
        assert added.id in {m.id for m in leader.members()}
    finally:
        await cluster.stop_all()
