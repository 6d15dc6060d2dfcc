"""A whole cluster driven by one seed: clock, network, disks, clients and nemesis."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from raft import ConfChange, ConfChangeKind, EntryKind, Message, ProposalDropped
from tests.lincheck.history import Kind, Outcome
from tests.lincheck.linearizability import check_history
from tests.sim.events import EventQueue
from tests.sim.invariants import Invariants, SafetyViolation
from tests.sim.kv import Command
from tests.sim.nemesis import FaultProfile, Nemesis
from tests.sim.network import SimNetwork
from tests.sim.simnode import TICK_MS, SimNode
from tests.sim.workload import Clients

FAULT_MS = 5000
LIVENESS_TICKS = 300
SETTLE_MS = 100
PROBE_REQ = 1 << 40


class LivenessFailure(AssertionError):
    """After the faults stopped: no leader and committed write, or members that did not catch
    up, within the bound."""


class NotLinearizable(AssertionError):
    """The client history has no linearization."""


@dataclass(frozen=True, slots=True)
class RunResult:
    seed: int
    profile: FaultProfile
    virtual_ms: int
    ops: int
    ok_ops: int
    unknown_ops: int
    nemesis_actions: int
    messages: int
    checks: int
    recovery_ms: int

    def summary(self) -> str:
        return (
            f"seed {self.seed}: {self.virtual_ms} virtual ms, {self.ops} ops ({self.ok_ops} ok, "
            f"{self.unknown_ops} unknown), {self.nemesis_actions} faults, {self.messages} "
            f"messages, {self.checks} invariant checks, leader+write {self.recovery_ms} ms "
            f"after heal\n  profile: {self.profile.describe()}"
        )


class World:
    """One run: `FAULT_MS` of clients and nemesis, then heal and check liveness, convergence
    and the client history. Every random choice comes from `seed`."""

    def __init__(
        self,
        seed: int,
        profile: FaultProfile | None = None,
        trace: Callable[[str], None] | None = None,
        fault_ms: int = FAULT_MS,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        # Drawn even when a profile is given, so the other random streams stay the same.
        swarm = FaultProfile.swarm(self._fork())
        self.profile = profile or swarm
        self.fault_ms = fault_ms
        self._trace = trace
        self.events = EventQueue()
        self.network = SimNetwork(self.events, self._fork(), self._deliver, self.profile.link)
        self.invariants = Invariants()
        self.nodes: dict[int, SimNode] = {}
        self.removed: set[int] = set()
        self.clients = Clients(self, self._fork())
        self.nemesis = Nemesis(self, self._fork(), self.profile)

    def _fork(self) -> random.Random:
        return random.Random(self.rng.getrandbits(64))

    # -- tracing -----------------------------------------------------------------------------

    def trace(self, text: str) -> None:
        if self._trace is not None:
            self._trace(f"{self.events.now:>6} {text}")

    def trace_msg(self, direction: str, msg: Message) -> None:
        if self._trace is not None:
            fields = {k: getattr(msg, k) for k in msg.__slots__ if k not in ("to", "frm", "term")}
            if "entries" in fields:
                fields["entries"] = [f"{e.index}/{e.term}" for e in fields["entries"]]
            if "snapshot" in fields:
                meta = fields["snapshot"].meta
                fields["snapshot"] = f"{meta.index}/{meta.term}"
            detail = " ".join(f"{k}={v}" for k, v in fields.items())
            self.trace(
                f"{direction} n{msg.frm}->n{msg.to} {type(msg).__name__} t{msg.term} {detail}"
            )

    # -- membership and node lifecycle -------------------------------------------------------

    def _new_node(self, node_id: int) -> SimNode:
        rng = self._fork()
        node = SimNode(node_id, self, rng, tick_ms=TICK_MS + self.rng.randint(-1, 1))
        node.snapshot_every = self.profile.snapshot_every
        self.nodes[node_id] = node
        return node

    def reserve(self, node_id: int) -> None:
        """A node id for an ADD being proposed; the node starts once the ADD applies."""
        if node_id not in self.nodes:
            self._new_node(node_id)

    def members(self) -> list[int]:
        return [i for i, n in sorted(self.nodes.items()) if n.life and i not in self.removed]

    def client_targets(self) -> list[int]:
        return [i for i in self.members() if self.nodes[i].alive]

    def leader(self) -> int | None:
        """The live leader of the highest term, if any."""
        leaders = [(n.node.raft.term, i) for i, n in self.nodes.items() if n.alive and n.is_leader]
        return max(leaders)[1] if leaders else None

    def crash(self, node_id: int, tear: bool) -> None:
        node = self.nodes[node_id]
        if node.alive:
            node.crash(tear)
            self.clients.node_down(node_id)

    def restart(self, node_id: int) -> None:
        node = self.nodes[node_id]
        if not node.alive and node_id not in self.removed:
            node.boot()

    def conf_applied(self, node_id: int, index: int, cc: ConfChange) -> None:
        """Called when any node applies a conf change; starts or stops the member it names."""
        target = cc.node_id
        if cc.kind is ConfChangeKind.ADD:
            node = self.nodes.get(target) or self._new_node(target)
            self.events.after(0, lambda: self._start_added(node))
        elif cc.kind is ConfChangeKind.REMOVE and target not in self.removed:
            self.removed.add(target)
            self.trace(f"n{target} removed (seen applied by n{node_id} at {index})")
            self.events.after(0, lambda: self._stop_removed(target))

    def _start_added(self, node: SimNode) -> None:
        """Every node applying the ADD asks; only the first starts it, on an empty disk."""
        if not node.life and node.id not in self.removed:
            node.boot()

    def _stop_removed(self, node_id: int) -> None:
        node = self.nodes[node_id]
        if node.alive:
            node.crash(tear=False)
            self.clients.node_down(node_id)

    def _deliver(self, frm: int, to: int, frame: bytes) -> None:
        node = self.nodes.get(to)
        if node is not None and node.alive:
            node.receive(frm, frame)

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> RunResult:
        founders = tuple(range(1, self.profile.n_nodes + 1))
        for node_id in founders:
            self._new_node(node_id).boot(bootstrap=founders)
        self.trace(f"profile {self.profile.describe()}")
        self.clients.start()
        self.nemesis.start()
        self.events.run_until(self.fault_ms)
        self.nemesis.active = False
        self.clients.active = False
        self._calm()
        heal_at = self.events.now
        self._await_probe_write()
        recovery = self.events.now - heal_at
        self._await_convergence()
        self.events.run_until(self.events.now + SETTLE_MS)
        self._check_history()
        ops = self.clients.ops
        return RunResult(
            seed=self.seed,
            profile=self.profile,
            virtual_ms=self.events.now,
            ops=len(ops),
            ok_ops=sum(1 for op in ops if op.outcome is Outcome.OK),
            unknown_ops=sum(1 for op in ops if op.outcome is Outcome.UNKNOWN),
            nemesis_actions=self.nemesis.actions,
            messages=self.network.stats.sent,
            checks=self.invariants.checks,
            recovery_ms=recovery,
        )

    def _calm(self) -> None:
        """Stop every fault: heal the network, restore disks, restart every member."""
        self.trace("faults stop; network heals; members restart")
        self.network.calm()
        for node_id in self.members():
            self.nodes[node_id].fsync_ms = (1, 3)
            self.restart(node_id)

    def _await_probe_write(self) -> None:
        deadline = self.events.now + LIVENESS_TICKS * TICK_MS
        probe = Command(PROBE_REQ, Kind.WRITE, "probe", "done")
        while PROBE_REQ not in self.clients.applied_reqs:
            if self.events.now >= deadline:
                raise LivenessFailure(
                    f"seed {self.seed}: no write committed within {LIVENESS_TICKS} ticks after "
                    f"the faults stopped (leader: {self.leader()}, members {self.members()})"
                )
            leader = self.leader()
            if leader is not None and self.events.now % 50 == 0:
                try:
                    self.nodes[leader].node.propose(probe.encode())
                    self.nodes[leader].after_input()
                except ProposalDropped:
                    pass
            self.events.run_until(self.events.now + 1)

    def _await_convergence(self) -> None:
        """Every running member catches up with the leader's commit and holds the same data."""
        deadline = self.events.now + LIVENESS_TICKS * TICK_MS
        while True:
            leader = self.leader()
            if leader is not None:
                commit = self.nodes[leader].node.raft.log.committed
                running = [self.nodes[i] for i in self.client_targets()]
                if all(n.applied == commit for n in running):
                    if any(n.kv.data != running[0].kv.data for n in running):
                        raise SafetyViolation(f"seed {self.seed}: members applied {commit} differ")
                    return
            if self.events.now >= deadline:
                lag = {i: self.nodes[i].applied for i in self.client_targets()}
                raise LivenessFailure(
                    f"seed {self.seed}: members did not catch up within {LIVENESS_TICKS} ticks "
                    f"(leader {leader}, applied {lag})"
                )
            self.events.run_until(self.events.now + 1)

    def _check_history(self) -> None:
        self.clients.node_down(None)
        in_logs: set[int] = set()
        for node_id in self.client_targets():
            log = self.nodes[node_id].node.raft.log
            for entry in log.slice(log.first_index(), log.last_index() + 1):
                if entry.kind is EntryKind.NORMAL and entry.data:
                    in_logs.add(Command.decode(entry.data).req)
        self.clients.resolve(in_logs)
        verdict = check_history(self.clients.ops)
        if not verdict.ok:
            raise NotLinearizable(f"seed {self.seed}: {verdict.explain()}")


def swarm_profile(seed: int) -> FaultProfile:
    """The profile `World(seed)` picks for itself."""
    return World(seed).profile


def with_core_defaults(profile: FaultProfile) -> FaultProfile:
    """The same faults with the core's default configuration knobs."""
    default = FaultProfile()
    return replace(
        profile,
        election_tick=default.election_tick,
        heartbeat_tick=default.heartbeat_tick,
        pre_vote=default.pre_vote,
        check_quorum=default.check_quorum,
        max_uncommitted_bytes=default.max_uncommitted_bytes,
    )


def run_seed(seed: int, trace: Callable[[str], None] | None = None) -> RunResult:
    """Run one seed; raises SafetyViolation, LivenessFailure or NotLinearizable on a bug."""
    return World(seed, trace=trace).run()
