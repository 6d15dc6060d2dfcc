"""An in-memory cluster of RawNodes in the style of etcd's raft_test.go network.

Every node's Ready is executed as the contract requires: persist to its MemoryStorage, then
queue its messages, then apply. Messages are delivered breadth-first by `stabilize()`, through
filters that model partitions and loss. The applied "state machine" of a node is the list of
its applied NORMAL entry payloads (empty entries skipped), snapshotted as a msgpack list.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

import msgpack

from ..codec import decode_conf_change
from ..config import Config
from ..errors import RaftInvariantError
from ..messages import InstallSnapshot, Message
from ..rawnode import RawNode, Ready
from ..storage import MemoryStorage
from ..types import ConfChange, ConfChangeKind, ConfState, EntryKind, ReadState, Role

MAX_DELIVERY_ROUNDS = 10_000


class Network:
    def __init__(
        self,
        ids: Iterable[int] = (1, 2, 3),
        *,
        seed: int = 0,
        **config: object,
    ) -> None:
        """Bootstrap a cluster of `ids`. `config` overrides Config fields (pre_vote,
        check_quorum, election_tick, ...) for every node; each node gets its own Random
        derived from `seed`."""
        self.seed = seed
        self.config_overrides = config
        self.rng = random.Random(seed)
        self.nodes: dict[int, RawNode] = {}
        self.storages: dict[int, MemoryStorage] = {}
        self.applied: dict[int, list[bytes]] = {}
        self.conf_states: dict[int, ConfState] = {}
        self.read_states: dict[int, list[ReadState]] = {}
        self.queue: list[Message] = []
        self._cut: set[tuple[int, int]] = set()
        self._drop: dict[tuple[int, int], float] = {}
        self._ignore: set[type[Message]] = set()
        self.msg_hook: Callable[[Message], bool] | None = None
        ids = sorted(ids)
        for node_id in ids:
            self.add_node(node_id)
        peers = [ConfChange(ConfChangeKind.ADD, node_id) for node_id in ids]
        for node_id in ids:
            self.nodes[node_id].bootstrap(peers)
        self.stabilize()

    # -- membership of the network -------------------------------------------------------------

    def config_for(self, node_id: int, **overrides: object) -> Config:
        fields: dict[str, object] = {
            "id": node_id,
            "rng": random.Random(self.seed * 1_000_003 + node_id),
            **self.config_overrides,
            **overrides,
        }
        return Config(**fields)  # type: ignore[arg-type]

    def add_node(self, node_id: int, storage: MemoryStorage | None = None) -> RawNode:
        """Add a node with empty (or the given) storage, e.g. one joining via conf change."""
        self.storages[node_id] = storage if storage is not None else MemoryStorage()
        self.applied[node_id] = []
        self.read_states[node_id] = []
        self.conf_states[node_id] = ConfState()
        self.nodes[node_id] = RawNode(self.config_for(node_id), self.storages[node_id])
        return self.nodes[node_id]

    def restart(self, node_id: int, **overrides: object) -> RawNode:
        """Rebuild a node from its storage, as after a crash: everything in a processed Ready
        was persisted, so only volatile state is lost. The state machine restarts from the
        snapshot and re-applies the committed log before anything else happens."""
        storage = self.storages[node_id]
        snapshot = storage.snapshot()
        self.applied[node_id] = list(msgpack.unpackb(snapshot.data)) if snapshot.data else []
        self.conf_states[node_id] = snapshot.meta.conf_state
        self.read_states[node_id] = []
        self.queue = [m for m in self.queue if m.to != node_id and m.frm != node_id]
        self.nodes[node_id] = RawNode(self.config_for(node_id, **overrides), storage)
        self.stabilize()
        return self.nodes[node_id]

    # -- the Ready loop ------------------------------------------------------------------------

    def process_ready(self, node_id: int) -> Ready:
        node = self.nodes[node_id]
        rd = node.ready()
        storage = self.storages[node_id]
        if rd.snapshot is not None:
            storage.apply_snapshot(rd.snapshot)
            self.applied[node_id] = list(msgpack.unpackb(rd.snapshot.data))
            self.conf_states[node_id] = rd.snapshot.meta.conf_state
        if rd.entries:
            storage.append(rd.entries)
        if rd.hard_state is not None:
            storage.set_hard_state(rd.hard_state)
        self.queue.extend(rd.messages)
        applied = self.applied[node_id]
        for entry in rd.committed_entries:
            if entry.kind is EntryKind.CONF_CHANGE:
                cc = decode_conf_change(entry.data)
                self.conf_states[node_id] = node.apply_conf_change(cc)
            elif entry.data:
                applied.append(entry.data)
        self.read_states[node_id].extend(rd.read_states)
        node.advance(rd)
        node.raft.check_invariants()
        return rd

    def _filtered(self, m: Message) -> bool:
        if m.to not in self.nodes or (m.frm, m.to) in self._cut or type(m) in self._ignore:
            return True
        if self.msg_hook is not None and not self.msg_hook(m):
            return True
        p = self._drop.get((m.frm, m.to), 0.0)
        return p > 0 and self.rng.random() < p

    def stabilize(self) -> None:
        """Process Readies and deliver messages until nothing is left to do."""
        for _ in range(MAX_DELIVERY_ROUNDS):
            for node_id in sorted(self.nodes):
                while self.nodes[node_id].has_ready():
                    self.process_ready(node_id)
            if not self.queue:
                return
            batch, self.queue = self.queue, []
            for m in batch:
                if not self._filtered(m):
                    self.nodes[m.to].step(m)
                elif isinstance(m, InstallSnapshot) and m.frm in self.nodes:
                    # Like a real transport, report a snapshot that could not be delivered.
                    self.nodes[m.frm].report_snapshot(m.to, False)
        raise RaftInvariantError(f"network did not settle in {MAX_DELIVERY_ROUNDS} rounds")

    def send(self, *msgs: Message) -> None:
        self.queue.extend(msgs)
        self.stabilize()

    # -- faults --------------------------------------------------------------------------------

    def cut(self, a: int, b: int) -> None:
        """Drop everything between a and b, both ways."""
        self._cut |= {(a, b), (b, a)}

    def isolate(self, node_id: int) -> None:
        for other in self.nodes:
            if other != node_id:
                self.cut(node_id, other)

    def drop(self, frm: int, to: int, probability: float) -> None:
        self._drop[(frm, to)] = probability

    def ignore(self, msg_type: type[Message]) -> None:
        self._ignore.add(msg_type)

    def heal(self) -> None:
        """Remove every fault."""
        self._cut.clear()
        self._drop.clear()
        self._ignore.clear()
        self.msg_hook = None

    recover = heal

    # -- driving -------------------------------------------------------------------------------

    def tick(self, node_ids: Iterable[int] | None = None, n: int = 1) -> None:
        """Tick the given nodes (default all) n times, stabilizing after each round."""
        ids = sorted(self.nodes if node_ids is None else node_ids)
        for _ in range(n):
            for node_id in ids:
                self.nodes[node_id].tick()
            self.stabilize()

    def tick_election(self, node_ids: Iterable[int] | None = None) -> None:
        """Enough ticks for any randomized election timeout to fire once."""
        election_tick = self.config_for(1).election_tick
        self.tick(node_ids, 2 * election_tick)

    def campaign(self, node_id: int) -> None:
        self.nodes[node_id].campaign()
        self.stabilize()

    def propose(self, node_id: int, data: bytes) -> None:
        self.nodes[node_id].propose(data)
        self.stabilize()

    def propose_conf_change(self, node_id: int, cc: ConfChange) -> None:
        self.nodes[node_id].propose_conf_change(cc)
        self.stabilize()

    def compact(self, node_id: int, index: int) -> None:
        """Snapshot the node's state machine at `index` (<= applied) and compact its log."""
        node = self.nodes[node_id]
        applied_index = node.raft.log.applied
        if index > applied_index:
            raise ValueError(f"cannot snapshot at {index} beyond applied {applied_index}")
        storage = self.storages[node_id]
        data = self._state_at(node_id, index)
        storage.create_snapshot(index, self.conf_states[node_id], data)
        storage.compact(index)

    def _state_at(self, node_id: int, index: int) -> bytes:
        """The state machine as of `index`: applied payloads minus those applied after it."""
        storage = self.storages[node_id]
        applied = self.applied[node_id]
        later = 0
        if index < self.nodes[node_id].raft.log.applied:
            later = sum(
                1
                for e in storage.entries(index + 1, self.nodes[node_id].raft.log.applied + 1)
                if e.kind is EntryKind.NORMAL and e.data
            )
        return msgpack.packb(applied[: len(applied) - later])

    # -- inspection ----------------------------------------------------------------------------

    def leader(self) -> int | None:
        """The leader of the highest term among nodes that believe they lead."""
        leaders = [
            (node.raft.term, node_id)
            for node_id, node in self.nodes.items()
            if node.raft.role is Role.LEADER
        ]
        return max(leaders)[1] if leaders else None

    def role(self, node_id: int) -> Role:
        return self.nodes[node_id].raft.role

    def term(self, node_id: int) -> int:
        return self.nodes[node_id].raft.term

    def lead(self, node_id: int) -> int:
        return self.nodes[node_id].raft.lead

    def committed(self, node_id: int) -> int:
        return self.nodes[node_id].raft.log.committed

    def log_terms(self, node_id: int) -> list[tuple[int, int]]:
        """(index, term) of every entry the node holds, stable and unstable."""
        log = self.nodes[node_id].raft.log
        return [(e.index, e.term) for e in log.slice(log.first_index(), log.last_index() + 1)]
