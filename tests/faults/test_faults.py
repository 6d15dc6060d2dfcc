"""Real members under a seeded nemesis, their clients' history checked for linearizability;
and the negative control: plain reads from a partitioned minority member must be caught stale.

PYETCD_FAULT_SEEDS=N runs N seeds from PYETCD_FAULT_FIRST_SEED (default 1) on 3 and 5 members
(the long run, see README.md), on the implementations in PYETCD_FAULT_IMPLS (default pyetcd;
`etcd,pyetcd` proves the harness on etcd);
PYETCD_FAULT_SEED=S with PYETCD_FAULT_IMPL and PYETCD_FAULT_SIZE replays one run.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.faults import nemesis
from tests.faults.members import Cluster, Member
from tests.faults.netns import Namespace, why_not
from tests.faults.runner import RunSpec, run
from tests.faults.workload import History, perform
from tests.lincheck.history import Kind, Op, Outcome
from tests.lincheck.linearizability import check_history

WHY_NOT = why_not()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"NOT RUN: the faults tier {WHY_NOT}")


def _specs() -> list[RunSpec]:
    if "PYETCD_FAULT_SEED" in os.environ:
        impl = os.environ.get("PYETCD_FAULT_IMPL", "pyetcd")
        size = int(os.environ.get("PYETCD_FAULT_SIZE", "3"))
        return [RunSpec(impl, size, int(os.environ["PYETCD_FAULT_SEED"]))]
    seeds = int(os.environ.get("PYETCD_FAULT_SEEDS", "0"))
    first = int(os.environ.get("PYETCD_FAULT_FIRST_SEED", "1"))
    impls = os.environ.get("PYETCD_FAULT_IMPLS", "pyetcd").split(",")
    if seeds:
        return [
            RunSpec(impl, size, seed)
            for impl in impls
            for seed in range(first, first + seeds)
            for size in (3, 5)
        ]
    return [RunSpec("pyetcd", 3, 1), RunSpec("pyetcd", 3, 2), RunSpec("pyetcd", 5, 3)]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("spec", _specs(), ids=RunSpec.label)
def test_seeded_run_is_linearizable(spec: RunSpec) -> None:
    result = run(spec)
    print(result.summary(), "linearizable" if result.verdict.ok else "NOT linearizable")
    assert result.verdict.ok, (
        f"{result.summary()}\n{result.verdict.explain()}\nsaved in {result.saved}\n"
        f"replay: {spec.command()}"
    )
    answered = [op for op in result.ops if op.outcome is Outcome.OK and op.kind is not Kind.READ]
    assert answered, f"{result.summary()}: no write was acknowledged, the run tested nothing"


IMPLS = [
    "pyetcd",
    pytest.param(
        "etcd",
        marks=pytest.mark.skipif(shutil.which("etcd") is None, reason="NOT RUN: etcd missing"),
    ),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("impl", IMPLS)
def test_plain_reads_from_a_partitioned_minority_are_caught_stale(impl: str) -> None:
    """The control that shows the checker and the harness can fail: a member cut off from
    the others still answers non-quorum reads from its own, now stale, store."""
    history = History()
    with Namespace(3) as ns, ns.entered():
        cluster = Cluster(ns, impl, [])
        try:
            cluster.boot(3, f"control-{impl}")
            leader = cluster.wait_ready()
            minority = next(m for m in cluster.members if m is not leader)
            majority = [m for m in cluster.members if m is not minority]
            _acknowledged(history, leader, "old")
            _until_seen(history, minority, "old")
            ns.cut({(minority.index, m.index) for m in majority}
                   | {(m.index, minority.index) for m in majority})  # fmt: skip
            _acknowledged(history, majority[1], "new")
            stale = history.invoke(0, minority.index, Kind.READ, "k0")
            perform(history, minority, stale, quorum=False)
            quorum = history.invoke(0, minority.index, Kind.READ, "k0")
            perform(history, minority, quorum, quorum=True)
        finally:
            cluster.stop()
    assert stale.outcome is Outcome.OK and stale.result == "old", stale.describe()
    assert quorum.result != "old", f"a quorum read from the minority was stale: {quorum.describe()}"
    verdict = check_history(history.ops)
    assert not verdict.ok and verdict.key == "k0", "the checker missed a stale read"
    assert check_history([op for op in history.ops if op is not stale]).ok


def _acknowledged(history: History, member: Member, value: str, timeout: float = 20.0) -> Op:
    """Write k0=value until one attempt is acknowledged (the others stay in the history)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = history.invoke(0, member.index, Kind.WRITE, "k0", value)
        perform(history, member, op)
        if op.outcome is Outcome.OK:
            return op
        time.sleep(0.2)
    raise AssertionError(f"no write of {value} acknowledged within {timeout:.0f}s")


def _until_seen(history: History, member: Member, value: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = history.invoke(0, member.index, Kind.READ, "k0")
        perform(history, member, op, quorum=False)
        if op.result == value:
            return
        time.sleep(0.1)
    raise AssertionError(f"{value} never reached the minority member")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("impl", IMPLS)
def test_a_follower_cut_off_past_the_log_catches_up_by_snapshot(impl: str) -> None:
    """Clients keep running while a follower is cut off for more than 5000 entries; on healing
    it needs (and gets) a snapshot, and the history stays linearizable."""
    spec = RunSpec(impl, 3, 1, duration=7.0, kinds=(nemesis.SNAPSHOT,))
    assert len(nemesis.plan(spec.seed, spec.size, spec.duration, spec.kinds)) == 1
    result = run(spec)
    assert result.verdict.ok, f"{result.summary()}\n{result.verdict.explain()}\n{result.saved}"
    assert any("received a snapshot" in line for line in result.events), result.events


@pytest.mark.timeout(120)
def test_peer_port_fuzz_is_dropped_counted_and_harmless() -> None:
    """Valid and mangled peer sessions while clients run: no member crashes, every mangled
    connection is dropped with a warning, and the history stays linearizable."""
    result = run(RunSpec("pyetcd", 3, 1, duration=8.0, kinds=(nemesis.PEER_FUZZ,)))
    assert result.verdict.ok, f"{result.summary()}\n{result.verdict.explain()}\n{result.saved}"
    (line,) = [e for e in result.events if "peer fuzz sent" in e]
    dropped = int(line.split("members dropped ")[1].split()[0])
    assert dropped > 0, line
