"""The issue-5 cluster benchmark: 3-member pyetcd next to 3-member etcd, in one run.

Both clusters run side by side for the whole suite and every cell is measured in short blocks
taken in turns by etcd and pyetcd, with the same wrk load generator; only ratios taken this
close together mean anything on a shared machine. Requests go either all to the leader or
spread evenly over the three members (one connection: to a follower); CPU is summed over the
members and shown for the leader on its own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import uvloop

from bench import harness
from bench.api import (
    FANOUT,
    FANOUT_BLOCK,
    GET,
    PUT,
    Target,
    fanout_text,
    load_blocks,
    load_text,
    markdown_table,
    measure_cells,
    ratio_of,
    ratio_text,
    start_targets,
)
from bench.harness import Cluster, Server
from bench.load import LoadResult, run_load, spread_connections
from bench.watch_fanout import FanoutResult, run_fanout

KEYS = 1000
VALUE_SIZE = 100
MEMBERS = 3
CONNECTIONS = (1, 16, 128)
WATCHERS = (1000,)
QGET = "GET quorum=true"
MIX = "90% GET / 10% PUT"
WORKLOADS = {PUT: "PUT", GET: "GET", QGET: "QGET", MIX: "MIX"}
LEADER = "leader"
SPREAD = "spread"


@dataclass(frozen=True, slots=True)
class Cell:
    workload: str
    size: int  # connections, or watchers for the fan-out
    placement: str  # LEADER or SPREAD (the fan-out is always spread)


def _targets() -> dict[Cell, Target]:
    targets = {}
    for placement in (LEADER, SPREAD):
        targets[Cell(PUT, 1, placement)] = Target(at_least=0.7)
        targets[Cell(PUT, 128, placement)] = Target(at_least=0.5)
        targets[Cell(QGET, 128, placement)] = Target(at_least=1.0)
        for connections in CONNECTIONS:
            targets[Cell(GET, connections, placement)] = Target(at_least=0.5)
    return targets


TARGETS = _targets()

Result = LoadResult | FanoutResult | str


@dataclass(slots=True)
class Suite:
    impls: list[str]
    duration: float
    rounds: int
    results: dict[tuple[Cell, str], Result] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def cells(
    connections: Sequence[int] = CONNECTIONS,
    watchers: Sequence[int] = WATCHERS,
    workloads: Sequence[str] = tuple(WORKLOADS),
) -> list[Cell]:
    return [
        *(
            Cell(workload, c, placement)
            for workload in workloads
            for c in connections
            for placement in (LEADER, SPREAD)
        ),
        *(Cell(FANOUT, w, SPREAD) for w in watchers),
    ]


def load_targets(cluster: Cluster, leader: Server, cell: Cell) -> list[Server]:
    """Where a cell's connections go: the leader, a follower (1 connection) or every member."""
    if cell.placement == LEADER:
        return [leader]
    followers = cluster.followers(leader)
    return followers[:1] if cell.size == 1 else [*followers, leader]


def _measure(cluster: Cluster, cell: Cell, suite: Suite, keys: int, block: float) -> Result:
    if not cluster.alive():
        return "a member exited"
    try:
        leader = cluster.leader()
        members = [leader, *cluster.followers(leader)]
        if cell.workload == FANOUT:
            result: Result = uvloop.run(
                run_fanout(leader, cell.size, int(block), spread_over=members)
            )
        else:
            targets = load_targets(cluster, leader, cell)
            method = WORKLOADS[cell.workload]
            result = run_load(targets, method, cell.size, block, keys, VALUE_SIZE, members)
        if cluster.leader() is not leader:
            suite.notes.append(f"{cluster.impl}: the leader changed during {_cell_name(cell)}")
        return result
    except Exception as exc:  # one failed cell is reported in its place; the others still run
        return f"error: {type(exc).__name__}: {exc}"


def _idle_note(cluster: Cluster) -> str:
    before = [server.cpu_seconds() for server in cluster.servers]
    time.sleep(1.0)
    used = sum(s.cpu_seconds() for s in cluster.servers) - sum(before)
    return f"{cluster.impl} idle CPU (3 members together): {used:.3f} core"


