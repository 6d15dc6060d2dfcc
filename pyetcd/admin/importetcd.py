"""`pyetcd-admin import-etcd`: a pyetcd data dir from a stopped etcd 3.4 member's data dir.

The v2 store comes from the newest snapshot in member/snap whose (index, term) the WAL records,
then every WAL entry after it is applied as etcd's v2 applier would (etcdserver/apply_v2.go):
v2 requests become pyetcd's store commands with their absolute expirations, conf changes and
member attribute writes update `/0` as etcd's membership code does, so the store index and
every key's indexes stay etcd's. v3 and other internal requests (which never touch the v2
store), empty entries and quorum reads are skipped and counted. The new cluster's members then
replace the old ones (pyetcd.admin.newcluster).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from pyetcd.admin import etcdfmt
from pyetcd.admin.backup import Written
from pyetcd.admin.datadir import refuse_if_running
from pyetcd.admin.newcluster import NewCluster, write_new_member
from pyetcd.admin.v2client import AdminError
from store import commands as cmds
from store import snapshot
from store.errors import EtcdError
from store.history import EventHistory
from store.node import Node
from store.store import AUTH_ROOT, USER_ROOT, VERSION_KEY, Store

_SEGMENT = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{16}\.wal$")
_SNAP = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{16}\.snap$")
_ATTRIBUTES = re.compile(r"^/0/members/([0-9a-fA-F]{1,16})/attributes$")


@dataclass(frozen=True, slots=True)
class EtcdLog:
    member_id: int
    cluster_id: int
    hard_state: tuple[int, int, int]
    snap: etcdfmt.SnapFile | None
    entries: list[etcdfmt.Entry]
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Imported:
    written: Written
    snapshot_index: int
    applied: Counter[str]
    store_index: int
    warnings: tuple[str, ...]


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise AdminError(f"cannot read {path}: {exc}") from None


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        raise AdminError(f"cannot read {path}: {exc}") from None


def read_etcd_wal(wal_dir: str, snap_dir: str) -> EtcdLog:
    """Decode the WAL (checking the crc chain) and pick the snapshot it replays from."""
    names = [n for n in _listdir(wal_dir) if _SEGMENT.match(n)]
    if not names:
        raise AdminError(f"{wal_dir} holds no etcd WAL segment")
    ids, hard, markers = (0, 0), (0, 0, 0), set()
    crc, torn = 0, ""
    raw_entries: list[etcdfmt.Entry] = []
    for i, name in enumerate(names):
        path = os.path.join(wal_dir, name)
        found, damage = etcdfmt.records(_read(path))
        for offset, rec in found:
            where = f"{path}: record at offset {offset}"
            if rec.type == etcdfmt.CRC:
                if crc and rec.crc != crc:
                    raise AdminError(f"{where}: crc chain broken between segments")
                crc = rec.crc
                continue
            crc = etcdfmt.crc32c(rec.data, crc)
            if crc != rec.crc:
                if i == len(names) - 1 and offset == found[-1][0]:
                    torn = f"{where}: crc mismatch at the tail (skipped, as etcd does)"
                    break
                raise AdminError(f"{where}: crc mismatch")
            try:
                if rec.type == etcdfmt.METADATA:
                    ids = etcdfmt.metadata(rec.data)
                elif rec.type == etcdfmt.ENTRY:
                    raw_entries.append(etcdfmt.entry(rec.data))
                elif rec.type == etcdfmt.STATE:
                    hard = etcdfmt.hard_state(rec.data)
                elif rec.type == etcdfmt.SNAPSHOT:
                    markers.add(etcdfmt.wal_snapshot(rec.data))
            except etcdfmt.FormatError as exc:
                raise AdminError(f"{where}: {exc}") from None
        if damage is not None:
            if i != len(names) - 1 or damage.offset == 0:
                raise AdminError(f"{path}: offset {damage.offset}: {damage.reason}")
            torn = f"{path}: offset {damage.offset}: {damage.reason} (the tail etcd drops)"
    if ids == (0, 0):
        raise AdminError(f"{wal_dir}: no metadata record: not an etcd WAL")
    snap, skipped = _newest_snapshot(snap_dir, markers)
    warnings = (*([torn] if torn else []), *skipped)
    return EtcdLog(ids[0], ids[1], hard, snap, _log_after(raw_entries, snap), warnings)


def _newest_snapshot(
    snap_dir: str, markers: set[tuple[int, int]]
) -> tuple[etcdfmt.SnapFile | None, list[str]]:
    """The newest intact snapshot the WAL records, as etcd loads it (a damaged one is skipped
    for the next older: etcd renames it `.broken`), and what was skipped."""
    skipped: list[str] = []
    if not os.path.isdir(snap_dir):
        return None, skipped
    for name in reversed([n for n in _listdir(snap_dir) if _SNAP.match(n)]):
        path = os.path.join(snap_dir, name)
        try:
            snap = etcdfmt.snap_file(_read(path))
        except etcdfmt.FormatError as exc:
            skipped.append(f"{path}: damaged etcd snapshot skipped: {exc}")
            continue
        if (snap.index, snap.term) in markers:
            return snap, skipped
    return None, skipped


def _log_after(raw: list[etcdfmt.Entry], snap: etcdfmt.SnapFile | None) -> list[etcdfmt.Entry]:
    """The log after the snapshot as raft rebuilds it: a later write of an index replaces it
    and everything after it."""
    base = snap.index if snap is not None else 0
    log: list[etcdfmt.Entry] = []
    for e in raw:
        if e.index <= base:
            continue
        slot = e.index - base - 1
        if slot > len(log):
            raise AdminError(f"the WAL misses entries {base + len(log) + 1}..{e.index - 1}")
        del log[slot:]
        log.append(e)
    return log


def _node(raw: dict[str, object], parent: Node | None) -> Node:
    path, value = str(raw["Path"]), str(raw.get("Value") or "")
    expire = etcdfmt.go_time_ns(str(raw.get("ExpireTime") or "0001-01-01T00:00:00Z"))
    children = raw.get("Children")
    node = Node(path, parent, value, children is not None, int(raw["CreatedIndex"]), expire)
    node.modified_index = int(raw["ModifiedIndex"])
    if isinstance(children, dict):
        for name in sorted(children):
            node.children[name] = _node(children[name], node)
    return node


def store_from_json(data: bytes) -> Store:
    """etcd's v2 store JSON (`store.Save`): the tree and CurrentIndex. Its event history is
    not carried over (watchers of the new cluster start from its index)."""
    try:
        state = json.loads(data)
        root = _node(state["Root"], None)
        index = int(state["CurrentIndex"])
    except (ValueError, KeyError, TypeError, etcdfmt.FormatError) as exc:
        raise AdminError(f"the etcd snapshot's v2 store is unreadable: {exc!r}") from None
    for namespace in ("0", USER_ROOT[1:]):
        if root.children is not None and namespace not in root.children:
            root.children[namespace] = Node("/" + namespace, root, "", True, 0, None)
    return Store.restore(snapshot.dump(root, index, EventHistory()))


def _key(path: str) -> str:
    return path[len(USER_ROOT) :] or "/"


def v2_command(req: etcdfmt.Request, now: int) -> cmds.Command | None:
    """The store command etcd's applyV2Request runs for a write to `/1` (None otherwise)."""
    if req.path != USER_ROOT and not req.path.startswith(USER_ROOT + "/"):
        return None
    key, expire, refresh = _key(req.path), req.expiration or None, bool(req.refresh)
    if req.method == "POST":
        return cmds.Create(key, req.val, req.dir, True, expire, now)
    if req.method == "DELETE":
        if req.prev_index or req.prev_value:
            return cmds.CompareAndDelete(key, req.prev_value, req.prev_index, now)
        return cmds.Delete(key, req.dir, req.recursive, now)
    if req.method != "PUT":
        return None
    if req.prev_exist is True and not (req.prev_index or req.prev_value):
        return cmds.Update(key, req.val, expire, refresh, now)
    if req.prev_exist is False:
        return cmds.Create(key, req.val, req.dir, False, expire, now)
    if req.prev_index or req.prev_value:
        return cmds.CompareAndSwap(
            key, req.prev_value, req.prev_index, req.val, expire, refresh, now
        )
    return cmds.Set(key, req.val, req.dir, expire, refresh, now)


