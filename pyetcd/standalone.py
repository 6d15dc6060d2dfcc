"""`--force-new-cluster`: restart a member as the only voter of its cluster, as etcd 3.4 does.

The member keeps its ids and its log, and conf changes that remove every other member (adding
itself first if the log does not hold it) are appended at its term, written to the WAL and taken
as committed. Applying them then drops the others from raft's configuration and from
`/0/members`, through the log like any member change, so the member can be grown again with
`member add`.

etcd drops the entries past the commit index its WAL records. pyetcd writes a commit-only hard
state lazily (raft.aio.node), so its recorded commit can lag what the member applied and served;
it keeps the whole log instead, which is what the member would commit had it won an election.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence

from pyetcd.ids import format_id
from pyetcd.membership import encode_context
from raft.aio.recovery import Boot
from raft.codec import decode_conf_change, encode_conf_change
from raft.types import ConfChange, ConfChangeKind, Entry, EntryKind, HardState

log = logging.getLogger("etcdserver")


def members_in(voters: Iterable[int], entries: Sequence[Entry]) -> list[int]:
    """The members the snapshot's voters and the entries' conf changes leave, sorted."""
    ids = set(voters)
    for entry in entries:
        if entry.kind is not EntryKind.CONF_CHANGE:
            continue
        cc = decode_conf_change(entry.data)
        if cc.kind is ConfChangeKind.ADD:
            ids.add(cc.node_id)
        elif cc.kind is ConfChangeKind.REMOVE:
            ids.discard(cc.node_id)
    return sorted(ids)


def standalone_changes(
    members: Sequence[int], self_id: int, self_urls: Sequence[str], now: int
) -> list[ConfChange]:
    """Add self first when missing (raft's voters must never be empty), then remove the rest."""
    changes = []
    if self_id not in members:
        changes.append(ConfChange(ConfChangeKind.ADD, self_id, encode_context(self_urls, now)))
    changes += [
        ConfChange(ConfChangeKind.REMOVE, i, encode_context((), now))
        for i in members
        if i != self_id
    ]
    return changes


def force_new_cluster(boot: Boot, self_urls: Sequence[str], now: int) -> Boot:
    """Blocking (it writes and syncs the WAL): run it in a thread before the node starts."""
    storage, hard = boot.storage, boot.hard_state
    last = storage.last_index()
    logged = storage.entries(storage.first_index(), last + 1)
    voters = boot.snapshot.meta.conf_state.voters if boot.snapshot is not None else ()
    self_id = boot.metadata.member_id
    changes = standalone_changes(members_in(voters, logged), self_id, self_urls, now)
    forced = [
        Entry(hard.term, last + 1 + i, EntryKind.CONF_CHANGE, encode_conf_change(cc))
        for i, cc in enumerate(changes)
    ]
    if last > hard.commit:
        log.info("committing %d WAL entries past the recorded commit index", last - hard.commit)
    hard = HardState(hard.term, hard.vote, last + len(forced))
    boot.wal.save(hard, forced, True)
    storage.append(forced)
    storage.set_hard_state(hard)
    log.info(
        "forcing restart of member %s in cluster %s at commit index %d",
        format_id(self_id),
        format_id(boot.metadata.cluster_id),
        hard.commit,
    )
    return dataclasses.replace(boot, hard_state=hard)
