"""Three members over the real PeerTransport on 127.0.0.1, with real WAL fsyncs."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from raft.aio.fs import OsFS
from raft.aio.node import AsyncRaftNode
from raft.aio.recovery import open_data_dir
from raft.aio.transport import PeerTransport
from raft.aio.wal import Metadata
from raft.types import ConfChange, ConfChangeKind
from tests.raft_aio.cluster import FAST, App, wait_until


async def test_three_members_over_the_peer_transport(tmp_path: Path) -> None:
    ids = (1, 2, 3)
    nodes: dict[int, AsyncRaftNode] = {}
    apps = {i: App() for i in ids}
    transports = {
        i: PeerTransport(
            i,
            0xC1,
            lambda msg, i=i: nodes[i].step(msg),
            lambda peer, i=i: nodes[i].report_unreachable(peer),
            lambda peer, ok, i=i: nodes[i].report_snapshot(peer, ok),
        )
        for i in ids
    }
    try:
        for t in transports.values():
            await t.start(["http://127.0.0.1:0"])
        urls = {i: t.bound_urls for i, t in transports.items()}
        for i, t in transports.items():
            t.set_peers(urls)
            boot = open_data_dir(
                str(tmp_path / str(i)), Metadata(0xC1, i), fs=OsFS(), preallocate=False
            )
            nodes[i] = AsyncRaftNode(boot, apps[i], t.send, FAST, rng=random.Random(i))
        peers = [ConfChange(ConfChangeKind.ADD, i) for i in ids]
        for node in nodes.values():
            await node.start(peers)
        await wait_until(lambda: sum(n.is_leader for n in nodes.values()) == 1, what="leader")
        leader = next(n for n in nodes.values() if n.is_leader)
        follower = next(n for n in nodes.values() if not n.is_leader)
        await asyncio.gather(*(leader.propose(b"t%02d" % i) for i in range(20)))
        await follower.propose(b"forwarded")
        want = {b"t%02d" % i for i in range(20)} | {b"forwarded"}
        await wait_until(lambda: all(set(a.data) == want for a in apps.values()), what="sync")
        index = await follower.read_index(timeout=5)
        assert follower.applied_index >= index
    finally:
        for node in nodes.values():
            await node.stop()
        for t in transports.values():
            await t.stop()
