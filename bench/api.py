"""The issue-2 API benchmark: local GET, PUT and watch fan-out, pyetcd next to etcd in one run.

Both servers run side by side for the whole suite and every cell is measured in short blocks
taken in turns by the two: the machine is shared and its speed drifts, and only ratios taken
this close together are meaningful.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Protocol, TypeVar

import uvloop

from bench import harness
from bench.harness import Server
from bench.load import LoadResult, run_wrk
from bench.watch_fanout import FanoutResult, run_fanout
from tests.procs import MemberStartError

KEYS = 1000
VALUE_SIZE = 100
CONNECTIONS = (1, 16, 128)
WATCHERS = (1, 100, 1000)
GET = "GET (local)"
PUT = "PUT"
FANOUT = "watch fan-out"
# Fan-out rounds alternate between the servers in blocks this long, so a burst of background
# load on the shared machine hits both rather than one.
FANOUT_BLOCK = 5
# A load cell likewise runs in this many blocks per server, taken in turn: this machine's speed
# drifts by 10-20% over tens of seconds, which one block per server would put into the ratio.
LOAD_BLOCKS = 5


@dataclass(frozen=True, slots=True)
class Cell:
    workload: str
    size: int


@dataclass(frozen=True, slots=True)
class Target:
    """pyetcd/etcd must be >= `at_least` (throughput) or <= `at_most` (time)."""

    at_least: float | None = None
    at_most: float | None = None

    def met(self, ratio: float) -> bool:
        if self.at_least is not None:
            return ratio >= self.at_least
        return self.at_most is not None and ratio <= self.at_most

    def __str__(self) -> str:
        return f">= {self.at_least}x" if self.at_least is not None else f"<= {self.at_most}x"


TARGETS = {Cell(GET, 16): Target(at_least=0.5), Cell(FANOUT, 1000): Target(at_most=1.5)}

Result = LoadResult | FanoutResult | str


@dataclass(slots=True)
class Suite:
    impls: list[str]
    duration: float
    rounds: int
    results: dict[tuple[Cell, str], Result] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def cells(
    connections: Sequence[int] = CONNECTIONS, watchers: Sequence[int] = WATCHERS
) -> list[Cell]:
    return [
        *(Cell(GET, c) for c in connections),
        *(Cell(PUT, c) for c in connections),
        *(Cell(FANOUT, w) for w in watchers),
    ]


def fanout_blocks(rounds: int) -> list[int]:
    """Fan-out rounds split into blocks of at most FANOUT_BLOCK, taken in turn by each server."""
    full, rest = divmod(rounds, FANOUT_BLOCK)
    return [FANOUT_BLOCK] * full + ([rest] if rest else [])


def load_blocks(duration: float) -> list[float]:
    """A load cell's seconds split into up to LOAD_BLOCKS blocks of whole seconds (wrk's unit)."""
    block = max(1, round(duration / LOAD_BLOCKS))
    return [float(block)] * max(1, round(duration / block))


def _measure(server: Server, cell: Cell, keys: int, block: float) -> Result:
    if not server.alive():
        return "server exited"
    try:
        if cell.workload == FANOUT:
            return uvloop.run(run_fanout(server, cell.size, int(block)))
        method = "GET" if cell.workload == GET else "PUT"
        return run_wrk(server, method, cell.size, block, keys, VALUE_SIZE)
    except Exception as exc:  # one failed cell is reported in its place; the others still run
        return f"error: {type(exc).__name__}: {exc}"


def run_suite(
    impls: Sequence[str],
    duration: float,
    rounds: int,
    suite_cells: Sequence[Cell],
    keys: int = KEYS,
    args: Sequence[str] = harness.BENCH_ARGS,
    progress: Callable[[str], None] = lambda _line: None,
) -> Suite:
    """Measure every cell on every server that started; failures become notes or cell texts."""
    suite = Suite(list(impls), duration, rounds)
    with contextlib.ExitStack() as stack:
        servers = start_targets(
            impls,
            stack,
            suite.notes,
            lambda impl: harness.start_server(impl, args),
            lambda server: harness.preload(server.port, keys, VALUE_SIZE),
            MemberStartError,
            "",
        )
        for impl, server in servers.items():
            suite.notes.append(f"{impl} idle CPU: {harness.idle_cpu(server):.3f} core")
        measure_cells(
            suite.results,
            suite.rounds,
            suite.duration,
            suite_cells,
            servers,
            lambda server, cell, block: _measure(server, cell, keys, block),
            lambda cell: f"{cell.workload} {cell.size}",
            progress,
        )
    return suite


class _Stoppable(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Stoppable)


def start_targets(
    impls: Sequence[str],
    stack: contextlib.ExitStack,
    notes: list[str],
    start: Callable[[str], S],
    prepare: Callable[[S], None],
    start_error: type[Exception],
    what: str,
) -> dict[str, S]:
    """Start and preload one target (a member or a cluster) per implementation, stopped when
    `stack` closes; one that fails is left out with a note saying why."""
    targets: dict[str, S] = {}
    for impl in impls:
        try:
            target = start(impl)
        except start_error as exc:
            last = [line for line in str(exc).splitlines() if line.strip()][-1]
            notes.append(f"{impl} {what}did not start: {last.strip()}")
            continue
        stack.callback(target.stop)
        try:
            prepare(target)
        except (OSError, HTTPException, harness.HttpError) as exc:
            notes.append(f"{impl} preload failed: {exc!r}")
            continue
        targets[impl] = target
    return targets


class _Cell(Protocol):
    @property
    def workload(self) -> str: ...


C = TypeVar("C", bound=_Cell)
T = TypeVar("T")


def measure_cells(
    results: dict[tuple[C, str], Result],
    rounds: int,
    duration: float,
    cells: Sequence[C],
    targets: dict[str, T],
    measure: Callable[[T, C, float], Result],
    label: Callable[[C], str],
    progress: Callable[[str], None],
) -> None:
    """Every cell on every target, in blocks taken in turn by the targets (so drift and bursts
    of background load hit both alike) and merged: fan-out rounds, or seconds of load. A cell
    that failed on a target (a text result) is not retried there."""
    for cell in cells:
        passes = fanout_blocks(rounds) if cell.workload == FANOUT else load_blocks(duration)
        for block in passes:
            for impl, target in targets.items():
                before = results.get((cell, impl))
                if isinstance(before, str):
                    continue
                progress(f"{label(cell)} on {impl}")
                result = measure(target, cell, block)
                if isinstance(before, FanoutResult) and isinstance(result, FanoutResult):
                    result = before.plus(result)
                if isinstance(before, LoadResult) and isinstance(result, LoadResult):
                    result = before.plus(result)
                results[(cell, impl)] = result
                time.sleep(0.2)


def cpu_text(total_s: float, members_s: tuple[float, ...], per: float, digits: int) -> str:
    """CPU per unit of `per`; with several members, the sum and then the leader's share."""
    leader = f" (leader {members_s[0] / per:.{digits}f})" if members_s else ""
    return f"{total_s / per:.{digits}f}{leader}"


