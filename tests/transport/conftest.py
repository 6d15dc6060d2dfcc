"""Transports on 127.0.0.1 that record what their callbacks saw, all stopped at teardown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from raft.aio.transport import PeerTransport
from raft.messages import Message

CLUSTER = 0xC1
WAIT = 15.0


@dataclass
class Member:
    """A transport plus everything its callbacks reported."""

    id: int
    transport: PeerTransport
    received: list[Message] = field(default_factory=list)
    unreachable: list[int] = field(default_factory=list)
    snapshot_status: list[tuple[int, bool]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.transport.bound_urls[0]


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll until `predicate` holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


MemberFactory = Callable[..., Awaitable[Member]]


@pytest.fixture
async def make_member() -> AsyncIterator[MemberFactory]:
    """`await make_member(id, listen="http://127.0.0.1:0", cluster_id=CLUSTER, **kwargs)`."""
    started: list[PeerTransport] = []

    async def make(
        member_id: int,
        listen: str | None = "http://127.0.0.1:0",
        cluster_id: int = CLUSTER,
        **kwargs: Any,
    ) -> Member:
        holder: list[Member] = []
        transport = PeerTransport(
            member_id,
            cluster_id,
            on_message=lambda msg: holder[0].received.append(msg),
            on_unreachable=lambda peer: holder[0].unreachable.append(peer),
            on_snapshot_status=lambda peer, ok: holder[0].snapshot_status.append((peer, ok)),
            **kwargs,
        )
        member = Member(member_id, transport)
        holder.append(member)
        started.append(transport)
        if listen is not None:
            await transport.start([listen])
        return member

    yield make
    async with asyncio.timeout(WAIT):
        await asyncio.gather(*(t.stop() for t in started))


def connect(*members: Member) -> None:
    """Give every member all the others as peers."""
    peers = {m.id: (m.url,) for m in members}
    for member in members:
        member.transport.set_peers(peers)
