"""A new cluster's first data dirs, from a store taken elsewhere (a hot snapshot, an etcd data
dir): every member writes the same snapshot, with the store's member records replaced by the
new cluster's, and its own ids, derived from the new token and peer URLs as a bootstrap derives
them. A member restarted on such a dir never reads the `--initial-cluster*` flags again."""

from __future__ import annotations

from dataclasses import dataclass

from pyetcd.admin.backup import Written, check_empty, write_verified
from pyetcd.admin.v2client import AdminError
from pyetcd.ids import cluster_id, member_id
from pyetcd.urls import URLError, parse_initial_cluster, parse_url_list
from store import snapshot
from store.commands import AddMember
from store.store import MEMBERS_DIR, REMOVED_DIR, Store

# etcd's flag defaults (etcdctl snapshot restore uses the same).
DEFAULT_NAME = "default"
DEFAULT_PEER_URL = "http://localhost:2380"
DEFAULT_TOKEN = "etcd-cluster"
# The term the new log starts at: every member writes the same one.
FIRST_TERM = 1


@dataclass(frozen=True, slots=True)
class NewCluster:
    name: str
    members: tuple[tuple[int, tuple[str, ...]], ...]  # (id, peer URLs), sorted by id
    own_id: int
    cluster_id: int


def new_cluster(name: str, initial_cluster: str, token: str, advertise: str) -> NewCluster:
    """Raises AdminError for flags that do not name this member consistently."""
    try:
        named = parse_initial_cluster(initial_cluster)
        own_urls = parse_url_list(advertise) if advertise else None
    except URLError as exc:
        raise AdminError(str(exc)) from None
    if name not in named:
        raise AdminError(f"--initial-cluster has no member named {name!r} (--name)")
    if own_urls is not None and own_urls != named[name]:
        raise AdminError(
            f"--initial-advertise-peer-urls {','.join(own_urls)} differs from {name}'s URLs in "
            f"--initial-cluster ({','.join(named[name])})"
        )
    owner: dict[str, str] = {}
    for member, urls in named.items():
        for url in urls:
            if url in owner:
                raise AdminError(f"--initial-cluster has duplicate url {url}")
            owner[url] = member
    members = tuple(sorted((member_id(urls, token), urls) for urls in named.values()))
    return NewCluster(
        name, members, member_id(named[name], token), cluster_id(m for m, _ in members)
    )


def with_members(store_data: bytes, cluster: NewCluster) -> bytes:
    """The store with its member records (and removal markers) replaced by the new cluster's,
    written as the store writes them (at 0 ns, so every member produces the same bytes)."""
    try:
        root, index, history = snapshot.load(store_data)
    except snapshot.BadSnapshot as exc:
        raise AdminError(f"the snapshot's store is unreadable: {exc}") from None
    internal = (root.children or {}).get(MEMBERS_DIR.split("/")[1])
    if internal is not None and internal.children is not None:
        for record in (MEMBERS_DIR, REMOVED_DIR):
            internal.children.pop(record.rsplit("/", 1)[1], None)
    store = Store.restore(snapshot.dump(root, index, history))
    for mid, urls in cluster.members:
        store.apply(AddMember(mid, urls, 0))
    return store.save()


def write_new_member(
    data_dir: str, wal_dir: str, cluster: NewCluster, store_data: bytes, index: int
) -> Written:
    """Write and verify this member's data dir, its snapshot at raft `index`."""
    check_empty(data_dir, "--data-dir")
    if wal_dir:
        check_empty(wal_dir, "--wal-dir")
    data = with_members(store_data, cluster)
    voters = tuple(m for m, _ in cluster.members)
    written = Written(cluster.own_id, cluster.cluster_id, max(index, 1), FIRST_TERM, voters)
    write_verified(data_dir, wal_dir, written, data)
    return written
