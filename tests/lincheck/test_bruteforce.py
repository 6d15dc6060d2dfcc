"""The checker against brute force on small random histories, and on the classic anomalies a
faults run must catch (stale read, lost acknowledged write)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.lincheck.history import Kind, Op, Outcome, Value, step
from tests.lincheck.linearizability import check_history, check_key, relevant

VALUES = ("a", "b", "c")


def brute_force(ops: list[Op], initial: Value = None) -> bool:
    """Try every subset of the unknown operations and every order of the chosen ones."""
    kept = relevant(ops)
    known = [op for op in kept if op.outcome is Outcome.OK]
    maybe = [op for op in kept if op.outcome is not Outcome.OK]
    for size in range(len(maybe) + 1):
        for extra in itertools.combinations(maybe, size):
            for order in itertools.permutations(known + list(extra)):
                if _respects_real_time(order) and _explains(order, initial):
                    return True
    return False


def _respects_real_time(order: tuple[Op, ...]) -> bool:
    """No operation is placed before one that returned before it was called."""
    for i, later in enumerate(order):
        for earlier in order[i + 1 :]:
            returned = earlier.ret if earlier.outcome is Outcome.OK else None
            if returned is not None and returned < later.call:
                return False
    return True


def _explains(order: tuple[Op, ...], state: Value) -> bool:
    for op in order:
        possible, state = step(state, op)
        if not possible:
            return False
    return True


@st.composite
def histories(draw: st.DrawFn) -> list[Op]:
    """Up to 6 operations on one key with random overlaps, results and outcomes."""
    count = draw(st.integers(0, 6))
    times = draw(st.permutations(range(2 * count)))
    ops = []
    for i in range(count):
        call, ret = sorted(times[2 * i : 2 * i + 2])
        kind = draw(st.sampled_from(list(Kind)))
        outcome = draw(st.sampled_from([Outcome.OK, Outcome.OK, Outcome.UNKNOWN, Outcome.FAIL]))
        value = draw(st.sampled_from(VALUES))
        expected = draw(st.sampled_from(VALUES))
        result: bool | Value = None
        if outcome is Outcome.OK and kind is Kind.READ:
            result = draw(st.sampled_from((None, *VALUES)))
        elif outcome is Outcome.OK and kind is Kind.CAS:
            result = draw(st.booleans())
        ops.append(
            Op(i, i, 0, kind, "k", value=value, expected=expected, call=call,
               ret=ret if outcome is not Outcome.UNKNOWN else None, outcome=outcome,
               result=result)
        )  # fmt: skip
    return ops


@settings(max_examples=400, deadline=None)
@given(histories())
def test_checker_agrees_with_brute_force(ops: list[Op]) -> None:
    assert check_history(ops).ok == brute_force(ops), "\n".join(op.describe() for op in ops)


def _op(
    kind: Kind,
    call: int,
    ret: int | None,
    value: Value = None,
    expected: Value = None,
    result: bool | Value = None,
) -> Op:
    outcome = Outcome.OK if ret is not None else Outcome.UNKNOWN
    return Op(call, 0, 1, kind, "k", value, expected, call, ret, outcome, result)


def test_handmade_linearizable_history_with_overlap_and_unknowns() -> None:
    ops = [
        _op(Kind.WRITE, 1, 4, value="a"),
        _op(Kind.READ, 2, 3, result=None),
        _op(Kind.CAS, 5, 9, value="b", expected="a", result=True),
        _op(Kind.WRITE, 6, None, value="c"),
        _op(Kind.READ, 7, 8, result="a"),
        _op(Kind.READ, 10, 11, result="c"),
        _op(Kind.READ, 12, 13, result="c"),
    ]
    assert check_key(ops) and brute_force(ops)


def test_handmade_stale_read_is_caught() -> None:
    """A read from a partitioned minority answers with the value before an acknowledged write."""
    ops = [
        _op(Kind.WRITE, 1, 2, value="a"),
        _op(Kind.WRITE, 3, 4, value="b"),
        _op(Kind.READ, 5, 6, result="a"),
    ]
    assert not check_key(ops) and not brute_force(ops)


def test_handmade_lost_write_is_caught() -> None:
    """An acknowledged write that a later read (after every fault healed) no longer sees."""
    ops = [
        _op(Kind.WRITE, 1, 2, value="a"),
        _op(Kind.CAS, 3, 4, value="b", expected="a", result=True),
        _op(Kind.READ, 10, 11, result="a"),
    ]
    assert not check_key(ops) and not brute_force(ops)
    # The same history with the swap unanswered is fine: it may never have happened.
    ops[1] = _op(Kind.CAS, 3, None, value="b", expected="a")
    assert check_key(ops)
