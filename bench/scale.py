"""The issue-15 scale suite: etcd and pyetcd holding many keys, as one member and as three.

What grows with the store is measured rather than throughput on a small one: how fast a store
fills, the memory and disk it then takes, how long a member needs to come back after a clean
stop, what a snapshot of the whole store costs the writes running while it is taken, and how
long a follower that fell behind the compacted log takes to catch up by snapshot. Both
implementations run side by side and take turns, as in the other suites, so the drift of a
shared machine hits both.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlencode

import uvloop

from bench import harness
from bench.api import markdown_table, start_targets
from bench.harness import HOST, Cluster, Server
from bench.watch_fanout import ProtocolError, Response, http_request, parse_response

KEYS = 1_000_000
SIZES = (1, 3)
VALUE_SIZE = 100
DIR_KEYS = 1000  # keys per directory: /v2/keys/d<k // 1000>/k<k>
FILL_CONNECTIONS = 64
# The fill is split into this many blocks per implementation, taken in turns.
FILL_BLOCKS = 5
# Both implementations keep this many entries in the log after a snapshot (etcd's
# SnapshotCatchUpEntries); a follower further behind than that needs a snapshot.
CATCHUP_ENTRIES = 5000
# A snapshot every tenth of the fill, as many as etcd's default (100,000) makes of 1,000,000.
MAX_SNAPSHOT_COUNT = 100_000
MIN_SNAPSHOT_COUNT = 1000
WINDOW_WRITES = 3000  # single writes per latency window (at most half the snapshot count)
STOP_TIMEOUT = 60.0
RESTART_TIMEOUT = 600.0
POLL_S = 0.02
MARKER_PATH = "/v2/keys/scale/marker"
_SNAP_SAVE_SUM = "etcd_debugging_snap_save_total_duration_seconds_sum"


def key_path(k: int) -> str:
    return f"/v2/keys/d{k // DIR_KEYS}/k{k}"


def value_of(k: int) -> str:
    """100 bytes that name their key, so a read proves it found the right write."""
    return str(k).rjust(VALUE_SIZE, "v")


def default_snapshot_count(keys: int) -> int:
    return max(MIN_SNAPSHOT_COUNT, min(MAX_SNAPSHOT_COUNT, keys // 10))


class ScaleError(RuntimeError):
    """A phase could not be measured (a write failed, a member never served, no snapshot)."""


# -- fill ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FillResult:
    writes: int
    seconds: float
    server_cpu_s: float  # the members', summed
    client_cpu_s: float  # the filler's (this process)
    last_key: int  # the key whose write was acknowledged last

    def plus(self, other: FillResult) -> FillResult:
        """Two blocks of one fill as one: counts and times add up, the later block's last key."""
        return FillResult(
            self.writes + other.writes,
            self.seconds + other.seconds,
            self.server_cpu_s + other.server_cpu_s,
            self.client_cpu_s + other.client_cpu_s,
            other.last_key,
        )

    @property
    def rate(self) -> float:
        return self.writes / self.seconds if self.seconds > 0 else 0.0


@dataclass(slots=True)
class _Shared:
    """What the writers of one fill share: the keys still to write, the last acknowledged."""

    keys: Iterator[int]
    port: int
    done: asyncio.Future[None]
    open: int
    writes: int = 0
    last_key: int = -1

    def fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


class _Writer(asyncio.Protocol):
    """One keep-alive connection that sends the next PUT as soon as a response is complete:
    no future or task per request, so the filler costs little next to the server."""

    def __init__(self, shared: _Shared) -> None:
        self._shared = shared
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._key: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._next()

    def _next(self) -> None:
        shared, transport = self._shared, self._transport
        assert transport is not None
        self._key = next(shared.keys, None)
        if self._key is None:
            transport.close()
            shared.open -= 1
            if shared.open == 0 and not shared.done.done():
                shared.done.set_result(None)
            return
        self._buf.clear()
        form = f"value={value_of(self._key)}"
        transport.write(http_request("PUT", key_path(self._key), shared.port, form))

    def data_received(self, data: bytes) -> None:
        self._buf += data
        try:
            parsed = parse_response(self._buf)
        except ProtocolError as exc:
            self._shared.fail(exc)
            return
        if parsed is None or self._key is None:
            return
        response: Response = parsed[0]
        if response.status not in (200, 201):
            self._shared.fail(ScaleError(f"PUT {key_path(self._key)} -> {response.status}"))
            return
        self._shared.writes += 1
        self._shared.last_key = self._key
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._key is not None:
            self._shared.fail(ScaleError(f"connection lost during a write: {exc}"))