def run_suite(
    impls: Sequence[str],
    duration: float,
    rounds: int,
    suite_cells: Sequence[Cell],
    keys: int = KEYS,
    args: Sequence[str] = harness.BENCH_ARGS,
    progress: Callable[[str], None] = lambda _line: None,
) -> Suite:
    """Measure every cell on every cluster that started; failures become notes or cell texts."""
    suite = Suite(list(impls), duration, rounds)
    with contextlib.ExitStack() as stack:
        clusters = start_targets(
            impls,
            stack,
            suite.notes,
            lambda impl: harness.start_cluster(impl, MEMBERS, args),
            lambda cluster: _preload(cluster, keys),
            harness.ClusterStartError,
            "cluster ",
        )
        suite.notes += [_idle_note(cluster) for cluster in clusters.values()]
        measure_cells(
            suite.results,
            suite.rounds,
            suite.duration,
            suite_cells,
            clusters,
            lambda cluster, cell, block: _measure(cluster, cell, suite, keys, block),
            _cell_name,
            progress,
        )
    return suite


def _preload(cluster: Cluster, keys: int) -> None:
    harness.preload(cluster.leader().port, keys, VALUE_SIZE)
    # Every member serves the last key locally, so local reads find every key.
    harness.wait_served(cluster.servers, f"{harness.KEY_PREFIX}{keys - 1}", poll=0.05)


def _cell_name(cell: Cell) -> str:
    return f"{cell.workload} {cell.size} ({cell.placement})"


def ratio(suite: Suite, cell: Cell) -> float | None:
    """pyetcd/etcd: of req/s for request load, of the median time for the fan-out."""
    return ratio_of(suite.results.get((cell, "etcd")), suite.results.get((cell, "pyetcd")))


def _ratio_text(suite: Suite, cell: Cell) -> tuple[str, str]:
    return ratio_text(ratio(suite, cell), TARGETS.get(cell))


def _conns_text(cell: Cell) -> str:
    if cell.placement == LEADER:
        return str(cell.size)
    if cell.size == 1:
        return "1 (a follower)"
    real = spread_connections(cell.size, MEMBERS)
    return f"{real} ({real // MEMBERS} per member)"


def render(suite: Suite, command: str, machine: str) -> str:
    """The suite as markdown: one table for request load, one for fan-out, then the notes."""
    out = [f"Command: `{command}`", "", f"Machine: {machine}", ""]
    ordered = list(dict.fromkeys(cell for cell, _ in suite.results))
    load_cells = [c for c in ordered if c.workload != FANOUT]
    fanout_cells = [c for c in ordered if c.workload == FANOUT]
    if load_cells:
        head = ["workload", "to", "conns"]
        for impl in suite.impls:
            head += [f"{impl} req/s · p50 / p99 ms", f"{impl} CPU cores (leader) · per req"]
        head += ["pyetcd/etcd req/s", "target"]
        out += markdown_table(head, [
            [c.workload, c.placement, _conns_text(c)]
            + [t for impl in suite.impls for t in load_text(suite.results.get((c, impl), "—"))]
            + list(_ratio_text(suite, c))
            for c in load_cells
        ])  # fmt: skip
    if fanout_cells:
        head = ["watchers"]
        for impl in suite.impls:
            head += [f"{impl} median ms", f"{impl} CPU ms/round members (leader) / client"]
        head += ["pyetcd/etcd time", "target"]
        out += markdown_table(head, [
            [f"{c.size} over {MEMBERS} members"]
            + [t for impl in suite.impls for t in fanout_text(suite.results.get((c, impl), "—"))]
            + list(_ratio_text(suite, c))
            for c in fanout_cells
        ])  # fmt: skip
    out += [
        f"{MEMBERS}-member clusters, {suite.duration:g} s per load cell (wrk, closed loop, "
        f"{KEYS} keys, {VALUE_SIZE}-byte values, in blocks of {load_blocks(suite.duration)[0]:g} s "
        "taken in turns by the clusters). `leader`: every connection to the leader; "
        "`spread`: one wrk thread per member with an equal share of the connections (one "
        "connection: to a follower). CPU: user+system of the members from /proc, summed, the "
        "leader's share in brackets, then per request; wrk's own CPU in brackets. Fan-out: "
        f"watchers spread over the members, the PUT to the leader, median of {suite.rounds} "
        f"rounds (taken in turns of {FANOUT_BLOCK} per cluster), time from sending the PUT "
        "until every watcher has the whole response.",
        "",
        *(f"- {note}" for note in suite.notes),
    ]
    return "\n".join(out).rstrip() + "\n"
