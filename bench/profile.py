"""Where pyetcd spends its time under one benchmark workload, sampled with py-spy.

py-spy (a sampling profiler that attaches to a running process) is a profiling-only tool and
not a project dependency: `pip install py-spy` into the venv first. Samples are summarised as
the functions with the largest share of busy samples, by self time (the function itself was
running, including C code it called) and by total time (anywhere on the stack).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass

import uvloop

from bench import harness
from bench.load import run_wrk
from bench.watch_fanout import run_fanout

PY_SPY = "py-spy"
# With --native, py-spy reports a loop blocked in epoll as running: those samples are idle.
IDLE_LEAVES = ("epoll_wait ", "epoll_pwait ")


class ProfileError(RuntimeError):
    """py-spy is missing or produced no samples."""


@dataclass(frozen=True, slots=True)
class FrameShare:
    frame: str
    self_pct: float
    total_pct: float


def summarise(collapsed: str, limit: int = 25) -> tuple[int, list[FrameShare], list[FrameShare]]:
    """(samples, top by self time, top by total time) from py-spy's raw collapsed stacks.

    Each line is `frame;frame;...;leaf count`; a frame that recurses counts once per stack.
    Stacks that end waiting in epoll are idle and left out.
    """
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[-1].startswith(IDLE_LEAVES):
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    if samples == 0:
        raise ProfileError("py-spy recorded no busy samples")

    def shares(counter: Counter[str]) -> list[FrameShare]:
        return [
            FrameShare(frame, 100 * own[frame] / samples, 100 * anywhere[frame] / samples)
            for frame, _ in counter.most_common(limit)
        ]

    return samples, shares(own), shares(anywhere)


def _record(pid: int, seconds: float, output: str, native: bool) -> subprocess.Popen[bytes]:
    # The venv's bin directory need not be on PATH when run as .venv/bin/python -m bench.
    py_spy = shutil.which(PY_SPY) or shutil.which(PY_SPY, path=os.path.dirname(sys.executable))
    if py_spy is None:
        raise ProfileError("py-spy not found: pip install py-spy into the venv")
    argv = [
        py_spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
        "--format", "raw", "--nolineno", "--output", output, "--rate", "250",
    ]  # fmt: skip
    if native:
        argv.append("--native")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def profile(workload: str, size: int, seconds: float, native: bool) -> str:
    """Run one workload on a fresh pyetcd member while py-spy samples it; markdown summary."""
    with harness.running_servers(["pyetcd"]) as servers, tempfile.TemporaryDirectory() as tmp:
        server = servers["pyetcd"]
        harness.preload(server.port, 1000, 100)
        output = f"{tmp}/profile.txt"
        recorder = _record(server.pid, seconds, output, native)
        time.sleep(0.5)
        if workload == "fanout":
            uvloop.run(run_fanout(server, size, rounds=max(5, round(seconds * 5))))
        else:
            run_wrk(server, workload.upper(), size, seconds, 1000, 100)
        _, err = recorder.communicate(timeout=seconds + 60)
        if recorder.returncode != 0:
            raise ProfileError(f"py-spy failed: {err.decode(errors='replace').strip()}")
        with open(output) as fh:
            samples, by_self, by_total = summarise(fh.read())
    lines = [f"pyetcd under {workload} {size}: {samples} busy samples", ""]
    for title, rows in (("self", by_self), ("total", by_total)):
        lines += [f"| top by {title} time | self % | total % |", "|---|---:|---:|"]
        lines += [f"| `{r.frame}` | {r.self_pct:.1f} | {r.total_pct:.1f} |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def main(workload: str, size: int, seconds: float, native: bool) -> int:
    try:
        print(profile(workload, size, seconds, native))
    except ProfileError as exc:
        print(f"profile: {exc}", file=sys.stderr)
        return 1
    return 0
