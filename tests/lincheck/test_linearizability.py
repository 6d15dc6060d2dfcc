"""The checker on hand-made histories, including unknown outcomes."""

from __future__ import annotations

import itertools

from tests.lincheck.history import Kind, Op, Outcome
from tests.lincheck.linearizability import check_history, check_key

_ids = itertools.count()


def w(value: str, call: int, ret: int | None, outcome: Outcome = Outcome.OK, key: str = "k") -> Op:
    if ret is None and outcome is Outcome.OK:
        outcome = Outcome.UNKNOWN
    return Op(next(_ids), 0, 1, Kind.WRITE, key, value=value, call=call, ret=ret, outcome=outcome)


def r(value: str | None, call: int, ret: int | None, key: str = "k") -> Op:
    outcome = Outcome.OK if ret is not None else Outcome.UNKNOWN
    return Op(next(_ids), 0, 1, Kind.READ, key, call=call, ret=ret, outcome=outcome, result=value)


def cas(exp: str | None, new: str, call: int, ret: int | None, swapped: bool | None) -> Op:
    outcome = Outcome.OK if ret is not None else Outcome.UNKNOWN
    return Op(
        next(_ids),
        0,
        1,
        Kind.CAS,
        "k",
        value=new,
        expected=exp,
        call=call,
        ret=ret,
        outcome=outcome,
        result=swapped,
    )


def test_empty_and_sequential_histories_are_linearizable() -> None:
    assert check_key([])
    assert check_key([w("a", 1, 2), r("a", 3, 4), w("b", 5, 6), r("b", 7, 8)])
    assert check_key([r(None, 1, 2)])


def test_stale_read_after_completed_write_is_not() -> None:
    assert not check_key([w("a", 1, 2), w("b", 3, 4), r("a", 5, 6)])


def test_concurrent_write_may_be_seen_or_not() -> None:
    assert check_key([w("a", 1, 2), w("b", 3, 10), r("a", 4, 5), r("b", 6, 7)])
    # Once b has been read, a later read cannot go back to a.
    assert not check_key([w("a", 1, 2), w("b", 3, 10), r("b", 4, 5), r("a", 6, 7)])


def test_read_of_a_value_never_written_is_not() -> None:
    assert not check_key([w("a", 1, 2), r("z", 3, 4)])


def test_unknown_write_may_take_effect_late_or_never() -> None:
    lost = w("b", 3, None)
    assert check_key([w("a", 1, 2), lost, r("a", 5, 6)])
    assert check_key([w("a", 1, 2), lost, r("a", 5, 6), r("b", 7, 8)])
    assert not check_key([w("a", 1, 2), lost, r("b", 5, 6), r("a", 7, 8)])
    # It cannot take effect before it was called.
    assert not check_key([w("a", 1, 2), r("b", 3, 4), w("b", 5, None)])


def test_a_still_pending_write_counts_as_unknown() -> None:
    pending = w("b", 3, None)
    pending.outcome = None
    assert check_history([w("a", 1, 2), pending, r("b", 5, 6)]).ok
    assert not check_history([w("a", 1, 2), pending, r("b", 5, 6), r("a", 7, 8)]).ok


def test_failed_operations_never_happened() -> None:
    failed = w("b", 3, 4, outcome=Outcome.FAIL)
    assert not check_history([w("a", 1, 2), failed, r("b", 5, 6)]).ok
    assert check_history([w("a", 1, 2), failed, r("a", 5, 6)]).ok


def test_compare_and_swap() -> None:
    assert check_key([w("a", 1, 2), cas("a", "b", 3, 4, True), r("b", 5, 6)])
    assert check_key([w("a", 1, 2), cas("x", "b", 3, 4, False), r("a", 5, 6)])
    assert not check_key([w("a", 1, 2), cas("a", "b", 3, 4, False)])
    assert not check_key([w("a", 1, 2), cas("x", "b", 3, 4, True)])
    # Two concurrent swaps from the same value cannot both succeed.
    assert not check_key([w("a", 1, 2), cas("a", "b", 3, 6, True), cas("a", "c", 4, 5, True)])
    # An unknown swap may explain a value that only it could produce.
    assert check_key([w("a", 1, 2), cas("a", "b", 3, None, None), r("b", 5, 6)])
    assert not check_key([w("x", 1, 2), cas("a", "b", 3, None, None), r("b", 5, 6)])


def test_keys_are_checked_independently() -> None:
    verdict = check_history([w("a", 1, 2, key="p"), w("b", 3, 4, key="q"), r(None, 5, 6, key="p")])
    assert not verdict.ok
    assert verdict.key == "p"
    assert "not linearizable" in verdict.explain()
    assert check_history([w("a", 1, 2, key="p"), r(None, 3, 4, key="q")]).ok


def test_many_concurrent_writers_stay_fast() -> None:
    ops = [w(f"v{i}", i, 100 + i) for i in range(10)]
    ops += [r(f"v{i}", 200 + 2 * i, 201 + 2 * i) for i in (3, 7, 3)]
    assert not check_key(ops)
    ops = [w(f"v{i}", i, 100 + i) for i in range(40)] + [r("v39", 300, 301), r("v39", 302, 303)]
    assert check_key(ops)
