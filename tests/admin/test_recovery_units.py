"""The pure parts of backup, snapshot and restore: the snapshot file, the new cluster's ids
and member records, the inspect report."""

from __future__ import annotations

import bcrypt
import pytest

from pyetcd.admin.backup import Written, verify, write_member
from pyetcd.admin.newcluster import new_cluster, with_members
from pyetcd.admin.snapfile import HotSnapshot, SnapshotFileError, decode_snapshot, encode_snapshot
from pyetcd.admin.v2client import AdminError
from pyetcd.ids import cluster_id, member_id
from store.auth import check_password
from store.commands import AddMember, RemoveMember, Set
from store.store import Store


def test_snapshot_file_round_trips_and_refuses_any_damage() -> None:
    snap = HotSnapshot(42, 3, 0xABC, 0xDEF, b"store bytes")
    raw = encode_snapshot(snap)
    assert decode_snapshot(raw) == snap
    for i in range(len(raw)):
        damaged = bytearray(raw)
        damaged[i] ^= 0x10
        with pytest.raises(SnapshotFileError):
            decode_snapshot(bytes(damaged))
    with pytest.raises(SnapshotFileError, match="not a pyetcd snapshot"):
        decode_snapshot(raw[:10])


def test_new_cluster_ids_are_a_bootstraps() -> None:
    cluster = new_cluster("b", "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380", "tok", "")
    ids = sorted(member_id([u], "tok") for u in ("http://10.0.0.1:2380", "http://10.0.0.2:2380"))
    assert [m for m, _ in cluster.members] == ids
    assert cluster.own_id == member_id(["http://10.0.0.2:2380"], "tok")
    assert cluster.cluster_id == cluster_id(ids)


@pytest.mark.parametrize(
    ("name", "initial", "advertise", "message"),
    [
        ("c", "a=http://h:1", "", "no member named 'c'"),
        ("a", "a=http://h:1", "http://h:2", "differs from a's URLs"),
        ("a", "a=http://h:1,b=http://h:1", "", "duplicate url"),
        ("a", "a=h:1", "", "URL scheme"),
    ],
)
def test_new_cluster_refuses_inconsistent_flags(
    name: str, initial: str, advertise: str, message: str
) -> None:
    with pytest.raises(AdminError, match=message):
        new_cluster(name, initial, "tok", advertise)


def test_with_members_replaces_the_old_member_records_identically_on_every_member() -> None:
    old = Store()
    old.apply(AddMember(1, ("http://old:1",), 5))
    old.apply(AddMember(2, ("http://old:2",), 5))
    old.apply(RemoveMember(2, 6))
    old.apply(Set("/k", "v", False, None, False, 7))
    cluster = new_cluster("x", "x=http://n:1,y=http://n:2", "tok", "")
    data = with_members(old.save(), cluster)
    assert data == with_members(
        old.save(), new_cluster("y", "x=http://n:1,y=http://n:2", "tok", "")
    )
    store = Store.restore(data)
    assert [(m.id, m.peer_urls) for m in store.members()] == list(cluster.members)
    assert store.removed_member_ids() == set()
    assert store.get("/k").node.value == "v"


def test_etcds_bcrypt_hashes_are_checked_as_etcd_checks_them() -> None:
    # A hash as etcd 3.4 writes it ($2a$, Go's x/crypto/bcrypt), of "rootpw".
    stored = bcrypt.hashpw(b"rootpw", bcrypt.gensalt(4)).decode().replace("$2b$", "$2a$", 1)
    assert check_password(stored, "rootpw")
    assert not check_password(stored, "rootpw2")
    assert not check_password("$2a$10$not-a-hash", "rootpw")
    long = "x" * 80  # Go reads 72 bytes of it
    assert check_password(bcrypt.hashpw(long[:72].encode(), bcrypt.gensalt(4)).decode(), long)


def test_verify_catches_a_copy_that_differs(tmp_path) -> None:
    store = Store()
    store.apply(Set("/k", "v", False, None, False, 1))
    written = Written(11, 22, 5, 2, (7,))
    write_member(str(tmp_path / "d"), "", written, store.save())
    verify(str(tmp_path / "d"), "", written, store.save())
    with pytest.raises(AdminError, match=r"store in .* differs"):
        verify(str(tmp_path / "d"), "", written, Store().save())
    with pytest.raises(AdminError, match="verification failed"):
        verify(str(tmp_path / "d"), "", Written(11, 23, 5, 2, (7,)), store.save())
