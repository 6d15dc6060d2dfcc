"""ENOSPC on one member's data disk (a size-limited tmpfs), and failing fsyncs (an LD_PRELOAD
shim, failfsync.c): the member stops accepting writes or exits with a clear line, nothing
acknowledged is lost, and it rejoins cleanly once the disk is fixed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

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
            _recover(cluster, full, history)
        finally:
            for member in cluster.members:
                member.kill()
            for path in mounted:
                subprocess.run(["umount", path], check=False)
            cluster.stop()
    _verdict(history)


def _recover(cluster: Cluster, member: Member, history: History) -> None:
    """Restart the member on its fixed disk, wait until it rejoins, read every key back
    through every member."""
    member.kill()
    member.restart()
    cluster.wait_ready()
    for each in cluster.members:
        for key in KEYS:
            perform(history, each, history.invoke(1, each.index, Kind.READ, key))


def _verdict(history: History) -> None:
    reads = [op for op in history.ops if op.kind is Kind.READ]
    assert all(op.outcome is Outcome.OK for op in reads), [op.describe() for op in reads]
    verdict = check_history(history.ops)
    assert verdict.ok, f"an acknowledged write was lost:\n{verdict.explain()}"
    assert any(op.outcome is Outcome.OK for op in history.ops if op.kind is Kind.WRITE)


@pytest.fixture(scope="module")
def failfsync(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("gcc") is None:
        pytest.skip("NOT RUN: the fsync-failure test needs gcc to build its shim")
    lib = str(tmp_path_factory.mktemp("failfsync") / "libfailfsync.so")
    source = os.path.join(os.path.dirname(__file__), "failfsync.c")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", lib, source, "-ldl"], check=True)
    return lib


@pytest.mark.timeout(180)
@pytest.mark.parametrize("size", [1, 3])
def test_a_failed_fsync_stops_the_member_and_loses_no_acknowledged_write(
    size: int, failfsync: str
) -> None:
    """After a failed fsync the kernel may have dropped the dirty pages: the member must stop
    with a clear line (never carry on), and once the disk works it restarts and rejoins."""
    history = History()

    def shimmed(member: Member) -> None:
        if member.index == 0:
            trigger = os.path.join(member.workdir, "fail-fsync")
            member.wrapper = ("env", f"LD_PRELOAD={failfsync}", f"FAILFSYNC_TRIGGER={trigger}")

    with Namespace(size) as ns, ns.entered():
        cluster = Cluster(ns, "pyetcd", [])
        try:
            cluster.boot(size, f"eio-{size}", prepare=shimmed)
            cluster.wait_ready()
            failing = cluster.members[0]
            trigger = os.path.join(failing.workdir, "fail-fsync")
            for n in range(len(KEYS)):  # acknowledged before the disk fails: must survive
                perform(history, failing, history.invoke(0, 0, Kind.WRITE, KEYS[n], f"v{n}"))
            open(trigger, "w").close()
            deadline = time.monotonic() + 20
            n = len(KEYS)
            while failing.alive and time.monotonic() < deadline:
                op = history.invoke(0, 0, Kind.WRITE, KEYS[n % len(KEYS)], f"v{n}")
                perform(history, failing, op)
                n += 1
            log = failing.log_tail(20_000)
            assert failing.proc is not None and failing.proc.poll() not in (None, 0), (
                f"the member carried on after a failed fsync:\n{log}"
            )
            assert re.search(r"stopped: raft stopped: .*f(data)?sync failed: Input/output", log), (
                log
            )
            os.remove(trigger)
            _recover(cluster, failing, history)
        finally:
            cluster.stop()
    _verdict(history)
