"""Peers that do not exchange status still show their cluster id: a real etcd member (asked
`GET /members` on its peer port) and a pyetcd build without status exchanges (asked INFO)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

import pytest

from pyetcd.membership import ClusterInfo, encode_info
from pyetcd.splitbrain import Finding, Side, SplitBrainMonitor
from raft.aio.peer_frames import (
    Accept,
    ConnKind,
    Hello,
    Info,
    Status,
    decode_peer_frame,
    encode_control,
)
from raft.codec import FrameDecoder
from store.members import Member
from tests import procs

OURS = Status(0xC1, 0xA, 0xA, 3)


def monitor(url: str) -> SplitBrainMonitor:
    return SplitBrainMonitor(lambda: OURS, lambda: [url], None, leader_grace=0.0, interval=0.2)


async def two_rounds(watch: SplitBrainMonitor) -> Finding | None:
    await watch.poll_once()
    await watch.poll_once()
    return watch.alarm.active


async def test_a_real_etcd_peer_of_another_cluster_is_a_split() -> None:
    if shutil.which(procs.ETCD_BINARY) is None:
        pytest.skip("NOT RUN: the etcd binary (Debian etcd-server) is not installed")
    async with procs.running_member_async("etcd") as etcd:
        found = await two_rounds(monitor(etcd.peer_url))
        theirs = (int(etcd.cluster_id, 16), (int(etcd.member_id, 16),))
        assert found == Finding("cluster", 0, (Side(0xC1, (0xA,)), Side(*theirs)))


async def test_a_real_etcd_peer_of_our_cluster_id_is_no_split() -> None:
    if shutil.which(procs.ETCD_BINARY) is None:
        pytest.skip("NOT RUN: the etcd binary (Debian etcd-server) is not installed")
    async with procs.running_member_async("etcd") as etcd:
        same = Status(int(etcd.cluster_id, 16), 0xA, 0, 0)
        watch = SplitBrainMonitor(lambda: same, lambda: [etcd.peer_url], None, leader_grace=0.0)
        assert await two_rounds(watch) is None


class PreviousBuild:
    """A peer listener like the build before status exchanges: a STATUS Hello does not parse
    (it closes the connection), a version-1 INFO Hello gets the cluster information."""

    def __init__(self, info: ClusterInfo) -> None:
        self.info = info
        self.kinds: list[int] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder(decode=decode_peer_frame)
        try:
            decoder.receive_data(await reader.read(4096))
            hello = decoder.next_event()
            if type(hello) is Hello:
                self.kinds.append(hello.kind)
                if hello.kind is ConnKind.INFO and hello.proto_version == 1:
                    writer.write(encode_control(Info(encode_info(self.info))))
                    await writer.drain()
                elif hello.kind is ConnKind.STREAM:
                    writer.write(encode_control(Accept()))
        finally:
            writer.close()


@pytest.fixture
async def previous_build() -> AsyncIterator[tuple[PreviousBuild, str]]:
    peer = PreviousBuild(ClusterInfo(0, ()))
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    url = f"http://{host}:{port}"
    peer.info = ClusterInfo(0xC2, (Member(0xB, "old", (url,), ()),))
    yield peer, url
    server.close()
    await server.wait_closed()


async def test_a_previous_build_peer_is_asked_for_info_after_one_status_try(
    previous_build: tuple[PreviousBuild, str],
) -> None:
    peer, url = previous_build
    found = await two_rounds(monitor(url))
    assert found == Finding("cluster", 0, (Side(0xC1, (0xA,)), Side(0xC2, (0xB,))))
    assert peer.kinds == [ConnKind.STATUS, ConnKind.INFO, ConnKind.INFO]
