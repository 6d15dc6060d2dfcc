"""Random operation sequences checked against a plain-dict model of etcd's v2 key tree.

The model is written from the spec (§1.4, §1.8, §1.9, §2), independently of the store's code:
a dict from client key to node, the root at "", a clock that only moves forward, and a list of
events. After every step the results, errors (code, cause, index), the index and what a
recursive root watcher received are compared; at the end, every history scan and a snapshot
round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.commands import CompareAndDelete, CompareAndSwap, Create, Delete, Set, Update
from store.errors import EtcdError
from store.event import Event, NodeExtern
from store.store import Store

S = 1_000_000_000
# key, value, dir, expiration, ttl, modifiedIndex, createdIndex, nodes
View = tuple[str, str | None, bool, int | None, int, int, int, tuple | None]
Outcome = tuple[str, View, View | None, int] | tuple[int, str, int]

KEYS = ["/a", "/ab", "/b", "/a/x", "/a/x/z", "/_h", "/a/_h", "/_h/k", "/"]
VALUES = ["", "1"]


class ModelError(Exception):
    def __init__(self, code: int, cause: str, index: int) -> None:
        super().__init__(code, cause, index)
        self.outcome = (code, cause, index)


@dataclass
class MNode:
    dir: bool
    value: str
    created: int
    modified: int
    expire: int | None


@dataclass
class MEvent:
    key: str
    action: str
    dir_removal: bool
    refresh: bool
    outcome: tuple[str, View, View | None, int]


def model_ttl(expire: int | None, now: int) -> int:
    if expire is None:
        return 0
    # Floor division of the negated rest: a ceiling above zero, truncation below it.
    return -((now - expire) // S)


class Model:
    def __init__(self) -> None:
        self.nodes: dict[str, MNode] = {"": MNode(True, "", 0, 0, None)}
        self.index = 0
        self.now = 0
        self.events: list[MEvent] = []

    # -- helpers
    def fail(self, code: int, cause: str) -> ModelError:
        return ModelError(code, cause, self.index)

    def find(self, key: str) -> MNode:
        path = ""
        for part in key.split("/")[1:]:
            if not self.nodes[path].dir:
                raise self.fail(104, path)
            path = f"{path}/{part}"
            if path not in self.nodes:
                raise self.fail(100, path)
        return self.nodes[path]

    def children(self, key: str) -> list[str]:
        return sorted(k for k in self.nodes if k and k.rsplit("/", 1)[0] == key)

    def view(self, key: str, recursive: bool) -> View:
        """A directory lists its children, which list theirs only when recursive."""
        n = self.nodes[key]
        ttl = model_ttl(n.expire, self.now)
        if not n.dir:
            return (key, n.value, False, n.expire, ttl, n.modified, n.created, None)
        nodes = self.listing(key, recursive)
        return (key, None, True, n.expire, ttl, n.modified, n.created, nodes)

    def listing(self, key: str, recursive: bool) -> tuple | None:
        shown = [c for c in self.children(key) if not c.rsplit("/", 1)[1].startswith("_")]
        if not shown:
            return None
        return tuple(self.view(c, True) if recursive else self.shallow(c) for c in shown)

    def shallow(self, key: str) -> View:
        return (*self.view(key, False)[:7], None)

    def make_parents(self, key: str, index: int) -> None:
        path = ""
        for part in key.split("/")[1:-1]:
            path = f"{path}/{part}"
            node = self.nodes.get(path)
            if node is None:
                self.nodes[path] = MNode(True, "", index, index, None)
            elif not node.dir:
                raise self.fail(104, path)

    def compare(self, node: MNode, prev_value: str, prev_index: int) -> None:
        value_ok = prev_value in ("", node.value)
        index_ok = prev_index in (0, node.modified)
        parts = []
        if not value_ok:
            parts.append(f"[{prev_value} != {node.value}]")
        if not index_ok:
            parts.append(f"[{prev_index} != {node.modified}]")
        if parts:
            raise self.fail(101, " ".join(parts))

    def remove(self, key: str) -> None:
        for k in [k for k in self.nodes if k == key or k.startswith(key + "/")]:
            del self.nodes[k]

    def record(self, key: str, outcome: tuple, refresh: bool = False) -> Outcome:
        prev = outcome[2]
        removal = outcome[0] in ("delete", "expire") and prev is not None and prev[2]
        self.events.append(MEvent(key, outcome[0], removal, refresh, outcome))
        return outcome

    def expiry(self, ttl: int | None) -> int | None:
        return None if ttl is None else self.now + ttl * S

    # -- operations
    def get(self, key: str, recursive: bool) -> Outcome:
        key = "" if key == "/" else key
        self.find(key)
        return ("get", self.view(key, recursive), None, self.index)

    def set(self, key: str, value: str, is_dir: bool, ttl: int | None, refresh: bool) -> Outcome:
        key = "" if key == "/" else key
        prev = None
        try:
            old = self.find(key)
        except ModelError as err:
            if err.outcome[0] != 100 or refresh:
                raise
        else:
            if not key:
                raise self.fail(107, "/")
            if old.dir:
                raise self.fail(102, key)
            prev = self.shallow(key)
            if refresh:
                value = old.value
        return self.record(key, self._put("set", key, value, is_dir, ttl, prev), refresh)

    def create(self, key: str, value: str, is_dir: bool, unique: bool, ttl: int | None) -> Outcome:
        key = "" if key == "/" else key
        if unique:
            key = f"{key}/{self.index + 1:020d}"
        if not key:
            raise self.fail(107, "/")
        self.make_parents(key, self.index + 1)
        if key in self.nodes:
            raise self.fail(105, key)
        return self.record(key, self._put("create", key, value, is_dir, ttl, None))

    def _put(
        self, action: str, key: str, value: str, is_dir: bool, ttl: int | None, prev: View | None
    ) -> tuple[str, View, View | None, int]:
        self.index += 1
        self.make_parents(key, self.index)
        self.remove(key)
        stored = "" if is_dir else value
        self.nodes[key] = MNode(is_dir, stored, self.index, self.index, self.expiry(ttl))
        return (action, self.shallow(key), prev, self.index)

    def update(self, key: str, value: str, ttl: int | None, refresh: bool) -> Outcome:
        if key == "/":
            raise self.fail(107, "/")
        node = self.find(key)
        if node.dir and value:
            raise self.fail(102, key)
        if refresh:
            value = node.value
        prev = self.shallow(key)
        self.index += 1
        if not node.dir:
            node.value, node.modified = value, self.index
        node.expire = self.expiry(ttl)
        # A directory keeps its stored modifiedIndex; only the event shows the new one.
        key_view = (key, None if node.dir else value, node.dir, node.expire)
        ttl = model_ttl(node.expire, self.now)
        view = (*key_view, ttl, self.index, node.created, None)
        return self.record(key, ("update", view, prev, self.index), refresh)

    def cas(
        self, key: str, prev_value: str, prev_index: int, value: str, ttl: int | None, refresh: bool
    ) -> Outcome:
        if key == "/":
            raise self.fail(107, "/")
        node = self.find(key)
        if node.dir:
            raise self.fail(102, key)
        self.compare(node, prev_value, prev_index)
        if refresh:
            value = node.value
        prev = self.shallow(key)
        self.index += 1
        node.value, node.modified, node.expire = value, self.index, self.expiry(ttl)
        return self.record(key, ("compareAndSwap", self.shallow(key), prev, self.index), refresh)

    def delete(self, key: str, is_dir: bool, recursive: bool) -> Outcome:
        if key == "/":
            raise self.fail(107, "/")
        node = self.find(key)
        if node.dir and not (is_dir or recursive):
            raise self.fail(102, key)
        if node.dir and self.children(key) and not recursive:
            raise self.fail(108, key)
        return self._removal("delete", key)

    def cad(self, key: str, prev_value: str, prev_index: int) -> Outcome:
        key = "" if key == "/" else key
        node = self.find(key)
        if node.dir:
            raise self.fail(102, key)
        self.compare(node, prev_value, prev_index)
        return self._removal("compareAndDelete", key)

    def _removal(self, action: str, key: str) -> Outcome:
        prev = self.shallow(key)
        node = self.nodes[key]
        self.index += 1
        self.remove(key)
        view = (key, None, node.dir, None, 0, self.index, node.created, None)
        return self.record(key, (action, view, prev, self.index))

    def sync(self) -> list[Outcome]:
        out = []
        while True:
            due = sorted(
                (n.expire, k)
                for k, n in self.nodes.items()
                if n.expire is not None and n.expire <= self.now
            )
            if not due:
                return out
            out.append(self._removal("expire", due[0][1]))

    def scan(self, key: str, recursive: bool, since: int) -> Outcome | None:
        """What a watch with a waitIndex in the (retained) past returns, per spec §1.9."""
        key = "" if key == "/" else key
        for event in self.events:
            index = event.outcome[3]
            if index < since or event.refresh:
                continue
            if (
                event.key == key
                or (recursive and event.key.startswith(key + "/"))
                or (event.dir_removal and key.startswith(event.key))
            ):
                return (*event.outcome[:3], self.index)
        return None


def _view(node: NodeExtern) -> View:
    nodes = None if node.nodes is None else tuple(_view(n) for n in node.nodes)
    return (
        node.key,
        node.value,
        node.dir,
        node.expiration,
        node.ttl,
        node.modified_index,
        node.created_index,
        nodes,
    )


def _outcome(event: Event) -> Outcome:
    prev = None if event.prev_node is None else _view(event.prev_node)
    return (event.action, _view(event.node), prev, event.etcd_index)


keys = st.sampled_from(KEYS)
values = st.sampled_from(VALUES)
ttls = st.sampled_from([None, None, 0, 1, 3])
prev_indexes = st.just(0) | st.integers(min_value=1, max_value=12)
sets = st.tuples(st.just("set"), keys, values, st.booleans(), ttls, st.just(False))
creates = st.tuples(st.just("create"), keys, values, st.booleans(), st.booleans(), ttls)
# Writes that build the tree come up more often, so sequences reach interesting states.
ops = st.one_of(
    sets,
    sets,
    sets,
    creates,
    creates,
    st.tuples(st.just("get"), keys, st.booleans()),
    st.tuples(st.just("set"), keys, st.just(""), st.just(False), st.integers(0, 3), st.just(True)),
    st.tuples(st.just("update"), keys, values, ttls, st.just(False)),
    st.tuples(st.just("update"), keys, st.just(""), st.integers(0, 3), st.just(True)),
    st.tuples(st.just("cas"), keys, values, prev_indexes, values, ttls, st.booleans()),
    st.tuples(st.just("delete"), keys, st.booleans(), st.booleans()),
    st.tuples(st.just("cad"), keys, values, prev_indexes),
    st.tuples(st.just("tick"), st.sampled_from([S // 2, S, 2 * S])),
    st.tuples(st.just("sync")),
)


def _run_store(store: Store, model: Model, op: tuple) -> Event:
    name, key, *args = op
    now = model.now
    if name == "get":
        return store.get(key, recursive=args[0], sorted=True, now=now)
    command = {
        "set": lambda: Set(key, args[0], args[1], model.expiry(args[2]), args[3], now),
        "create": lambda: Create(key, args[0], args[1], args[2], model.expiry(args[3]), now),
        "update": lambda: Update(key, args[0], model.expiry(args[1]), args[2], now),
        "cas": lambda: CompareAndSwap(
            key, args[0], args[1], args[2], model.expiry(args[3]), args[4], now
        ),
        "delete": lambda: Delete(key, args[0], args[1], now),
        "cad": lambda: CompareAndDelete(key, args[0], args[1], now),
    }[name]()
    event = store.apply(command)
    assert event is not None
    return event


def _visible(key: str) -> bool:
    return not any(part.startswith("_") for part in key.split("/"))


def _step(store: Store, model: Model, op: tuple) -> None:
    """Run `op` on both and compare what each returned."""
    if op[0] == "tick":
        model.now += op[1]
        return
    if op[0] == "sync":
        assert [_outcome(e) for e in store.sync(model.now)] == model.sync()
        return
    expected: Outcome
    try:
        expected = getattr(model, op[0])(*op[1:])
    except ModelError as err:
        expected = err.outcome
    try:
        got = _outcome(_run_store(store, model, op))
    except EtcdError as err:
        got = (err.code, err.cause, err.index)
    assert got == expected, op


def _scan(store: Store, key: str, recursive: bool, since: int) -> Outcome | None:
    watcher = store.watch(key, recursive, False, since)
    events = watcher.take()
    watcher.remove()
    return _outcome(events[0]) if events else None


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=20, max_size=80))
def test_store_matches_the_model(sequence: list[tuple]) -> None:
    store, model = Store(), Model()
    watcher = store.watch("/", recursive=True, stream=True)
    for op in sequence:
        _step(store, model, op)
        assert store.index == model.index
        assert store.has_ttl_nodes() == any(n.expire is not None for n in model.nodes.values())
    live = [e.outcome for e in model.events if not e.refresh and _visible(e.key)]
    assert [_outcome(e) for e in watcher.take()] == live
    for key in KEYS:
        for recursive in (False, True):
            for since in range(1, model.index + 2):
                assert _scan(store, key, recursive, since) == model.scan(key, recursive, since)
    restored = Store.restore(store.save())
    assert restored.get("/", recursive=True, sorted=True, now=model.now) == store.get(
        "/", recursive=True, sorted=True, now=model.now
    )
