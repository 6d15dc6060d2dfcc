"""`LocalServer`: the `KeysServer` of a single member, without raft.

A proposal is encoded, "committed" by taking the next log index, and applied through the same
`Applier.apply_entry` the raft-backed server will call from its Ready loop; the proposer waits on
its request id exactly as it will then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from http_api.protocol import MembersError
from pyetcd import gotime
from pyetcd.applier import Applier
from pyetcd.entry import encode_entry
from pyetcd.ids import cluster_id, format_id, member_id
from pyetcd.wait import Waiters
from store.commands import (
    AddMember,
    Command,
    PublishMember,
    RemoveMember,
    SetClusterVersion,
    Sync,
    UpdateMember,
)
from store.errors import EtcdError
from store.event import Event
from store.members import Member
from store.store import Store

log = logging.getLogger("etcdserver")

CLUSTER_VERSION = "3.4.0"
SYNC_INTERVAL = 0.5
_LEADER_TERM = 1


class LocalServer:
    """One member that is its own leader: every proposal commits at once.

    The defaults are etcd's flag defaults; call `start()` before serving and `stop()` after.
    """

    def __init__(
        self,
        *,
        name: str = "default",
        peer_urls: tuple[str, ...] = ("http://localhost:2380",),
        client_urls: tuple[str, ...] = ("http://localhost:2379",),
        token: str = "etcd-cluster",
        clock: Callable[[], int] = time.time_ns,
        sync_interval: float = SYNC_INTERVAL,
    ) -> None:
        self._name = name
        self._peer_urls = tuple(sorted(peer_urls))
        self._client_urls = tuple(client_urls)
        self._clock = clock
        self._sync_interval = sync_interval
        self._member_id = member_id(self._peer_urls, token)
        self._cluster_id = cluster_id([self._member_id])
        self._store = Store()
        self._waiters = Waiters(self._member_id, clock() // 1_000_000)
        self._applier = Applier(self._store, self._waiters)
        self._start_time = clock()
        self._leader_since = self._start_time
        self._sync_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bootstrap a fresh one-member cluster (indexes 1-3) and start expiring TTL keys."""
        mid, cid = format_id(self._member_id), format_id(self._cluster_id)
        log.info("starting member %s in cluster %s", mid, cid)
        self._leader_since = self._clock()
        await self.propose(AddMember(self._member_id, self._peer_urls, self.now()))
        log.info("added member %s [%s] to cluster %s", mid, " ".join(self._peer_urls), cid)
        await self.propose(
            PublishMember(self._member_id, self._name, self._client_urls, self.now())
        )
        log.info(
            "published {Name:%s ClientURLs:[%s]} to cluster %s",
            self._name,
            " ".join(self._client_urls),
            cid,
        )
        await self.propose(SetClusterVersion(CLUSTER_VERSION, self.now()))
        major_minor = CLUSTER_VERSION.rsplit(".", 1)[0]
        log.info("set the initial cluster version to %s", major_minor)
        log.info("enabled capabilities for version %s", major_minor)
        self._sync_task = asyncio.create_task(self._expire_loop(), name="pyetcd-ttl-sync")

    async def stop(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
            self._sync_task = None

    async def _expire_loop(self) -> None:
        """What the leader does in etcd: while TTL nodes exist, propose its clock every 500 ms."""
        while True:
            await asyncio.sleep(self._sync_interval)
            if self._store.has_ttl_nodes():
                try:
                    await self._replicate(Sync(self.now()))
                except EtcdError as exc:
                    log.error("expiry sync failed: %s", exc)

    # -- KeysServer ----------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        return self._store

    @property
    def cluster_id(self) -> int:
        return self._cluster_id

    @property
    def member_id(self) -> int:
        return self._member_id

    @property
    def name(self) -> str:
        return self._name

    def now(self) -> int:
        return self._clock()

    def raft_index(self) -> int:
        return self._applier.applied_index

    def raft_term(self) -> int:
        return self._applier.term

    async def propose(self, cmd: Command) -> Event:
        event = await self._replicate(cmd)
        if event is None:
            raise TypeError(f"{type(cmd).__name__} yields no event; it is the leader's own entry")
        return event

    async def _replicate(self, cmd: Command) -> Event | None:
        request_id, done = self._waiters.register()
        self._commit(encode_entry(request_id, cmd))
        return await done

    def _commit(self, data: bytes) -> None:
        """A lone member is a majority of one: the entry commits the moment it is appended."""
        self._applier.apply_entry(self._applier.applied_index + 1, _LEADER_TERM, data)

    async def linearizable_read(self) -> None:
        """Nothing to wait for: every acknowledged write was applied before it was acknowledged."""

    def members(self) -> list[Member]:
        return self._store.members()

    def leader(self) -> Member | None:
        return next((m for m in self._store.members() if m.id == self._member_id), None)

    def has_leader(self) -> bool:
        return True

    async def health(self) -> bool:
        return True

    def cluster_version(self) -> str | None:
        return self._store.cluster_version()

    async def add_member(self, peer_urls: tuple[str, ...]) -> Member:
        urls = tuple(sorted(peer_urls))
        self._check_urls_free(urls, except_id=None)
        new_id = member_id(urls, "", self.now() // 1_000_000_000)
        if any(m.id == new_id for m in self._store.members()):
            raise MembersError(409, "membership: ID exists")
        if self._store.is_removed(new_id):
            log.warning("refused to add member %s: that id was removed", format_id(new_id))
            raise MembersError(500, "Internal Server Error")
        await self._propose_membership(AddMember(new_id, urls, self.now()))
        log.warning(
            "added member %s [%s]: this cluster has no quorum until the member runs, and "
            "pyetcd serves only one member until clustering arrives",
            format_id(new_id),
            " ".join(urls),
        )
        return Member(id=new_id, name="", peer_urls=urls, client_urls=())

    async def remove_member(self, member_id: int) -> None:
        self._require_member(member_id)
        if member_id == self._member_id:
            log.warning("refused to remove the only voting member %s", format_id(member_id))
            raise MembersError(500, "Internal Server Error")
        await self._propose_membership(RemoveMember(member_id, self.now()))
        log.info(
            "removed member %s from cluster %s", format_id(member_id), format_id(self._cluster_id)
        )

    async def update_member(self, member_id: int, peer_urls: tuple[str, ...]) -> None:
        urls = tuple(sorted(peer_urls))
        self._require_member(member_id)
        self._check_urls_free(urls, except_id=member_id)
        await self._propose_membership(UpdateMember(member_id, urls, self.now()))
        log.info("updated member %s [%s]", format_id(member_id), " ".join(urls))

    def self_stats(self) -> dict[str, object]:
        now = self.now()
        mid = format_id(self._member_id)
        return {
            "name": self._name,
            "id": mid,
            "state": "StateLeader",
            "startTime": gotime.rfc3339nano(self._start_time),
            "leaderInfo": {
                "leader": mid,
                "uptime": gotime.duration(now - self._leader_since),
                "startTime": gotime.rfc3339nano(self._leader_since),
            },
            "recvAppendRequestCnt": 0,
            "sendAppendRequestCnt": 0,
        }

    def leader_stats(self) -> dict[str, object] | None:
        return {"leader": format_id(self._member_id), "followers": {}}

    # -- membership helpers ----------------------------------------------------------------------

    def _require_member(self, member_id: int) -> None:
        if any(m.id == member_id for m in self._store.members()):
            return
        if self._store.is_removed(member_id):
            raise MembersError(410, f"Member permanently removed: {format_id(member_id)}")
        raise MembersError(404, f"No such member: {format_id(member_id)}")

    def _check_urls_free(self, urls: tuple[str, ...], except_id: int | None) -> None:
        taken = {u for m in self._store.members() if m.id != except_id for u in m.peer_urls}
        if taken.intersection(urls):
            raise MembersError(409, "membership: peerURL exists")

    async def _propose_membership(self, cmd: Command) -> None:
        """Membership failures reach clients as etcd's bare 500, never as a v2 error body."""
        try:
            await self.propose(cmd)
        except EtcdError as exc:
            log.error("membership change %r failed: %s", cmd, exc)
            raise MembersError(500, "Internal Server Error") from exc