async def _fill(port: int, keys: Iterable[int], connections: int, timeout: float) -> _Shared:
    loop = asyncio.get_running_loop()
    shared = _Shared(iter(keys), port, loop.create_future(), connections)
    transports = []
    try:
        for _ in range(connections):
            transport, _ = await loop.create_connection(lambda: _Writer(shared), HOST, port)
            transports.append(transport)
        await asyncio.wait_for(shared.done, timeout)
    finally:
        for transport in transports:
            transport.close()
    return shared


def fill(
    target: Server,
    keys: Sequence[int],
    members: Sequence[Server] = (),
    connections: int = FILL_CONNECTIONS,
) -> FillResult:
    """PUT every key of `keys` (its own 100-byte value) to `target` over `connections`
    keep-alive connections, each with one request in flight; CPU is measured for `members`
    (default: the target). Bounded: at least 200 writes/s or it fails."""
    measured = list(members) or [target]
    timeout = 60.0 + len(keys) / 200
    cpu_before, client_before = _cpu(measured), time.process_time()
    started = time.perf_counter()
    shared = uvloop.run(_fill(target.port, keys, min(connections, max(1, len(keys))), timeout))
    seconds = time.perf_counter() - started
    return FillResult(
        shared.writes,
        seconds,
        _cpu(measured) - cpu_before,
        time.process_time() - client_before,
        shared.last_key,
    )


def _cpu(servers: Sequence[Server]) -> float:
    return sum(server.cpu_seconds() for server in servers)


# -- what a member takes ------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise ScaleError(f"no VmRSS for process {pid}")


def disk_usage(path: str) -> int:
    """Bytes of disk the files under `path` occupy, as `du` counts them (allocated blocks)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def snapshot_index(data_dir: str) -> int:
    """Raft index of the newest snapshot file (`<term>-<index>.snap` in member/snap, the same
    layout in both implementations); 0 before the first."""
    try:
        names = os.listdir(os.path.join(data_dir, "member", "snap"))
    except FileNotFoundError:
        return 0
    return max((int(n[17:-5], 16) for n in names if n.endswith(".snap")), default=0)


def raft_index(port: int) -> int:
    status, _, headers = harness.exchange(port, "GET", "/v2/keys/")
    if status != 200 or headers.get("X-Raft-Index") is None:
        raise ScaleError(f"GET /v2/keys/ -> {status} without X-Raft-Index")
    return int(headers["X-Raft-Index"])


def metric_total(text: str, name: str) -> float | None:
    """The sum of every sample of `name` (whatever its labels) in Prometheus text, or None."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " ")
    ]
    return sum(values) if values else None


def metrics(port: int) -> str:
    status, body = harness.request(port, "GET", "/metrics")
    return body.decode() if status == 200 else ""


# -- restart ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestartResult:
    seconds: tuple[float, ...]  # per member: process start until it serves the last key
    rss: tuple[int, ...]
    clean: bool  # every member stopped on SIGTERM within STOP_TIMEOUT


def stop_cleanly(servers: Sequence[Server]) -> bool:
    """SIGTERM to each member in turn, waiting for it; False if one had to be killed."""
    return all([server.member.terminate(STOP_TIMEOUT) for server in servers])


