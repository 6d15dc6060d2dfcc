"""Swarm-mode fault injection: each seed picks its own fault mix and rates."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from raft import ConfChange, ConfChangeKind, ConfigError, NotLeader, ProposalDropped
from tests.sim.network import LinkPolicy

if TYPE_CHECKING:
    from tests.sim.world import World

FAULTS = (
    "partition",
    "one_way",
    "isolate_leader",
    "crash",
    "slow_disk",
    "membership",
    "transfer",
    "flaky_link",
)
MAX_NODES = 7


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """What one seed runs: cluster size, network and disk faults, nemesis mix and rate, and
    the core's configuration knobs."""

    n_nodes: int = 3
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: bool = False
    max_delay: int = 3
    faults: tuple[str, ...] = ()
    interval_ms: int = 300
    tear: bool = False
    snapshot_every: int = 0
    report_unreachable: bool = True
    election_tick: int = 10
    heartbeat_tick: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_uncommitted_bytes: int = 0

    @classmethod
    def swarm(cls, rng: random.Random) -> FaultProfile:
        return cls(
            n_nodes=rng.choice((3, 3, 5)),
            drop=rng.choice((0.0, 0.0, 0.01, 0.05, 0.15)),
            duplicate=rng.choice((0.0, 0.0, 0.02, 0.1)),
            reorder=rng.random() < 0.4,
            max_delay=rng.choice((2, 5, 20)),
            faults=tuple(f for f in FAULTS if rng.random() < 0.5),
            interval_ms=rng.choice((100, 250, 500)),
            tear=rng.random() < 0.5,
            snapshot_every=rng.choice((0, 5, 20)),
            report_unreachable=rng.random() < 0.5,
            election_tick=rng.choice((10, 10, 5, 20)),
            heartbeat_tick=rng.choice((1, 1, 2)),
            pre_vote=rng.random() < 0.8,
            check_quorum=rng.random() < 0.8,
            max_uncommitted_bytes=rng.choice((0, 0, 0, 64)),
        )

    @property
    def link(self) -> LinkPolicy:
        return LinkPolicy(self.drop, self.duplicate, 1, self.max_delay, self.reorder)

    def describe(self) -> str:
        faults = ",".join(self.faults) or "none"
        return (
            f"nodes={self.n_nodes} drop={self.drop} dup={self.duplicate} reorder={self.reorder} "
            f"delay=1-{self.max_delay}ms every={self.interval_ms}ms tear={self.tear} "
            f"snap={self.snapshot_every} unreachable={self.report_unreachable} "
            f"election={self.election_tick}/{self.heartbeat_tick} pre_vote={self.pre_vote} "
            f"check_quorum={self.check_quorum} max_uncommitted={self.max_uncommitted_bytes} "
            f"faults={faults}"
        )


@dataclass(slots=True)
class Nemesis:
    world: World
    rng: random.Random
    profile: FaultProfile
    active: bool = True
    actions: int = 0

    def start(self) -> None:
        if self.profile.faults:
            self._schedule()

    def _schedule(self) -> None:
        interval = self.profile.interval_ms
        self.world.events.after(self.rng.randint(interval // 2, interval * 3 // 2), self._act)

    def _act(self) -> None:
        if not self.active:
            return
        fault = self.rng.choice(self.profile.faults)
        self.actions += 1
        getattr(self, f"_{fault}")()
        self._schedule()

    def _later(self, lo: int, hi: int, action: Callable[[], None]) -> None:
        def run() -> None:
            if self.active:
                action()

        self.world.events.after(self.rng.randint(lo, hi), run)

    def _members(self) -> list[int]:
        return self.world.members()

    def _partition(self) -> None:
        members = self._members()
        self.rng.shuffle(members)
        cut = self.rng.randint(1, max(1, len(members) // 2))
        side = members[:cut]
        self.world.trace(f"nemesis partition {sorted(side)} | {sorted(members[cut:])}")
        self.world.network.partition(side, members[cut:])
        self._later(100, 800, self._heal)

    def _one_way(self) -> None:
        members = self._members()
        if len(members) < 2:
            return
        a, b = self.rng.sample(members, 2)
        self.world.trace(f"nemesis cut n{a} -> n{b}")
        self.world.network.cut_one_way(a, b)
        self._later(100, 800, self._heal)

    def _isolate_leader(self) -> None:
        leader = self.world.leader()
        if leader is None:
            return
        self.world.trace(f"nemesis isolate leader n{leader}")
        self.world.network.isolate(leader, self.world.nodes)
        self._later(100, 800, self._heal)

    def _heal(self) -> None:
        self.world.trace("nemesis heal")
        self.world.network.heal()

    def _crash(self) -> None:
        alive = [n for n in self._members() if self.world.nodes[n].alive]
        if not alive:
            return
        victim = self.rng.choice(alive)
        self.world.crash(victim, tear=self.profile.tear and self.rng.random() < 0.7)
        self.world.events.after(self.rng.randint(20, 600), lambda: self.world.restart(victim))

    def _slow_disk(self) -> None:
        node = self.world.nodes[self.rng.choice(self._members())]
        node.fsync_ms = (5, self.rng.choice((20, 60)))
        self.world.trace(f"nemesis slow disk n{node.id} {node.fsync_ms}")

        def restore() -> None:
            node.fsync_ms = (1, 3)

        self.world.events.after(self.rng.randint(100, 1000), restore)

    def _flaky_link(self) -> None:
        members = self._members()
        if len(members) < 2:
            return
        a, b = self.rng.sample(members, 2)
        policy = LinkPolicy(self.rng.choice((0.3, 0.7)), 0.2, 1, 40, True)
        self.world.trace(f"nemesis flaky n{a} -> n{b} {policy}")
        self.world.network.policies[(a, b)] = policy
        self._later(100, 800, self._heal)

    def _transfer(self) -> None:
        leader = self.world.leader()
        if leader is None:
            return
        voters = [v for v in self.world.nodes[leader].node.raft.tracker.voters if v != leader]
        if not voters:
            return
        target = self.rng.choice(voters)
        self.world.trace(f"nemesis transfer n{leader} -> n{target}")
        self.world.nodes[leader].node.transfer_leader(target)
        self.world.nodes[leader].after_input()

    def _membership(self) -> None:
        leader = self.world.leader()
        if leader is None:
            return
        node = self.world.nodes[leader]
        voters = node.node.raft.tracker.voters
        if len(self.world.nodes) < MAX_NODES and (len(voters) <= 3 or self.rng.random() < 0.5):
            cc = ConfChange(ConfChangeKind.ADD, len(self.world.nodes) + 1)
            self.world.reserve(cc.node_id)
        elif len(voters) > 3:
            cc = ConfChange(ConfChangeKind.REMOVE, self.rng.choice(voters))
        else:
            return
        self.world.trace(f"nemesis propose {cc.kind.name} n{cc.node_id} at n{leader}")
        try:
            node.node.propose_conf_change(cc)
        except (ProposalDropped, NotLeader, ConfigError) as exc:
            self.world.trace(f"nemesis conf change refused: {exc}")
            return
        node.after_input()
