"""ENOSPC on one member's data disk (a size-limited tmpfs): the member stops accepting writes or
exits with a clear line, acknowledges nothing it did not persist, and rejoins cleanly once the
disk has room again."""

from __future__ import annotations

import subprocess

import pytest

from tests.faults.members import Cluster, Member
from tests.faults.netns import Namespace, why_not
from tests.faults.workload import KEYS, History, perform
from tests.lincheck.history import Kind, Outcome
from tests.lincheck.linearizability import check_history

WHY_NOT = why_not()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"NOT RUN: the faults tier {WHY_NOT}")
BIG = "y" * 30_000  # a snapshot of ten such keys outgrows the room left on the disk
ENOSPC = "No space left on device"


def _used_bytes(path: str) -> int:
    out = subprocess.run(["df", "--output=used", "-B1", path], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return int(out.split()[1])


@pytest.mark.timeout(180)
@pytest.mark.parametrize("size", [1, 3])
def test_a_full_disk_loses_no_acknowledged_write_and_the_member_rejoins(size: int) -> None:
    history = History()
    mounted: list[str] = []

    def on_tmpfs(member: Member) -> None:
        if member.index == 0:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", member.data_dir],
                           check=True)  # fmt: skip
            mounted.append(member.data_dir)

    with Namespace(size) as ns, ns.entered():
        cluster = Cluster(ns, "pyetcd", ["--snapshot-count", "50"])
        try:
            cluster.boot(size, f"enospc-{size}", prepare=on_tmpfs)
            cluster.wait_ready()
            full = cluster.members[0]
            room = _used_bytes(full.data_dir) + 512 * 1024
            subprocess.run(["mount", "-o", f"remount,size={room}", full.data_dir], check=True)
            for n in range(150):
                op = history.invoke(0, 0, Kind.WRITE, KEYS[n % len(KEYS)], f"{n}-{BIG}")
                perform(history, full, op)
            refused = [op for op in history.ops if op.outcome is not Outcome.OK]
            log = full.log_tail(20_000)
            assert refused and ENOSPC in log, f"the disk never filled up:\n{log}"
            if not full.alive:
                assert full.proc is not None and full.proc.returncode != 0
                assert f"stopped: raft stopped: [Errno 28] {ENOSPC}" in log, log
            subprocess.run(["mount", "-o", "remount,size=200m", full.data_dir], check=True)
            full.kill()
            full.restart()
            cluster.wait_ready()
            for member in cluster.members:
                for key in KEYS:
                    perform(history, member, history.invoke(1, member.index, Kind.READ, key))
        finally:
            for member in cluster.members:
                member.kill()
            for path in mounted:
                subprocess.run(["umount", path], check=False)
            cluster.stop()
    reads = [op for op in history.ops if op.kind is Kind.READ]
    assert all(op.outcome is Outcome.OK for op in reads), [op.describe() for op in reads]
    verdict = check_history(history.ops)
    assert verdict.ok, f"an acknowledged write was lost:\n{verdict.explain()}"
    assert any(op.outcome is Outcome.OK for op in history.ops if op.kind is Kind.WRITE)
