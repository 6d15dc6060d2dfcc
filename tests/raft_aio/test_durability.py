"""Crashes, restarts, snapshots, compaction and fatal disk errors."""

from __future__ import annotations

import asyncio
import errno

import pytest

from raft.aio.fs import FaultyFS, FsyncFailed
from raft.aio.node import NodeStopped
from raft.aio.recovery import member_dirs
from raft.aio.wal import WalNoSpace
from tests.raft_aio.cluster import SNAPPY, Cluster, wait_until


async def test_crash_and_restart_recovers_every_committed_entry(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    want = [b"c%02d" % i for i in range(40)]
    for value in want:
        await leader.propose(value)
    await wait_until(lambda: cluster.apps[leader.id].data == want)  # acknowledged
    for node_id in (1, 2, 3):
        cluster.crash(node_id)  # power lost: only what was fsynced survives
    for node_id in (1, 2, 3):
        await cluster.start_node(node_id)
    leader = await cluster.leader()
    await leader.propose(b"after")
    await wait_until(lambda: all(a.data == [*want, b"after"] for a in cluster.apps.values()))


async def test_single_node_restart_keeps_term_vote_and_log(cluster: Cluster) -> None:
    await cluster.start([1])
    node = await cluster.leader()
    await node.propose(b"one")
    await wait_until(lambda: cluster.apps[1].data == [b"one"])
    term = node.term
    cluster.crash(1)
    boot = cluster.boot(1)
    assert not boot.is_new and boot.hard_state.term == term
    node = await cluster.start_node(1, boot=boot)
    await wait_until(lambda: cluster.apps[1].data == [b"one"])
    assert (await cluster.leader()).term > term


async def test_snapshot_compacts_the_log_and_restart_restores_it(snappy: Cluster) -> None:
    cluster = snappy
    await cluster.start([1])
    node = await cluster.leader()
    boot = node._boot
    for i in range(60):
        await node.propose(b"s%02d" % i)
    await wait_until(lambda: len(cluster.apps[1].data) == 60)
    await wait_until(lambda: boot.storage.first_index() > 40, what="log compacted")
    storage = boot.storage
    assert storage.snapshot().meta.index >= 50
    assert storage.first_index() == storage.snapshot().meta.index - SNAPPY.catchup_entries + 1
    assert boot.snaps.names()
    await cluster.stop()
    boot = cluster.boot(1)
    assert boot.snapshot is not None and boot.applied >= 50
    await cluster.start_node(1, boot=boot)
    assert cluster.apps[1].restored == 1
    await wait_until(lambda: cluster.apps[1].data == [b"s%02d" % i for i in range(60)])


async def test_wal_segments_are_released_after_snapshots() -> None:
    fs = FaultyFS()
    cluster = Cluster(options=SNAPPY, fs_factory=lambda _id: fs, segment_size=2048, max_wals=2)
    try:
        await cluster.start([1])
        node = await cluster.leader()
        for i in range(120):
            await node.propose(b"r%03d" % i + b"." * 200)
        wal_dir = member_dirs(cluster.data_dir(1))[0]
        await wait_until(lambda: node.applied_index >= 120)
        await wait_until(lambda: int(fs.listdir(wal_dir)[0].split("-")[0], 16) > 0)
        assert len(fs.listdir(wal_dir)) <= 3
    finally:
        await cluster.stop()


async def test_lagging_follower_catches_up_by_snapshot(snappy: Cluster) -> None:
    cluster = snappy
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    lagging = next(i for i in cluster.nodes if i != leader.id)
    cluster.cut.add(lagging)
    want = [b"l%02d" % i for i in range(50)]
    for value in want:
        await leader.propose(value)
    await wait_until(lambda: cluster.apps[leader.id].data == want)
    await wait_until(lambda: leader._boot.storage.first_index() > 10, what="compacted")
    cluster.cut.clear()
    await wait_until(lambda: cluster.apps[lagging].data == want, what="caught up")
    assert cluster.apps[lagging].restored == 1
    await cluster.stop()
    boot = cluster.boot(lagging)
    assert boot.snapshot is not None  # the received snapshot was persisted with its marker
    boot.wal.close()


async def test_fsync_failure_is_fatal_and_fails_pending_requests(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    await leader.propose(b"ok")
    fs = cluster.fs[leader.id]
    assert isinstance(fs, FaultyFS)
    fs.fail("fdatasync", errno.EIO)
    read = asyncio.ensure_future(leader.read_index(timeout=5))
    results = await asyncio.gather(
        *(leader.propose(b"doomed%d" % i) for i in range(10)), return_exceptions=True
    )
    error = await asyncio.wait_for(leader.wait_stopped(), 5)
    assert isinstance(error, FsyncFailed)
    assert all(r is None or isinstance(r, NodeStopped) for r in results)
    with pytest.raises(NodeStopped, match="fatal error"):
        await read
    with pytest.raises(NodeStopped, match="fdatasync failed"):
        await leader.propose(b"later")
    survivors = [n for n in cluster.nodes.values() if n is not leader]
    cluster.cut.add(leader.id)
    await cluster.leader()
    await wait_until(lambda: all(n.is_leader or n.leader_id for n in survivors))


@pytest.mark.parametrize(
    ("op", "code", "path", "error"),
    [
        ("write", errno.ENOSPC, "/wal/", WalNoSpace),
        ("fsync", errno.EIO, "/snap/", FsyncFailed),
    ],
)
async def test_wal_write_and_snapshot_failures_are_fatal(
    snappy: Cluster, op: str, code: int, path: str, error: type[Exception]
) -> None:
    await snappy.start([1])
    node = await snappy.leader()
    fs = snappy.fs[1]
    assert isinstance(fs, FaultyFS)
    fs.fail(op, code, path=path)
    for i in range(SNAPPY.snapshot_count + 1):
        if node.error is not None:
            break
        await asyncio.gather(node.propose(b"f%d" % i), return_exceptions=True)
        await asyncio.sleep(0.01)
    assert isinstance(await asyncio.wait_for(node.wait_stopped(), 5), error)
    with pytest.raises(NodeStopped):
        await node.read_index(timeout=1)