def internal_command(req: etcdfmt.Request, now: int) -> cmds.Command | None:
    """Writes to `/0` and `/2` as etcd's membership and v2 auth code make them."""
    match = _ATTRIBUTES.match(req.path)
    if req.method == "PUT" and match:
        attrs = json.loads(req.val)
        urls = tuple(attrs.get("clientURLs") or ())
        return cmds.PublishMember(int(match[1], 16), attrs.get("name", ""), urls, now)
    if req.method == "PUT" and req.path == VERSION_KEY:
        return cmds.SetClusterVersion(req.val, now)
    if req.path.startswith(AUTH_ROOT + "/") and not req.dir:
        resource = req.path[len(AUTH_ROOT) :]
        if req.method == "PUT":
            return cmds.AuthSet(resource, req.val, bool(req.prev_exist), now)
        if req.method == "DELETE":
            return cmds.AuthDelete(resource, now)
    return None


def conf_command(data: bytes, now: int) -> cmds.Command | None:
    """What etcd's cluster membership writes to the v2 store for an applied conf change."""
    cc = etcdfmt.conf_change(data)
    if cc.type == etcdfmt.CONF_REMOVE:
        return cmds.RemoveMember(cc.node_id, now)
    urls = tuple(json.loads(cc.context or b"{}").get("peerURLs") or ())
    if cc.type == etcdfmt.CONF_ADD:
        return cmds.AddMember(cc.node_id, urls, now)
    if cc.type == etcdfmt.CONF_UPDATE:
        return cmds.UpdateMember(cc.node_id, urls, now)
    return None