def restart(cluster: Cluster, last_key: int) -> RestartResult:
    """Stop every member cleanly, start them all again and time each until a local GET of the
    last key written answers 200 with its value (polled every 20 ms)."""
    clean = stop_cleanly(cluster.servers)
    since = []
    for server in cluster.servers:
        since.append(time.monotonic())
        server.member.restart()
    took = harness.wait_served(
        cluster.servers, key_path(last_key), value_of(last_key), since, RESTART_TIMEOUT, POLL_S
    )
    cluster.leader(RESTART_TIMEOUT)
    return RestartResult(tuple(took), tuple(rss_bytes(s.pid) for s in cluster.servers), clean)


# -- snapshot under writes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latencies:
    writes: int
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latencies:
        ordered = sorted(seconds)
        p99 = ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]
        return cls(len(ordered), 1e3 * p99, 1e3 * ordered[-1])


@dataclass(frozen=True, slots=True)
class SnapshotResult:
    without: Latencies  # a window of single writes with no snapshot
    during: Latencies  # a window from shortly before a snapshot until after its file is there
    file_s: float  # from sending the write that reached the snapshot's index until its file
    save_s: float | None  # etcd_debugging_snap_save_total_duration_seconds of that snapshot


@dataclass(frozen=True, slots=True)
class _Write:
    started: float  # time.monotonic() when the request was sent
    seconds: float
    raft_index: int


class _SingleWriter:
    """One keep-alive connection, one PUT at a time, each one timed."""

    def __init__(self, port: int, keys: int) -> None:
        self._conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self._keys = keys
        self._next = 0

    def write(self) -> _Write:
        k = self._next % self._keys
        self._next += 1
        body = urlencode({"value": value_of(k)})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        started = time.monotonic()
        self._conn.request("PUT", key_path(k), body=body, headers=headers)
        resp = self._conn.getresponse()
        resp.read()
        ended = time.monotonic()
        if resp.status not in (200, 201):
            raise ScaleError(f"PUT {key_path(k)} -> {resp.status}")
        return _Write(started, ended - started, int(resp.getheader("X-Raft-Index") or 0))

    def close(self) -> None:
        self._conn.close()


def _approach(cluster: Cluster, keys: int, snapshot_count: int, lead: int) -> Server:
    """Write (many connections) until the leader's next snapshot is `lead` single writes away.

    Both implementations snapshot once the applied index is `snapshot_count` past the last
    snapshot's (etcd one entry later); a snapshot closer than `lead` is let pass first.
    """
    for _ in range(3):
        leader = cluster.leader()
        snap = snapshot_index(leader.member.data_dir)
        remaining = snap + snapshot_count + 1 - raft_index(leader.port)
        if remaining > lead:
            fill(leader, [k % keys for k in range(remaining - lead)])
            return leader
        fill(leader, [k % keys for k in range(max(1, remaining))])
        _wait_snapshot(leader.member.data_dir, snap)
    raise ScaleError("could not place the write loop before a snapshot")


def _wait_snapshot(data_dir: str, after: int, timeout: float = 60.0) -> None:
    """Until a snapshot newer than index `after` is on disk (bounded)."""
    deadline = time.monotonic() + timeout
    while snapshot_index(data_dir) <= after:
        if time.monotonic() > deadline:
            raise ScaleError(f"no snapshot after index {after} within {timeout:g} s")
        time.sleep(POLL_S)