def load_text(result: Result) -> tuple[str, str]:
    """The req/s · p50 / p99 cell and the CPU cell of one load result."""
    if isinstance(result, str):
        return result, ""
    assert isinstance(result, LoadResult)
    errors = f", {result.errors} errors" if result.errors else ""
    return (
        f"{result.rps:,.0f} · {result.p50_ms:.2f} / {result.p99_ms:.1f}{errors}",
        f"{cpu_text(result.server_cpu_s, result.member_cpu_s, result.seconds, 2)} · "
        f"{result.server_us_per_request:.0f} µs (wrk {result.client_cpu_s / result.seconds:.2f})",
    )


def fanout_text(result: Result) -> tuple[str, str]:
    """The median cell and the CPU-per-round cell of one fan-out result."""
    if isinstance(result, str):
        return result, ""
    assert isinstance(result, FanoutResult)
    per_round = len(result.round_ms) / 1e3
    return (
        f"{result.median_ms:.2f}",
        f"{cpu_text(result.server_cpu_s, result.member_cpu_s, per_round, 1)} / "
        f"{result.client_cpu_ms_per_round:.1f}",
    )


def ratio_of(etcd: Result | None, pyetcd: Result | None) -> float | None:
    """pyetcd/etcd: of req/s for request load, of the median time for the fan-out."""
    if isinstance(etcd, LoadResult) and isinstance(pyetcd, LoadResult) and etcd.rps > 0:
        return pyetcd.rps / etcd.rps
    if isinstance(etcd, FanoutResult) and isinstance(pyetcd, FanoutResult) and etcd.median_ms:
        return pyetcd.median_ms / etcd.median_ms
    return None