def _classify(entry: etcdfmt.Entry, now: int) -> tuple[str, cmds.Command | None, int]:
    """What an entry is, the store command it runs, and the clock it carries (SYNC)."""
    if entry.type == etcdfmt.ENTRY_CONF_CHANGE:
        try:
            cmd = conf_command(entry.data, now)
        except (etcdfmt.FormatError, ValueError, AttributeError):
            return "undecodable", None, now
        return ("conf change", cmd, now) if cmd is not None else ("learner change", None, now)
    if entry.type != etcdfmt.ENTRY_NORMAL:
        return "other entry type", None, now
    if not entry.data:
        return "empty", None, now
    req = etcdfmt.request(entry.data) or etcdfmt.internal_v2(entry.data)
    if req is None:
        return "v3 or internal", None, now
    if req.method == "SYNC":
        return "sync", cmds.Sync(req.time), max(now, req.time)
    if req.method in ("QGET", "GET", "HEAD"):
        return "quorum read", None, now
    cmd = v2_command(req, now)
    if cmd is not None:
        return "v2 write", cmd, now
    try:
        cmd = internal_command(req, now)
    except (ValueError, AttributeError):
        return "undecodable", None, now
    return ("internal v2 write", cmd, now) if cmd is not None else ("skipped v2 write", None, now)


def replay(store: Store, entries: Iterable[etcdfmt.Entry]) -> Counter[str]:
    counts: Counter[str] = Counter()
    now = 0
    for entry in entries:
        kind, cmd, now = _classify(entry, now)
        counts[kind] += 1
        if cmd is None:
            continue
        try:
            store.apply(cmd)
        except EtcdError:
            counts["failed as in etcd"] += 1
    return counts


def import_etcd(
    etcd_data_dir: str, etcd_wal_dir: str, data_dir: str, wal_dir: str, cluster: NewCluster
) -> Imported:
    member = os.path.join(etcd_data_dir, "member")
    source_wal = etcd_wal_dir or os.path.join(member, "wal")
    snap_dir = os.path.join(member, "snap")
    refuse_if_running(etcd_data_dir, (source_wal, snap_dir), "stop etcd first")
    log = read_etcd_wal(source_wal, snap_dir)
    store = store_from_json(log.snap.data) if log.snap is not None else Store()
    counts = replay(store, log.entries)
    index = log.entries[-1].index if log.entries else (log.snap.index if log.snap else 0)
    written = write_new_member(data_dir, wal_dir, cluster, store.save(), index)
    snap_index = log.snap.index if log.snap is not None else 0
    return Imported(written, snap_index, counts, store.index, log.warnings)
