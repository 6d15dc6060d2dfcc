"""Closed-loop HTTP load with wrk: GET, quorum GET, PUT or a 90/10 mix on random preloaded keys.

wrk (C, epoll) drives the load; a Lua script picks the keys and, when the run ends, prints one
machine-readable `BENCH` line that `parse_wrk` reads, so nothing depends on wrk's human output.
Against a cluster the script points each wrk thread at one member, so the connections are
spread evenly over the members.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from bench.harness import KEY_PREFIX, Server

WRK = "wrk"
_MARK = "BENCH"
# What `method` may be: GET, quorum GET (`?quorum=true`), PUT, and 90% GET / 10% PUT.
METHODS = ("GET", "QGET", "PUT", "MIX")

# A generated first line sets TARGETS, the ports thread 1, 2, ... connect to in turn (empty:
# every thread uses the URL given on the command line).
LUA_SCRIPT = """
local method, keys, prefix, body
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
  if #TARGETS > 0 then
    local port = TARGETS[(threads - 1) % #TARGETS + 1]
    thread.addr = wrk.lookup("127.0.0.1", tostring(port))[1]
  end
end

function init(args)
  method, keys, prefix = args[1], tonumber(args[2]), args[4]
  body = "value=" .. string.rep("x", tonumber(args[3]))
  math.randomseed(thread_no * 7919)
end

function request()
  local path = prefix .. math.random(0, keys - 1)
  if method == "PUT" or (method == "MIX" and math.random() < 0.1) then
    return wrk.format("PUT", path,
      {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
  end
  if method == "QGET" then
    return wrk.format("GET", path .. "?quorum=true")
  end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "%s requests=%d duration_us=%d p50_us=%.1f p99_us=%.1f errors=%d\\n",
    "MARK", summary.requests, summary.duration,
    latency:percentile(50.0), latency:percentile(99.0),
    e.connect + e.read + e.write + e.status + e.timeout))
end
""".replace("MARK", _MARK)


class LoadError(RuntimeError):
    """wrk failed or printed no result line."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_s: float
    client_cpu_s: float
    # Per member when several processes were measured (their sum is server_cpu_s).
    member_cpu_s: tuple[float, ...] = ()

    def plus(self, other: LoadResult) -> LoadResult:
        """Both blocks as one result: counts and times add up; the percentiles are the blocks'
        own, averaged with their requests as weights (wrk reports no histogram to merge)."""
        requests = self.requests + other.requests

        def mean(a: float, b: float) -> float:
            if not requests:
                return (a + b) / 2
            return (a * self.requests + b * other.requests) / requests

        return LoadResult(
            requests,
            self.seconds + other.seconds,
            mean(self.p50_ms, other.p50_ms),
            mean(self.p99_ms, other.p99_ms),
            self.errors + other.errors,
            self.server_cpu_s + other.server_cpu_s,
            self.client_cpu_s + other.client_cpu_s,
            tuple(a + b for a, b in zip(self.member_cpu_s, other.member_cpu_s, strict=True)),
        )

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_cores(self) -> float:
        """Average cores the server process used during the run."""
        return self.server_cpu_s / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_us_per_request(self) -> float:
        return 1e6 * self.server_cpu_s / self.requests if self.requests else 0.0


def parse_wrk(stdout: str) -> dict[str, float]:
    """The numbers from the script's `BENCH key=value ...` line."""
    for line in stdout.splitlines():
        if line.startswith(_MARK + " "):
            pairs = (item.split("=", 1) for item in line.split()[1:])
            return {key: float(value) for key, value in pairs}
    raise LoadError(f"no {_MARK} line in wrk output:\n{stdout[-2000:]}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    server: Server,
    method: str,
    connections: int,
    duration: float,
    keys: int,
    value_size: int,
) -> LoadResult:
    """Run wrk for `duration` seconds; at most 2 wrk threads (the machine has 2 cores)."""
    return run_load([server], method, connections, duration, keys, value_size)


def spread_connections(connections: int, targets: int) -> int:
    """Connections wrk really opens when each of `targets` threads gets an equal share."""
    return connections if targets == 1 else max(1, connections // targets) * targets


def run_load(
    targets: Sequence[Server],
    method: str,
    connections: int,
    duration: float,
    keys: int,
    value_size: int,
    members: Sequence[Server] = (),
) -> LoadResult:
    """wrk against one server (2 threads at most) or spread over several (a thread each).

    Spread over n targets, every thread opens connections // n of them (at least one), see
    `spread_connections`. CPU is measured for `members` (default: the targets).
    """
    if method not in METHODS:
        raise ValueError(f"unsupported method {method!r}")
    if not targets:
        raise ValueError("no target server")
    if shutil.which(WRK) is None:
        raise LoadError("wrk not found on PATH (Debian package wrk)")
    measured = list(members) or list(targets)
    spread = len(targets) > 1
    threads = len(targets) if spread else min(2, connections)
    ports = ", ".join(str(t.port) for t in targets) if spread else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as script:
        script.write(f"TARGETS = {{{ports}}}\n")
        script.write(LUA_SCRIPT)
        script.flush()
        argv = [
            WRK, "-t", str(threads), "-c", str(spread_connections(connections, len(targets))),
            "-d", f"{max(1, round(duration))}s", "--timeout", "10s", "-s", script.name,
            targets[0].url, "--", method, str(keys), str(value_size), KEY_PREFIX,
        ]  # fmt: skip
        cpu_before, client_before = [m.cpu_seconds() for m in measured], _children_cpu()
        out = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=duration + 60
        )
        cpu_after, client_after = [m.cpu_seconds() for m in measured], _children_cpu()
    if out.returncode != 0:
        raise LoadError(f"wrk exited {out.returncode}: {out.stderr.strip() or out.stdout[-500:]}")
    numbers = parse_wrk(out.stdout)
    used = tuple(after - before for before, after in zip(cpu_before, cpu_after, strict=True))
    return LoadResult(
        requests=int(numbers["requests"]),
        seconds=numbers["duration_us"] / 1e6,
        p50_ms=numbers["p50_us"] / 1e3,
        p99_ms=numbers["p99_us"] / 1e3,
        errors=int(numbers["errors"]),
        server_cpu_s=sum(used),
        client_cpu_s=client_after - client_before,
        member_cpu_s=used if len(used) > 1 else (),
    )
