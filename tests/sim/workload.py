"""Clients issuing writes, compare-and-swaps and ReadIndex reads, and the history they record."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from raft import NotLeader, ProposalDropped
from tests.lincheck.history import Kind, Op, Outcome
from tests.sim.kv import KV, Command

if TYPE_CHECKING:
    from tests.sim.world import World

KEYS = ("x", "y")


@dataclass(slots=True)
class Clients:
    """Each client has one call outstanding at a time. A call that times out (or whose node
    crashes) is recorded as unknown and the client moves on, like a fresh Jepsen process."""

    world: World
    rng: random.Random
    count: int = 4
    max_ops: int = 40
    timeout_ms: int = 300
    think_ms: tuple[int, int] = (5, 60)
    ops: list[Op] = field(default_factory=list)
    active: bool = True
    by_req: dict[int, Op] = field(default_factory=dict)
    current: dict[int, int] = field(default_factory=dict)
    applied_reqs: set[int] = field(default_factory=set)
    _seq: int = 0
    _issued: dict[int, int] = field(default_factory=dict)
    _last_value: dict[int, str | None] = field(default_factory=dict)

    def start(self) -> None:
        for client in range(self.count):
            self._next(client)

    def _stamp(self) -> int:
        self._seq += 1
        return self._seq

    def _next(self, client: int) -> None:
        self.current.pop(client, None)
        if not self.active or self._issued.get(client, 0) >= self.max_ops:
            return
        delay = self.rng.randint(*self.think_ms)
        self.world.events.after(delay, lambda: self._issue(client))

    def _issue(self, client: int) -> None:
        targets = self.world.client_targets()
        if not self.active or not targets:
            self._next(client)
            return
        node = self.world.nodes[self.rng.choice(targets)]
        n = self._issued.get(client, 0) + 1
        self._issued[client] = n
        key = self.rng.choice(KEYS)
        kind = self.rng.choices((Kind.WRITE, Kind.CAS, Kind.READ), (4, 2, 4))[0]
        op = Op(len(self.ops), client, node.id, kind, key, call=self._stamp())
        if kind is not Kind.READ:
            op.value = f"{client}.{n}"
        if kind is Kind.CAS:
            op.expected = self.rng.choice((self._last_value.get(client), None, f"{client}.{n - 1}"))
        self.ops.append(op)
        self.by_req[op.id] = op
        self.current[client] = op.id
        try:
            if kind is Kind.READ:
                node.node.read_index(_ctx(op.id))
            else:
                cmd = Command(op.id, kind, key, op.value, op.expected)
                node.node.propose(cmd.encode())
        except (ProposalDropped, NotLeader):
            self._finish(op, Outcome.FAIL)
            return
        self.world.trace(f"call {op.describe()}")
        node.after_input()
        self.world.events.after(self.timeout_ms, self._timeout_of(op))

    def _timeout_of(self, op: Op) -> Callable[[], None]:
        def fire() -> None:
            if op.outcome is None:
                self._finish(op, Outcome.UNKNOWN)

        return fire

    def _finish(self, op: Op, outcome: Outcome, result: bool | str | None = None) -> None:
        op.outcome = outcome
        if outcome is not Outcome.UNKNOWN:
            op.ret = self._stamp()
        op.result = result
        if outcome is Outcome.OK and op.kind is Kind.WRITE:
            self._last_value[op.client] = op.value
        elif outcome is Outcome.OK and op.kind is Kind.READ and not isinstance(result, bool):
            self._last_value[op.client] = result
        self.world.trace(f"done {op.describe()}")
        if self.current.get(op.client) == op.id:
            self._next(op.client)

    def applied(self, node_id: int, cmd: Command, result: bool | None) -> None:
        """A request took effect on `node_id`; it answers the client that sent it there."""
        self.applied_reqs.add(cmd.req)
        op = self.by_req.get(cmd.req)
        if op is not None and op.outcome is None and op.node == node_id:
            self._finish(op, Outcome.OK, result)

    def read_ready(self, node_id: int, ctx: bytes, kv: KV) -> None:
        op = self.by_req.get(_req(ctx))
        if op is not None and op.outcome is None and op.node == node_id:
            self._finish(op, Outcome.OK, kv.data.get(op.key))

    def node_down(self, node_id: int | None) -> None:
        """Calls outstanding at `node_id` (None: everywhere) will never be answered."""
        for op in self.ops:
            if op.outcome is None and node_id in (None, op.node):
                self._finish(op, Outcome.UNKNOWN)

    def resolve(self, in_some_log: set[int]) -> int:
        """Once the cluster has settled, an unknown write that is neither applied nor in any
        live log can never take effect: it failed. Returns how many were resolved."""
        resolved = 0
        for op in self.ops:
            if (
                op.outcome is Outcome.UNKNOWN
                and op.kind is not Kind.READ
                and op.id not in self.applied_reqs
                and op.id not in in_some_log
            ):
                op.outcome = Outcome.FAIL
                resolved += 1
        return resolved

    def pending(self) -> int:
        return sum(1 for op in self.ops if op.outcome is None)


def _ctx(req: int) -> bytes:
    return req.to_bytes(8, "big")


def _req(ctx: bytes) -> int:
    return int.from_bytes(ctx, "big")
