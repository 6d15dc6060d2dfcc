"""One faults run: boot a cluster in a fresh namespace, run clients under a seeded nemesis,
heal, read every key back, check the history. A failing run leaves its seed, schedule,
history and member logs in a directory its message names."""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.faults import nemesis
from tests.faults.members import Cluster
from tests.faults.netns import Namespace
from tests.faults.workload import KEYS, History, client_loop, perform
from tests.lincheck.history import Kind, Op
from tests.lincheck.linearizability import Verdict, check_history

ARTIFACTS = os.environ.get("PYETCD_FAULT_ARTIFACTS", os.path.join(tempfile.gettempdir(),
                                                                  "pyetcd-faults"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunSpec:
    impl: str
    size: int
    seed: int
    duration: float = 20.0
    clients: int = 5
    kinds: tuple[str, ...] = nemesis.ALL
    extra: tuple[str, ...] = ("--snapshot-count", "200")

    def label(self) -> str:
        return f"{self.impl}-{self.size}m-seed{self.seed}"

    def command(self) -> str:
        return (f"PYETCD_FAULT_IMPL={self.impl} PYETCD_FAULT_SIZE={self.size} "
                f"PYETCD_FAULT_SEED={self.seed} .venv/bin/python -m pytest "
                "tests/faults/test_faults.py -k seeded")  # fmt: skip


@dataclass
class RunResult:
    spec: RunSpec
    verdict: Verdict
    ops: list[Op]
    events: list[str] = field(default_factory=list)
    saved: str | None = None

    def summary(self) -> str:
        done = sum(1 for op in self.ops if op.ret is not None)
        outcomes = Counter(
            ("read " if op.kind is Kind.READ else "write ") + op.outcome.value for op in self.ops
        )
        counts = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
        return f"{self.spec.label()}: {len(self.ops)} operations, {done} answered ({counts})"


def run(spec: RunSpec) -> RunResult:
    schedule = nemesis.plan(spec.seed, spec.size, spec.duration, spec.kinds)
    history = History()
    events: list[str] = [f"seed {spec.seed}: {spec.command()}"]
    started = time.monotonic()

    def log(line: str) -> None:
        events.append(f"{time.monotonic() - started:7.2f}s {line}")

    with Namespace(spec.size) as ns, ns.entered():
        cluster = Cluster(ns, spec.impl, list(spec.extra))
        try:
            cluster.boot(spec.size, f"faults-{uuid.uuid4().hex[:8]}")
            cluster.wait_ready()
            log("ready")
            started = time.monotonic()
            _workload(cluster, history, spec, schedule, log)
            leader = cluster.wait_ready()
            log(f"healed, leader {leader.name}")
            _read_back(cluster, history)
            verdict = check_history(history.ops)
            result = RunResult(spec, verdict, history.ops, events)
            if not verdict.ok:
                result.saved = save(result, cluster)
            return result
        except Exception as exc:
            saved = save(RunResult(spec, Verdict(False), history.ops, events), cluster)
            raise AssertionError(f"{spec.label()} broke off: {exc}\nsaved in {saved}") from exc
        finally:
            cluster.stop()


def _workload(cluster: Cluster, history: History, spec: RunSpec,
              schedule: Sequence[nemesis.Fault], log: nemesis.Logger) -> None:  # fmt: skip
    stop = threading.Event()
    threads = [
        threading.Thread(target=_client, args=(cluster, history, i, spec.seed, stop), daemon=True)
        for i in range(spec.clients)
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        for fault in schedule:
            _sleep_until(started + fault.at)
            undo = nemesis.apply(cluster, fault, log)
            _sleep_until(started + fault.at + fault.duration)
            undo()
            log(f"end {fault.kind}")
        _sleep_until(started + spec.duration)
    finally:
        cluster.ns.heal()
        for member in cluster.members:
            if member.paused:
                member.resume()
            if member.proc is None:  # killed by a fault cut short; one that crashed stays down
                member.restart()
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def _client(cluster: Cluster, history: History, client: int, seed: int,
            stop: threading.Event) -> None:  # fmt: skip
    with cluster.ns.entered():
        rng = random.Random(seed * 1000 + client)
        client_loop(history, client, lambda: cluster.members, rng, stop)


def _read_back(cluster: Cluster, history: History) -> None:
    """After healing, every key through every member: a lost acknowledged write shows here."""
    for member in cluster.members:
        for key in KEYS:
            perform(history, member, history.invoke(-1, member.index, Kind.READ, key))


def _sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))


def save(result: RunResult, cluster: Cluster) -> str:
    """Seed, schedule and events, history and member logs, in a fresh directory."""
    directory = os.path.join(ARTIFACTS, f"{result.spec.label()}-{uuid.uuid4().hex[:6]}")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "run.txt"), "w") as fh:
        fh.write("\n".join([*result.events, "", result.verdict.explain(), ""]))
    with open(os.path.join(directory, "history.jsonl"), "w") as fh:
        for op in result.ops:
            fh.write(json.dumps(_as_json(op)) + "\n")
    cluster.save_logs(directory)
    return directory


def _as_json(op: Op) -> dict[str, object]:
    return {"id": op.id, "client": op.client, "node": op.node, "kind": op.kind.value,
            "key": op.key, "value": op.value, "expected": op.expected, "call": op.call,
            "ret": op.ret, "outcome": op.outcome.value if op.outcome else None,
            "result": op.result}  # fmt: skip
