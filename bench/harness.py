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
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        body = urlencode(form) if form is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


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
