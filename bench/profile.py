"""Where pyetcd spends its time under one benchmark workload, sampled with py-spy.

py-spy (a sampling profiler that attaches to a running process) is a profiling-only tool and
not a project dependency: `pip install py-spy` into the venv first. Samples are summarised as
the functions with the largest share of busy samples, by self time (the function itself was
running, including C code it called) and by total time (anywhere on the stack), and the
source files with the largest share of self time, thread by thread: the event loop
(MainThread) apart from the WAL executor, whose samples include its fsyncs and its waits for
the GIL. With `members=3` the leader of a fresh 3-member cluster is sampled while the load goes
to it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvloop

from bench import harness
from bench.harness import Server
from bench.load import run_wrk
from bench.watch_fanout import run_fanout

PY_SPY = "py-spy"
# With --native, py-spy reports a loop blocked in epoll as running: those samples are idle.
IDLE_LEAVES = ("epoll_wait ", "epoll_pwait ")
# With --threads every stack starts with `thread (<tid>): <name>`.
THREAD_FRAME = "thread ("


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


def module_shares(collapsed: str, limit: int = 15) -> list[tuple[str, float]]:
    """(source file, % of busy samples), largest first, by the innermost Python frame.

    A frame reads `function (path)`; the path, shortened to its last two parts, names the module.
    Native frames (--native) count for the Python code that called them (a socket write for
    the writer that issued it); stacks with no Python frame count for their leaf's library.
    """
    own: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not stack or not count_text.isdigit() or frames[-1].startswith(IDLE_LEAVES):
            continue
        python = [frame for frame in frames if frame.endswith(".py)")]
        leaf = python[-1] if python else frames[-1]
        path = leaf.rpartition(" (")[2].rstrip(")") if " (" in leaf else leaf
        own["/".join(path.split("/")[-2:])] += int(count_text)
    samples = sum(own.values())
    if samples == 0:
        raise ProfileError("py-spy recorded no busy samples")
    return [(module, 100 * count / samples) for module, count in own.most_common(limit)]


def split_threads(collapsed: str) -> dict[str, str]:
    """py-spy `--threads` stacks grouped by thread name, the thread frame removed.

    MainThread (the event loop) comes first, then the others by samples; stacks without a
    thread frame are grouped under "all".
    """
    lines: dict[str, list[str]] = {}
    sizes: Counter[str] = Counter()
    for line in collapsed.splitlines():
        name, rest = "all", line
        if line.startswith(THREAD_FRAME):
            head, sep, rest = line.partition(";")
            if not sep:
                continue
            name = head.partition("): ")[2] or head
        lines.setdefault(name, []).append(rest)
        count = rest.rpartition(" ")[2]
        sizes[name] += int(count) if count.isdigit() else 0
    order = sorted(sizes, key=lambda name: (name != "MainThread", -sizes[name]))
    return {name: "\n".join(lines[name]) for name in order}


def _record(pid: int, seconds: float, output: str, native: bool) -> subprocess.Popen[bytes]:
    # The venv's bin directory need not be on PATH when run as .venv/bin/python -m bench.
    py_spy = shutil.which(PY_SPY) or shutil.which(PY_SPY, path=os.path.dirname(sys.executable))
    if py_spy is None:
        raise ProfileError("py-spy not found: pip install py-spy into the venv")
    argv = [
        py_spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
        "--format", "raw", "--nolineno", "--output", output, "--rate", "250", "--threads",
    ]  # fmt: skip
    if native:
        argv.append("--native")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextmanager
def _pyetcd_under_test(members: int) -> Iterator[Server]:
    """A fresh preloaded pyetcd member, or the leader of a fresh `members`-member cluster."""
    if members == 1:
        with harness.running_servers(["pyetcd"]) as servers:
            harness.preload(servers["pyetcd"].port, 1000, 100)
            yield servers["pyetcd"]
        return
    with harness.running_clusters(["pyetcd"], members) as clusters:
        leader = clusters["pyetcd"].leader()
        harness.preload(leader.port, 1000, 100)
        yield leader


def profile(workload: str, size: int, seconds: float, native: bool, members: int = 1) -> str:
    """Run one workload on fresh pyetcd while py-spy samples it (the leader); markdown summary."""
    with _pyetcd_under_test(members) as server, tempfile.TemporaryDirectory() as tmp:
        output = f"{tmp}/profile.txt"
        recorder = _record(server.pid, seconds, output, native)
        time.sleep(0.5)
        load = ""
        if workload == "fanout":
            uvloop.run(run_fanout(server, size, rounds=max(5, round(seconds * 5))))
        else:
            result = run_wrk(server, workload.upper(), size, seconds, 1000, 100)
            load = f" ({result.rps:,.0f} req/s, {result.errors} errors while sampled)"
        _, err = recorder.communicate(timeout=seconds + 60)
        if recorder.returncode != 0:
            raise ProfileError(f"py-spy failed: {err.decode(errors='replace').strip()}")
        with open(output) as fh:
            collapsed = fh.read()
    where = "the leader of a 3-member cluster" if members > 1 else "one member"
    return report(collapsed, f"pyetcd ({where}) under {workload} {size}{load}")


def report(collapsed: str, title: str) -> str:
    """Markdown: busy samples per thread, then modules and functions of the first thread in
    full and of every other thread with at least 5% of the samples by self time."""
    threads = {}
    for name, text in split_threads(collapsed).items():
        with contextlib.suppress(ProfileError):
            threads[name] = (summarise(text, limit=20), module_shares(text))
    if not threads:
        raise ProfileError("py-spy recorded no busy samples")
    total = sum(samples for (samples, _, _), _ in threads.values())
    lines = [f"{title}: {total} busy samples", ""]
    lines += ["| thread | busy samples | % |", "|---|---:|---:|"]
    lines += [
        f"| {name} | {s} | {100 * s / total:.1f} |" for name, ((s, _, _), _) in threads.items()
    ]
    for index, (name, ((samples, by_self, by_total), modules)) in enumerate(threads.items()):
        if index > 0 and samples < total / 20:
            continue
        lines += ["", f"### {name}: {samples} samples (% of this thread's busy samples)", ""]
        lines += ["| module (self time) | % |", "|---|---:|"]
        lines += [f"| `{module}` | {pct:.1f} |" for module, pct in modules]
        tables = (("self", by_self), ("total", by_total)) if index == 0 else (("self", by_self),)
        for title_word, rows in tables:
            lines += ["", f"| top by {title_word} time | self % | total % |", "|---|---:|---:|"]
            lines += [f"| `{r.frame}` | {r.self_pct:.1f} | {r.total_pct:.1f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(workload: str, size: int, seconds: float, native: bool, members: int = 1) -> int:
    try:
        print(profile(workload, size, seconds, native, members))
    except ProfileError as exc:
        print(f"profile: {exc}", file=sys.stderr)
        return 1
    return 0
