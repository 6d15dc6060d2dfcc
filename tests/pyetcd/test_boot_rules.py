"""How three in-process members boot and restart: etcd's initial election tick advance, and a
member added at runtime restarting with the default `--initial-cluster-state new`."""

from __future__ import annotations

import logging

import pytest

from store.commands import Set
from tests.pyetcd.harness import Cluster, wait_until

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
