"""`pyetcd-admin backup`: an offline copy of a stopped member that restores as a new cluster.

As `etcdctl backup` does, the copy gets a new random member id and cluster id, so it can never
rejoin the original cluster by mistake, and keeps the original configuration in its snapshot:
the member it restores comes up alone only with `--force-new-cluster`, which removes the old
members (and adds the new one) through the log. Unlike etcd's copy of the log, the copy is one
snapshot of the store the whole WAL rebuilds (see pyetcd.admin.datadir), so it holds no conf
change or member attribute entries to filter out.

The copy is reopened and compared with the source before success is reported.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass

from pyetcd.admin.datadir import read_data_dir, refuse_if_running, replay_store
from pyetcd.admin.v2client import AdminError
from pyetcd.standalone import members_in
from raft.aio.fs import OsFS
from raft.aio.recovery import member_dirs
from raft.aio.snap import SnapshotMeta, SnapStore, StoredSnapshot
from raft.aio.wal import WAL, HardState, Metadata, WalError


@dataclass(frozen=True, slots=True)
class Written:
    """What a new data dir holds: ids, and the snapshot it starts from."""

    member_id: int
    cluster_id: int
    index: int
    term: int
    voters: tuple[int, ...]


def new_id() -> int:
    """A random non-zero 64-bit id (0 means "none" to raft)."""
    return secrets.randbits(64) or 1


def check_empty(path: str, flag: str) -> None:
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise AdminError(f"{flag} {path} is not empty: refusing to write over it")


def write_member(data_dir: str, wal_dir: str, written: Written, store_data: bytes) -> None:
    """Create a member's data dir holding one snapshot (`store_data` at `written.index`);
    on failure everything it created is removed."""
    fs = OsFS()
    wal_path, snap_dir = member_dirs(data_dir, wal_dir)
    candidates = (data_dir, os.path.join(data_dir, "member"), wal_dir)
    created = [p for p in candidates if p and not os.path.exists(p)]
    try:
        wal = WAL.create(fs, wal_path, Metadata(written.cluster_id, written.member_id))
        try:
            snaps = SnapStore(fs, snap_dir)
            if written.index:
                meta = SnapshotMeta(written.index, written.term, written.voters)
                snaps.save(StoredSnapshot(meta, store_data))
                wal.save_snapshot_marker(written.index, written.term)
            wal.save(HardState(written.term, 0, written.index), [], True)
        finally:
            wal.close()
    except BaseException as exc:  # an interrupt too: never leave half a data dir
        for path in created:
            shutil.rmtree(path, ignore_errors=True)
        if isinstance(exc, (OSError, WalError)):
            raise AdminError(f"cannot write {data_dir}: {exc}") from None
        raise


def verify(data_dir: str, wal_dir: str, written: Written, store_data: bytes) -> None:
    """Reopen a written data dir read-only and compare it with what was meant to be written."""
    copy = read_data_dir(data_dir, wal_dir)
    store, _ = replay_store(copy)
    meta = copy.wal.replay.metadata
    found = Written(
        meta.member_id,
        meta.cluster_id,
        *copy.last,
        copy.snapshot.meta.voters if copy.snapshot is not None else (),
    )
    if found != written:
        raise AdminError(f"verification failed: {data_dir} holds {found}, not {written}")
    if store.save() != store_data:
        raise AdminError(f"verification failed: the store in {data_dir} differs from the source")


def write_verified(data_dir: str, wal_dir: str, written: Written, store_data: bytes) -> None:
    """`write_member` then `verify`; a copy that fails verification is removed again (both dirs
    were checked empty before)."""
    write_member(data_dir, wal_dir, written, store_data)
    try:
        verify(data_dir, wal_dir, written, store_data)
    except AdminError:
        shutil.rmtree(os.path.join(data_dir, "member"), ignore_errors=True)
        if wal_dir:
            shutil.rmtree(wal_dir, ignore_errors=True)
        raise


def backup(data_dir: str, backup_dir: str, wal_dir: str = "", backup_wal_dir: str = "") -> Written:
    advice = "stop the member first (or take a hot snapshot: pyetcd-admin snapshot save)"
    refuse_if_running(data_dir, member_dirs(data_dir, wal_dir), advice)
    check_empty(backup_dir, "--backup-dir")
    if backup_wal_dir:
        check_empty(backup_wal_dir, "--backup-wal-dir")
    source = read_data_dir(data_dir, wal_dir)
    store, _ = replay_store(source)
    voters = source.snapshot.meta.voters if source.snapshot is not None else ()
    written = Written(
        new_id(),
        new_id(),
        *source.last,
        tuple(members_in(voters, source.entries)),
    )
    store_data = store.save()
    write_verified(backup_dir, backup_wal_dir, written, store_data)
    return written
