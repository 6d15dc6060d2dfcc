"""A lossy, reordering, partitionable network carrying encoded frames between simulated nodes."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tests.sim.events import EventQueue

Deliver = Callable[[int, int, bytes], None]
Report = Callable[[bool], None]


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """How one directed link misbehaves; delays are virtual milliseconds."""

    drop: float = 0.0
    duplicate: float = 0.0
    min_delay: int = 1
    max_delay: int = 3
    reorder: bool = False


@dataclass(slots=True)
class NetworkStats:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0
    blocked: int = 0


@dataclass(slots=True)
class SimNetwork:
    """Delivers bytes after a seeded delay; FIFO per link unless the link reorders.

    A partition blocks a directed link both when a frame is sent and when it would arrive, as a
    TCP connection reset loses whatever was in flight.
    """

    events: EventQueue
    rng: random.Random
    deliver: Deliver
    default: LinkPolicy = LinkPolicy()
    policies: dict[tuple[int, int], LinkPolicy] = field(default_factory=dict)
    blocked: set[tuple[int, int]] = field(default_factory=set)
    stats: NetworkStats = field(default_factory=NetworkStats)
    _last_arrival: dict[tuple[int, int], int] = field(default_factory=dict)

    def policy(self, frm: int, to: int) -> LinkPolicy:
        return self.policies.get((frm, to), self.default)

    def send(self, frm: int, to: int, frame: bytes, report: Report | None = None) -> bool:
        """False when the link is cut now (a driver sees its connection fail). `report`, if
        given, later learns whether the frame arrived, as a snapshot stream's sender does."""
        self.stats.sent += 1
        if (frm, to) in self.blocked:
            self.stats.blocked += 1
            if report is not None:
                self.events.after(0, lambda: report(False))
            return False
        policy = self.policy(frm, to)
        if policy.drop and self.rng.random() < policy.drop:
            self.stats.dropped += 1
            if report is not None:
                self.events.after(policy.max_delay, lambda: report(False))
            return True
        if policy.duplicate and self.rng.random() < policy.duplicate:
            self.stats.duplicated += 1
            self._schedule(frm, to, frame, policy, None)
        self._schedule(frm, to, frame, policy, report)
        return True

    def _schedule(
        self, frm: int, to: int, frame: bytes, policy: LinkPolicy, report: Report | None
    ) -> None:
        arrival = self.events.now + self.rng.randint(policy.min_delay, policy.max_delay)
        if not policy.reorder:
            arrival = max(arrival, self._last_arrival.get((frm, to), 0))
            self._last_arrival[(frm, to)] = arrival
        self.events.at(arrival, lambda: self._arrive(frm, to, frame, report))

    def _arrive(self, frm: int, to: int, frame: bytes, report: Report | None) -> None:
        arrived = (frm, to) not in self.blocked
        if arrived:
            self.stats.delivered += 1
            self.deliver(frm, to, frame)
        else:
            self.stats.blocked += 1
        if report is not None:
            report(arrived)

    def partition(self, *groups: Iterable[int]) -> None:
        """Cut every link between different groups, both ways."""
        sets = [frozenset(g) for g in groups]
        for i, a in enumerate(sets):
            for b in sets[i + 1 :]:
                for x in a:
                    for y in b:
                        self.blocked.add((x, y))
                        self.blocked.add((y, x))

    def cut_one_way(self, frm: int, to: int) -> None:
        self.blocked.add((frm, to))

    def isolate(self, node: int, others: Iterable[int]) -> None:
        self.partition([node], [o for o in others if o != node])

    def heal(self) -> None:
        """Remove every partition and every per-link fault."""
        self.blocked.clear()
        self.policies.clear()

    def calm(self) -> None:
        """Heal and make the default link reliable and in order (for the liveness phase)."""
        self.heal()
        self.default = LinkPolicy(
            min_delay=self.default.min_delay, max_delay=self.default.min_delay
        )
