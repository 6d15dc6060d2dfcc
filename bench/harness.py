"""Servers under test: etcd or pyetcd single members on free loopback ports, plus their CPU use.

Starting and stopping reuses the process-test helpers in `tests.procs`; what the benchmarks add
is CPU accounting from /proc and the preloaded key set every workload reads or overwrites.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from tests import procs

HOST = procs.HOST
KEY_PREFIX = "/v2/keys/bench/k"
# etcd's own defaults (heartbeat 100 ms, election 1000 ms), as in the anchor figures.
BENCH_ARGS: tuple[str, ...] = ("--enable-v2",)
TEST_ARGS: tuple[str, ...] = (*procs.FAST_TIMING, "--enable-v2")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        raw = fh.read()
    # The command name may hold spaces or parentheses: fields are counted after the last ')'.
    fields = raw[raw.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


@dataclass(slots=True)
class Server:
    """A running member under test."""

    member: procs.Member

    @property
    def impl(self) -> str:
        return self.member.impl

    @property
    def port(self) -> int:
        return self.member.client_port

    @property
    def url(self) -> str:
        return self.member.client_url

    @property
    def pid(self) -> int:
        return self.member.proc.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def alive(self) -> bool:
        return self.member.proc.poll() is None

    def stop(self) -> None:
        self.member.stop()


def start_server(impl: str, args: Sequence[str] = BENCH_ARGS, timeout: float = 60.0) -> Server:
    return Server(procs.start_member(impl, extra_args=tuple(args), ready_timeout=timeout))


@contextlib.contextmanager
def running_servers(
    impls: Sequence[str], args: Sequence[str] = BENCH_ARGS
) -> Iterator[dict[str, Server]]:
    """Start one single-member cluster per implementation; all are killed on exit."""
    servers: dict[str, Server] = {}
    try:
        for impl in impls:
            servers[impl] = start_server(impl, args)
        yield servers
    finally:
        for server in servers.values():
            server.stop()


class HttpError(RuntimeError):
    """A control request (preload, stats) got an unexpected status."""


def request(
    port: int, method: str, path: str, form: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, bytes]:
    status, body, _ = exchange(port, method, path, form, timeout)
    return status, body


def exchange(
    port: int, method: str, path: str, form: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, bytes, http.client.HTTPMessage]:
    """One request on its own connection: status, body and response headers."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        body = urlencode(form) if form is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.headers
    finally:
        conn.close()


def serves(port: int, path: str, value: str | None = None) -> bool:
    """A local GET of `path` answers 200 (with `value`, if given); False while unreachable."""
    try:
        status, body = request(port, "GET", path, timeout=2.0)
        if status != 200:
            return False
        return value is None or json.loads(body)["node"].get("value") == value
    except (OSError, ValueError, KeyError, http.client.HTTPException):
        return False


def wait_served(
    servers: Sequence[Server],
    path: str,
    value: str | None = None,
    since: Sequence[float] = (),
    timeout: float = 30.0,
    poll: float = 0.02,
) -> list[float]:
    """Poll every `poll` s until each server serves `path` (see `serves`); for each, the
    seconds from its `since` (a `time.monotonic()`; default: now) until it first did."""
    started = list(since) or [time.monotonic()] * len(servers)
    took: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    while len(took) < len(servers):
        for i, server in enumerate(servers):
            if i not in took and serves(server.port, path, value):
                took[i] = time.monotonic() - started[i]
        if len(took) < len(servers):
            if time.monotonic() > deadline:
                missing = [servers[i].url for i in range(len(servers)) if i not in took]
                raise HttpError(f"{path} not served by {missing} after {timeout:g} s")
            time.sleep(poll)
    return [took[i] for i in range(len(servers))]


def preload(port: int, keys: int, value_size: int) -> None:
    """Write `keys` keys of `value_size` bytes over one persistent connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    body = urlencode({"value": "x" * value_size})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        for i in range(keys):
            conn.request("PUT", f"{KEY_PREFIX}{i}", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status not in (200, 201):
                raise HttpError(f"preload PUT {KEY_PREFIX}{i} -> {resp.status}")
    finally:
        conn.close()


def store_stats(port: int) -> dict[str, int]:
    status, body = request(port, "GET", "/v2/stats/store")
    if status != 200:
        raise HttpError(f"GET /v2/stats/store -> {status}")
    stats: dict[str, int] = json.loads(body)
    return stats


def idle_cpu(server: Server, seconds: float = 1.0) -> float:
    """Cores used by an idle server (heartbeats, tickers) over `seconds`."""
    before = server.cpu_seconds()
    time.sleep(seconds)
    return (server.cpu_seconds() - before) / seconds


def _first_line(argv: Sequence[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "missing"
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else "?"


def machine_note() -> str:
    """One line describing where and with what the figures were measured."""
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as fh:
        load = " ".join(fh.read().split()[:3])
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPU ({model}), {mem_gib:.0f} GiB, {platform.system()} "
        f"{platform.release()}, load average {load}; {_first_line(['etcd', '--version'])}; "
        f"{_first_line(['wrk', '-v'])}; Python {sys.version.split()[0]}"
    )


@dataclass(slots=True)
class Cluster:
    """A running multi-member cluster of one implementation; `stop()` kills every member."""

    impl: str
    servers: list[Server]

    def leader(self, timeout: float = 10.0) -> Server:
        """The member that every member names as leader (waits, bounded, until they agree)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = {_leader_url(server.port) for server in self.servers}
            by_url = {server.url: server for server in self.servers}
            url = next(iter(seen)) if len(seen) == 1 else None
            if url is not None and url in by_url:
                return by_url[url]
            if time.monotonic() > deadline:
                raise ClusterStartError(f"{self.impl} members do not agree on a leader: {seen}")
            time.sleep(0.05)

    def followers(self, leader: Server) -> list[Server]:
        return [server for server in self.servers if server is not leader]

    def alive(self) -> bool:
        return all(server.alive() for server in self.servers)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


