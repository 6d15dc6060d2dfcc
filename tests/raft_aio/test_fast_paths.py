"""The runtime's shortcuts keep the raft contract: commit-only hard states skip the disk round
trip yet reach the WAL, concurrent reads share one ReadIndex request but never one issued before
they arrived, and proposals report their outcome without an await."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from raft.aio.node import AsyncRaftNode, NodeOptions, NodeStopped
from raft.errors import ProposalDropped, RaftError
from tests.raft_aio.cluster import Cluster, CountingFile, CountingFS, wait_until


class GatedFS(CountingFS):
    """The real disk, whose fdatasyncs wait while `gate` is clear."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()

    def open_write(self, path: str) -> CountingFile:
        file = super().open_write(path)
        sync = file.fdatasync

        def gated() -> None:
            self.gate.wait(5)
            sync()

        file.fdatasync = gated  # type: ignore[method-assign]
        return file


# Counting disk round trips and ordering reads needs one leader throughout: a loaded machine
# must not delay heartbeats past an election timeout.
STEADY = NodeOptions(heartbeat_interval=0.01, election_timeout=0.5)


@pytest.fixture
async def steady() -> AsyncIterator[Cluster]:
    c = Cluster(options=STEADY)
    yield c
    await c.stop()


async def test_commit_only_hard_state_is_not_waited_on_but_saved_with_the_next_ready(
    steady: Cluster,
) -> None:
    cluster = steady
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    term = leader.term
    await leader.propose(b"first")  # the leader's own first entry is persisted by now
    await wait_until(lambda: cluster.apps[leader.id].data == [b"first"])
    before = leader.persist_count
    indexes = []
    for i in range(5):
        await leader.propose(b"v%d" % i)
        await wait_until(lambda i=i: len(cluster.apps[leader.id].data) == i + 2)
        indexes.append(leader.applied_index)
    assert leader.persist_count - before == 5, "a disk round trip per entry, none for its commit"
    await asyncio.sleep(0.05)  # ticks and heartbeats: still nothing to persist
    assert leader.persist_count - before == 5
    assert leader.term == term
    cluster.crash(leader.id, power_lost=False)
    boot = cluster.boot(leader.id)
    assert boot.hard_state.commit == indexes[-2], "the last commit was deferred, the others saved"
    boot.wal.close()


async def test_close_saves_the_deferred_commit(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    await leader.propose(b"last")
    await wait_until(lambda: cluster.apps[leader.id].data == [b"last"])
    applied = leader.applied_index
    await leader.stop()
    boot = cluster.boot(leader.id)
    assert boot.hard_state.commit == applied
    boot.wal.close()


def _count_requests(node: AsyncRaftNode) -> list[bytes]:
    issued: list[bytes] = []
    raw_read_index = node._raw.read_index

    def spy(ctx: bytes) -> None:
        issued.append(ctx)
        raw_read_index(ctx)

    node._raw.read_index = spy  # type: ignore[method-assign]
    return issued


async def test_concurrent_reads_share_one_request(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    issued = _count_requests(leader)
    indexes = await asyncio.gather(*(leader.read_index(timeout=5) for _ in range(50)))
    assert len(issued) == 1 and len(set(indexes)) == 1
    assert not leader._reads, "answered requests are forgotten"


async def test_a_read_never_uses_a_request_issued_before_it_arrived(steady: Cluster) -> None:
    cluster = steady
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    await leader.propose(b"first")  # committed in this term: read points are taken at once
    await wait_until(lambda: b"first" in cluster.apps[leader.id].data)
    issued = _count_requests(leader)
    followers = {i for i in cluster.nodes if i != leader.id}
    cluster.cut.update(followers)  # the first request cannot be confirmed yet
    early = asyncio.ensure_future(leader.read_index(timeout=5))
    await wait_until(lambda: len(issued) == 1)
    cluster.cut.clear()
    await leader.propose(b"written")
    await wait_until(lambda: b"written" in cluster.apps[leader.id].data)
    written_at = leader.applied_index
    late = await leader.read_index(timeout=5)
    assert late >= written_at, "the late read must see the write acknowledged before it"
    assert await early < written_at, "the early read's point predates the write"
    assert len(issued) == 2


async def test_reads_time_out_and_their_request_is_forgotten(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    leader = await cluster.leader()
    cluster.cut.update(i for i in cluster.nodes if i != leader.id)
    results = await asyncio.gather(
        *(leader.read_index(timeout=0.05) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, TimeoutError) for r in results)
    await wait_until(lambda: not leader._reads, what="a request nobody awaits is dropped")


async def test_propose_nowait_reports_each_outcome(tmp_path: str) -> None:
    disk = GatedFS()
    cluster = Cluster(options=STEADY, fs_factory=lambda _id: disk, root=str(tmp_path))
    try:
        cluster.cut.add(2)
        await cluster.start([1, 2])
        reports: list[RaftError | None] = []
        cluster.nodes[2].propose_nowait(b"x", reports.append)
        await wait_until(lambda: len(reports) == 1)
        assert isinstance(reports[0], ProposalDropped)
        cluster.cut.clear()
        leader = await cluster.leader()
        disk.gate.clear()
        leader.propose_nowait(b"ok", reports.append)
        leader.propose_nowait(b"ok too", reports.append)
        await wait_until(lambda: len(reports) == 3)  # appended; their persist now hangs
        leader.propose_nowait(b"queued", reports.append)
        threading.Timer(0.05, disk.gate.set).start()
        await leader.stop()
        assert reports[1:3] == [None, None]
        assert isinstance(reports[3], NodeStopped), "still queued when the node stopped"
        with pytest.raises(NodeStopped):
            leader.propose_nowait(b"late", reports.append)
    finally:
        disk.gate.set()
        await cluster.stop()
