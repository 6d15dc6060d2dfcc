"""How three in-process members boot and restart: etcd's initial election tick advance, and a
member added at runtime restarting with the default `--initial-cluster-state new`."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from pyetcd.server import EtcdServer
from store.commands import Set
from tests.pyetcd.harness import SEGMENT, Cluster, wait_until

NAMES = ("a", "b", "c")
# The harness's 10 ms heartbeat and 100 ms election timeout: 10 ticks, all but 2 advanced.
ADVANCED = "fast-forwarding 8 ticks (election ticks 10) with 2 active peer(s)"


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "etcdserver"]


@pytest.mark.parametrize("advance", ["true", "false"])
async def test_initial_election_tick_advance(tmp_path, caplog, advance: str) -> None:
    """Each member advances once both of its peers are connected; with false, none does."""
    cluster = Cluster(str(tmp_path), NAMES, f"--initial-election-tick-advance={advance}")
    with caplog.at_level(logging.INFO, "etcdserver"):
        try:
            await cluster.start_all()
            if advance == "true":
                await wait_until(
                    lambda: sum(ADVANCED in m for m in _messages(caplog)) == 3, 10, "no advance"
                )
        finally:
            await cluster.stop_all()
    messages = _messages(caplog)
    advanced = [m for m in messages if "fast-forwarding" in m]
    skipped = [m for m in messages if m == "skipping initial election tick advance"]
    if advance == "true":
        assert (len(advanced), skipped) == (3, [])
    else:
        assert (advanced, len(skipped)) == ([], 3)


async def test_a_member_added_at_runtime_restarts_with_the_default_new(tmp_path) -> None:
    """As etcd 3.4: its WAL makes it a restart, so `new` and a token or member list that would
    found another cluster are not even read."""
    cluster = Cluster(str(tmp_path), NAMES)
    try:
        await cluster.start_all()
        leader = cluster.leader()
        cluster.reserve("d")
        added = await leader.add_member((cluster.peer_url("d"),))
        joiner = await cluster.start("d", "existing", (*NAMES, "d"))
        await cluster.settled()
        await joiner.propose(Set("/j", "1", False, None, False, joiner.now()))
        await cluster.stop("d")
        again = await cluster.start("d", "new", (*NAMES, "d"))
        assert (again.member_id, again.cluster_id) == (added.id, leader.cluster_id)
        await cluster.settled()
        await again.linearizable_read()
        assert again.store.get("/j").node.value == "1"
        await wait_until(lambda: len(again.members()) == 4, 10)
    finally:
        await cluster.stop_all()


async def test_force_new_cluster_keeps_the_data_and_the_id_and_can_grow_again(tmp_path) -> None:
    """etcd 3.4's --force-new-cluster: the other members are removed through the log (a conf
    change each, appended to the WAL at start), so the store's member list agrees with raft."""
    cluster = Cluster(str(tmp_path), NAMES)
    try:
        await cluster.start_all()
        leader = cluster.leader()
        for i in range(20):
            await leader.propose(Set(f"/k{i}", str(i), False, None, False, leader.now()))
        ids = {name: server.member_id for name, server in cluster.servers.items()}
        await cluster.stop_all()
        config = dataclasses.replace(cluster.config("a"), force_new_cluster=True)
        alone = EtcdServer(config, wal_segment_size=SEGMENT)
        await alone.start()
        cluster.servers["a"] = alone
        await wait_until(lambda: alone.leader() is not None and len(alone.members()) == 1, 10)
        assert [m.id for m in alone.members()] == [ids["a"]]
        assert alone._running_node().status().voters == (ids["a"],)
        await alone.linearizable_read()
        assert alone.store.get("/k19").node.value == "19"
        await alone.propose(Set("/after", "1", False, None, False, alone.now()))

        cluster.reserve("d")
        added = await alone.add_member((cluster.peer_url("d"),))
        joiner = await cluster.start("d", "existing", ("a", "d"))
        assert joiner.member_id == added.id
        await cluster.settled()
        await joiner.linearizable_read()
        assert joiner.store.get("/after").node.value == "1"
        assert sorted(m.id for m in joiner.members()) == sorted((ids["a"], added.id))
    finally:
        await cluster.stop_all()
