"""The replicated state machine: a few string registers with put and compare-and-swap."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgpack

from tests.lincheck.history import Kind, Value


@dataclass(frozen=True, slots=True)
class Command:
    """A client request as it travels in an entry; `req` is unique per client call."""

    req: int
    kind: Kind
    key: str
    value: Value
    expected: Value = None

    def encode(self) -> bytes:
        return msgpack.packb([self.req, self.kind.value, self.key, self.value, self.expected])

    @classmethod
    def decode(cls, data: bytes) -> Command:
        req, kind, key, value, expected = msgpack.unpackb(data)
        return cls(req, Kind(kind), key, value, expected)


@dataclass(slots=True)
class KV:
    """Deterministic apply. A request id takes effect once: the network may duplicate a
    forwarded proposal, so the log can hold the same request twice."""

    data: dict[str, str] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)

    def apply(self, cmd: Command) -> tuple[bool, bool | None]:
        """(first time this request applies, the result a client sees: None for a put,
        whether it swapped for a CAS)."""
        if cmd.req in self.done:
            return False, None
        self.done.add(cmd.req)
        if cmd.kind is Kind.CAS and self.data.get(cmd.key) != cmd.expected:
            return True, False
        assert cmd.value is not None
        self.data[cmd.key] = cmd.value
        return True, True if cmd.kind is Kind.CAS else None

    def encode(self) -> bytes:
        return msgpack.packb([sorted(self.data.items()), sorted(self.done)])

    @classmethod
    def decode(cls, data: bytes) -> KV:
        if not data:
            return cls()
        items, done = msgpack.unpackb(data)
        return cls(dict(items), set(done))
