"""The proxy's member-list fetch: a peer that answers a list naming no peer URLs (a member
whose log is not applied yet) is no answer, so the proxy keeps the peers it knows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pyetcd.membership import ClusterInfo, bootstrap_changes, encode_info, founding_members
from pyetcd.proxy.peers import Cluster, fetch_cluster
from raft.aio.transport import PeerTransport
from store.members import Member

URLS = ("http://10.0.0.1:2380",)


@pytest.fixture
async def peer() -> AsyncIterator[Callable[[ClusterInfo], Awaitable[str]]]:
    started: list[PeerTransport] = []

    async def start(info: ClusterInfo) -> str:
        transport = PeerTransport(
            len(started) + 1, info.cluster_id, on_message=lambda _: None,
            on_unreachable=lambda _: None, on_snapshot_status=lambda *_: None,
            info_handler=lambda: encode_info(info),
        )  # fmt: skip
        started.append(transport)
        await transport.start(["http://127.0.0.1:0"])
        return transport.bound_urls[0]

    yield start
    await asyncio.gather(*(t.stop() for t in started))


async def test_an_empty_member_list_is_skipped_for_the_next_peer(
    peer: Callable[[ClusterInfo], Awaitable[str]], caplog: pytest.LogCaptureFixture
) -> None:
    empty = await peer(ClusterInfo(0xC1, ()))
    full = await peer(ClusterInfo(0xC1, (Member(7, "m7", URLS, ("http://10.0.0.1:2379",)),)))
    assert await fetch_cluster([empty], None) is None
    assert "names no peer URLs" in caplog.text
    assert await fetch_cluster([empty, full], None) == Cluster(URLS, ("http://10.0.0.1:2379",))


def test_founders_are_read_back_from_their_bootstrap_changes() -> None:
    members = [(9, ("http://b:2380",)), (3, ("http://a:2380", "http://a2:2380"))]
    assert founding_members(bootstrap_changes(members)) == dict(members)
