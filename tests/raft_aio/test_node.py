"""The runtime's contract on an in-process cluster: elections, commits, forwarding, reads."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from raft.aio.node import NodeOptions, NodeStopped
from raft.errors import ConfigError, NotLeader, ProposalDropped
from raft.messages import Heartbeat
from raft.types import ConfChange, ConfChangeKind, Role
from tests.raft_aio.cluster import FAST, Cluster, CountingFS, wait_until


async def test_single_node_elects_itself_and_commits(cluster: Cluster) -> None:
    await cluster.start([1])
    node = await cluster.leader()
    assert node.id == 1 and node.term >= 1
    for i in range(5):
        await node.propose(b"v%d" % i)
    await wait_until(lambda: len(cluster.apps[1].data) == 5)
    assert cluster.apps[1].data == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    assert node.applied_index == node.commit_index
    assert [cc.node_id for cc, _, _ in cluster.apps[1].conf] == [1]


async def test_three_nodes_elect_one_leader_and_replicate(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    await asyncio.gather(*(leader.propose(b"x%d" % i) for i in range(20)))
    want = [b"x%d" % i for i in range(20)]
    await wait_until(lambda: all(app.data == want for app in cluster.apps.values()))
    status = leader.status()
    assert status.soft_state.role is Role.LEADER
    assert set(status.progress) == {1, 2, 3}
    assert [app.conf[-1][1].voters for app in cluster.apps.values()] == [(1, 2, 3)] * 3


async def test_follower_forwards_proposals_to_the_leader(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    follower = next(n for n in cluster.nodes.values() if n is not leader)
    await follower.propose(b"from-follower")
    await wait_until(lambda: all(b"from-follower" in a.data for a in cluster.apps.values()))


async def test_proposal_without_leader_is_dropped_and_read_needs_a_leader(
    cluster: Cluster,
) -> None:
    cluster.cut.add(2)
    await cluster.start([1, 2])
    lonely = cluster.nodes[2]
    await asyncio.sleep(0.05)
    assert lonely.leader_id == 0
    with pytest.raises(ProposalDropped, match="no leader"):
        await lonely.propose(b"x")
    with pytest.raises(NotLeader):
        await lonely.read_index(timeout=1)


async def test_group_commit_batches_concurrent_proposals(tmp_path: str) -> None:
    disk = CountingFS()
    cluster = Cluster(fs_factory=lambda _id: disk, root=str(tmp_path))
    try:
        await cluster.start([1])
        node = await cluster.leader()
        await wait_until(lambda: node.applied_index == node.commit_index)
        before_syncs, before_batches = disk.fdatasyncs, node.persist_count

        async def proposer(p: int) -> None:
            for i in range(15):
                await node.propose(b"p%02d-%02d" % (p, i))

        await asyncio.gather(*(proposer(p) for p in range(20)))
        await wait_until(lambda: len(cluster.apps[1].data) == 300)
        batches, fsyncs = node.persist_count - before_batches, disk.fdatasyncs - before_syncs
        assert 1 <= fsyncs <= batches <= 40, (fsyncs, batches)
    finally:
        await cluster.stop()


async def test_read_index_is_linearizable_on_leader_and_follower(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    followers = [n for n in cluster.nodes.values() if n is not leader]
    for i in range(10):
        value = b"w%d" % i
        await leader.propose(value)
        await wait_until(lambda v=value: v in cluster.apps[leader.id].data)  # acknowledged
        for reader in (leader, *followers):
            index = await reader.read_index(timeout=5)
            assert reader.applied_index >= index
            assert value in cluster.apps[reader.id].data


async def test_read_index_times_out_without_a_quorum(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    cluster.cut.update(i for i in cluster.nodes if i != leader.id)
    with pytest.raises(TimeoutError):
        await leader.read_index(timeout=0.1)


async def test_leadership_transfer(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    target = next(i for i in cluster.nodes if i != leader.id)
    await leader.propose(b"before")
    await leader.transfer_leadership(target, timeout=5)
    assert (await cluster.leader()).id == target
    with pytest.raises(ConfigError):
        await leader.transfer_leadership(99, timeout=1)


async def test_conf_change_add_then_remove(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    await leader.propose(b"early")
    await cluster.start_node(4)  # joins empty, learns everything from the leader
    conf = await leader.propose_conf_change(ConfChange(ConfChangeKind.ADD, 4), timeout=5)
    assert conf.voters == (1, 2, 3, 4)
    await leader.propose(b"after-add")
    await wait_until(lambda: cluster.apps[4].data == [b"early", b"after-add"])
    assert [cc.node_id for cc, _, _ in cluster.apps[4].conf] == [1, 2, 3, 4]

    conf = await leader.propose_conf_change(ConfChange(ConfChangeKind.REMOVE, 4), timeout=5)
    assert conf.voters == (1, 2, 3)
    await wait_until(lambda: cluster.apps[4].removed, what="node 4 told of its removal")
    assert not any(cluster.apps[i].removed for i in (1, 2, 3))
    dropped = leader.dropped_messages
    leader.step(Heartbeat(leader.id, 4, leader.term, 0))
    assert leader.dropped_messages == dropped + 1
    await leader.propose(b"after-remove")
    await wait_until(lambda: b"after-remove" in cluster.apps[2].data)
    assert b"after-remove" not in cluster.apps[4].data


async def test_invalid_conf_change_and_junk_input(cluster: Cluster) -> None:
    await cluster.start([1])
    node = await cluster.leader()
    with pytest.raises(ConfigError):
        await node.propose_conf_change(ConfChange(ConfChangeKind.REMOVE, 1))
    node.step("not a message")  # type: ignore[arg-type]
    assert node.dropped_messages == 1
    with pytest.raises(TypeError):
        await node.propose("text")  # type: ignore[arg-type]


async def test_stop_fails_later_requests(cluster: Cluster) -> None:
    await cluster.start([1])
    node = await cluster.leader()
    await node.stop()
    await node.stop()
    with pytest.raises(NodeStopped):
        await node.propose(b"x")
    assert await node.wait_stopped() is None


async def test_single_member_elects_itself_at_once() -> None:
    """At etcd's default timings a lone member leads at once (measured: ~6 ms), not after an
    election timeout or two; the bound leaves room for a loaded machine."""
    options = NodeOptions()
    cluster = Cluster(options=options)
    try:
        started = time.monotonic()
        await cluster.start([1])
        await cluster.leader(timeout=5)
        elapsed = time.monotonic() - started
    finally:
        await cluster.stop()
    assert elapsed < options.election_timeout / 2, elapsed


async def test_restarted_single_member_elects_itself_at_once() -> None:
    """A lone member restarting without a snapshot learns it is the sole voter only once its
    log's conf changes are applied again; it still leads at once then, as etcd's adjustTicks
    makes a single-member cluster do (a BOSH redeploy of one instance waits on this)."""
    options = NodeOptions()
    cluster = Cluster(options=options)
    try:
        await cluster.start([1])
        await (await cluster.leader(timeout=5)).propose(b"x")
        await cluster.nodes.pop(1).stop()
        started = time.monotonic()
        await cluster.start_node(1)
        await cluster.leader(timeout=5)
        elapsed = time.monotonic() - started
    finally:
        await cluster.stop()
    assert elapsed < options.election_timeout / 2, elapsed


@pytest.mark.parametrize("advance", [True, False])
async def test_advanced_ticks_elect_within_one_election_timeout(advance: bool) -> None:
    """`advance_ticks(election_tick - 2)` (etcd's initial election tick advance, which the
    server calls once peers are connected) gets a fresh three-member cluster a leader before
    one election timeout has passed (seeded: ~0.3 s); without it no campaign can start before
    a whole timeout of ticks."""
    options = NodeOptions()
    cluster = Cluster(options=options)
    try:
        started = time.monotonic()
        await cluster.start([1, 2, 3])
        if advance:
            for node in cluster.nodes.values():
                node.advance_ticks(options.election_tick - 2)
        await cluster.leader(timeout=5)
        elapsed = time.monotonic() - started
    finally:
        await cluster.stop()
    if advance:
        assert elapsed < options.election_timeout, elapsed
    else:
        assert elapsed >= options.election_timeout, elapsed


@pytest.mark.parametrize("pre_vote", [True, False])
async def test_a_partitioned_member_disrupts_the_leader_on_return_only_without_pre_vote(
    pre_vote: bool,
) -> None:
    """etcd's --pre-vote: cut off, a member without pre-vote campaigns at ever higher terms,
    and once back its answers carry that term, so the leader steps down; with pre-vote it
    never wins a pre-election, keeps its term and the leader keeps leading."""
    options = replace(FAST, pre_vote=pre_vote)
    cluster = Cluster(options=options)
    try:
        await cluster.start([1, 2, 3])
        leader = await cluster.leader()
        term = leader.term
        [cut] = [i for i in cluster.nodes if i != leader.id][:1]
        isolated = cluster.nodes[cut]
        cluster.cut.add(cut)
        if pre_vote:
            seen: set[Role] = set()

            def campaigned() -> bool:
                seen.add(isolated.status().soft_state.role)
                return Role.PRE_CANDIDATE in seen

            await wait_until(campaigned, 10, "the cut member never tried a pre-vote")
            await asyncio.sleep(5 * options.election_timeout)
            assert isolated.term == term
        else:
            await wait_until(lambda: isolated.term > term + 2, 10, "no campaigns while cut")
        cluster.cut.discard(cut)
        await wait_until(
            lambda: isolated.leader_id != 0 and isolated.term >= leader.term, 10, "never rejoined"
        )
        after = await cluster.leader()
        if pre_vote:
            assert (after.id, after.term) == (leader.id, term)
        else:
            assert after.term > term + 2
    finally:
        await cluster.stop()
