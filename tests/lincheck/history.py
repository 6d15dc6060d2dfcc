"""Client operations on the key-value register, as a linearizability checker reads them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

Value = str | None


class Kind(Enum):
    WRITE = "write"
    CAS = "cas"
    READ = "read"


class Outcome(Enum):
    OK = "ok"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class Op:
    """One client call; `call`/`ret` are global event numbers, so real-time order is exact.

    result: WRITE -> None, CAS -> whether it swapped, READ -> the value read.
    FAIL means definitely not applied; UNKNOWN means it may have been applied at any time
    after `call` (its `ret` stays None).
    """

    id: int
    client: int
    node: int
    kind: Kind
    key: str
    value: Value = None
    expected: Value = None
    call: int = 0
    ret: int | None = None
    outcome: Outcome | None = None
    result: bool | Value = None

    def describe(self) -> str:
        match self.kind:
            case Kind.WRITE:
                what = f"write {self.key}={self.value}"
            case Kind.CAS:
                what = f"cas {self.key} {self.expected}->{self.value}"
            case Kind.READ:
                what = f"read {self.key}"
        res = "" if self.outcome is not Outcome.OK else f" -> {self.result!r}"
        status = self.outcome.value if self.outcome else "pending"
        return (
            f"c{self.client}@n{self.node} #{self.id} {what} [{self.call},{self.ret}] {status}{res}"
        )


def step(state: Value, op: Op) -> tuple[bool, Value]:
    """The register model: (is op's observed result possible from `state`, next state)."""
    match op.kind:
        case Kind.WRITE:
            return True, op.value
        case Kind.READ:
            return state == op.result, state
        case Kind.CAS:
            swaps = state == op.expected
            if op.outcome is not Outcome.OK:
                return True, op.value if swaps else state
            if op.result:
                return swaps, op.value
            return not swaps, state
