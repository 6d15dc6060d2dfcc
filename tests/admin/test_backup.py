"""`pyetcd-admin backup` and `inspect` on real pyetcd data dirs: refused while the member runs,
verified, restored alone with new ids by `pyetcd --force-new-cluster`, then grown again; inspect
reports damage by file and offset and never writes."""

from __future__ import annotations

import hashlib
import os
import struct

import pytest

from pyetcd.admin.datadir import read_data_dir
from tests import procs
from tests.admin.helpers import (
    admin,
    daemon,
    members,
    put_all,
    stop_keeping_data,
    tree,
    wait_serving,
)
from tests.cluster.client import put_key

pytestmark = pytest.mark.timeout(180)
KEYS = {f"bk/d{i % 4}/k{i}": f"value {i}" for i in range(300)}
SNAPSHOT_ARGS = (*procs.FAST_TIMING, "--enable-v2", "--snapshot-count", "100")


def _digest(path: str) -> str:
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(path)):
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as fh:
                h.update(name.encode() + fh.read())
    return h.hexdigest()


def test_backup_restores_alone_with_new_ids_and_every_key(tmp_path) -> None:
    member = procs.start_member("pyetcd", extra_args=SNAPSHOT_ARGS)
    try:
        put_all(member.client_port, KEYS)
        expected = tree(member.client_port, "bk")
        backup_dir = str(tmp_path / "backup")
        refused = admin("backup", "--data-dir", member.data_dir, "--backup-dir", backup_dir)
        assert refused.returncode == 1 and "stop the member first" in refused.stderr
        assert not os.path.exists(backup_dir)
        stop_keeping_data(member)
        before = _digest(member.data_dir)
        done = admin("backup", "--data-dir", member.data_dir, "--backup-dir", backup_dir)
        assert done.returncode == 0 and "(verified)" in done.stdout, done.stderr
        assert _digest(member.data_dir) == before, "backup wrote into the source"
        again = admin("backup", "--data-dir", member.data_dir, "--backup-dir", backup_dir)
        assert again.returncode == 1 and "not empty" in again.stderr
        source_meta = read_data_dir(member.data_dir).wal.replay.metadata
        copy = read_data_dir(backup_dir)
        assert copy.wal.replay.metadata.member_id != source_meta.member_id
        assert copy.wal.replay.metadata.cluster_id != source_meta.cluster_id
        new_id = f"{copy.wal.replay.metadata.member_id:x}"
        with daemon(backup_dir, "restored", ["--force-new-cluster"]) as restored:
            wait_serving(restored, "bk/d0/k0")
            assert tree(restored.client_port, "bk") == expected
            listed = members(restored.client_port)
            assert [m["id"] for m in listed] == [new_id], listed
            reply = put_key(restored.client_port, "bk/after", "1")
            assert reply is not None and reply.status == 201, reply
    finally:
        member.stop()


def test_backup_with_separate_wal_dirs(tmp_path) -> None:
    wal_dir = str(tmp_path / "wal")
    member = procs.start_member(
        "pyetcd", extra_args=(*procs.FAST_TIMING, "--enable-v2", "--wal-dir", wal_dir)
    )
    try:
        put_all(member.client_port, {"w/a": "1", "w/b": "2"})
        stop_keeping_data(member)
        backup_dir, backup_wal = str(tmp_path / "b"), str(tmp_path / "bwal")
        done = admin(
            "backup", "--data-dir", member.data_dir, "--wal-dir", wal_dir,
            "--backup-dir", backup_dir, "--backup-wal-dir", backup_wal,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert not os.path.exists(os.path.join(backup_dir, "member", "wal"))
        shown = admin("inspect", "--data-dir", backup_dir, "--wal-dir", backup_wal)
        assert shown.returncode == 0 and backup_wal in shown.stdout, shown
        missing = admin(
            "backup", "--data-dir", member.data_dir, "--backup-dir", str(tmp_path / "c")
        )
        assert missing.returncode == 1 and "holds no WAL" in missing.stderr
    finally:
        member.stop()


def _records(path: str) -> list[tuple[int, int]]:
    """(offset, length) of every record of a pyetcd segment (13-byte headers, zeros after)."""
    with open(path, "rb") as fh:
        data = fh.read()
    found, pos = [], 0
    while pos + 13 <= len(data):
        (length,) = struct.unpack_from("<I", data, pos)
        if length == 0 and data[pos : pos + 13] == bytes(13):
            break
        found.append((pos, length))
        pos += 13 + length
    return found


def _flip(path: str, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


def test_inspect_reports_and_never_repairs(tmp_path) -> None:
    member = procs.start_member("pyetcd", extra_args=SNAPSHOT_ARGS)
    try:
        put_all(member.client_port, {f"i/k{i}": str(i) for i in range(150)})
        stop_keeping_data(member)
        shown = admin("inspect", "--data-dir", member.data_dir)
        assert shown.returncode == 0, shown.stderr
        assert f"member id: {member.member_id}" in shown.stdout
        assert f"cluster id: {member.cluster_id}" in shown.stdout
        assert "(in use)" in shown.stdout and "members in the conf state: " in shown.stdout
        wal_dir = os.path.join(member.data_dir, "member", "wal")
        segment = os.path.join(wal_dir, sorted(os.listdir(wal_dir))[-1])
        records = _records(segment)
        # A damaged last record followed by zeros is a torn tail: reported, left on disk.
        last_off, last_len = records[-1]
        _flip(segment, last_off + 13 + last_len - 1)
        before = _digest(member.data_dir)
        torn = admin("inspect", "--data-dir", member.data_dir)
        assert torn.returncode == 0, torn.stderr
        assert f"warning: {segment}: torn tail at offset {last_off}" in torn.stdout
        assert _digest(member.data_dir) == before, "inspect modified the data dir"
        # A damaged snapshot file (the member skips it) fails the check too.
        snap_dir = os.path.join(member.data_dir, "member", "snap")
        older = os.path.join(snap_dir, sorted(os.listdir(snap_dir))[0])
        _flip(older, os.path.getsize(older) - 1)
        bad_snap = admin("inspect", "--data-dir", member.data_dir)
        assert bad_snap.returncode == 1 and f"damaged: {older}" in bad_snap.stdout, bad_snap
        # A damaged record in the middle is corruption: exit 1 naming the file and offset.
        mid_off, mid_len = records[len(records) // 2]
        _flip(segment, mid_off + 13 + mid_len - 1)
        bad = admin("inspect", "--data-dir", member.data_dir)
        assert bad.returncode == 1, bad
        assert f"{segment}: corrupt WAL record at offset {mid_off}" in bad.stderr
        assert _digest(member.data_dir) != before
        assert admin("inspect", "--data-dir", snap_dir).returncode == 1
    finally:
        member.stop()


def test_usage_errors_exit_2() -> None:
    assert admin("backup", "--data-dir", "x").returncode == 2
    assert admin("inspect").returncode == 2
    assert admin("snapshot").returncode == 2
    assert admin("import-etcd", "--data-dir", "x").returncode == 2
