"""The narrow interface http_api needs from the member that serves it.

pyetcd implements it (today over a local store, later over raft); http_api never imports raft.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from store.commands import Command
from store.event import Event
from store.members import Member
from store.store import Store

__all__ = ["KeysServer", "Member", "MembersError", "ServerMetrics"]


class MembersError(Exception):
    """A members-API failure with its HTTP status and etcd's `{"message": ...}` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ServerMetrics:
    """Plain figures behind etcd's `etcd_server_*` and `etcd_network_*` families, read at
    scrape time; the per-peer mappings are keyed by member id."""

    is_leader: bool
    leader_changes: int
    proposals_committed: int
    proposals_applied: int
    proposals_pending: int
    proposals_failed: int
    snapshots_received: Mapping[int, int]
    snapshots_sent: Mapping[int, int]
    snapshot_send_failures: Mapping[int, int]
    peer_send_failures: Mapping[int, int]


class KeysServer(Protocol):
    """What one member offers to its client listener."""

    @property
    def store(self) -> Store:
        """The local store: plain GET, HEAD and watches read it directly (may be stale)."""

    @property
    def cluster_id(self) -> int: ...

    @property
    def member_id(self) -> int: ...

    @property
    def name(self) -> str: ...

    def now(self) -> int:
        """Wall clock in Unix nanoseconds: expirations are computed on the receiving member."""

    def raft_index(self) -> int: ...

    def raft_term(self) -> int: ...

    async def propose(self, cmd: Command) -> Event:
        """Replicate and apply `cmd`; raises store.errors.EtcdError (store errors, or 300)."""

    def submit(self, cmd: Command) -> asyncio.Future[Event | None]:
        """`propose` for a caller that waits with a callback: the future of the apply
        (cancelling it abandons the wait, never the write)."""

    async def linearizable_read(self) -> None:
        """Wait until the local store reflects every write acknowledged before the call (300 on
        timeout), so that a following local read is linearizable (`quorum=true`)."""

    def members(self) -> list[Member]:
        """Current members, sorted by id."""

    def leader(self) -> Member | None: ...

    async def add_member(self, peer_urls: tuple[str, ...]) -> Member:
        """Raises MembersError (409 peerURL exists, 500 ...)."""

    async def remove_member(self, member_id: int) -> None:
        """Raises MembersError (404 no such member, 410 permanently removed, 500 ...)."""

    async def update_member(self, member_id: int, peer_urls: tuple[str, ...]) -> None:
        """Raises MembersError (404, 409)."""

    def self_stats(self) -> dict[str, object]:
        """`/v2/stats/self` fields in etcd's order."""

    def leader_stats(self) -> dict[str, object] | None:
        """`/v2/stats/leader`, or None when this member is not the leader (403)."""

    def has_leader(self) -> bool: ...

    async def health(self) -> bool:
        """True when a leader exists and a linearizable read succeeds within a second."""

    def cluster_version(self) -> str | None:
        """`etcdcluster` of `/version` (None before it is decided)."""

    def server_metrics(self) -> ServerMetrics | None:
        """Figures for `/metrics`; None from a member that has no raft node (yet)."""

    async def snapshot(self) -> bytes:
        """A consistent snapshot file of the store once every write acknowledged before the
        call is applied (`GET /pyetcd/v1/snapshot`); raises EtcdError (300) on timeout."""
