"""How a member starts: restart from its data dir, found a new cluster, or join a running one.

The data dir decides first, as in etcd: a member with a WAL (in `member/wal`, or in `--wal-dir`)
restarts from it and never reads the `--initial-cluster*` flags. Without a WAL, `new` bootstraps
from the flags and `existing` asks the running members (over their peer URLs) for the cluster id
and its own member id, which `member add` assigned.

A fresh member's data is written only once every check passed and the listeners are bound
(`plan_start` decides, `open_member` creates), and a creation that fails removes what it
created, so a failed first start leaves nothing that would turn the corrected retry into a
restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass

from pyetcd.config import Config
from pyetcd.ids import cluster_id, format_id, member_id
from pyetcd.membership import BadContext, ClusterInfo, bootstrap_changes, decode_info
from pyetcd.standalone import force_new_cluster
from raft.aio.fs import FS, NoSyncFS, OsFS
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
# etcd warns above this --max-request-bytes (which only its v3 API enforces).
RECOMMENDED_MAX_REQUEST_BYTES = 10 * 1024 * 1024


class BootstrapError(Exception):
    """The member must not start; `str()` is the one-line reason."""


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the member's data lives and how it is written."""

    data_dir: str
    wal_dir: str
    snap_dir: str
    fs: FS
    segment_size: int
    max_wals: int
    max_snapshots: int

    def open(self, metadata: Metadata | None) -> Boot:
        """Open the data dir, or create it with `metadata` (blocking: run it in a thread)."""
        return open_data_dir(
            self.data_dir,
            metadata,
            wal_dir=self.wal_dir,
            fs=self.fs,
            segment_size=self.segment_size,
            max_wals=self.max_wals,
            max_snapshots=self.max_snapshots,
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """`boot` is the restarted member's open data (None: `open_member` creates it);
    `founders` is non-empty only when this start founds the cluster; `peers` are the
    members to dial before the log has been replayed (a joiner's view of the cluster)."""

    layout: Layout
    boot: Boot | None
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


def layout(config: Config, segment_size: int = SEGMENT_SIZE) -> Layout:
    wal_dir, snap_dir = member_dirs(config.data_dir, config.wal_dir)
    fs: FS = NoSyncFS(OsFS()) if config.unsafe_no_fsync else OsFS()
    return Layout(
        config.data_dir,
        wal_dir,
        snap_dir,
        fs,
        segment_size,
        config.max_wals,
        config.max_snapshots,
    )


def misplaced_wal(config: Config, lay: Layout) -> str | None:
    """Why a data dir without a WAL where the flags say must not bootstrap again: its log is
    elsewhere, and a fresh one would make the member forget its votes and entries (etcd 3.4
    starts an empty log there and serves an empty v2 store)."""
    default_wal = member_dirs(config.data_dir)[0]
    if config.wal_dir and WAL.exists(lay.fs, default_wal):
        return (
            f"--wal-dir {lay.wal_dir} holds no WAL but {default_wal} does: that is this "
            f"member's log; move its files into {lay.wal_dir}, or start without --wal-dir"
        )
    if lay.fs.exists(lay.snap_dir):
        return (
            f"the member in {config.data_dir} was bootstrapped ({lay.snap_dir} exists) but "
            f"{lay.wal_dir} holds no WAL: start it with the --wal-dir it was bootstrapped with; "
            "a member whose WAL is lost must be removed from its cluster (member remove) and "
            "join it again as a new member (member add, --initial-cluster-state existing)"
        )
    return None


async def plan_start(
    config: Config,
    *,
    segment_size: int = SEGMENT_SIZE,
    client_ssl: ClientSSL | None = None,
) -> Plan:
    """Raises BootstrapError with etcd-like one-line reasons; `client_ssl` dials https peers.
    Writes nothing for a fresh member (see `open_member`)."""
    lay = layout(config, segment_size)
    if config.unsafe_no_fsync:
        log.warning(
            "--unsafe-no-fsync is set: the WAL and snapshots are written without fsync, so a "
            "power loss can lose acknowledged writes"
        )
    if config.max_request_bytes > RECOMMENDED_MAX_REQUEST_BYTES:
        log.warning(
            "MaxRequestBytes %d exceeds maximum recommended size %d",
            config.max_request_bytes,
            RECOMMENDED_MAX_REQUEST_BYTES,
        )
    if WAL.exists(lay.fs, lay.wal_dir):
        try:
            boot = await asyncio.to_thread(lay.open, None)
            if config.force_new_cluster:
                urls, now = config.initial_advertise_peer_urls, time.time_ns()
                boot = await asyncio.to_thread(force_new_cluster, boot, urls, now)
        except WalError as exc:
            raise BootstrapError(f"cannot read the data dir {config.data_dir}: {exc}") from None
        return _restart(lay, boot)
    problem = misplaced_wal(config, lay)
    if problem is not None:
        raise BootstrapError(problem)
    check_initial_cluster(config)
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
    log.info(
        "starting member %s in cluster %s (%s)",
        format_id(mid),
        format_id(cid),
        "founding it" if founders else "joining it",
    )
    return Plan(lay, None, mid, cid, founders, peers)


async def open_member(plan: Plan) -> Boot:
    """The restarted member's data, or the fresh member's, created now. A creation that fails
    removes what it created (never what was there before) and raises BootstrapError."""
    if plan.boot is not None:
        return plan.boot
    lay = plan.layout
    footprint = _Footprint.before((lay.wal_dir, lay.snap_dir))
    try:
        return await asyncio.to_thread(lay.open, Metadata(plan.cluster_id, plan.member_id))
    except (OSError, WalError) as exc:
        footprint.undo()
        raise BootstrapError(f"cannot create the member's data in {lay.data_dir}: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Footprint:
    """What creating directories may add: `roots`, the topmost missing ancestor of each (removed
    whole), and for directories already there, the names they held (later names are removed)."""

    roots: tuple[str, ...]
    held: tuple[tuple[str, frozenset[str]], ...]

    @classmethod
    def before(cls, dirs: tuple[str, ...]) -> _Footprint:
        roots: list[str] = []
        held = []
        for path in (os.path.abspath(d) for d in dirs):
            if os.path.isdir(path):
                held.append((path, frozenset(os.listdir(path))))
                continue
            while not os.path.exists(os.path.dirname(path)):
                path = os.path.dirname(path)
            if path not in roots:
                roots.append(path)
        return cls(tuple(roots), tuple(held))

    def undo(self) -> None:
        for root in self.roots:
            shutil.rmtree(root, ignore_errors=True)
        for path, names in self.held:
            with contextlib.suppress(OSError):
                for name in set(os.listdir(path)) - names:
                    _remove(os.path.join(path, name))


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.remove(path)


def _restart(lay: Layout, boot: Boot) -> Plan:
    """As etcd 3.4: the WAL's member and cluster ids are the member's, whatever the
    `--initial-cluster*` flags and `--name` say (a member added at runtime restarts with the
    default `new`)."""
    meta = boot.metadata
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
    return Plan(lay, boot, meta.member_id, meta.cluster_id, (), {})


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