class ClusterStartError(procs.MemberStartError):
    """A cluster member exited, or the members never agreed on a leader, before the deadline."""


def _leader_url(port: int) -> str | None:
    try:
        status, body = request(port, "GET", "/v2/members/leader", timeout=2.0)
        urls = json.loads(body).get("clientURLs") if status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return urls[0] if urls else None


def _serves_v2(port: int) -> bool:
    try:
        status, body = request(port, "GET", "/version", timeout=1.0)
        if status != 200 or json.loads(body).get("etcdcluster") in (None, "not_decided"):
            return False
        return request(port, "GET", "/v2/keys", timeout=1.0)[0] == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False


def _spawn_cluster(impl: str, size: int, args: Sequence[str]) -> Cluster:
    token = f"bench-{os.getpid()}-{time.monotonic_ns()}"
    ports = {f"m{i}": (procs.free_port(), procs.free_port()) for i in range(size)}
    initial = ",".join(f"{name}=http://{HOST}:{peer}" for name, (_, peer) in ports.items())
    cluster = Cluster(impl, [])
    for name, (client_port, peer_port) in ports.items():
        workdir = tempfile.mkdtemp(prefix=f"bench-{impl}-{name}-")
        client, peer = f"http://{HOST}:{client_port}", f"http://{HOST}:{peer_port}"
        argv = [
            *procs.command(impl),
            "--name", name,
            "--data-dir", os.path.join(workdir, "data"),
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", initial,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", token,
            *args,
        ]  # fmt: skip
        log_path = os.path.join(workdir, "member.log")
        proc = procs.launch(argv, log_path)
        member = procs.Member(impl, name, client_port, peer_port, token, workdir, proc, log_path)
        member.argv = argv
        cluster.servers.append(Server(member))
    return cluster


def _wait_ready(cluster: Cluster, timeout: float) -> bool:
    """True once every member serves v2 and they agree on a leader; False if a member exited."""
    deadline = time.monotonic() + timeout
    while cluster.alive():
        if all(_serves_v2(server.port) for server in cluster.servers):
            cluster.leader(max(0.0, deadline - time.monotonic()))
            return True
        if time.monotonic() > deadline:
            raise ClusterStartError(f"{cluster.impl} cluster not ready:\n{_log_tails(cluster)}")
        time.sleep(0.05)
    return False


def _log_tails(cluster: Cluster) -> str:
    return "\n".join(f"--- {s.member.name}\n{s.member.log_tail(1500)}" for s in cluster.servers)


def start_cluster(
    impl: str, size: int = 3, args: Sequence[str] = BENCH_ARGS, timeout: float = 60.0
) -> Cluster:
    """A fresh `size`-member cluster on free ports, every member serving v2 and one leader.

    A boot in which a member exits early is retried once on new ports (a free port can be taken
    between choosing and binding it); a boot that times out is not.
    """
    tails = ""
    for _ in range(2):
        cluster = _spawn_cluster(impl, size, args)
        try:
            if _wait_ready(cluster, timeout):
                return cluster
            tails = _log_tails(cluster)
        except BaseException:
            cluster.stop()
            raise
        cluster.stop()
    raise ClusterStartError(f"{impl} cluster member exited during boot:\n{tails}")


@contextlib.contextmanager
def running_clusters(
    impls: Sequence[str], size: int = 3, args: Sequence[str] = BENCH_ARGS
) -> Iterator[dict[str, Cluster]]:
    """One `size`-member cluster per implementation; all are killed on exit."""
    clusters: dict[str, Cluster] = {}
    try:
        for impl in impls:
            clusters[impl] = start_cluster(impl, size, args)
        yield clusters
    finally:
        for cluster in clusters.values():
            cluster.stop()
