"""docs/RECOVERY.md, procedure by procedure, on real pyetcd clusters: every step the runbook
gives is run here as an operator would run it."""

from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from tests.admin.helpers import admin, daemon, put_all, tree, wait_serving
from tests.admin.test_backup import _flip, _records
from tests.cluster.client import get_json, put_key, wait_for
from tests.cluster.harness import READY_TIMEOUT, Cluster, Node, running_cluster

pytestmark = pytest.mark.timeout(240)
KEYS = {f"rb/d{i % 3}/k{i}": f"v{i}" for i in range(60)}
TREE = {f"/{k}": v for k, v in KEYS.items()}


def _data(node: Node) -> str:
    return os.path.join(node.workdir, "data")


def _stop(node: Node) -> None:
    node.signal(signal.SIGTERM)
    assert node.proc is not None
    node.proc.wait(timeout=30)
    node.proc = None


def _last_index(node: Node) -> tuple[int, int]:
    shown = admin("inspect", "--data-dir", _data(node))
    assert shown.returncode == 0, shown.stderr
    match = re.search(r"^last index: (\d+), last term: (\d+)$", shown.stdout, re.M)
    assert match, shown.stdout
    return int(match[1]), int(match[2])


def _member_ids(port: int) -> list[str] | None:
    got = get_json(port, "/v2/members")
    return None if got is None or got[0] != 200 else sorted(m["id"] for m in got[1]["members"])


def _force_new_cluster(node: Node) -> None:
    """Restart the stopped `node` with --force-new-cluster until it serves alone."""
    node.argv.append("--force-new-cluster")
    node.restart()
    wait_for(
        lambda: True if _member_ids(node.client_port) == [node.member_id] else None,
        READY_TIMEOUT, f"{node.name} alone after --force-new-cluster", interval=0.1,
    )  # fmt: skip


def _everywhere(cluster: Cluster, expected: dict[str, str]) -> None:
    for node in cluster.running:
        assert tree(node.client_port, "rb") == expected, cluster.logs()


def _wait_applied(cluster: Cluster, key: str) -> None:
    def done() -> bool | None:
        for node in cluster.running:
            got = get_json(node.client_port, f"/v2/keys/{key}")
            if got is None or got[0] != 200:
                return None
        return True

    wait_for(done, READY_TIMEOUT, f"{key} applied on every member")


def test_quorum_loss_force_new_cluster_on_the_most_up_to_date_then_grow() -> None:
    with running_cluster("pyetcd", 3) as cluster:
        put_all(cluster.leader().client_port, KEYS)
        _wait_applied(cluster, list(KEYS)[-1])
        lost = cluster.nodes[2]
        lost.kill()
        survivors = cluster.nodes[:2]
        # Step 1: stop every survivor. Step 2: inspect each, keep the highest last index.
        for node in survivors:
            _stop(node)
        chosen = max(survivors, key=_last_index)
        # Step 3: a backup first.
        backup = os.path.join(chosen.workdir, "data.bak")
        assert admin("backup", "--data-dir", _data(chosen), "--backup-dir", backup).returncode == 0
        # Step 4: --force-new-cluster on the chosen member.
        _force_new_cluster(chosen)
        assert tree(chosen.client_port, "rb") == TREE
        chosen.argv.remove("--force-new-cluster")
        # Step 5: the others come back as new members, data wiped, one at a time.
        cluster.nodes = [chosen]
        for name in ("m3", "m4"):
            cluster.add_member(chosen, name)
            cluster.wait_ready()
        _everywhere(cluster, TREE)
        assert put_key(cluster.nodes[-1].client_port, "rb/after", "1").status == 201
        _wait_applied(cluster, "rb/after")