def ratio_text(value: float | None, target: Target | None) -> tuple[str, str]:
    """The ratio cell and the target verdict cell."""
    if value is None:
        return "—", str(target) if target else ""
    if target is None:
        return f"{value:.2f}", ""
    return f"{value:.2f}", f"{target} {'met' if target.met(value) else 'MISSED'}"


def _ratio(suite: Suite, cell: Cell) -> tuple[str, str]:
    value = ratio_of(suite.results.get((cell, "etcd")), suite.results.get((cell, "pyetcd")))
    return ratio_text(value, TARGETS.get(cell))


def render(suite: Suite, command: str, machine: str) -> str:
    """The suite as markdown: one table for request load, one for fan-out, then the notes."""
    out = [f"Command: `{command}`", "", f"Machine: {machine}", ""]
    load_cells = [c for c in _cells_of(suite) if c.workload != FANOUT]
    fanout_cells = [c for c in _cells_of(suite) if c.workload == FANOUT]
    if load_cells:
        head = ["workload", "conns"]
        for impl in suite.impls:
            head += [f"{impl} req/s · p50 / p99 ms", f"{impl} CPU cores · per req"]
        head += ["pyetcd/etcd req/s", "target"]
        out += markdown_table(head, [
            [c.workload, str(c.size)]
            + [t for impl in suite.impls for t in load_text(suite.results.get((c, impl), "—"))]
            + list(_ratio(suite, c))
            for c in load_cells
        ])  # fmt: skip
    if fanout_cells:
        head = ["watchers"]
        for impl in suite.impls:
            head += [f"{impl} median ms", f"{impl} CPU ms/round server / client"]
        head += ["pyetcd/etcd time", "target"]
        out += markdown_table(head, [
            [str(c.size)]
            + [t for impl in suite.impls for t in fanout_text(suite.results.get((c, impl), "—"))]
            + list(_ratio(suite, c))
            for c in fanout_cells
        ])  # fmt: skip
    out += [
        f"{suite.duration:g} s per load cell (wrk, closed loop, {KEYS} keys, {VALUE_SIZE}-byte "
        f"values, in blocks of {load_blocks(suite.duration)[0]:g} s taken in turns by the "
        f"servers); fan-out: median of {suite.rounds} rounds (taken in turns of {FANOUT_BLOCK} "
        "per server), time from sending the PUT until "
        "every watcher has the whole response. CPU is the server process's user+system time "
        "from /proc (10 ms ticks); wrk's own CPU is in brackets; the fan-out client is this "
        "Python process. PUT rows are for information only.",
        "",
        *(f"- {note}" for note in suite.notes),
    ]
    return "\n".join(out).rstrip() + "\n"


def _cells_of(suite: Suite) -> list[Cell]:
    return list(dict.fromkeys(cell for cell, _ in suite.results))


def markdown_table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]
