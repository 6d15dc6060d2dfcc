"""Per-key linearizability of register histories (Wing-Gong search with Lowe's memoisation).

Keys are independent registers, so by locality the whole history is linearizable iff every
key's sub-history is. Operations with an unknown outcome have no return event: the search may
linearize them anywhere after their call, or never.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from tests.lincheck.history import Kind, Op, Outcome, Value, step


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    key: str | None = None
    ops: tuple[Op, ...] = ()

    def explain(self) -> str:
        if self.ok:
            return "linearizable"
        lines = [f"key {self.key!r} is not linearizable:"]
        lines += ["  " + op.describe() for op in sorted(self.ops, key=lambda o: o.call)]
        return "\n".join(lines)


def relevant(ops: Iterable[Op]) -> list[Op]:
    """Failed operations never happened and unanswered reads constrain nothing; an unanswered
    write or swap (unknown, or still pending) may have taken effect."""
    out = []
    for op in ops:
        if op.outcome is Outcome.FAIL:
            continue
        if op.outcome is not Outcome.OK and op.kind is Kind.READ:
            continue
        out.append(op)
    return out


def check_history(ops: Iterable[Op], initial: Value = None) -> Verdict:
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in relevant(ops):
        by_key[op.key].append(op)
    for key in sorted(by_key):
        if not check_key(by_key[key], initial):
            return Verdict(False, key, tuple(by_key[key]))
    return Verdict(True)


def check_key(ops: list[Op], initial: Value = None) -> bool:
    """Search for a sequential order of `ops` (one register) that explains every result."""
    # Events: (time, is_return, op position); calls sort before returns at the same time.
    events: list[tuple[int, int, int]] = []
    for i, op in enumerate(ops):
        events.append((op.call, 0, i))
        if op.outcome is Outcome.OK:
            assert op.ret is not None
            events.append((op.ret, 1, i))
    events.sort()
    n = len(events)
    # A doubly linked list over event slots 1..n, with sentinel head 0.
    nxt = list(range(1, n + 3))
    prv = list(range(-1, n + 1))
    call_slot = [0] * len(ops)
    ret_slot = [0] * len(ops)
    for slot, (_, is_ret, i) in enumerate(events, start=1):
        if is_ret:
            ret_slot[i] = slot
        else:
            call_slot[i] = slot
    kinds = [0] + [is_ret for _, is_ret, _ in events]
    which = [0] + [i for _, _, i in events]
    end = n + 1

    def unlink(slot: int) -> None:
        nxt[prv[slot]] = nxt[slot]
        prv[nxt[slot]] = prv[slot]

    def relink(slot: int) -> None:
        nxt[prv[slot]] = slot
        prv[nxt[slot]] = slot

    remaining = sum(1 for op in ops if op.outcome is Outcome.OK)
    state: Value = initial
    linearized = 0
    seen: set[tuple[int, Value]] = set()
    stack: list[tuple[int, Value]] = []
    slot = nxt[0]
    while remaining:
        if slot != end and not kinds[slot]:
            i = which[slot]
            possible, after = step(state, ops[i])
            if possible:
                mask = linearized | (1 << i)
                if (mask, after) not in seen:
                    seen.add((mask, after))
                    stack.append((i, state))
                    state, linearized = after, mask
                    unlink(slot)
                    if ops[i].outcome is Outcome.OK:
                        unlink(ret_slot[i])
                        remaining -= 1
                    slot = nxt[0]
                    continue
            slot = nxt[slot]
            continue
        # A return whose call is not yet linearized (or the end): undo the latest choice.
        if not stack:
            return False
        i, state = stack.pop()
        linearized &= ~(1 << i)
        if ops[i].outcome is Outcome.OK:
            relink(ret_slot[i])
            remaining += 1
        relink(call_slot[i])
        slot = nxt[call_slot[i]]
    return True
