"""How a member starts: restart from its data dir, found a new cluster, or join a running one.

The data dir decides first, as in etcd: a member with a WAL restarts from it and the
`--initial-cluster*` flags only serve to catch a data dir that belongs to another cluster.
Without a WAL, `new` bootstraps from the flags and `existing` asks the running members (over
their peer URLs) for the cluster id and its own member id, which `member add` assigned.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from pyetcd.config import Config
from pyetcd.ids import cluster_id, format_id, member_id
from pyetcd.membership import BadContext, ClusterInfo, bootstrap_changes, decode_info
from raft.aio.fs import OsFS
from raft.aio.recovery import Boot, member_dirs, open_data_dir
from raft.aio.transport import (
    ClientSSL,
    PeerProtocolError,
    PeerRefused,
    PeerURLError,
    fetch_info,
)
from raft.aio.wal import SEGMENT_SIZE, WAL, Metadata, WalError
from raft.types import ConfChange

log = logging.getLogger("etcdserver")

FETCH_TIMEOUT = 5.0


class BootstrapError(Exception):
    """The member must not start; `str()` is the one-line reason."""


@dataclass(frozen=True, slots=True)
class Plan:
    """`founders` is non-empty only when this start founds the cluster; `peers` are the
    members to dial before the log has been replayed (a joiner's view of the cluster)."""

    boot: Boot
    member_id: int
    cluster_id: int
    founders: tuple[ConfChange, ...]
    peers: dict[int, tuple[str, ...]]


def _founding_ids(config: Config) -> tuple[int, int]:
    token = config.initial_cluster_token
    ids = [member_id(urls, token) for _, urls in config.initial_cluster]
    return member_id(config.peer_urls, token), cluster_id(ids)


def check_initial_cluster(config: Config) -> None:
    """No peer URL may belong to two members of `--initial-cluster`."""
    owner: dict[str, str] = {}
    for name, urls in config.initial_cluster:
        for url in urls:
            if url in owner:
                raise BootstrapError(
                    f"--initial-cluster has duplicate url {url} (members {owner[url]!r} and "
                    f"{name!r})"
                )
            owner[url] = name


async def plan_start(
    config: Config,
    *,
    segment_size: int = SEGMENT_SIZE,
    client_ssl: ClientSSL | None = None,
) -> Plan:
    """Raises BootstrapError with etcd-like one-line reasons; `client_ssl` dials https peers."""
    check_initial_cluster(config)
    fs = OsFS()
    wal_dir, _ = member_dirs(config.data_dir)
    options = {
        "fs": fs,
        "segment_size": segment_size,
        "max_wals": config.max_wals,
        "max_snapshots": config.max_snapshots,
    }
    if WAL.exists(fs, wal_dir):
        try:
            boot = await asyncio.to_thread(open_data_dir, config.data_dir, None, **options)
        except WalError as exc:
            raise BootstrapError(f"cannot read the data dir {config.data_dir}: {exc}") from None
        return _restart(config, boot)
    if config.initial_cluster_state == "new":
        mid, cid = _founding_ids(config)
        founders = tuple(
            bootstrap_changes(
                [
                    (member_id(urls, config.initial_cluster_token), urls)
                    for _, urls in config.initial_cluster
                ]
            )
        )
        peers: dict[int, tuple[str, ...]] = {}
    else:
        info, mid = await _fetch_cluster(config, client_ssl)
        cid, founders = info.cluster_id, ()
        peers = {m.id: m.peer_urls for m in info.members}
    boot = await asyncio.to_thread(open_data_dir, config.data_dir, Metadata(cid, mid), **options)
    log.info(
        "starting member %s in cluster %s (%s)",
        format_id(mid),
        format_id(cid),
        "founding it" if founders else "joining it",
    )
    return Plan(boot, mid, cid, founders, peers)


def _restart(config: Config, boot: Boot) -> Plan:
    meta = boot.metadata
    mid, cid = _founding_ids(config)
    if config.initial_cluster_state == "new" and meta.member_id != mid and meta.cluster_id != cid:
        boot.wal.close()
        raise BootstrapError(
            f"data dir {config.data_dir} belongs to member {format_id(meta.member_id)} of "
            f"cluster {format_id(meta.cluster_id)}, but --initial-cluster and "
            f"--initial-cluster-token describe member {format_id(mid)} of cluster "
            f"{format_id(cid)}: start with this cluster's flags or an empty data dir"
        )
    log.info(
        "the member has already been bootstrapped: ignoring --initial-cluster, "
        "--initial-cluster-state and --initial-cluster-token"
    )
    log.info(
        "restarting member %s in cluster %s at commit index %d",
        format_id(meta.member_id),
        format_id(meta.cluster_id),
        boot.hard_state.commit,
    )
    return Plan(boot, meta.member_id, meta.cluster_id, (), {})


async def _fetch_cluster(config: Config, client_ssl: ClientSSL | None) -> tuple[ClusterInfo, int]:
    """The cluster and this member's id, from the first member that knows it: a follower may
    not have applied the `member add` yet, so a reply without this member tries the next URL."""
    own = set(config.peer_urls)
    urls = [u for name, us in config.initial_cluster if name != config.name for u in us]
    urls = [u for u in urls if u not in own]
    if not urls:
        raise BootstrapError(
            "--initial-cluster-state existing needs the other members in --initial-cluster"
        )
    reasons = []
    answered: ClusterInfo | None = None
    for url in urls:
        try:
            info = decode_info(await fetch_info(url, None, client_ssl, timeout=FETCH_TIMEOUT))
        except (
            PeerRefused,
            PeerProtocolError,
            PeerURLError,
            BadContext,
            OSError,
            TimeoutError,
            EOFError,
        ) as exc:
            reasons.append(f"{url}: {exc or type(exc).__name__}")
            continue
        mid = _own_id(config, info)
        if mid is not None:
            return info, mid
        answered = info
    if answered is None:
        raise BootstrapError(
            "cannot fetch cluster info from peer urls (" + "; ".join(reasons) + ")"
        )
    wanted = ",".join(sorted(config.peer_urls))
    raise BootstrapError(
        f"cluster {format_id(answered.cluster_id)} has no member with peer urls {wanted}: "
        f"add it first (etcdctl member add {config.name} --peer-urls={wanted})"
    )


def _own_id(config: Config, info: ClusterInfo) -> int | None:
    wanted = tuple(sorted(config.peer_urls))
    return next((m.id for m in info.members if tuple(sorted(m.peer_urls)) == wanted), None)