def measure_snapshot(cluster: Cluster, keys: int, snapshot_count: int) -> SnapshotResult:
    """Single writes to the leader: a window of `window` writes without a snapshot, then a
    window that starts a quarter window before the next snapshot and lasts until half a
    window after its file appeared (at least `window` writes, at most 5 minutes)."""
    window = min(WINDOW_WRITES, snapshot_count // 2)
    leader = _approach(cluster, keys, snapshot_count, window + window // 4)
    data_dir = leader.member.data_dir
    save_before = metric_total(metrics(leader.port), _SNAP_SAVE_SUM)
    writer = _SingleWriter(leader.port, keys)
    try:
        snap = snapshot_index(data_dir)
        without = [writer.write() for _ in range(window)]
        if snapshot_index(data_dir) != snap:
            raise ScaleError("a snapshot came before the window meant for it")
        during, seen_at, new_snap = _writes_over_snapshot(writer, data_dir, snap, window)
    finally:
        writer.close()
    save_after = metric_total(metrics(leader.port), _SNAP_SAVE_SUM)
    reached = next((w.started for w in during if w.raft_index >= new_snap), seen_at)
    return SnapshotResult(
        Latencies.of([w.seconds for w in without]),
        Latencies.of([w.seconds for w in during]),
        max(0.0, seen_at - reached),
        None if save_before is None or save_after is None else save_after - save_before,
    )


def _writes_over_snapshot(
    writer: _SingleWriter, data_dir: str, snap: int, window: int
) -> tuple[list[_Write], float, int]:
    """Writes until half a window after a snapshot newer than `snap` is on disk (the snap dir
    is looked at every 10 writes); the writes, when the file was seen and its index."""
    writes: list[_Write] = []
    seen_at, new_snap, after = 0.0, snap, window // 2
    deadline = time.monotonic() + 300
    while len(writes) < window or new_snap == snap or after > 0:
        writes.append(writer.write())
        if new_snap != snap:
            after -= 1
        elif len(writes) % 10 == 0 and snapshot_index(data_dir) != snap:
            seen_at, new_snap = time.monotonic(), snapshot_index(data_dir)
        if time.monotonic() > deadline:
            raise ScaleError(f"no snapshot after {len(writes)} single writes")
    return writes, seen_at, new_snap


# -- a follower catching up by snapshot ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatchupResult:
    seconds: float  # the follower's process start until it serves the marker locally
    writes: int  # written while it was down
    by_snapshot: bool | None  # its etcd_network_snapshot_receive_success (None: no such metric)


def measure_catchup(cluster: Cluster, keys: int, snapshot_count: int) -> CatchupResult:
    """Stop a follower cleanly, write until the leader has compacted its log past the
    follower's last index (a snapshot more than CATCHUP_ENTRIES beyond it), write a marker,
    start the follower again and time it until a local GET of the marker answers."""
    leader = cluster.leader()
    follower = cluster.followers(leader)[0]
    behind = raft_index(follower.port)
    stop_cleanly([follower])
    written = 0
    chunk = max(MIN_SNAPSHOT_COUNT, snapshot_count // 4)
    while snapshot_index(leader.member.data_dir) <= behind + CATCHUP_ENTRIES:
        if written > 3 * (snapshot_count + CATCHUP_ENTRIES):
            raise ScaleError(f"the leader took no snapshot in {written} writes")
        written += fill(leader, [k % keys for k in range(written, written + chunk)]).writes
    marker = f"marker-{time.time_ns()}"
    status, _ = harness.request(leader.port, "PUT", MARKER_PATH, {"value": marker})
    if status not in (200, 201):
        raise ScaleError(f"PUT {MARKER_PATH} -> {status}")
    started = time.monotonic()
    follower.member.restart()
    (took,) = harness.wait_served(
        [follower], MARKER_PATH, marker, [started], RESTART_TIMEOUT, POLL_S
    )
    received = metric_total(metrics(follower.port), "etcd_network_snapshot_receive_success")
    return CatchupResult(took, written + 1, None if received is None else received > 0)


# -- the suite ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """One implementation at one size; a phase that failed holds its error text."""

    impl: str
    members: int
    fill: FillResult | str | None = None
    rss_fill: tuple[int, ...] = ()
    disk: tuple[int, ...] = ()
    restart: RestartResult | str | None = None
    snapshot: SnapshotResult | str | None = None
    catchup: CatchupResult | str | None = None

    @property
    def failed(self) -> bool:
        return any(isinstance(p, str) for p in (self.fill, self.restart, self.snapshot))


@dataclass(slots=True)
class Suite:
    impls: list[str]
    keys: int
    snapshot_count: int
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _error(exc: Exception) -> str:
    return f"error: {type(exc).__name__}: {exc}"


def _fill_blocks(keys: int) -> list[range]:
    step = max(1, math.ceil(keys / FILL_BLOCKS))
    return [range(start, min(keys, start + step)) for start in range(0, keys, step)]


def _fill_in_turns(
    clusters: dict[str, Cluster],
    rows: dict[str, Row],
    keys: int,
    progress: Callable[[str], None],
) -> None:
    """The fill in blocks taken in turns; each member then serves the last key locally, and its
    RSS and data dir are measured."""
    for block in _fill_blocks(keys):
        for impl, cluster in clusters.items():
            row = rows[impl]
            if isinstance(row.fill, str):
                continue
            progress(
                f"fill of keys {block.start}-{block.stop - 1} on {impl}, {row.members} member(s)"
            )
            try:
                result = fill(cluster.leader(), block, cluster.servers)
            except Exception as exc:  # the failed fill is reported in its place
                row.fill = _error(exc)
                continue
            row.fill = result if row.fill is None else row.fill.plus(result)
    for impl, cluster in clusters.items():
        row = rows[impl]
        if isinstance(row.fill, FillResult):
            try:
                _settle(cluster, row, row.fill.last_key)
            except Exception as exc:  # reported in the fill's place
                row.fill = _error(exc)


def _settle(cluster: Cluster, row: Row, last: int) -> None:
    harness.wait_served(cluster.servers, key_path(last), value_of(last), timeout=300)
    row.rss_fill = tuple(rss_bytes(s.pid) for s in cluster.servers)
    row.disk = tuple(disk_usage(s.member.data_dir) for s in cluster.servers)


def _phase(
    clusters: dict[str, Cluster],
    rows: dict[str, Row],
    name: str,
    measure: Callable[[Cluster, Row], object],
    progress: Callable[[str], None],
) -> None:
    """One phase on every implementation whose earlier phases worked, in turn."""
    for impl, cluster in clusters.items():
        row = rows[impl]
        if row.failed or not isinstance(row.fill, FillResult):
            continue
        progress(f"{name} on {impl}, {row.members} member(s)")
        try:
            setattr(row, name, measure(cluster, row))
        except Exception as exc:  # one failed phase is reported in its place
            setattr(row, name, _error(exc))


def run_suite(
    impls: Sequence[str],
    keys: int = KEYS,
    sizes: Sequence[int] = SIZES,
    snapshot_count: int | None = None,
    args: Sequence[str] = harness.BENCH_ARGS,
    progress: Callable[[str], None] = lambda _line: None,
) -> Suite:
    """Every size in turn, both implementations up side by side for it."""
    count = snapshot_count or default_snapshot_count(keys)
    suite = Suite(list(impls), keys, count)
    cluster_args = [*args, "--snapshot-count", str(count)]
    for size in sizes:
        with contextlib.ExitStack() as stack:
            clusters = start_targets(
                impls,
                stack,
                suite.notes,
                lambda impl, size=size: harness.start_cluster(impl, size, cluster_args),
                lambda _cluster: None,
                harness.ClusterStartError,
                f"{size}-member cluster ",
            )
            rows = {impl: Row(impl, size) for impl in clusters}
            suite.rows += rows.values()
            _fill_in_turns(clusters, rows, keys, progress)
            _phase(clusters, rows, "restart", lambda c, r: _restart(c, r, suite), progress)
            _phase(
                clusters, rows, "snapshot", lambda c, _r: measure_snapshot(c, keys, count), progress
            )
            if size > 1:
                _phase(
                    clusters,
                    rows,
                    "catchup",
                    lambda c, _r: measure_catchup(c, keys, count),
                    progress,
                )
    return suite


def _restart(cluster: Cluster, row: Row, suite: Suite) -> RestartResult:
    assert isinstance(row.fill, FillResult)
    result = restart(cluster, row.fill.last_key)
    if not result.clean:
        suite.notes.append(
            f"{row.impl}: a member did not stop within {STOP_TIMEOUT:g} s of SIGTERM"
        )
    return result


# -- markdown -----------------------------------------------------------------------------------


COLUMNS = [
    "impl",
    "members",
    "fill keys/s (server · filler CPU µs/key)",
    "RSS after fill MiB",
    "data dir MiB",
    "restart s",
    "RSS after restart MiB",
    "snapshot s (to file · save metric)",
    "writes p99 / max ms, no snapshot",
    "writes p99 / max ms, with snapshot (max: longest stall)",
    "follower catch-up s",
]


def _mib(values: Iterable[int], digits: int = 0) -> str:
    return " / ".join(f"{v / 2**20:,.{digits}f}" for v in values) or "—"


def _fill_text(result: FillResult | str | None) -> str:
    if not isinstance(result, FillResult):
        return result or "—"
    per_key = 1e6 / result.writes if result.writes else 0.0
    return (
        f"{result.rate:,.0f} ({result.server_cpu_s * per_key:.0f} · "
        f"{result.client_cpu_s * per_key:.0f})"
    )


def _restart_texts(result: RestartResult | str | None) -> list[str]:
    if not isinstance(result, RestartResult):
        return [result or "—", ""]
    return [f"{max(result.seconds):.2f}", _mib(result.rss)]


def _snapshot_texts(result: SnapshotResult | str | None) -> list[str]:
    if not isinstance(result, SnapshotResult):
        return [result or "—", "", ""]
    save = f"{result.save_s:.3f}" if result.save_s is not None else "?"
    return [
        f"{result.file_s:.3f} · {save}",
        f"{result.without.p99_ms:.2f} / {result.without.max_ms:.1f}",
        f"{result.during.p99_ms:.2f} / {result.during.max_ms:.1f}",
    ]


def _catchup_text(result: CatchupResult | str | None) -> str:
    if not isinstance(result, CatchupResult):
        return result or "—"
    how = {True: "", False: " (no snapshot received)", None: " (snapshot not observable)"}
    return f"{result.seconds:.2f}{how[result.by_snapshot]}"


def render(suite: Suite, command: str, machine: str) -> str:
    """The suite as markdown: one row per implementation and size, then how it was measured."""
    out = [f"Command: `{command}`", "", f"Machine: {machine}", ""]
    out += markdown_table(COLUMNS, [
        [row.impl, str(row.members), _fill_text(row.fill), _mib(row.rss_fill), _mib(row.disk, 1),
         *_restart_texts(row.restart), *_snapshot_texts(row.snapshot), _catchup_text(row.catchup)]
        for row in suite.rows
    ])  # fmt: skip
    window = min(WINDOW_WRITES, suite.snapshot_count // 2)
    out += [
        f"{suite.keys:,} keys of {VALUE_SIZE}-byte values in directories of {DIR_KEYS}, written "
        f"over {FILL_CONNECTIONS} keep-alive connections (one request in flight each) to the "
        f"leader, in {FILL_BLOCKS} blocks taken in turns; `--snapshot-count "
        f"{suite.snapshot_count}` on every member. Per member values are listed in start "
        "order. RSS: VmRSS; data dir: allocated bytes (du). Restart: every member stopped with "
        "SIGTERM and started again, time from the process start until a local GET of the last "
        "key written answers with its value (the slowest member). Snapshot: single writes to "
        f"the leader on one connection, {window} without a snapshot, then from a quarter of "
        "that before the next snapshot until half of it after its file is in member/snap; "
        "`to file`: from sending the write that reached the snapshot's index until the file "
        "was seen, `save metric`: etcd_debugging_snap_save_total_duration_seconds. Catch-up: a "
        "follower stopped, the log compacted past it (a leader snapshot more than "
        f"{CATCHUP_ENTRIES} entries later), the follower started again; time until it serves "
        "the last write locally.",
        "",
        *(f"- {note}" for note in suite.notes),
    ]
    return "\n".join(out).rstrip() + "\n"