@pytest.mark.parametrize("damage", ["lost", "corrupted"])
def test_a_lost_or_corrupted_member_is_removed_wiped_and_added_back(damage: str) -> None:
    with running_cluster("pyetcd", 3) as cluster:
        put_all(cluster.leader().client_port, KEYS)
        _wait_applied(cluster, list(KEYS)[-1])
        broken = next(n for n in cluster.nodes if n.member_id != cluster.leader().member_id)
        _stop(broken)
        wal_dir = os.path.join(_data(broken), "member", "wal")
        if damage == "lost":
            shutil.rmtree(_data(broken))
        else:
            segment = os.path.join(wal_dir, sorted(os.listdir(wal_dir))[-1])
            offset, length = _records(segment)[3]
            _flip(segment, offset + 13 + length - 1)
            broken.restart()  # the member refuses its damaged log
            assert broken.proc is not None and broken.proc.wait(timeout=30) != 0
            broken.proc = None
            assert f"corrupt WAL record at offset {offset}" in broken.log_tail()
            # Step 1: inspect names the file and offset.
            shown = admin("inspect", "--data-dir", _data(broken))
            assert shown.returncode == 1
            assert f"{segment}: corrupt WAL record at offset {offset}" in shown.stderr
        healthy = next(n for n in cluster.nodes if n is not broken)
        # Step 2: member remove; step 3: wipe only that member's data; step 4: member add.
        cluster.remove_member(healthy, broken)
        shutil.rmtree(_data(broken), ignore_errors=True)
        assert put_key(healthy.client_port, "rb/while-two", "2").status == 201
        cluster.add_member(healthy, broken.name)
        cluster.wait_ready()
        _everywhere(cluster, {**TREE, "/rb/while-two": "2"})
        assert broken.member_id not in _member_ids(healthy.client_port)


def test_split_brain_keep_the_majority_copy_the_rest_and_rejoin() -> None:
    with running_cluster("pyetcd", 3) as cluster:
        put_all(cluster.leader().client_port, KEYS)
        _wait_applied(cluster, list(KEYS)[-1])
        # The mistake: --force-new-cluster on one member while the other two run on.
        rogue = cluster.nodes[0]
        _stop(rogue)
        _force_new_cluster(rogue)
        rogue.argv.remove("--force-new-cluster")
        kept = cluster.nodes[1:]

        def writable() -> Node | None:
            for node in kept:
                reply = put_key(node.client_port, "rb/main", "m")
                if reply is not None and reply.status in (200, 201):
                    return node
            return None

        kept_leader = wait_for(writable, READY_TIMEOUT, "the majority taking writes")
        assert put_key(rogue.client_port, "rb/side/only-here", "s").status == 201
        # Step 1: the groups disagree on the member list.
        assert _member_ids(rogue.client_port) == [rogue.member_id]
        assert len(_member_ids(kept_leader.client_port)) == 3
        # Step 3: copy what only the other group holds.
        copied = admin("migrate", "--from", rogue.client_url, "--to", kept_leader.client_url,
                       "--prefix", "/rb/side")  # fmt: skip
        assert copied.returncode == 0, copied.stderr
        # Step 4: stop the other group, remove it from the kept one; step 5: wipe, add back.
        _stop(rogue)
        assert rogue.member_id in _member_ids(kept_leader.client_port)
        cluster.remove_member(kept_leader, rogue)
        shutil.rmtree(_data(rogue), ignore_errors=True)
        cluster.add_member(kept_leader, rogue.name)
        cluster.wait_ready()
        _everywhere(cluster, {**TREE, "/rb/main": "m", "/rb/side/only-here": "s"})


def test_full_restore_from_snapshot_and_from_backup(tmp_path: Path) -> None:
    with running_cluster("pyetcd", 3) as cluster:
        leader = cluster.leader()
        put_all(leader.client_port, KEYS)
        file = str(tmp_path / "cluster.snapshot")
        assert admin("snapshot", "save", "--endpoints", leader.client_url, file).returncode == 0
        _wait_applied(cluster, list(KEYS)[-1])
        for node in cluster.nodes:
            _stop(node)
        backup = str(tmp_path / "backup")
        assert admin("backup", "--data-dir", _data(leader), "--backup-dir", backup).returncode == 0
    # Every member lost: a new three-member cluster from the snapshot.
    new = Cluster("pyetcd", "restored-token", cluster.extra_args,
                  [Node("pyetcd", f"n{i}", "restored-token") for i in range(3)])  # fmt: skip
    try:
        initial = new.initial_cluster(new.nodes)
        for node in new.nodes:
            done = admin(
                "snapshot", "restore", file, "--data-dir", _data(node), "--name", node.name,
                "--initial-cluster", initial, "--initial-cluster-token", "restored-token",
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            node.start(initial, "new", new.extra_args)
        new.wait_ready()
        _everywhere(new, TREE)
    finally:
        new.stop()
    # From the offline backup: --force-new-cluster, then it serves alone.
    with daemon(backup, "from-backup", ["--force-new-cluster"]) as restored:
        wait_serving(restored, "rb/d0/k0")
        assert tree(restored.client_port, "rb") == TREE
