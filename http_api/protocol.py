"""The narrow interface http_api needs from the member that serves it.

pyetcd implements it (today over a local store, later over raft); http_api never imports raft.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from http_api.figures import DiskFigures, PeerFigures
from store.commands import Command
from store.event import Event
from store.members import Member
from store.store import Store

__all__ = [
    "ExtraGauge",
    "KeysServer",
    "Member",
    "MembersError",
    "PeerProgress",
    "RaftStatus",
    "ServerMetrics",
]


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
    heartbeat_send_failures: int = 0
    slow_applies: int = 0
    slow_read_indexes: int = 0
    read_indexes_failed: int = 0
    snapshot_apply_in_progress: bool = False
    peers_connected: Mapping[int, bool] = field(default_factory=dict)
    disk: DiskFigures | None = None
    peers: PeerFigures | None = None
    # Gauges of pyetcd's own (not etcd's), exported under their names as they are.
    extra_gauges: tuple[ExtraGauge, ...] = ()


@dataclass(frozen=True, slots=True)
class ExtraGauge:
    """One pyetcd-specific gauge for `/metrics` (e.g. `pyetcd_server_split_brain`)."""

    name: str
    documentation: str
    value: float


@dataclass(frozen=True, slots=True)
class PeerProgress:
    """A leader's view of one voter; `state` is etcd's name (`StateReplicate`, ...)."""

    id: int
    match: int
    next: int
    state: str


@dataclass(frozen=True, slots=True)
class RaftStatus:
    """etcd's `raft.status` expvar; `progress` is empty except on the leader."""

    id: int
    term: int
    vote: int
    commit: int
    lead: int
    raft_state: str
    applied: int
    progress: tuple[PeerProgress, ...]
    lead_transferee: int


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

    def split_brain(self) -> str:
        """Why the split-brain detector fails this member, "" while it sees no split."""

    async def health(self) -> bool:
        """True when a leader exists and a linearizable read succeeds within a second."""

    def cluster_version(self) -> str | None:
        """`etcdcluster` of `/version` (None before it is decided)."""

    def server_metrics(self) -> ServerMetrics | None:
        """Figures for `/metrics`; None from a member that has no raft node (yet)."""

    def raft_status(self) -> RaftStatus | None:
        """`/debug/vars`'s `raft.status`; None from a member that has no raft node (yet)."""

    def set_log_level(self, level: str) -> str | None:
        """`PUT /config/local/log`: set every logger to capnslog level `level` (upper case,
        any spelling capnslog accepts) and return its name, or None for an unknown level."""

    async def snapshot(self) -> bytes:
        """A consistent snapshot file of the store once every write acknowledged before the
        call is applied (`GET /pyetcd/v1/snapshot`); raises EtcdError (300) on timeout."""
