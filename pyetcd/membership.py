"""Membership as raft sees it: conf change contexts, the joiner's info payload and etcd's
`--strict-reconfig-check` arithmetic. Pure functions, so they are tested without a cluster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgpack

from raft.types import ConfChange, ConfChangeKind
from store.commands import AddMember, Command, RemoveMember, UpdateMember
from store.members import Member


class BadContext(ValueError):
    """Bytes that are not a conf change context or an info payload of this version."""


def encode_context(peer_urls: Sequence[str], now: int) -> bytes:
    """The member record a conf change carries; `now` travels with it so every member applies
    the same store command (bootstrap changes use 0: every founder must write identical bytes)."""
    return msgpack.packb([list(peer_urls), now], use_bin_type=True)


def store_command(cc: ConfChange) -> Command:
    """The store write that records an applied conf change in `/0/members`."""
    try:
        urls, now = msgpack.unpackb(cc.context, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise BadContext(f"undecodable conf change context: {exc}") from exc
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise BadContext("conf change context has no peer URL list")
    if not isinstance(now, int):
        raise BadContext("conf change context has no timestamp")
    if cc.kind is ConfChangeKind.ADD:
        return AddMember(cc.node_id, tuple(urls), now)
    if cc.kind is ConfChangeKind.UPDATE:
        return UpdateMember(cc.node_id, tuple(urls), now)
    return RemoveMember(cc.node_id, now)


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """What a running member tells a joiner: the cluster id and the members it knows."""

    cluster_id: int
    members: tuple[Member, ...]


def encode_info(info: ClusterInfo) -> bytes:
    members = [[m.id, list(m.peer_urls), m.name, list(m.client_urls)] for m in info.members]
    return msgpack.packb([info.cluster_id, members], use_bin_type=True)


def decode_info(data: bytes) -> ClusterInfo:
    try:
        cluster_id, raw_members = msgpack.unpackb(data, raw=False)
        members = tuple(
            Member(int(mid), str(name), tuple(map(str, peers)), tuple(map(str, clients)))
            for mid, peers, name, clients in raw_members
        )
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise BadContext(f"undecodable cluster info: {exc}") from exc
    if not isinstance(cluster_id, int):
        raise BadContext("cluster info has no cluster id")
    return ClusterInfo(cluster_id, members)


def _quorum(voters: int) -> int:
    return voters // 2 + 1


def ready_to_add(started: int, voters: int) -> bool:
    """After the add, the started members must still be a quorum, except that a lone member
    may always add one (that is how a cluster is rebuilt from one member's data)."""
    if started == 1 and voters == 1:
        return True
    return started >= _quorum(voters + 1)


def ready_to_remove(started_others: int, other_voters: int) -> bool:
    """The members that stay must hold a quorum of started members."""
    return started_others >= _quorum(other_voters)


def founding_members(changes: Sequence[ConfChange]) -> dict[int, tuple[str, ...]]:
    """The founders' peer URLs by id, read back from their bootstrap changes."""
    found = {}
    for cc in changes:
        command = store_command(cc)
        if isinstance(command, AddMember):
            found[command.id] = command.peer_urls
    return found


def bootstrap_changes(members: Sequence[tuple[int, tuple[str, ...]]]) -> list[ConfChange]:
    """One ADD per founding member, by id, so every founder writes the same first entries."""
    return [
        ConfChange(ConfChangeKind.ADD, i, encode_context(urls, 0)) for i, urls in sorted(members)
    ]
