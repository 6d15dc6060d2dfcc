"""A seeded fault schedule (pure: the same seed gives the same schedule) and its application to
a running cluster. Faults do not overlap: each is undone before the next begins."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tests.faults import fuzz
from tests.faults.members import Cluster, Member
from tests.faults.workload import CATCH_UP_ENTRIES, bulk_write, snapshots_received

PARTITIONS = ("halves", "isolate-leader", "bridge", "one-way")
PROCESS_FAULTS: dict[str, tuple[Callable[[Member], None], Callable[[Member], None]]] = {
    "kill": (Member.kill, Member.restart),  # kill -9, then the same command line again
    "pause": (Member.pause, Member.resume),  # SIGSTOP, SIGCONT
}
# Cut one member off, remove it through the others, add a fresh member in its place, heal.
MEMBERSHIP = ("membership",)
# Cut a follower off while the others move more than etcd's 5000 catch-up entries past it, so
# that healing must install a snapshot on it (not part of ALL: it runs for tens of seconds).
SNAPSHOT = "snapshot"
# Valid and mangled frames sent to every member's peer port (tests/faults/fuzz.py).
PEER_FUZZ = "peer-fuzz"
ALL = (*PARTITIONS, *PROCESS_FAULTS, *MEMBERSHIP, PEER_FUZZ)
Logger = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Fault:
    at: float  # seconds after the workload started
    duration: float
    kind: str
    groups: tuple[tuple[int, ...], ...]  # meaning depends on kind (see `cut_pairs`)

    def describe(self) -> str:
        return f"{self.at:6.2f}s +{self.duration:.2f}s {self.kind} {self.groups}"


def between(a: Sequence[int], b: Sequence[int]) -> set[tuple[int, int]]:
    """Both directions between two groups."""
    return {(x, y) for x in a for y in b} | {(y, x) for x in a for y in b}


def cut_pairs(fault: Fault) -> set[tuple[int, int]]:
    """(opener, target) connections a partition fault drops."""
    match fault.kind:
        case "halves" | "isolate-leader":
            return between(fault.groups[0], fault.groups[1])
        case "bridge":  # groups: left, right, bridge member; left and right only meet through it
            return between(fault.groups[0], fault.groups[1])
        case "one-way":  # groups[0] can no longer open connections to groups[1]
            return {(x, y) for x in fault.groups[0] for y in fault.groups[1]}
    raise ValueError(f"{fault.kind} is not a partition")


def plan(seed: int, size: int, duration: float, kinds: Sequence[str] = ALL) -> list[Fault]:
    """Faults of 1.5-4 s with 1-2 s of calm between, within `duration`."""
    rng = random.Random(seed)
    faults = []
    at = rng.uniform(0.5, 1.5)
    minority = (size - 1) // 2
    while True:
        length = rng.uniform(1.5, 4.0)
        if at + length > duration - 1.0:
            return faults
        kind = rng.choice(list(kinds))
        order = list(range(size))
        rng.shuffle(order)
        if kind == "halves":
            groups = (tuple(sorted(order[:minority])), tuple(sorted(order[minority:])))
        elif kind == "isolate-leader":  # the leader is found when the fault starts
            groups = ((order[0],), tuple(sorted(order[1:])))
        elif kind == "bridge":
            half = (size - 1) // 2
            groups = (tuple(sorted(order[:half])), tuple(sorted(order[half:-1])), (order[-1],))
        elif kind == "one-way":
            groups = ((order[0],), tuple(sorted(order[1:])))
        elif kind == PEER_FUZZ:
            groups = (tuple(range(size)),)
        elif kind in ("membership", SNAPSHOT):
            groups = ((order[0],),)
        else:
            groups = (tuple(sorted(order[: rng.randint(1, minority)])),)
        faults.append(Fault(round(at, 3), round(length, 3), kind, groups))
        at += length + rng.uniform(1.0, 2.0)


def isolate(members: int, victim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return (victim,), tuple(i for i in range(members) if i != victim)


def apply(cluster: Cluster, fault: Fault, log: Logger) -> Callable[[], None]:
    """Start a fault; the returned function undoes it. Groups hold positions in
    `cluster.members` (a member replaced by a membership change keeps its position)."""
    members = list(cluster.members)
    if fault.kind == "isolate-leader":
        leader = cluster.leader()
        victim = members.index(leader) if leader in members else fault.groups[0][0]
        fault = Fault(fault.at, fault.duration, fault.kind, isolate(len(members), victim))
    log(f"start {fault.describe()} on {[m.name for m in members]}")
    if fault.kind == "membership":
        victim = members[fault.groups[0][0]]
        others = [m.index for m in members if m is not victim]
        cluster.ns.cut(between([victim.index], others))
        log(cluster.replace(victim))
        return cluster.ns.heal
    if fault.kind == SNAPSHOT:
        return _outrun(cluster, members, log)
    if fault.kind == PEER_FUZZ:
        return _fuzz(cluster, members, random.Random(int(fault.at * 1000)), log)
    if fault.kind in PARTITIONS:
        cluster.ns.cut({(members[a].index, members[b].index) for a, b in cut_pairs(fault)})
        return cluster.ns.heal
    targets = [members[i] for i in fault.groups[0]]
    start, undo = PROCESS_FAULTS[fault.kind]
    for member in targets:
        start(member)

    def undo_all() -> None:
        for member in targets:
            undo(member)

    return undo_all


def _outrun(cluster: Cluster, members: list[Member], log: Logger) -> Callable[[], None]:
    leader = cluster.leader() or members[0]
    follower = next(m for m in members if m is not leader)
    others = [m for m in members if m is not follower]
    before = snapshots_received(follower)
    cluster.ns.cut(between([follower.index], [m.index for m in others]))
    acked = bulk_write(others, CATCH_UP_ENTRIES + 600)
    log(f"{follower.name} cut off while {acked} bulk writes were acknowledged")

    def heal_and_wait() -> None:
        cluster.ns.heal()
        deadline = time.monotonic() + 60.0
        while snapshots_received(follower) <= before:
            if time.monotonic() > deadline:
                raise AssertionError(f"{follower.name} received no snapshot within 60s")
            time.sleep(0.25)
        log(f"{follower.name} received a snapshot")

    return heal_and_wait


def _fuzz(
    cluster: Cluster, members: list[Member], rng: random.Random, log: Logger
) -> Callable[[], None]:
    stop, sent = threading.Event(), Counter[str]()
    before = cluster.count_in_logs(fuzz.CLOSED_LINE)

    def run() -> None:
        with cluster.ns.entered():
            fuzz.fuzz_loop(rng, members, cluster.cluster_id, stop, sent)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop_and_count() -> None:
        stop.set()
        thread.join(timeout=10)
        dropped = cluster.count_in_logs(fuzz.CLOSED_LINE) - before
        log(f"peer fuzz sent {dict(sorted(sent.items()))}; members dropped {dropped} connections")
        crashed = [m.name for m in members if m.proc is not None and not m.alive]
        if crashed:
            raise AssertionError(f"peer fuzz crashed {crashed}")

    return stop_and_count
